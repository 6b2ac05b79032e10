"""Argument handling shared by every attribution method: one checked :class:`Request` per call."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._keras import ends_in_softmax
from .._validation import as_class_indices, as_images, ensure_built, num_classes, one_of, positive_int, warn_if_8bit
from ._engine import Engine, engine

#: The scores a method can explain: the logit, the probability or the log-probability of the target.
OUTPUTS = ("logits", "softmax", "log_softmax")

SOFTMAX_MESSAGE = (
    "`output`='{output}' asks for the logit but model {name!r} ends in a softmax, so its outputs are "
    "probabilities and the logit is not available. Either pass output='softmax' (or 'log_softmax'), or "
    "explain the model without its softmax: when the last layer is a Softmax/Activation layer use "
    "`keras.Model(model.inputs, model.layers[-1].input)`; when it is a Dense layer with "
    "activation='softmax', rebuild that layer with activation=None and copy its weights "
    "(`new_dense.set_weights(old_dense.get_weights())`)."
)


class Request(NamedTuple):
    images: np.ndarray      # (N, H, W, C) float32
    targets: np.ndarray     # (N,) int32
    foils: np.ndarray       # (N,) int32; equal to targets (and unused) when no foil is given
    has_foil: bool
    output: str
    batch_size: int
    engine: Engine

    @property
    def shape(self) -> tuple:
        return self.images.shape[1:]

    def key(self, kind: str, *extra) -> tuple:
        """The cache key of a compiled function: what changes its graph, nothing else."""
        return (kind, self.output, self.has_foil, self.shape, *extra)


def prepare(model, images, targets, output, foil, batch_size) -> Request:
    """Check the arguments every method shares and bundle them with the model's engine."""
    import keras

    if not isinstance(model, keras.Model):
        raise ValueError(f"`model` must be a keras.Model; got {type(model).__name__}.")
    array = as_images(images)
    ensure_built(model, array.shape[1:])
    array = as_images(array, model=model)
    warn_if_8bit(array, "images", model=model)
    output = one_of(output, OUTPUTS, "output")
    if output == "logits" and ends_in_softmax(model):
        raise ValueError(SOFTMAX_MESSAGE.format(output=output, name=model.name))
    classes = num_classes(model)
    target_array = as_class_indices(targets, len(array), classes, "targets").astype(np.int32)
    if foil is None:
        foil_array = target_array
    else:
        foil_array = as_class_indices(foil, len(array), classes, "foil").astype(np.int32)
    return Request(array, target_array, foil_array, foil is not None, output,
                   positive_int(batch_size, "batch_size"), engine(model))


def pair(value, name: str, limit: tuple) -> tuple:
    """A positive int or ``(rows, cols)`` pair no larger than ``limit``."""
    pair = (value, value) if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
    try:
        rows, cols = (positive_int(v, name) for v in pair)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a positive int or a (rows, cols) pair of them; got {value!r}.") from None
    if rows > limit[0] or cols > limit[1]:
        raise ValueError(f"`{name}` {value!r} is larger than the images ({limit[0]}x{limit[1]}).")
    return rows, cols
