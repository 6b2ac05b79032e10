"""Regularisers: priors that keep optimised images natural-looking.

Penalties (:func:`l2`, :func:`total_variation`) are subtracted from the objective at every step;
:func:`blur` instead smooths the images every few steps (the parametrisation does the blurring).
"""
from __future__ import annotations

import math

import tensorflow as tf

from .. import numerics
from .._validation import fraction, positive_int


class Regularizer:
    """A penalty per example ``images -> (N,)`` subtracted from the objective, or a periodic blur."""

    def __repr__(self) -> str:
        return getattr(self, "description", type(self).__name__)


class _Penalty(Regularizer):
    """``weight * size(images)`` per example: mean squared distance from ``center``, or total variation."""

    def __init__(self, kind: str, weight, center: float = 0.5):
        self.kind, self.weight, self.center = kind, fraction(weight, "weight", high=math.inf), center
        self.description = f"{kind}(weight={self.weight:g})"

    def penalty(self, images: tf.Tensor) -> tf.Tensor:
        """``(N,)`` penalty of images ``(N, H, W, C)``."""
        if self.kind == "l2":
            return self.weight * tf.reduce_mean(tf.square(images - self.center), axis=[1, 2, 3])
        return self.weight * numerics.total_variation(images, reduction="mean")


class _PeriodicBlur(Regularizer):
    def __init__(self, sigma, every):
        self.sigma = fraction(sigma, "sigma", low=1e-6, high=math.inf)
        self.every = positive_int(every, "every")
        self.description = f"blur(sigma={self.sigma:g}, every={self.every})"


def l2(weight: float = 1.0, center: float = 0.5) -> Regularizer:
    """``weight * mean((x - center)^2)`` per image: keeps pixels near mid-grey."""
    return _Penalty("l2", weight, fraction(center, "center"))


def total_variation(weight: float = 1.0) -> Regularizer:
    """``weight * (mean |x[i+1, j] - x[i, j]| + mean |x[i, j+1] - x[i, j]|)`` per image.

    Penalises high-frequency patterns (Mahendran & Vedaldi 2015, arXiv:1412.0035); the quantity
    is :func:`introspect.numerics.total_variation` with ``reduction="mean"``.
    """
    return _Penalty("total_variation", weight)


def blur(sigma: float = 0.5, every: int = 4) -> Regularizer:
    """Blur the image with a Gaussian of ``sigma`` pixels every ``every`` steps.

    Removes the high frequencies that gradient ascent accumulates (Yosinski et al. 2015,
    arXiv:1506.06579). For ``param="fourier"`` the blur is applied to the spectrum, so it wraps
    around the borders; the pixel parametrisations reflect at the borders.
    """
    return _PeriodicBlur(sigma, every)
