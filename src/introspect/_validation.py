"""Argument checks shared by every public function.

Each check either returns the argument in its canonical form or raises a
``ValueError`` that names the argument and the form that was expected, so that
bad input never turns silently into a wrong answer.
"""
from __future__ import annotations

import sys
import warnings
from typing import Sequence

import numpy as np


def as_images(images, name: str = "images", *, model=None, value_range=None) -> np.ndarray:
    """Return ``images`` as a finite float32 array of shape ``(N, H, W, C)``.

    Parameters
    ----------
    images : array-like or tf.Tensor
        A batch of images, ``(N, H, W, C)``.
    model : keras.Model, optional
        When given, ``(H, W, C)`` must match the model's input shape wherever that is defined.
    value_range : (float, float), optional
        When given, every value must lie inside it (e.g. ``(0, 1)`` for an optimisation init).
    """
    array = np.asarray(images, dtype=np.float32)
    if array.ndim != 4:
        raise ValueError(
            f"`{name}` must be a batch of images with shape (N, H, W, C); got shape {array.shape}. "
            f"For a single image use `{name}[None]`."
        )
    if array.shape[0] == 0:
        raise ValueError(f"`{name}` is empty: expected at least one image, shape (N, H, W, C) with N >= 1.")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"`{name}` contains NaN or inf values; expected finite pixel values.")
    if value_range is not None:
        low, high = value_range
        if array.min() < low or array.max() > high:
            raise ValueError(
                f"`{name}` must lie in [{low}, {high}]; got values in [{array.min():.4g}, {array.max():.4g}]."
            )
    if model is not None:
        expected = model_input_shape(model)
        if expected is not None:
            for axis, (want, got) in enumerate(zip(expected, array.shape[1:]), start=1):
                if want is not None and want != got:
                    raise ValueError(
                        f"`{name}` has shape {array.shape} but the model expects (N, "
                        f"{', '.join('?' if d is None else str(d) for d in expected)}); "
                        f"axis {axis} differs ({got} != {want})."
                    )
    return array


class PixelRangeWarning(UserWarning):
    """Images look like 8-bit pixel values (0-255) where a model expecting [0, 1] will read them."""


def warn_if_8bit(images: np.ndarray, name: str = "images", *, model=None) -> None:
    """Warn (:class:`PixelRangeWarning`) when ``images`` look like 0-255 pixels rather than [0, 1].

    The rule: all values non-negative, the largest above 1.5 and at most 255. Images in [0, 1],
    [-1, 1] or standardised ones (negative values) pass silently, and so do models whose first
    layer rescales 0-255 input itself (``Rescaling(1 / 255)``). It warns instead of raising
    because a user's own model may take 0-255 images; silence it with
    ``warnings.simplefilter("ignore", PixelRangeWarning)``.
    """
    low, high = float(images.min()), float(images.max())
    if not (low >= 0.0 and 1.5 < high <= 255.0):
        return
    if model is not None:
        from ._keras import rescales_8bit_input

        if rescales_8bit_input(model):
            return
    # Point the warning at the first caller outside this package, whichever function checked.
    level, frame = 2, sys._getframe(1)
    while frame is not None and str(frame.f_globals.get("__name__")).startswith("introspect"):
        level, frame = level + 1, frame.f_back
    warnings.warn(f"`{name}` hold values in [{low:.4g}, {high:.4g}]: they look like 8-bit pixels (0-255), but the "
                  f"model reads [0, 1] images (every model of introspect does). Pass `{name} / 255`; if your "
                  f"model really takes 0-255 input, silence this with "
                  f"warnings.simplefilter('ignore', introspect.saliency.PixelRangeWarning).",
                  PixelRangeWarning, stacklevel=level)


def model_input_shape(model) -> tuple | None:
    """``(H, W, C)`` the model expects (``None`` for unknown axes), or ``None`` if not yet built."""
    try:
        shape = model.inputs[0].shape
    except (AttributeError, IndexError, ValueError, TypeError):
        return None
    return tuple(None if d is None else int(d) for d in shape[1:])


def as_class_indices(values, n: int, num_classes: int | None, name: str = "targets") -> np.ndarray:
    """Return class indices as an int64 array of shape ``(n,)``; an int is broadcast."""
    array = np.asarray(values)
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer) or _is_integral_float(array)):
        raise ValueError(f"`{name}` must be an int or an int array of shape ({n},); got dtype {array.dtype}.")
    array = array.astype(np.int64)
    if array.ndim == 0:
        array = np.full(n, int(array), dtype=np.int64)
    if array.shape != (n,):
        raise ValueError(f"`{name}` must be an int or have shape ({n},) to match the images; got shape {array.shape}.")
    if num_classes is not None and (array.min() < 0 or array.max() >= num_classes):
        bad = array[(array < 0) | (array >= num_classes)][0]
        raise ValueError(f"`{name}` holds class index {bad}, outside [0, {num_classes}) for this model.")
    return array


def _is_integral_float(array: np.ndarray) -> bool:
    return np.issubdtype(array.dtype, np.floating) and array.size > 0 and np.all(np.isfinite(array)) and np.all(array == np.round(array))


def positive_int(value, name: str) -> int:
    """Return ``value`` as an int > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer; got {value!r}.")
    return int(value)


def non_negative_int(value, name: str) -> int:
    """Return ``value`` as an int >= 0 (seeds, margins, offsets)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"`{name}` must be a non-negative integer; got {value!r}.")
    return int(value)


def one_of(value, choices: Sequence[str], name: str) -> str:
    """Return ``value`` if it is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {', '.join(repr(c) for c in choices)}; got {value!r}.")
    return value


def fraction(value, name: str, *, low: float = 0.0, high: float = 1.0) -> float:
    """Return ``value`` as a float in ``[low, high]``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a number in [{low}, {high}]; got {value!r}.") from None
    if not (low <= number <= high):
        raise ValueError(f"`{name}` must be in [{low}, {high}]; got {value!r}.")
    return number


def positive_number(value, name: str, *, allow_zero: bool = False) -> float:
    """Return ``value`` as a finite float > 0 (>= 0 with ``allow_zero``): sigmas, rates, coefficients."""
    bound = ">= 0" if allow_zero else "> 0"
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a finite number {bound}; got {value!r}.") from None
    if not np.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        raise ValueError(f"`{name}` must be a finite number {bound}; got {value!r}.")
    return number


def num_classes(model) -> int:
    """Number of outputs of a classifier with a single ``(N, K)`` output."""
    try:
        shape = model.outputs[0].shape
    except (AttributeError, IndexError, TypeError):
        raise ValueError(f"`model` {getattr(model, 'name', model)!r} has no symbolic outputs (a subclassed model); "
                         "wrap it in a functional one: `keras.Model(inputs, model(inputs))` with "
                         "`inputs = keras.Input(image_shape)`.") from None
    if len(shape) != 2 or shape[-1] is None:
        raise ValueError(f"`model` must output class scores of shape (N, K); its output shape is {tuple(shape)}.")
    return int(shape[-1])


def ensure_built(model, image_shape: tuple) -> None:
    """Call a never-called model once so it has inputs, outputs and weights."""
    try:
        model.inputs[0]
    except (AttributeError, IndexError, ValueError, TypeError):
        model(np.zeros((1, *image_shape), dtype=np.float32))
