"""Minimal and plausible counterfactuals: keep shrinking the change after the flip.

:func:`minimal_counterfactuals` solves, per example, the Carlini–Wagner problem (arXiv:1608.04644)

    minimise  d(x, x0) + c * (max_{j != t} z_j(x) - z_t(x) + margin)_+  [+ theta * ||ENC(x) - proto_t||^2]

over images ``x`` in [0, 1], for several constants ``c`` chosen by a per-example binary search:
a round that finds a change meeting the margin lowers ``c`` (a cheaper change may exist), a round
that finds none raises it. Unlike :func:`~introspect.optimize.counterfactuals`, which stops an
example at its first flip, the search keeps minimising while the margin holds and returns the
smallest change that met it. The optional prototype term (Van Looveren & Klaise 2019,
arXiv:1907.02584) pulls the change towards the latent code of real images of the target class,
so that the result stays on the data: a *plausible* counterfactual.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from .. import _progress
from ..numerics import adam_step
from .._validation import as_class_indices, as_images, fraction, num_classes, one_of, positive_int
from .objectives import _check_logits

#: Distances understood by :func:`minimal_counterfactuals`: squared L2, or elastic net (squared L2 + 0.1 L1).
MINIMAL_DISTANCES = ("l2", "elastic")
_ELASTIC_L1 = 0.1


@dataclass
class MinimalResult:
    """What :func:`minimal_counterfactuals` returns; every array has one row per input image.

    Attributes
    ----------
    counterfactuals : np.ndarray (N, H, W, C)
        The smallest change found that meets the margin (the image itself where none was found).
    differences : np.ndarray (N, H, W, C)
        ``counterfactuals - images``.
    flipped : np.ndarray (N,) bool
        The target class wins by at least ``margin`` logits.
    l1, l2, linf : np.ndarray (N,)
        Sizes of the difference (0 where not flipped).
    constants : np.ndarray (N,)
        The last constant ``c`` that succeeded (``nan`` if none).
    targets : np.ndarray (N,) int
        The class each image was pushed to.
    """

    counterfactuals: np.ndarray
    differences: np.ndarray
    flipped: np.ndarray
    l1: np.ndarray
    l2: np.ndarray
    linf: np.ndarray
    constants: np.ndarray
    targets: np.ndarray


@dataclass
class Prototypes:
    """Prototype guidance: an ``encoder`` (images -> latent codes) and one target code per image.

    Build with :func:`class_prototypes`; ``codes`` is ``(N, *latent_shape)``, ``weight`` is theta.
    """

    encoder: object
    codes: np.ndarray
    weight: float = 1.0


def class_prototypes(encoder, images, targets, reference_images, reference_labels, *, k: int = 10,
                     weight: float = 1.0, batch_size: int = 512) -> Prototypes:
    """The prototype of each image's target class: the mean code of its ``k`` nearest class members.

    Van Looveren & Klaise 2019 (arXiv:1907.02584), Eq. 6: the ``k`` reference images of class
    ``targets[i]`` whose latent codes are nearest (Euclidean) to the code of ``images[i]``.

    Parameters
    ----------
    encoder : keras.Model
        Images ``(N, H, W, C)`` -> latent codes ``(N, ...)``.
    images : array-like (N, H, W, C)
        The images to be changed.
    targets : array-like (N,) int
        Their target classes.
    reference_images, reference_labels : (M, H, W, C), (M,)
        Real labelled images (training data) to build prototypes from.
    k : int
        Nearest class members averaged.
    weight : float
        theta, the price of a unit of squared latent distance.
    """
    from ..companions import encode

    images = as_images(images, "images", value_range=(0, 1))
    reference_images = as_images(reference_images, "reference_images", value_range=(0, 1))
    targets = as_class_indices(targets, len(images), None, "targets")
    reference_labels = as_class_indices(reference_labels, len(reference_images), None, "reference_labels")
    k = positive_int(k, "k")
    codes, reference = encode(encoder, images, batch_size), encode(encoder, reference_images, batch_size)
    prototypes = np.empty_like(codes)
    for c in np.unique(targets):
        members = reference[reference_labels == c]
        if len(members) < k:
            raise ValueError(f"`reference_labels` holds {len(members)} images of class {c}; `k` = {k} needs more.")
        rows = np.flatnonzero(targets == c)
        distances = ((codes[rows, None, :] - members[None]) ** 2).sum(axis=2)
        nearest = np.argpartition(distances, k - 1, axis=1)[:, :k]
        prototypes[rows] = members[nearest].mean(axis=1)
    latent_shape = tuple(encoder.outputs[0].shape[1:])
    return Prototypes(encoder, prototypes.reshape(len(images), *latent_shape).astype(np.float32),
                      fraction(weight, "weight", high=math.inf))


def _step_function(model, distance: str, margin: float, prior: Prototypes | None):
    encoder = None if prior is None else prior.encoder
    theta = 0.0 if prior is None else prior.weight

    def sizes(x, x0, proto):
        """``(N,)`` penalised size of the change: distance (+ prototype term)."""
        difference = x - x0
        size = tf.reduce_sum(tf.square(difference), axis=[1, 2, 3])
        if distance == "elastic":
            size += _ELASTIC_L1 * tf.reduce_sum(tf.abs(difference), axis=[1, 2, 3])
        if encoder is not None:
            code = encoder(x, training=False)
            size += theta * tf.reduce_sum(tf.reshape(tf.square(code - proto), [tf.shape(x)[0], -1]), axis=1)
        return size

    def gap(x, targets):
        """``z_t - max_{j != t} z_j`` per example."""
        logits = model(x, training=False)
        is_target = tf.one_hot(targets, tf.shape(logits)[1], on_value=True, off_value=False)
        best_other = tf.reduce_max(tf.where(is_target, logits.dtype.min, logits), axis=1)
        return tf.gather(logits, targets, axis=1, batch_dims=1) - best_other

    @tf.function(reduce_retracing=True)
    def step(x, first, second, count, x0, targets, constants, proto, learning_rate):
        with tf.GradientTape() as tape:
            tape.watch(x)
            margin_gap = gap(x, targets)
            size = sizes(x, x0, proto)
            loss = tf.reduce_sum(size + constants * tf.nn.relu(margin - margin_gap))
        gradient = tape.gradient(loss, x)
        new_x, first, second = adam_step(x, gradient, first, second, count, learning_rate)
        return tf.clip_by_value(new_x, 0.0, 1.0), first, second, margin_gap >= margin, size

    @tf.function(reduce_retracing=True)
    def evaluate(x, x0, targets, proto):
        return gap(x, targets) >= margin, sizes(x, x0, proto)

    return step, evaluate


def minimal_counterfactuals(model, images, targets, *, distance: str = "l2", margin: float = 1.0,
                            rounds: int = 8, steps: int = 100, learning_rate: float = 0.01,
                            initial_constant: float = 1.0, decay: float = 0.7, prior: Prototypes | None = None,
                            batch_size: int = 256, progress: bool = True) -> MinimalResult:
    """The smallest changes (by ``distance``) that make class ``targets`` win by ``margin`` logits.

    Carlini & Wagner (arXiv:1608.04644) with a per-example binary search over the constant ``c``
    (``rounds`` rounds of ``steps`` Adam steps on the pixels, clipped to [0, 1]); each round starts
    from the best change found so far, so the iterate oscillates around the decision boundary
    while the distance term keeps shrinking the change. The best image that met the margin is
    kept; finally each change is shrunk along its own direction (``x0 + a (x - x0)``, ``a`` in
    [0.5, 1]) as long as the margin still holds. With ``prior`` the size includes the prototype
    term of Van Looveren & Klaise (arXiv:1907.02584).

    Parameters
    ----------
    model, images, targets
        The classifier (logits ``(N, K)``), images ``(N, H, W, C)`` in [0, 1] and the class each
        must reach, an int or ``(N,)`` (e.g. the true labels of misclassified images).
    distance : {"l2", "elastic"}
        Squared L2 norm of the change, or squared L2 + 0.1 * L1 (elastic net, as Van Looveren & Klaise).
    margin : float
        By how many logits the target must beat every other class (kappa >= 0).
    rounds, steps : int
        Binary-search rounds over ``c`` and Adam steps per round.
    learning_rate : float
        Adam step size on the pixels in the first round.
    decay : float
        Factor applied to the step size after each round (in (0, 1]): later rounds, which start
        near the boundary, refine with smaller steps.
    initial_constant : float
        ``c`` of the first round (> 0).
    prior : Prototypes, optional
        Prototype guidance from :func:`class_prototypes` (one code per image).
    batch_size : int
        Images optimised at once.
    progress : bool
        Show a plain-text progress bar when the call lasts over ~2 s; ``False`` silences it.

    Returns
    -------
    MinimalResult
    """
    images = as_images(images, "images", model=model, value_range=(0, 1))
    targets = as_class_indices(targets, len(images), num_classes(model), "targets")
    _check_logits(model, "a counterfactual margin is defined on logits")
    distance = one_of(distance, MINIMAL_DISTANCES, "distance")
    margin = fraction(margin, "margin", high=math.inf)
    rounds, steps, batch_size = (positive_int(v, name) for v, name in
                                 ((rounds, "rounds"), (steps, "steps"), (batch_size, "batch_size")))
    learning_rate = fraction(learning_rate, "learning_rate", low=1e-12, high=math.inf)
    decay = fraction(decay, "decay", low=1e-6)
    initial_constant = fraction(initial_constant, "initial_constant", low=1e-12, high=math.inf)
    if prior is not None and (not isinstance(prior, Prototypes) or len(prior.codes) != len(images)):
        raise ValueError("`prior` must be Prototypes from class_prototypes(...) with one code per image.")
    step, evaluate = _step_function(model, distance, margin, prior)
    best, constants = images.copy(), np.full(len(images), np.nan)
    chunks = range(0, len(images), batch_size)
    with _progress.bar(len(chunks) * rounds, f"minimal counterfactuals ({rounds} rounds x {steps} steps)", progress,
                       unit="rounds") as bar:
        for start in chunks:
            rows = slice(start, start + batch_size)
            proto = tf.zeros([1]) if prior is None else tf.constant(prior.codes[rows])
            best[rows], constants[rows] = _search(step, evaluate, images[rows], targets[rows], proto, rounds, steps,
                                                  initial_constant, learning_rate, decay, bar)
    met, _ = evaluate(tf.constant(best), tf.constant(images), tf.constant(targets), tf.zeros([1]) if prior is None
                      else tf.constant(prior.codes))
    difference = best - images
    return MinimalResult(counterfactuals=best, differences=difference, flipped=met.numpy(),
                         l1=np.abs(difference).sum(axis=(1, 2, 3)),
                         l2=np.sqrt(np.square(difference).sum(axis=(1, 2, 3))),
                         linf=np.abs(difference).max(axis=(1, 2, 3)), constants=constants, targets=targets)


def _search(step, evaluate, x0, targets, proto, rounds, steps, initial_constant, learning_rate, decay, bar):
    """Binary search over ``c`` for one chunk; returns the best images and the last successful constants."""
    n = len(x0)
    x0_t, targets_t = tf.constant(x0), tf.constant(targets)
    lower, upper = np.zeros(n), np.full(n, np.inf)
    constant = np.full(n, initial_constant)
    best, best_size, succeeded = x0.copy(), np.full(n, np.inf), np.full(n, np.nan)
    for round_index in range(rounds):
        x = tf.constant(best)
        first, second = tf.zeros_like(x), tf.zeros_like(x)
        found = np.zeros(n, bool)
        c = tf.constant(constant, tf.float32)
        rate = tf.constant(learning_rate * decay ** round_index, tf.float32)
        for index in range(steps):
            new_x, first, second, met, size = step(x, first, second, tf.constant(index + 1.0), x0_t, targets_t, c,
                                                   proto, rate)
            better = met.numpy() & (size.numpy() < best_size)
            if better.any():
                best[better] = x.numpy()[better]
                best_size[better] = size.numpy()[better]
                found |= better
            x = new_x
        succeeded[found] = constant[found]
        upper[found] = np.minimum(upper[found], constant[found])
        lower[~found] = np.maximum(lower[~found], constant[~found])
        constant = np.where(np.isfinite(upper), (lower + upper) / 2, constant * 10)
        bar.update(1)
        bar.set_postfix_str(f"{np.isfinite(best_size).mean():.0%} meet the margin", refresh=False)
    return _shrink(evaluate, x0, best, best_size, targets_t, proto), succeeded


def _shrink(evaluate, x0, best, best_size, targets_t, proto):
    """Move each change towards the original, ``x0 + a (x - x0)``, while the margin holds."""
    x0_t = tf.constant(x0)
    for a in np.linspace(0.5, 0.98, 25):
        candidate = (x0 + a * (best - x0)).astype(np.float32)
        met, size = evaluate(tf.constant(candidate), x0_t, targets_t, proto)
        better = met.numpy() & (size.numpy() < best_size)
        best[better], best_size[better] = candidate[better], size.numpy()[better]
    return best
