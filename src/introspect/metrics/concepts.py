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
from .._validation import as_class_indices, as_images, fraction, num_classes, one_of, positive_int

#: The tests :func:`tcav_test` offers.
TESTS = ("t", "permutation")


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


def _class_means(values, targets, k: int) -> np.ndarray:
    """``(K,)``: the mean of ``values`` ``(N,)`` over each class's images (NaN for a class without images)."""
    return np.array([np.mean(values[targets == c]) if np.any(targets == c) else np.nan for c in range(k)])


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
        return _class_means(derivative > 0, targets, k), _class_means(derivative, targets, k)

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


@dataclass
class ConceptTest:
    """Kim et al.'s significance test of one concept for every class, arrays over the model's ``K`` classes.

    ``concept_score`` ``(R, K)``: TCAV scores of ``R`` CAVs, each of a random subset of the concept
    examples against its own set of random counterpart images; ``random_score`` ``(R, K)``: the same
    for CAVs between two sets of random images (no concept). ``p_value`` ``(K,)``: two-sided Welch
    t-test of the two samples per class (where both samples are constant: 1 if they are equal, 0 if
    not); ``significant``
    ``(K,)``: ``p_value < alpha / K`` (Bonferroni over classes); ``mean_difference`` ``(K,)``: mean
    concept score minus mean random score. Classes without test images are NaN / not significant.
    ``test`` and ``statistic``: which test gave the p-values, on which per-CAV number (``concept_score``
    and ``random_score`` hold that number).
    """

    concept_score: np.ndarray
    random_score: np.ndarray
    p_value: np.ndarray
    significant: np.ndarray
    mean_difference: np.ndarray
    alpha: float
    test: str
    statistic: str


def tcav_test(model, layer: str, concept, random_pool, images, targets, *, n_runs: int = 10, set_size: int = 50,
              alpha: float = 0.05, test: str = "permutation", statistic: str = "score", seed: int = 0,
              batch_size: int = 128) -> ConceptTest:
    """TCAV with its statistical test (Kim et al. 2018, arXiv:1711.11279, section 3.2): is a concept's score
    different from what directions without a concept give?

    For each of ``n_runs`` runs, ``set_size`` concept images and two disjoint sets of ``set_size``
    images drawn from ``random_pool`` give a concept CAV (concept vs the first random set) and a
    random CAV (first vs second random set), both mean-difference directions in ``layer``
    (:func:`introspect.repair.clarc.artifact_direction`). Each CAV's TCAV score per class is the
    share of the class's ``images`` whose ``targets`` logit rises along it. Per class, the ``n_runs``
    concept scores are compared with the ``n_runs`` random scores by a two-sided test, and a class
    counts only when its p-value is below ``alpha`` divided by the number of classes (Bonferroni), as
    the paper prescribes for testing many hypotheses.

    The paper's test is Welch's t-test (``test="t"``). On small networks a direction often moves a
    whole class's logits one way, so each TCAV score is 0 or 1 and the t-test's normal approximation
    fails: with concept and random sets drawn from one pool (no concept at all) it called 17.5% of
    classes significant at a nominal 5% (40 seeded draws, tests/metrics/test_concepts.py's linear
    model). The default, a two-sided permutation test of the difference in mean scores (9,999
    resamples), needs no such approximation and held its level there (2.5% and 7.5%).

    Parameters
    ----------
    model : keras.Model
        Classifier with logits.
    layer : str
        Hidden layer of the CAVs.
    concept : (M, H, W, C)
        Images showing the concept; ``M >= set_size``.
    random_pool : (P, H, W, C)
        Images without it (the counterparts and the null), ``P >= 2 * set_size``.
    images, targets : (N, H, W, C), (N,) ints
        Images whose ``targets`` logit is tested.
    n_runs : int
        CAVs per sample (>= 2 for a t-test; the paper uses 500 in its largest experiments, tens suffice here).
    set_size : int
        Images per concept or random set.
    alpha : float
        Family-wise significance level, split over the classes.
    test : {"permutation", "t"}
        The two-sample test of concept against random scores.
    statistic : {"score", "sensitivity"}
        What is compared per CAV: the TCAV score (the paper's) or the class's mean directional
        derivative (how *strongly* the logit follows the concept, not only in which direction).

    Returns
    -------
    ConceptTest
    """
    from scipy import stats

    from ..repair.clarc import artifact_direction

    concept = as_images(concept, "concept", model=model)
    random_pool = as_images(random_pool, "random_pool", model=model)
    images = as_images(images, model=model)
    k = num_classes(model)
    targets = as_class_indices(targets, len(images), k, "targets")
    n_runs = positive_int(n_runs, "n_runs")
    set_size = positive_int(set_size, "set_size")
    alpha = fraction(alpha, "alpha")
    test = one_of(test, TESTS, "test")
    statistic = one_of(statistic, ("score", "sensitivity"), "statistic")
    if n_runs < 2:
        raise ValueError(f"`n_runs` must be at least 2 for a t-test; got {n_runs}.")
    if len(concept) < set_size:
        raise ValueError(f"`concept` has {len(concept)} images, fewer than `set_size` = {set_size}.")
    if len(random_pool) < 2 * set_size:
        raise ValueError(f"`random_pool` needs at least 2 * `set_size` = {2 * set_size} images; got {len(random_pool)}.")
    present = np.array([np.any(targets == c) for c in range(k)])

    def score(direction):
        derivative = directional_derivatives(model, layer, images, targets, direction, batch_size=batch_size)
        return _class_means(derivative > 0 if statistic == "score" else derivative, targets, k)

    rng = np.random.default_rng(seed)
    concept_score, random_score = [], []
    for _ in range(n_runs):
        chosen = concept[rng.choice(len(concept), set_size, replace=False)]
        order = rng.permutation(len(random_pool))
        first, second = random_pool[order[:set_size]], random_pool[order[set_size:2 * set_size]]
        concept_score.append(score(artifact_direction(model, layer, chosen, first, batch_size=batch_size)[0]))
        random_score.append(score(artifact_direction(model, layer, first, second, batch_size=batch_size)[0]))
    concept_score, random_score = np.array(concept_score), np.array(random_score)
    p_value = np.full(k, np.nan)
    for c in np.flatnonzero(present):
        a, b = concept_score[:, c], random_score[:, c]
        if test == "permutation":
            p_value[c] = stats.permutation_test((a, b), lambda x, y, axis: x.mean(axis) - y.mean(axis),
                                                vectorized=True, n_resamples=9999, rng=seed).pvalue
        elif np.ptp(a) == 0 and np.ptp(b) == 0:          # both constant: the t statistic is undefined
            p_value[c] = 1.0 if a[0] == b[0] else 0.0
        else:
            p_value[c] = stats.ttest_ind(a, b, equal_var=False).pvalue
    significant = present & (np.nan_to_num(p_value, nan=1.0) < alpha / k)
    return ConceptTest(concept_score, random_score, p_value, significant,
                       concept_score.mean(axis=0) - random_score.mean(axis=0), alpha, test, statistic)
