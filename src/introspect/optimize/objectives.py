"""Objectives: what :func:`~introspect.optimize.optimize` maximises, a score per example.

Class scores (:func:`class_logit`, :func:`class_probability`), hidden units (:func:`channel`,
:func:`neuron`, :func:`layer_activation`) and the counterfactual score (:func:`counterfactual`) are all :class:`Objective`
objects; objectives add, subtract, negate and scale, so ``0.5 * a + b`` is an objective too.
"""
from __future__ import annotations

import math
import numbers

import numpy as np
import tensorflow as tf

from .. import numerics
from .._keras import ends_in_softmax, find_layer
from .._validation import as_class_indices, as_images, fraction, num_classes, one_of

#: Distances understood by :func:`counterfactual`.
DISTANCES = ("l1", "l2", "tv")


class Objective:
    """A score per example to be maximised, ``features -> (N,)``.

    ``features`` holds ``"logits"`` ``(N, K)``, ``"image"`` (the optimised images before any
    transform, ``(N, H, W, C)``) and ``"layers"`` (layer name -> activation). Objectives add,
    subtract, negate and multiply by numbers, so ``channel("conv3", 5) - 0.1 * class_logit(2)``
    is an objective too.
    """

    #: Names of the hidden layers whose activations the objective reads.
    layers: tuple = ()
    #: Number of examples the objective is written for (per-example targets), or ``None``.
    batch_size: int | None = None

    def __call__(self, features: dict) -> tf.Tensor:
        raise NotImplementedError

    def check(self, model) -> None:
        """Raise ``ValueError`` if the objective does not fit ``model`` (layer, index range)."""

    def active(self, features: dict):
        """``(N,)`` bool, False for examples that are done and must stop changing; ``None``: all go on."""
        return None

    def __add__(self, other):
        if isinstance(other, numbers.Number) and other == 0:
            return self
        if not isinstance(other, Objective):
            return NotImplemented
        return _Sum(_terms(self) + _terms(other))

    def __radd__(self, other):  # lets sum([a, b]) start from 0
        return self.__add__(other)

    def __mul__(self, factor):
        if isinstance(factor, bool) or not isinstance(factor, numbers.Real) or not math.isfinite(factor):
            return NotImplemented
        return _Sum([(float(factor) * weight, term) for weight, term in _terms(self)])

    __rmul__ = __mul__

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        if not isinstance(other, Objective):
            return NotImplemented
        return self + (-other)

    def __repr__(self) -> str:
        return self.description

    description = "objective"


def _terms(objective: Objective) -> list:
    return list(objective.terms) if isinstance(objective, _Sum) else [(1.0, objective)]


class _Sum(Objective):
    """Weighted sum of objectives; an example is done as soon as any term says it is done."""

    def __init__(self, terms: list):
        self.terms = terms
        self.layers = tuple(dict.fromkeys(name for _, term in terms for name in term.layers))
        sizes = {term.batch_size for _, term in terms} - {None}
        if len(sizes) > 1:
            raise ValueError(f"`objective` combines objectives written for different batch sizes {sorted(sizes)}; "
                             f"per-example targets must all have the same length.")
        self.batch_size = sizes.pop() if sizes else None
        self.description = " + ".join(f"{weight:g} * {term!r}" for weight, term in terms)

    def __call__(self, features):
        return tf.add_n([weight * term(features) for weight, term in self.terms])

    def check(self, model):
        for _, term in self.terms:
            term.check(model)

    def active(self, features):
        masks = [m for m in (term.active(features) for _, term in self.terms) if m is not None]
        return tf.reduce_all(tf.stack(masks), axis=0) if masks else None


def _indices(value, name: str, what: str) -> np.ndarray:
    """An int (0-d) or a 1-D int array of indices >= 0; the upper bound is checked against the model."""
    array = np.asarray(value)
    if array.ndim > 1 or array.size == 0 or array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"`{name}` must be a {what} index (int) or a 1-D int array of them, one per example; "
                         f"got {value!r}.")
    if array.min() < 0:
        raise ValueError(f"`{name}` holds {what} index {array.min()}, but indices must be >= 0.")
    return array.astype(np.int64)


def _position(value, name: str, what: str) -> int:
    index = _indices(value, name, what)
    if index.ndim:
        raise ValueError(f"`{name}` must be a single {what} index (int); got {value!r}.")
    return int(index)


def _check_below(indices: np.ndarray, bound: int, name: str, what: str) -> None:
    if indices.max() >= bound:
        raise ValueError(f"`{name}` holds {what} index {indices.max()}, outside [0, {bound}) for this model.")


def _check_logits(model, what: str) -> None:
    if ends_in_softmax(model):
        raise ValueError(f"`model` ends in a softmax; {what} (remove the final activation).")


def _pick(values: tf.Tensor, indices: np.ndarray) -> tf.Tensor:
    """``values[i, indices[i]]`` for ``(N, K)`` values; a scalar index is shared by every example."""
    if indices.ndim == 0:
        return values[:, int(indices)]
    return tf.gather(values, tf.constant(indices), axis=1, batch_dims=1)


def _layer_shape(model, name: str) -> tuple:
    find_layer(model, name)  # unknown names: a ValueError that lists the layers
    try:
        layer = model.get_layer(name)
    except ValueError:
        raise ValueError(f"`layer` {name!r} sits inside a nested model; pass that nested model as `model`.") from None
    return tuple(layer.output.shape)


class _ClassScore(Objective):
    def __init__(self, target, probability: bool):
        self.targets = _indices(target, "target", "class")
        self.batch_size = len(self.targets) if self.targets.ndim else None
        self.probability = probability
        self.description = f"class_{'probability' if probability else 'logit'}({target!r})"

    def check(self, model):
        _check_logits(model, "objectives need a model that outputs logits")
        _check_below(self.targets, num_classes(model), "target", "class")

    def __call__(self, features):
        scores = tf.nn.softmax(features["logits"]) if self.probability else features["logits"]
        return _pick(scores, self.targets)


def class_logit(target) -> Objective:
    """The pre-softmax logit of class ``target`` (Simonyan et al. 2013, arXiv:1312.6034).

    ``target`` is an int, or an int array ``(N,)`` to optimise one image per entry
    (``class_logit(np.arange(10))`` visualises all ten classes in one batch).
    """
    return _ClassScore(target, probability=False)


def class_probability(target) -> Objective:
    """The softmax probability of class ``target``; ``target`` as in :func:`class_logit`."""
    return _ClassScore(target, probability=True)


class _Unit(Objective):
    def __init__(self, layer: str, k, y=None, x=None, kind: str = "channel"):
        if not isinstance(layer, str):
            raise ValueError(f"`layer` must be a layer name (str); got {layer!r}.")
        self.layers = (layer,)
        self.k = _indices(k, "k", "channel")
        self.batch_size = len(self.k) if self.k.ndim else None
        self.kind = kind
        self.y = None if y is None else _position(y, "y", "row")
        self.x = None if x is None else _position(x, "x", "column")
        self.description = f"{kind}({layer!r}, {k!r}" + ("" if kind == "channel" else f", {y!r}, {x!r}") + ")"

    def check(self, model):
        shape = _layer_shape(model, self.layers[0])
        if shape[-1] is None:
            raise ValueError(f"`layer` {self.layers[0]!r} has an unknown number of channels; cannot check `k`.")
        _check_below(self.k, shape[-1], "k", "channel")
        if self.kind == "neuron":
            if len(shape) == 4:
                self.y = shape[1] // 2 if self.y is None else self.y
                self.x = shape[2] // 2 if self.x is None else self.x
                _check_below(np.asarray(self.y), shape[1], "y", "row")
                _check_below(np.asarray(self.x), shape[2], "x", "column")
            elif len(shape) != 2 or self.y is not None or self.x is not None:
                raise ValueError(f"`layer` {self.layers[0]!r} has output shape {shape}: a neuron needs an "
                                 f"(N, H, W, C) map with `y`, `x`, or an (N, units) layer without them.")

    def __call__(self, features):
        activation = features["layers"][self.layers[0]]
        if self.kind == "neuron" and activation.shape.rank == 4:
            activation = activation[:, self.y, self.x, :]
        elif activation.shape.rank > 2:
            activation = tf.reduce_mean(activation, axis=list(range(1, activation.shape.rank - 1)))
        return _pick(activation, self.k)


def channel(layer: str, k) -> Objective:
    """Mean activation of channel ``k`` of the hidden layer named ``layer`` (Olah et al. 2017).

    ``k`` is an int or an int array ``(N,)`` (one channel per optimised image). For an
    ``(N, units)`` layer the "channel" is one unit.
    """
    return _Unit(layer, k, kind="channel")


class _Layer(Objective):
    def __init__(self, layer: str):
        if not isinstance(layer, str):
            raise ValueError(f"`layer` must be a layer name (str); got {layer!r}.")
        self.layers = (layer,)
        self.description = f"layer_activation({layer!r})"

    def check(self, model):
        _layer_shape(model, self.layers[0])

    def __call__(self, features):
        activation = features["layers"][self.layers[0]]
        return tf.reduce_mean(activation, axis=list(range(1, activation.shape.rank)))


def layer_activation(layer: str) -> Objective:
    """Mean activation of the whole hidden layer ``layer``, every channel and position: DeepDream's objective.

    (Mordvintsev et al. 2015, "Inceptionism"; the TensorFlow DeepDream tutorial starts from a photo.)
    """
    return _Layer(layer)


def neuron(layer: str, k, y: int | None = None, x: int | None = None) -> Objective:
    """Activation of channel ``k`` at spatial position ``(y, x)`` of ``layer`` (default: the centre).

    For an ``(N, units)`` layer leave ``y`` and ``x`` out: the neuron is unit ``k``.
    """
    return _Unit(layer, k, y, x, kind="neuron")


def _distance(difference: tf.Tensor, kind: str) -> tf.Tensor:
    """Per-example size of ``difference`` ``(N, H, W, C)``: squared L2, L1, or total variation."""
    if kind == "l2":
        return tf.reduce_sum(tf.square(difference), axis=[1, 2, 3])
    if kind == "l1":
        return tf.reduce_sum(tf.abs(difference), axis=[1, 2, 3])
    return numerics.total_variation(difference, reduction="sum")


class _Counterfactual(Objective):
    def __init__(self, target, original, distance, weight, margin):
        self.original = as_images(original, "original", value_range=(0, 1))
        self.batch_size = len(self.original)
        self.targets = as_class_indices(target, self.batch_size, None, "target")
        if self.targets.min() < 0:
            raise ValueError(f"`target` holds class index {self.targets.min()}, but indices must be >= 0.")
        self.distance = one_of(distance, DISTANCES, "distance")
        self.weight = fraction(weight, "weight", high=math.inf)
        self.margin = fraction(margin, "margin", high=math.inf)
        self.description = f"counterfactual(distance={distance!r}, weight={self.weight:g}, margin={self.margin:g})"

    def check(self, model):
        _check_logits(model, "a counterfactual margin is defined on logits")
        _check_below(self.targets, num_classes(model), "target", "class")
        as_images(self.original, "original", model=model)

    def hinge(self, logits):
        """``(max_{j != t} z_j - z_t + margin)_+`` per example."""
        is_target = tf.one_hot(self.targets, tf.shape(logits)[1], on_value=True, off_value=False)
        best_other = tf.reduce_max(tf.where(is_target, logits.dtype.min, logits), axis=1)
        return tf.nn.relu(best_other - _pick(logits, self.targets) + self.margin)

    def __call__(self, features):
        change = _distance(features["image"] - tf.constant(self.original), self.distance)
        return -(self.hinge(features["logits"]) + self.weight * change)

    def active(self, features):
        return self.hinge(features["logits"]) > 0


def counterfactual(target, original, *, distance: str = "l1", weight: float = 0.1,
                   margin: float = 1.0) -> Objective:
    """Make class ``target`` win by ``margin`` logits while staying close to ``original``.

    The score is ``-[(max_{j != t} z_j - z_t + margin)_+ + weight * d(x, original)]`` after
    Wachter et al. 2017 (arXiv:1711.00399), with a hinge instead of their squared loss so that
    examples that meet the margin are done: :func:`~introspect.optimize.optimize` freezes them
    (their update is masked), so they stop changing.

    Parameters
    ----------
    target : int or array-like (N,)
        Class each example should become.
    original : array-like (N, H, W, C)
        The images in [0, 1] to stay close to (usually also the ``init``).
    distance : {"l1", "l2", "tv"}
        L1 norm (as Wachter et al.: sparse changes), squared L2 norm (smooth, dense changes) or
        total variation (piecewise-constant changes) of ``x - original``, summed over pixels.
    weight : float
        ``lambda >= 0``, the price of a unit of distance in logits. The three distances have
        different scales: a ``weight`` that suits one does not suit the others.
    margin : float
        ``kappa >= 0``, by how many logits the target must beat every other class.
    """
    return _Counterfactual(target, original, distance, weight, margin)
