"""One input-optimisation loop: activation maximisation and counterfactual search.

Feature visualisation (Olah et al., Distill 2017, "Feature Visualization") and counterfactual
explanations (Wachter et al. 2017, arXiv:1711.00399) are the same procedure: change the input of
a frozen classifier by gradient steps on a score. That procedure is :func:`optimize`; the uses
differ only in what is plugged into it:

* the **objective**: :func:`class_logit`, :func:`class_probability`, :func:`channel`,
  :func:`neuron`, :func:`counterfactual`; objectives add and scale (``0.5 * a + b``);
* the **parametrisation** of the image: ``"clip"`` (pixels, clipped to [0, 1] after each step),
  ``"sigmoid"`` (sigmoid of free variables) or ``"fourier"`` (decorrelated Fourier basis,
  Mordvintsev et al., Distill 2018, "Differentiable Image Parameterizations");
* random **transforms** before every forward pass (:func:`jitter`, :func:`random_scale`,
  :func:`random_rotation`) and **regularisers** (:func:`l2`, :func:`total_variation`, :func:`blur`).

A step for the whole batch (parametrisation -> image -> transforms -> model -> objective minus
penalties -> gradient -> Adam update) is one compiled ``tf.function``; the model's weights are
never touched. :func:`counterfactuals` wraps the loop for a batch of misclassified images.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from ._validation import (as_class_indices, as_images, ends_in_softmax, ensure_built, find_layer, fraction,
                          model_input_shape, non_negative_int, num_classes, one_of, positive_int)

PARAMS = ("clip", "sigmoid", "fourier")
DISTANCES = ("l1", "l2", "tv")
#: Adam step size per parametrisation when ``learning_rate`` is not given.
DEFAULT_LEARNING_RATE = {"clip": 0.05, "sigmoid": 0.1, "fourier": 0.05}
#: Smallest distance of a pixel from 0 or 1 that the sigmoid-based parametrisations represent;
#: below half an 8-bit grey level (1/510), so a real image round-trips visually unchanged.
_EPS = 1e-3
_INF = float("inf")


# --------------------------------------------------------------------------------------------- objectives
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


def _pick(values: tf.Tensor, indices: np.ndarray) -> tf.Tensor:
    """``values[i, indices[i]]`` for ``(N, K)`` values; a scalar index is shared by every example."""
    if indices.ndim == 0:
        return values[:, int(indices)]
    return tf.gather(values, tf.constant(indices), axis=1, batch_dims=1)


def _layer_shape(model, name: str) -> tuple:
    if not isinstance(name, str):
        raise ValueError(f"`layer` must be a layer name (str); got {name!r}.")
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
        if ends_in_softmax(model):
            raise ValueError("`model` ends in a softmax; objectives need a model that outputs logits "
                             "(remove the final activation).")
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
    return (tf.reduce_sum(tf.abs(difference[:, 1:] - difference[:, :-1]), axis=[1, 2, 3])
            + tf.reduce_sum(tf.abs(difference[:, :, 1:] - difference[:, :, :-1]), axis=[1, 2, 3]))


class _Counterfactual(Objective):
    def __init__(self, target, original, distance, weight, margin):
        self.original = as_images(original, "original", value_range=(0, 1))
        self.batch_size = len(self.original)
        self.targets = as_class_indices(target, self.batch_size, None, "target")
        if self.targets.min() < 0:
            raise ValueError(f"`target` holds class index {self.targets.min()}, but indices must be >= 0.")
        self.distance = one_of(distance, DISTANCES, "distance")
        self.weight = fraction(weight, "weight", high=_INF)
        self.margin = fraction(margin, "margin", high=_INF)
        self.description = f"counterfactual(distance={distance!r}, weight={self.weight:g}, margin={self.margin:g})"

    def check(self, model):
        if ends_in_softmax(model):
            raise ValueError("`model` ends in a softmax; a counterfactual margin is defined on logits.")
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
    examples that meet the margin are done: :func:`optimize` freezes them (their update is
    masked), so they stop changing.

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


# ----------------------------------------------------------------------------- transforms and regularisers
class Transform:
    """A random affine map applied to the images before each forward pass (robustness, Olah et al. 2017).

    ``matrices(n, seed)`` returns ``(n, 3, 3)`` maps from output to input pixel coordinates
    ``(x, y, 1)``, centred on the image centre; consecutive transforms are composed and applied in
    one bilinear resampling with reflected borders.
    """

    def matrices(self, n: int, seed: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError


def _affine(a, b, c, d, tx, ty) -> tf.Tensor:
    zero, one = tf.zeros_like(a), tf.ones_like(a)
    return tf.stack([tf.stack([a, b, tx], 1), tf.stack([c, d, ty], 1), tf.stack([zero, zero, one], 1)], 1)


class _Jitter(Transform):
    def __init__(self, pixels):
        self.pixels = positive_int(pixels, "pixels")
        self.description = f"jitter({pixels})"

    def matrices(self, n, seed):
        shift = tf.cast(tf.random.stateless_uniform([2, n], seed, -self.pixels, self.pixels + 1, tf.int32), tf.float32)
        one = tf.ones([n])
        return _affine(one, 0 * one, 0 * one, one, shift[0], shift[1])


class _Scale(Transform):
    def __init__(self, low, high):
        self.low, self.high = fraction(low, "scales", low=1e-3, high=_INF), fraction(high, "scales", low=1e-3, high=_INF)
        if self.low > self.high:
            raise ValueError(f"`scales` must be (low, high) with low <= high; got ({low}, {high}).")
        self.description = f"random_scale(({low}, {high}))"

    def matrices(self, n, seed):
        inverse = 1.0 / tf.random.stateless_uniform([n], seed, self.low, self.high)
        zero = tf.zeros([n])
        return _affine(inverse, zero, zero, inverse, zero, zero)


class _Rotation(Transform):
    def __init__(self, degrees):
        self.degrees = fraction(degrees, "degrees", high=180.0)
        self.description = f"random_rotation({degrees})"

    def matrices(self, n, seed):
        angle = tf.random.stateless_uniform([n], seed, -self.degrees, self.degrees) * (math.pi / 180.0)
        cos, sin = tf.cos(angle), tf.sin(angle)
        return _affine(cos, sin, -sin, cos, tf.zeros([n]), tf.zeros([n]))


def jitter(pixels: int = 2) -> Transform:
    """Shift each image by a random whole number of pixels in ``[-pixels, pixels]`` along each axis."""
    return _Jitter(pixels)


def random_scale(scales: tuple = (0.9, 1.1)) -> Transform:
    """Zoom each image about its centre by a factor drawn uniformly from ``scales = (low, high)``."""
    if np.ndim(scales) != 1 or len(scales) != 2:
        raise ValueError(f"`scales` must be a pair (low, high); got {scales!r}.")
    return _Scale(*scales)


def random_rotation(degrees: float = 10.0) -> Transform:
    """Rotate each image about its centre by an angle drawn uniformly from ``[-degrees, degrees]``."""
    return _Rotation(degrees)


def _reflect(index: tf.Tensor, size: int) -> tf.Tensor:
    if size == 1:
        return tf.zeros_like(index)
    period = 2 * (size - 1)
    index = tf.math.floormod(index, period)
    return tf.where(index > size - 1, period - index, index)


def _resample(images: tf.Tensor, matrices: tf.Tensor) -> tf.Tensor:
    """Bilinear sampling of ``images`` ``(N, H, W, C)`` at ``matrices @ (x, y, 1)``, centred coordinates.

    Written with ``gather`` so that its gradient is the exact adjoint of the sampling (the
    registered gradient of ``ImageProjectiveTransformV3`` applies the inverse map instead).
    """
    n, height, width, channels = images.shape
    ys, xs = np.meshgrid(np.arange(height) - (height - 1) / 2, np.arange(width) - (width - 1) / 2, indexing="ij")
    grid = tf.constant(np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)]), tf.float32)  # (3, H*W)
    source = tf.einsum("nij,jp->nip", matrices, grid)
    sx, sy = source[:, 0] + (width - 1) / 2, source[:, 1] + (height - 1) / 2
    x0, y0 = tf.floor(sx), tf.floor(sy)
    fx, fy = (sx - x0)[..., None], (sy - y0)[..., None]
    x0, y0 = tf.cast(x0, tf.int32), tf.cast(y0, tf.int32)
    flat = tf.reshape(images, [-1, height * width, channels])

    def corner(y, x):
        return tf.gather(flat, _reflect(y, height) * width + _reflect(x, width), axis=1, batch_dims=1)

    top = corner(y0, x0) * (1 - fx) + corner(y0, x0 + 1) * fx
    bottom = corner(y0 + 1, x0) * (1 - fx) + corner(y0 + 1, x0 + 1) * fx
    return tf.reshape(top * (1 - fy) + bottom * fy, tf.shape(images))


def _transform(images: tf.Tensor, transforms: tuple, seed: tf.Tensor) -> tf.Tensor:
    if not transforms:
        return images
    n = images.shape[0]
    matrix = tf.eye(3, batch_shape=[n])
    for i, transform in enumerate(transforms):  # output -> input maps compose as A_1 @ A_2 @ ...
        matrix = matrix @ transform.matrices(n, tf.random.experimental.stateless_fold_in(seed, i))
    return _resample(images, matrix)


class Regularizer:
    """A penalty per example ``images -> (N,)`` subtracted from the objective, or a periodic blur."""


class _Penalty(Regularizer):
    def __init__(self, kind, weight, center=0.5):
        self.kind, self.weight, self.center = kind, fraction(weight, "weight", high=_INF), center
        self.description = f"{kind}(weight={self.weight:g})"

    def penalty(self, images):
        if self.kind == "l2":
            return self.weight * tf.reduce_mean(tf.square(images - self.center), axis=[1, 2, 3])
        return self.weight * (tf.reduce_mean(tf.abs(images[:, 1:] - images[:, :-1]), axis=[1, 2, 3])
                              + tf.reduce_mean(tf.abs(images[:, :, 1:] - images[:, :, :-1]), axis=[1, 2, 3]))


class _PeriodicBlur(Regularizer):
    def __init__(self, sigma, every):
        self.sigma = fraction(sigma, "sigma", low=1e-6, high=_INF)
        self.every = positive_int(every, "every")
        self.description = f"blur(sigma={self.sigma:g}, every={self.every})"


def l2(weight: float = 1.0, center: float = 0.5) -> Regularizer:
    """``weight * mean((x - center)^2)`` per image: keeps pixels near mid-grey."""
    return _Penalty("l2", weight, fraction(center, "center"))


def total_variation(weight: float = 1.0) -> Regularizer:
    """``weight * (mean |x[i+1, j] - x[i, j]| + mean |x[i, j+1] - x[i, j]|)`` per image.

    Penalises high-frequency patterns (Mahendran & Vedaldi 2015, arXiv:1412.0035).
    """
    return _Penalty("total_variation", weight)


def blur(sigma: float = 0.5, every: int = 4) -> Regularizer:
    """Blur the image with a Gaussian of ``sigma`` pixels every ``every`` steps.

    Removes the high frequencies that gradient ascent accumulates (Yosinski et al. 2015,
    arXiv:1506.06579). For ``param="fourier"`` the blur is applied to the spectrum, so it wraps
    around the borders; the pixel parametrisations reflect at the borders.
    """
    return _PeriodicBlur(sigma, every)


# -------------------------------------------------------------------------------------- parametrisations
def _gaussian_blur(images: tf.Tensor, sigma: float) -> tf.Tensor:
    radius = min(max(1, math.ceil(3 * sigma)), images.shape[1] - 1, images.shape[2] - 1)
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps = (taps / taps.sum()).astype(np.float32)
    channels = images.shape[-1]
    padded = tf.pad(images, [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="REFLECT")
    rows = tf.constant(np.tile(taps[:, None, None, None], (1, 1, channels, 1)))
    padded = tf.nn.depthwise_conv2d(padded, rows, [1, 1, 1, 1], "VALID")
    return tf.nn.depthwise_conv2d(padded, tf.transpose(rows, [1, 0, 2, 3]), [1, 1, 1, 1], "VALID")


def _logit(images: np.ndarray) -> np.ndarray:
    clipped = np.clip(images, _EPS, 1 - _EPS)
    return np.log(clipped) - np.log1p(-clipped)


class _Pixels:
    """``"clip"``: the variables are the pixels; they are clipped to [0, 1] after each step."""

    def __init__(self, images: np.ndarray):
        self.variables = [tf.Variable(images)]

    def image(self):
        return tf.convert_to_tensor(self.variables[0])

    def project(self):
        self.variables[0].assign(tf.clip_by_value(self.variables[0], 0.0, 1.0))

    def blurred(self, sigma):
        return [_gaussian_blur(self.variables[0], sigma)]


class _Sigmoid(_Pixels):
    """``"sigmoid"``: image = sigmoid(v), so every value of ``v`` is a valid image."""

    def __init__(self, images):
        self.variables = [tf.Variable(_logit(images).astype(np.float32))]

    def image(self):
        return tf.sigmoid(self.variables[0])

    def project(self):
        pass


def color_basis(channels: int) -> np.ndarray:
    """``(C, C)`` matrix from decorrelated colour channels to (pre-sigmoid) RGB.

    For RGB: an orthonormal opponent-colour basis (luminance, red-green, blue-yellow) scaled by
    the relative spreads 1 : 0.29 : 0.14 of natural-image colours along their principal axes
    (square roots of the ImageNet RGB covariance eigenvalues 0.2175, 0.0188, 0.0045 of
    Krizhevsky et al. 2012). Other channel counts (grayscale): the identity.
    """
    if channels != 3:
        return np.eye(channels, dtype=np.float32)
    opponent = np.array([[1, 1, 1], [1, -1, 0], [1, 1, -2]], dtype=np.float64)
    opponent /= np.linalg.norm(opponent, axis=1, keepdims=True)
    spread = np.sqrt(np.array([0.2175, 0.0188, 0.0045]) / 0.2175)
    return (opponent.T * spread).astype(np.float32)


def fourier_scale(height: int, width: int, decay: float = 1.0) -> np.ndarray:
    """``(H, W // 2 + 1)`` amplitude of each rfft coefficient, ``1 / max(f, 1 / max(H, W)) ** decay``.

    Normalised so that a spectrum of independent unit-variance coefficients gives pixels of unit
    variance; the ``1/f`` fall-off matches natural images, so Adam's equal-sized steps per
    coefficient become steps that favour low frequencies (Olah et al. 2017).
    """
    frequency = np.hypot(np.fft.fftfreq(height)[:, None], np.fft.rfftfreq(width)[None, :])
    scale = 1.0 / np.maximum(frequency, 1.0 / max(height, width)) ** decay
    # irfft2 counts every column but the first (and the Nyquist one) twice: pixel variance is
    # sum(multiplicity^2 * scale^2) / (H W)^2 for independent unit-variance real and imaginary parts.
    multiplicity = np.full(scale.shape, 2.0)
    multiplicity[:, 0] = 1.0
    if width % 2 == 0:
        multiplicity[:, -1] = 1.0
    pixel_std = np.sqrt(np.sum((multiplicity * scale) ** 2)) / (height * width)
    return (scale / pixel_std).astype(np.float32)


class _Fourier:
    """``"fourier"``: image = sigmoid(colour_basis @ irfft2(scale * spectrum)).

    Lossless for images in ``[eps, 1 - eps]``: :meth:`__init__` inverts each stage.
    """

    def __init__(self, images: np.ndarray):
        _, self.height, self.width, channels = images.shape
        self.scale = fourier_scale(self.height, self.width)
        self.basis = color_basis(channels)
        decorrelated = _logit(images).astype(np.float64) @ np.linalg.inv(self.basis.T.astype(np.float64))
        spectrum = np.fft.rfft2(np.transpose(decorrelated, (0, 3, 1, 2))) / self.scale
        self.variables = [tf.Variable(spectrum.real.astype(np.float32)), tf.Variable(spectrum.imag.astype(np.float32))]

    def image(self):
        spectrum = tf.complex(self.variables[0] * self.scale, self.variables[1] * self.scale)
        pre = tf.transpose(tf.signal.irfft2d(spectrum, [self.height, self.width]), [0, 2, 3, 1])
        return tf.sigmoid(tf.einsum("nhwc,dc->nhwd", pre, self.basis))

    def project(self):
        pass

    def blurred(self, sigma):
        frequency = np.hypot(np.fft.fftfreq(self.height)[:, None], np.fft.rfftfreq(self.width)[None, :])
        transfer = np.exp(-2 * (math.pi * sigma * frequency) ** 2).astype(np.float32)
        return [variable * transfer for variable in self.variables]


_PARAMETRISATIONS = {"clip": _Pixels, "sigmoid": _Sigmoid, "fourier": _Fourier}


# ------------------------------------------------------------------------------------------------ the loop
@dataclass
class OptimizationResult:
    """What :func:`optimize` returns.

    Attributes
    ----------
    images : np.ndarray (N, H, W, C)
        The optimised images after ``steps`` steps, float32 in [0, 1].
    objective : np.ndarray (steps + 1, N)
        Objective per example after 0, 1, ..., ``steps`` steps (on the transformed images when
        transforms are used; regulariser penalties not included).
    predictions : np.ndarray (steps + 1, N)
        The model's class (argmax of the logits) at the same moments.
    snapshots : dict[int, np.ndarray]
        Requested step -> images ``(N, H, W, C)`` after that many steps (0 = the init as the
        parametrisation represents it).
    steps_run : int
        Steps actually computed; fewer than ``steps`` when every example was done early (the
        remaining rows of ``objective`` and ``predictions`` repeat the last one: nothing changes).
    """

    images: np.ndarray
    objective: np.ndarray
    predictions: np.ndarray
    snapshots: dict = field(default_factory=dict)
    steps_run: int = 0


def _init_images(init, n, batch_size, model, seed) -> np.ndarray:
    if not isinstance(init, str):
        images = as_images(init, "init", model=model, value_range=(0, 1))
        if batch_size is not None and batch_size != len(images):
            raise ValueError(f"`init` holds {len(images)} images but the objective is written for {batch_size}.")
        if n is not None and n != len(images):
            raise ValueError(f"`n` is {n} but `init` holds {len(images)} images; leave `n` out with an array init.")
        return images.copy()
    one_of(init, ("noise", "gray"), "init")
    if n is not None:
        n = positive_int(n, "n")
        if batch_size is not None and n != batch_size:
            raise ValueError(f"`n` is {n} but the objective is written for {batch_size} examples.")
    n = n or batch_size or 1
    shape = model_input_shape(model)
    if shape is None or None in shape:
        raise ValueError(f"`init` {init!r} needs a model with a fixed input shape (got {shape}); pass an array "
                         f"(N, H, W, C) instead.")
    if init == "gray":
        return np.full((n, *shape), 0.5, dtype=np.float32)
    return np.random.default_rng(seed).uniform(0.0, 1.0, (n, *shape)).astype(np.float32)


def _as_tuple(items, kind: type, name: str, example: str) -> tuple:
    try:
        items = (items,) if isinstance(items, kind) else tuple(items)
    except TypeError:
        raise ValueError(f"`{name}` must be a sequence of {kind.__name__} objects such as {example}; "
                         f"got {items!r}.") from None
    for item in items:
        if not isinstance(item, kind):
            raise ValueError(f"`{name}` must be a sequence of {kind.__name__} objects such as {example}; got {item!r}.")
    return items


def _feature_model(model, layers: tuple):
    import keras

    outputs = [model.get_layer(name).output for name in layers] + [model.outputs[0]]
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs  # a bare tensor in, as callers pass
    return keras.Model(inputs, outputs, name=f"{model.name}_features")


def optimize(model, objective: Objective, init="gray", *, steps: int = 256, learning_rate: float | None = None,
             param: str = "clip", transforms=(), regularizers=(), snapshots=(), seed: int = 0,
             n: int | None = None, adam_scaling: str = "value", progress: bool = True) -> OptimizationResult:
    """Optimise a batch of input images to maximise ``objective`` of a frozen ``model``.

    Each step is one compiled ``tf.function`` for the whole batch: parametrisation -> image ->
    random transforms -> model (inference mode) -> objective minus regulariser penalties ->
    gradient -> Adam update of the parametrisation's variables. Examples the objective declares
    done (a met :func:`counterfactual` margin) keep their state: their update is masked.

    Parameters
    ----------
    model : keras.Model
        Classifier with logits output ``(N, K)``; its weights never change.
    objective : Objective
        What to maximise, e.g. ``class_logit(np.arange(10))`` or ``0.5 * channel("conv3", 4)``.
    init : {"gray", "noise"} or array-like (N, H, W, C)
        Start: constant 0.5, uniform noise in [0, 1] (seeded), or given images in [0, 1].
    steps : int
        Number of gradient steps (> 0).
    learning_rate : float, optional
        Adam step size; defaults to :data:`DEFAULT_LEARNING_RATE` of ``param``.
    param : {"clip", "sigmoid", "fourier"}
        How images are represented (see the module docstring). Results are always in [0, 1].
    transforms : sequence of Transform
        Random :func:`jitter`, :func:`random_scale`, :func:`random_rotation`, drawn afresh each step.
    regularizers : sequence of Regularizer
        :func:`l2`, :func:`total_variation` (penalties) and :func:`blur` (every few steps).
    snapshots : sequence of int
        Steps in ``[0, steps]`` after which to keep a copy of the images.
    seed : int
        Seeds the noise init and the transforms: equal seeds give identical results.
    n : int, optional
        Batch size for a string ``init`` when the objective does not fix it (default 1).
    adam_scaling : {"value", "example"}
        ``"value"``: standard Adam, every variable gets its own step size, so all pixels move at
        about ``learning_rate`` per step. ``"example"``: Adam's second moment is averaged over each
        image, so the update keeps the gradient's direction and pixels with small gradients barely
        move (the sparser, smaller changes that counterfactuals need).
    progress : bool
        Show a plain-text progress bar.

    Returns
    -------
    OptimizationResult
    """
    from tqdm import tqdm

    if not isinstance(objective, Objective):
        raise ValueError(f"`objective` must be an Objective such as class_logit(3) or channel('conv3', 0); "
                         f"got {objective!r}.")
    steps = positive_int(steps, "steps")
    seed = non_negative_int(seed, "seed")
    param = one_of(param, PARAMS, "param")
    adam_scaling = one_of(adam_scaling, ("value", "example"), "adam_scaling")
    learning_rate = DEFAULT_LEARNING_RATE[param] if learning_rate is None else learning_rate
    learning_rate = fraction(learning_rate, "learning_rate", low=1e-12, high=_INF)
    transforms = _as_tuple(transforms, Transform, "transforms", "jitter(2)")
    regularizers = _as_tuple(regularizers, Regularizer, "regularizers", "total_variation(0.1)")
    blurs = [r for r in regularizers if isinstance(r, _PeriodicBlur)]
    penalties = [r for r in regularizers if isinstance(r, _Penalty)]
    if len(blurs) > 1:
        raise ValueError("`regularizers` may hold at most one blur(...).")
    try:
        snapshots = sorted({non_negative_int(s, "snapshots") for s in snapshots})
    except TypeError:
        raise ValueError(f"`snapshots` must be a sequence of steps in [0, {steps}]; got {snapshots!r}.") from None
    if snapshots and snapshots[-1] > steps:
        raise ValueError(f"`snapshots` holds step {snapshots[-1]}, outside [0, {steps}].")

    if not isinstance(init, str):
        init = as_images(init, "init", value_range=(0, 1))
        ensure_built(model, init.shape[1:])
    num_classes(model)
    images = _init_images(init, n, objective.batch_size, model, seed)
    objective.check(model)
    extractor = _feature_model(model, objective.layers)
    parametrisation = _PARAMETRISATIONS[param](images)
    step = _compile_step(extractor, objective, parametrisation, transforms, penalties,
                         blurs[0] if blurs else None, learning_rate, adam_scaling, seed)

    scores, predictions, kept = [], [], {}
    can_stop = not transforms
    with tqdm(total=steps, desc=f"optimize {param}", ascii=True, ncols=88, mininterval=2.0,
              disable=not progress) as bar:
        for index in range(steps + 1):
            image, score, prediction, done = step(tf.constant(index, tf.int64), tf.constant(index < steps))
            scores.append(score.numpy())
            predictions.append(prediction.numpy())
            if index in snapshots:
                kept[index] = image.numpy()
            if index < steps:
                bar.update(1)
                bar.set_postfix_str(f"objective {scores[-1].mean():.3g}", refresh=False)
            if can_stop and index < steps and done.numpy().all():
                final = image.numpy()
                kept.update({s: final for s in snapshots if s > index})
                scores += [scores[-1]] * (steps - index)
                predictions += [predictions[-1]] * (steps - index)
                bar.update(steps - index - 1)
                break
        steps_run = index
    return OptimizationResult(images=np.clip(image.numpy(), 0.0, 1.0), objective=np.stack(scores),
                              predictions=np.stack(predictions), snapshots=kept, steps_run=steps_run)


def _compile_step(extractor, objective, parametrisation, transforms, penalties, periodic_blur, learning_rate,
                  adam_scaling, seed):
    """The compiled ``step(index, update) -> (images, objective, predictions, done)``."""
    variables = parametrisation.variables
    first_moments = [tf.Variable(tf.zeros_like(v)) for v in variables]
    per_example = adam_scaling == "example"
    second_moments = [tf.Variable(tf.zeros([v.shape[0]] + [1] * (v.shape.rank - 1)) if per_example
                                  else tf.zeros_like(v)) for v in variables]
    count = tf.Variable(0.0)
    beta1, beta2, epsilon = 0.9, 0.999, 1e-8
    layer_names = objective.layers

    @tf.function
    def step(index, update):
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(variables)
            image = parametrisation.image()
            outputs = extractor(_transform(image, transforms, tf.stack([tf.constant(seed, tf.int64), index])),
                                training=False)
            outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
            features = {"logits": outputs[-1], "image": image, "layers": dict(zip(layer_names, outputs[:-1]))}
            score = objective(features)
            loss = -tf.reduce_sum(score)
            for penalty in penalties:
                loss += tf.reduce_sum(penalty.penalty(image))
        gradients = tape.gradient(loss, variables)
        active = objective.active(features)
        done = tf.zeros_like(score, tf.bool) if active is None else tf.logical_not(active)
        move = tf.logical_and(tf.logical_not(done), update)
        count.assign_add(tf.cast(update, tf.float32))
        correction = tf.sqrt(1 - beta2 ** count) / (1 - beta1 ** count)
        for variable, gradient, m, v in zip(variables, gradients, first_moments, second_moments):
            mask = tf.reshape(move, [-1] + [1] * (variable.shape.rank - 1))
            gradient = tf.zeros_like(variable) if gradient is None else gradient
            new_m = beta1 * m + (1 - beta1) * gradient
            squared = tf.square(gradient)
            if per_example:  # one step size per image: the update keeps the gradient's direction
                squared = tf.reduce_mean(squared, axis=list(range(1, variable.shape.rank)), keepdims=True)
            new_v = beta2 * v + (1 - beta2) * squared
            m.assign(tf.where(mask, new_m, m))
            v.assign(tf.where(mask, new_v, v))
            variable.assign(tf.where(mask, variable - learning_rate * correction * new_m / (tf.sqrt(new_v) + epsilon),
                                     variable))
        if periodic_blur is not None:
            blur_now = tf.logical_and(move, tf.equal(tf.math.floormod(index + 1, periodic_blur.every), 0))
            for variable, blurred in zip(variables, parametrisation.blurred(periodic_blur.sigma)):
                variable.assign(tf.where(tf.reshape(blur_now, [-1] + [1] * (variable.shape.rank - 1)),
                                         blurred, variable))
        parametrisation.project()
        return image, score, tf.argmax(features["logits"], axis=1), done

    return step


# ---------------------------------------------------------------------------------------- counterfactuals
@dataclass
class CounterfactualResult:
    """What :func:`counterfactuals` returns; every array has one row per input image.

    Attributes
    ----------
    counterfactuals : np.ndarray (N, H, W, C)
        The changed images, in [0, 1].
    differences : np.ndarray (N, H, W, C)
        ``counterfactuals - images`` (signed).
    flipped : np.ndarray (N,) bool
        The model now predicts the target class.
    flip_step : np.ndarray (N,) int
        First step after which the model predicted the target (0: already at the start), -1 if never.
    l1, l2 : np.ndarray (N,)
        ``sum |difference|`` and ``sqrt(sum difference^2)``.
    targets : np.ndarray (N,) int
        The class each image was pushed to.
    optimization : OptimizationResult
        The full record of the run (objective per step, snapshots).
    """

    counterfactuals: np.ndarray
    differences: np.ndarray
    flipped: np.ndarray
    flip_step: np.ndarray
    l1: np.ndarray
    l2: np.ndarray
    targets: np.ndarray
    optimization: OptimizationResult


def counterfactuals(model, images, true_labels, *, steps: int = 300, learning_rate: float = 0.002,
                    distance: str = "l1", weight: float = 0.1, margin: float = 1.0, param: str = "clip",
                    adam_scaling: str = "example", snapshots=(), seed: int = 0,
                    progress: bool = True) -> CounterfactualResult:
    """Smallest changes that make ``model`` predict ``true_labels`` for (misclassified) ``images``.

    Runs :func:`optimize` with :func:`counterfactual` (Wachter et al. 2017, arXiv:1711.00399),
    starting from the images themselves: each example moves until its true class wins by
    ``margin`` logits and then stops changing. Intended for misclassified images ("what would it
    take for the model to get this right?"), but any images and target classes work.

    Parameters
    ----------
    model : keras.Model
        Classifier that outputs logits ``(N, K)``.
    images : array-like (N, H, W, C)
        Images in [0, 1].
    true_labels : int or array-like (N,)
        The classes to reach.
    steps, learning_rate, param, adam_scaling, snapshots, seed, progress
        As in :func:`optimize` (but one Adam step size per image by default).
    distance, weight, margin
        As in :func:`counterfactual`.

    Returns
    -------
    CounterfactualResult
    """
    images = as_images(images, "images", model=model, value_range=(0, 1))
    targets = as_class_indices(true_labels, len(images), num_classes(model), "true_labels")
    objective = counterfactual(targets, images, distance=distance, weight=weight, margin=margin)
    result = optimize(model, objective, images, steps=steps, learning_rate=learning_rate, param=param,
                      adam_scaling=adam_scaling, snapshots=snapshots, seed=seed, progress=progress)
    hits = result.predictions == targets[None, :]
    flip_step = np.where(hits.any(axis=0), hits.argmax(axis=0), -1)
    difference = result.images - images
    return CounterfactualResult(
        counterfactuals=result.images, differences=difference, flipped=hits[-1], flip_step=flip_step,
        l1=np.abs(difference).sum(axis=(1, 2, 3)), l2=np.sqrt(np.square(difference).sum(axis=(1, 2, 3))),
        targets=targets, optimization=result)
