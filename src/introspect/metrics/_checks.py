"""Argument handling shared by the metric families: maps, masks, methods, images and pixel orders.

Each function returns its argument in canonical form or raises a ``ValueError`` naming it.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from .._validation import as_class_indices, as_images, num_classes


def is_keras(model) -> bool:
    import keras

    return isinstance(model, keras.Model)


def check_images(images, model) -> np.ndarray:
    """``images`` as float32 ``(N, H, W, C)``, checked against a Keras model's input shape."""
    return as_images(images, model=model if is_keras(model) else None)


def class_count(model) -> int | None:
    """The number of classes of a Keras ``model``; ``None`` (unknown) for other callables."""
    return num_classes(model) if is_keras(model) else None


def check_targets(targets, images: np.ndarray, model, name: str = "targets") -> np.ndarray:
    """Class indices ``(N,)`` for ``images``, within the outputs of a Keras ``model``."""
    return as_class_indices(targets, len(images), class_count(model), name)


def as_maps(maps, name: str = "maps", n: int | None = None, spatial: tuple | None = None) -> np.ndarray:
    """Finite float32 maps ``(N, H, W)`` from ``(N, H, W)`` or ``(N, H, W, C)`` (channels summed)."""
    array = np.asarray(maps, dtype=np.float32)
    if array.ndim not in (3, 4):
        raise ValueError(f"`{name}` must have shape (N, H, W) or (N, H, W, C); got shape {array.shape}.")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"`{name}` contains NaN or inf values; expected finite relevance scores.")
    if array.ndim == 4:
        array = array.sum(axis=-1)
    if n is not None and len(array) != n:
        raise ValueError(f"`{name}` holds {len(array)} maps but there are {n} images/masks; expected one each.")
    if spatial is not None and array.shape[1:] != tuple(spatial):
        raise ValueError(f"`{name}` has spatial shape {array.shape[1:]} but the images are {tuple(spatial)}.")
    if len(array) == 0:
        raise ValueError(f"`{name}` is empty; expected at least one map.")
    return array


def as_masks(masks, shape: tuple, name: str = "masks") -> np.ndarray:
    """Boolean masks of ``shape`` ``(N, H, W)`` (a trailing channel of 1 is dropped); none may be empty."""
    array = np.asarray(masks)
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.shape != shape:
        raise ValueError(f"`{name}` must have shape {shape} (N, H, W) to match the maps; got {array.shape}.")
    if array.dtype != bool:
        if not np.all(np.isin(array, (0, 1))):
            raise ValueError(f"`{name}` must be boolean (or 0/1) masks.")
        array = array.astype(bool)
    empty = np.flatnonzero(~array.reshape(len(array), -1).any(axis=1))
    if len(empty):
        raise ValueError(f"`{name}`[{empty[0]}] is empty; every mask needs at least one pixel "
                         f"(select the triggered images first).")
    return array


def check_method(method) -> Callable:
    """An attribution method ``method(model, images, targets, *, batch_size, **params) -> maps``."""
    if not callable(method):
        raise ValueError("`method` must be a callable method(model, images, targets, *, batch_size, **params) "
                         f"-> maps; got {method!r}.")
    return method


def method_maps(method: Callable, model, images: np.ndarray, targets: np.ndarray, batch_size: int,
                method_params: Mapping | None) -> np.ndarray:
    """``method``'s maps of ``images`` for ``targets`` as ``(N, H, W)``, checked to match the images."""
    maps = method(model, images, targets, batch_size=batch_size, **dict(method_params or {}))
    return as_maps(maps, "method output", n=len(images), spatial=images.shape[1:3])


def pixel_ranks(relevance: np.ndarray, absolute: bool) -> np.ndarray:
    """Rank of each pixel of maps ``(N, H, W)`` as ``(N, H*W)``: 0 for the most relevant (ties: raster order)."""
    flat = relevance.reshape(len(relevance), -1)
    order = np.argsort(-(np.abs(flat) if absolute else flat), axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(flat.shape[1])[None, :], axis=1)
    return ranks
