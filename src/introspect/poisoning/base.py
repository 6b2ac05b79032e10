"""The trigger interface: :class:`Trigger` and the checks and placement helpers every trigger shares.

A trigger turns a batch of images into a poisoned copy plus the trigger's footprint. To add
one, subclass :class:`Trigger` as a frozen dataclass, give it a ``name``, validate its fields in
``__post_init__`` and implement ``_coverage`` (and ``_target`` if it does not pull pixels
towards a fixed ``value``), then add its factory to :data:`introspect.poisoning.triggers.TRIGGERS`.
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np

from .._validation import as_images, non_negative_int

#: Corners a trigger can be placed in, or start from.
CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")


def as_unit_images(images, name: str = "images") -> np.ndarray:
    """``images`` as float32 ``(N, H, W, C)`` checked to lie in ``[0, 1]`` (a ``ValueError`` names ``name``)."""
    return as_images(images, name, value_range=(0.0, 1.0))


def as_rng(rng: int | np.random.Generator) -> np.random.Generator:
    """A ``numpy.random.Generator`` from a non-negative int seed, or the generator itself."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(non_negative_int(rng, "rng"))


def corner_origin(corner: str, box_h: int, box_w: int, height: int, width: int, margin: int) -> tuple[int, int]:
    """Top-left pixel ``(row, col)`` of a ``box_h x box_w`` box placed ``margin`` pixels inside ``corner``.

    Raises ``ValueError`` when the box and its margin do not fit in ``height x width``.
    """
    if box_h + margin > height or box_w + margin > width:
        raise ValueError(f"A {box_h}x{box_w} trigger with margin {margin} does not fit in {height}x{width} images; "
                         f"use a smaller size or margin.")
    row = margin if corner.startswith("top") else height - margin - box_h
    col = margin if corner.endswith("left") else width - margin - box_w
    return row, col


class Trigger:
    """Base of every trigger: ``apply(images, rng=0) -> (poisoned_copy, mask)``.

    ``images`` are ``(N, H, W, C)`` in ``[0, 1]``; the copy has the same shape and dtype float32,
    ``mask`` is ``(N, H, W)`` bool (the trigger's footprint). ``rng`` is a seed (int) or a
    ``numpy.random.Generator``; deterministic triggers ignore it.

    Subclasses describe the trigger by two hooks: ``_coverage`` (its opacity per pixel) and
    ``_target`` (the colour it pulls pixels towards, by default the field ``value``); the blend
    ``images + coverage * (target - images)`` and the clipping are done here, once. A trigger
    that is not such a blend (e.g. an additive ramp) overrides :meth:`apply` instead.
    """

    name: ClassVar[str] = "trigger"

    def apply(self, images, rng: int | np.random.Generator = 0) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(poisoned, mask)``: a float32 copy of ``images`` with the trigger, and its footprint.

        Parameters
        ----------
        images : array-like, (N, H, W, C)
            Float images in ``[0, 1]``; never modified.
        rng : int or numpy.random.Generator
            Seeds random placement; deterministic triggers ignore it.

        Returns
        -------
        poisoned : (N, H, W, C) float32 in [0, 1]
        mask : (N, H, W) bool
        """
        images = as_unit_images(images)
        coverage = self._coverage(images.shape[1:3], len(images), as_rng(rng))
        poisoned = images + coverage[..., None] * (self._target(images) - images)
        return np.clip(poisoned, 0.0, 1.0).astype(np.float32), coverage > 0

    def _coverage(self, shape: tuple[int, int], n: int, rng: np.random.Generator) -> np.ndarray:
        """Opacity of the trigger per pixel, ``(N, H, W)`` in [0, 1]."""
        raise NotImplementedError

    def _target(self, images: np.ndarray) -> np.ndarray | float:
        """Colour the trigger pulls each pixel towards (at full opacity)."""
        return self.value  # type: ignore[attr-defined]
