"""Concept tests: is a class's score sensitive to a concept given by example images? TCAV.

Kim et al. 2018, "Interpretability beyond feature attribution: quantitative testing with concept
activation vectors (TCAV)", arXiv:1711.11279. A concept (e.g. "a lightness ramp") is given by
images that show it and images that do not; its direction in a hidden layer is the concept
activation vector (CAV, from :func:`introspect.repair.clarc.artifact_direction`), and the class's
sensitivity is the directional derivative of its logit along that vector. Unlike a heatmap, this
needs no place in the image: a global pattern is as testable as a local one.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _keras
from .._validation import as_class_indices, as_images, num_classes, positive_int


@dataclass
class ConceptResult:
    """Per-class sensitivity to one concept, arrays ``(K,)`` over all classes of the model.

    ``score``: TCAV score, the share of the class's images whose logit rises along the CAV (NaN
    for classes without images); ``sensitivity``: the mean directional derivative;
    ``random_score``, ``random_sensitivity`` ``(R, K)``: the same for ``R`` random directions (CAVs
    of random image splits), the reference a concept must stand out from.
    """

    score: np.ndarray
    sensitivity: np.ndarray
    random_score: np.ndarray
    random_sensitivity: np.ndarray
    direction: np.ndarray

    def stands_out(self, margin: float = 0.0, *, statistic: str = "score") -> np.ndarray:
        """``(K,)`` bool: ``statistic`` (``"score"`` or ``"sensitivity"``) lies outside the random directions' range."""
        value = getattr(self, statistic)
        reference = self.random_score if statistic == "score" else self.random_sensitivity
        low, high = np.nanmin(reference, axis=0), np.nanmax(reference, axis=0)
        return (value > high + margin) | (value < low - margin)


def directional_derivatives(model, layer: str, images, targets, direction, *, batch_size: int = 128) -> np.ndarray:
    """``d logit[target] / d t`` at ``t = 0`` for ``layer``'s output ``a + t v``, per image, ``(N,)``.

    ``direction`` ``v`` is a flat vector of the layer's activation size; ``images`` ``(N, H, W, C)``,
    ``targets`` ``(N,)`` ints. Evaluated at inference (BatchNorm's moving statistics, no dropout).
    """
    import tensorflow as tf

    images = as_images(images, model=model)
    targets = as_class_indices(targets, len(images), num_classes(model), "targets")
    target_layer = _keras.find_layer(model, layer)
    v = tf.constant(np.asarray(direction, np.float32).ravel())
    batch_size = positive_int(batch_size, "batch_size")
    result = []
    for start in range(0, len(images), batch_size):
        x = tf.constant(images[start:start + batch_size])
        t = tf.zeros((len(x),))

        def shift(current, value, t=t):
            if current is not target_layer:
                return value
            flat = tf.reshape(value, (tf.shape(value)[0], -1))
            if flat.shape[-1] != v.shape[0]:
                raise ValueError(f"`direction` has {v.shape[0]} values but layer {layer!r} has "
                                 f"{flat.shape[-1]} activations per image.")
            return tf.reshape(flat + t[:, None] * v[None, :], tf.shape(value))

        with tf.GradientTape() as tape:
            tape.watch(t)
            logits = _keras.run_layers(model, x, shift)
            score = tf.gather(logits, tf.constant(targets[start:start + batch_size]), batch_dims=1)
        result.append(tape.gradient(score, t).numpy())
    return np.concatenate(result).astype(np.float64)


def tcav(model, layer: str, concept, reference, images, targets, *, n_random: int = 10, seed: int = 0,
         batch_size: int = 128) -> ConceptResult:
    """TCAV (Kim et al. 2018, arXiv:1711.11279) of one concept for every class of ``model``.

    Parameters
    ----------
    model : keras.Model
        Classifier with logits.
    layer : str
        Hidden layer in which the concept's direction is found (e.g. ``"dense"``).
    concept, reference : (M, H, W, C)
        Images with the concept and without it; best the same images with and without it, so
        that the direction is the concept's alone. The CAV is the mean difference of their
        activations (``artifact_direction(..., direction="mean_difference")``).
    images, targets : (N, H, W, C), (N,) ints
        Images whose ``targets`` logit is tested, usually clean images of every class with their
        true class.
    n_random : int
        Random directions for the reference scores: CAVs between two random halves of
        ``concept`` and ``reference`` pooled, which carry no concept.
    seed : int
        Seeds the random halves.

    Returns
    -------
    ConceptResult
    """
    from ..repair.clarc import artifact_direction

    concept = as_images(concept, "concept", model=model)
    reference = as_images(reference, "reference", model=model)
    images = as_images(images, model=model)
    k = num_classes(model)
    targets = as_class_indices(targets, len(images), k, "targets")
    n_random = positive_int(n_random, "n_random")

    def scores(direction):
        derivative = directional_derivatives(model, layer, images, targets, direction, batch_size=batch_size)
        score = np.array([np.mean(derivative[targets == c] > 0) if np.any(targets == c) else np.nan
                          for c in range(k)])
        mean = np.array([derivative[targets == c].mean() if np.any(targets == c) else np.nan for c in range(k)])
        return score, mean

    v, _ = artifact_direction(model, layer, concept, reference, batch_size=batch_size)
    score, sensitivity = scores(v)
    pooled = np.concatenate([concept, reference])
    rng = np.random.default_rng(seed)
    random_score, random_sensitivity = [], []
    for _ in range(n_random):
        order = rng.permutation(len(pooled))
        half = len(pooled) // 2
        u, _ = artifact_direction(model, layer, pooled[order[:half]], pooled[order[half:]], batch_size=batch_size)
        u_score, u_sensitivity = scores(u)
        random_score.append(u_score)
        random_sensitivity.append(u_sensitivity)
    return ConceptResult(score, sensitivity, np.array(random_score), np.array(random_sensitivity), v)
