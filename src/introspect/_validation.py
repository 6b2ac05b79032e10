"""Argument checks shared by every public function.

Each check either returns the argument in its canonical form or raises a
``ValueError`` that names the argument and the form that was expected, so that
bad input never turns silently into a wrong answer.
"""
from __future__ import annotations

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
    shape = model.outputs[0].shape
    if len(shape) != 2 or shape[-1] is None:
        raise ValueError(f"`model` must output class scores of shape (N, K); its output shape is {tuple(shape)}.")
    return int(shape[-1])


def ends_in_softmax(model) -> bool:
    """True when the model's last layer applies a softmax (so its outputs are not logits)."""
    import keras

    layer = model.layers[-1]
    while isinstance(layer, keras.Model) and layer.layers:
        layer = layer.layers[-1]
    if isinstance(layer, keras.layers.Softmax):
        return True
    activation = getattr(layer, "activation", None)
    return activation is not None and getattr(activation, "__name__", "") == "softmax"


def ensure_built(model, image_shape: tuple) -> None:
    """Call a never-called model once so it has inputs, outputs and weights."""
    try:
        model.inputs[0]
    except (AttributeError, IndexError, ValueError, TypeError):
        model(np.zeros((1, *image_shape), dtype=np.float32))


def find_layer(model, name: str):
    """Return the layer called ``name``, searching nested models depth-first."""
    for layer in model.layers:
        if layer.name == name:
            return layer
        if hasattr(layer, "layers"):
            try:
                return find_layer(layer, name)
            except ValueError:
                pass
    raise ValueError(f"`layer` {name!r} is not a layer of model {model.name!r}; layers are: "
                     f"{', '.join(all_layer_names(model))}.")


def all_layer_names(model) -> list[str]:
    """Names of every layer, nested models flattened in order."""
    names = []
    for layer in model.layers:
        names.append(layer.name)
        if hasattr(layer, "layers"):
            names.extend(all_layer_names(layer))
    return names
