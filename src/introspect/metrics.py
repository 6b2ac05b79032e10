"""Faithfulness, localisation and sanity checks for saliency maps: pure functions on arrays.

Maps are ``(N, H, W)`` or ``(N, H, W, C)``; per-channel maps are summed over channels to one
relevance per pixel before anything is ranked or compared. Functions that must query a
classifier take ``model`` (a Keras model or any callable ``images -> (N, K)`` scores, read as
logits unless a Keras model ends in a softmax) and evaluate it in batches. Attribution methods
are passed in as callables with the package's one signature
``method(model, images, targets, *, batch_size=64, **params) -> maps``.

- localisation: :func:`relevance_mass` (Arras et al., arXiv:2003.07258),
  :func:`pointing_game` (Zhang et al., arXiv:1608.00507), :func:`pattern_correlation`;
- faithfulness: :func:`deletion_curve`, :func:`insertion_curve` (Petsiuk et al., RISE,
  arXiv:1806.07421), :func:`contrastive_deletion_curve`, :func:`roar` (Hooker et al.,
  arXiv:1806.10758);
- sanity checks: :func:`model_randomization`, :func:`label_randomization` (Adebayo et al.,
  arXiv:1810.03292);
- discovery: :func:`spray` (Lapuschkin et al., arXiv:1902.10178), :func:`gather_mistakes`,
  :func:`confusion_matrix`, :func:`top_confusions`;
- image statistics: :func:`total_variation`, :func:`roughness` (how noise-like a change is).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from ._validation import (all_layer_names, as_class_indices, as_images, ends_in_softmax, find_layer,
                          fraction as check_fraction, non_negative_int, one_of, positive_int)

BASELINES = ("blur", "mean", "zero")
ROAR_FRACTIONS = (0.1, 0.3, 0.5, 0.7, 0.9)
#: ROAR cost settings: every retraining sees ``train_size`` images for ``epochs`` epochs.
ROAR_FULL = {"fractions": ROAR_FRACTIONS, "train_size": 10000, "test_size": 2000, "epochs": 3}
ROAR_QUICK = {"fractions": (0.1, 0.5, 0.9), "train_size": 2000, "test_size": 500, "epochs": 2}


# ----------------------------------------------------------------------------- array helpers

def _as_maps(maps, name: str = "maps", n: int | None = None, spatial: tuple | None = None) -> np.ndarray:
    """Finite float maps ``(N, H, W)``, channels summed."""
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


def _as_masks(masks, shape: tuple, name: str = "masks") -> np.ndarray:
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


def _check_method(method) -> Callable:
    if not callable(method):
        raise ValueError("`method` must be a callable method(model, images, targets, *, batch_size, **params) "
                         f"-> maps; got {method!r}.")
    return method


def _is_keras(model) -> bool:
    try:
        import keras
    except ImportError:  # pragma: no cover - keras is a dependency of the package
        return False
    return isinstance(model, keras.Model)


def _check_images(images, model) -> np.ndarray:
    return as_images(images, model=model if _is_keras(model) else None)


def _predict(model, images: np.ndarray, batch_size: int) -> np.ndarray:
    """Raw model outputs ``(N, K)``, evaluated in chunks of ``batch_size``."""
    call = (lambda x: model(x, training=False)) if _is_keras(model) else model
    outputs = [np.asarray(call(images[i:i + batch_size]), dtype=np.float64) for i in range(0, len(images), batch_size)]
    outputs = np.concatenate(outputs)
    if outputs.ndim != 2 or len(outputs) != len(images):
        raise ValueError(f"`model` must return class scores of shape (N, K); got {outputs.shape} "
                         f"for {len(images)} images.")
    return outputs


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _probabilities(model, images: np.ndarray, batch_size: int) -> np.ndarray:
    outputs = _predict(model, images, batch_size)
    return outputs if _is_keras(model) and ends_in_softmax(model) else _softmax(outputs)


def _scores(model, images: np.ndarray, batch_size: int, output: str) -> np.ndarray:
    if output == "softmax":
        return _probabilities(model, images, batch_size)
    if _is_keras(model) and ends_in_softmax(model):
        raise ValueError("`output`='logits' needs a model that outputs logits; this model ends in a softmax. "
                         "Use output='softmax'.")
    return _predict(model, images, batch_size)


def _ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks along axis 1 (ties share their mean rank, as Spearman's rho requires)."""
    from scipy.stats import rankdata

    return rankdata(values, axis=1)


def _pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    denominator = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (a * b).sum(axis=1) / np.where(denominator > 0, denominator, 1), np.nan)


def spearman(maps_a, maps_b) -> np.ndarray:
    """Spearman rank correlation per example between two batches of maps, ``(N,)``.

    NaN where a map is constant (its ranks carry no order).
    """
    a = _as_maps(maps_a, "maps_a")
    b = _as_maps(maps_b, "maps_b", n=len(a), spatial=a.shape[1:])
    return _pearson_rows(_ranks(a.reshape(len(a), -1)), _ranks(b.reshape(len(b), -1)))


def ssim(maps_a, maps_b) -> np.ndarray:
    """Structural similarity per example of ``|maps|`` scaled to [0, 1] by their maximum, ``(N,)``.

    Uses scikit-image's SSIM with a 7x7 window (smaller, odd, for maps under 7 pixels) and
    ``data_range=1``, on magnitude maps as in Adebayo et al. (arXiv:1810.03292).
    """
    from skimage.metrics import structural_similarity

    a = np.abs(_as_maps(maps_a, "maps_a"))
    b = np.abs(_as_maps(maps_b, "maps_b", n=len(a), spatial=a.shape[1:]))
    side = min(a.shape[1:])
    if side < 3:
        raise ValueError(f"`maps_a` must be at least 3x3 for SSIM; got {a.shape[1:]}.")
    window = min(7, side if side % 2 else side - 1)

    def unit(m):
        peak = m.max()
        return m / peak if peak > 0 else m

    return np.array([structural_similarity(unit(x).astype(np.float64), unit(y).astype(np.float64),
                                           win_size=window, data_range=1.0) for x, y in zip(a, b)])


def _similarities(reference: np.ndarray, other: np.ndarray) -> dict[str, np.ndarray]:
    return {"spearman": spearman(reference, other),
            "spearman_abs": spearman(np.abs(reference), np.abs(other)),
            "ssim": ssim(reference, other)}


SIMILARITIES = ("spearman", "spearman_abs", "ssim")


# ----------------------------------------------------------------------------- localisation

def relevance_mass(maps, masks) -> np.ndarray:
    """Share of each map's positive relevance that falls inside its mask, ``(N,)`` in [0, 1].

    ``sum(max(R, 0) * mask) / sum(max(R, 0))`` (relevance mass accuracy of Arras et al.,
    arXiv:2003.07258). NaN for a map without positive relevance (use ``np.nanmean``).

    Parameters
    ----------
    maps : (N, H, W) or (N, H, W, C)
        Relevance; channels are summed first.
    masks : (N, H, W) bool
        Ground-truth regions, e.g. trigger masks from :mod:`introspect.poisoning`; none may be empty.
    """
    relevance = np.maximum(_as_maps(maps), 0.0).astype(np.float64)
    masks = _as_masks(masks, relevance.shape)
    total = relevance.reshape(len(relevance), -1).sum(axis=1)
    inside = (relevance * masks).reshape(len(relevance), -1).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, inside / np.where(total > 0, total, 1), np.nan)


def pointing_game(maps, masks, *, tolerance: int = 0) -> np.ndarray:
    """Whether each map's maximum lies inside its mask, ``(N,)`` bool (Zhang et al., arXiv:1608.00507).

    A hit needs the largest value inside the mask (grown by ``tolerance`` pixels, a square
    dilation) to be strictly larger than every value outside, so a flat map, whose maximum
    is everywhere, never scores. Channels are summed first; pass ``np.abs(maps)`` to point
    with magnitudes.
    """
    from scipy.ndimage import binary_dilation

    relevance = _as_maps(maps)
    masks = _as_masks(masks, relevance.shape)
    tolerance = non_negative_int(tolerance, "tolerance")
    if tolerance:
        kernel = np.ones((1, 2 * tolerance + 1, 2 * tolerance + 1), dtype=bool)
        masks = binary_dilation(masks, structure=kernel)
    flat, inside = relevance.reshape(len(relevance), -1), masks.reshape(len(masks), -1)
    best_inside = np.where(inside, flat, -np.inf).max(axis=1)
    best_outside = np.where(inside, -np.inf, flat).max(axis=1)
    return best_inside > best_outside


def pattern_correlation(maps, pattern, *, max_shift: int = 0) -> np.ndarray:
    """Pearson correlation of each map with a reference pattern, the best over small shifts, ``(N,)``.

    Asks whether a map (e.g. the change activation maximisation made to its start image) draws
    a known pattern, such as a planted trigger's footprint. With ``max_shift > 0`` the pattern
    is also compared shifted by up to ``max_shift`` pixels along each axis (vacated pixels are
    0, nothing wraps around) and the best correlation is kept, so that a periodic pattern drawn
    at another phase still counts; the maximum over ``(2 * max_shift + 1) ** 2`` comparisons is
    biased upwards for unrelated maps, so compare against a reference (e.g. a control model).

    Parameters
    ----------
    maps : (N, H, W) or (N, H, W, C)
        Maps or image differences; channels are summed first.
    pattern : (H, W) or (N, H, W)
        One pattern for every map, or one per map.
    max_shift : int
        Largest shift in pixels (0: positions must agree exactly).

    Returns
    -------
    np.ndarray, (N,) float in [-1, 1]
        NaN where a map (or every shift of the pattern) is constant.
    """
    values = _as_maps(maps).astype(np.float64)
    reference = np.asarray(pattern, dtype=np.float64)
    if reference.shape == values.shape[1:]:
        reference = np.broadcast_to(reference, values.shape)
    if reference.shape != values.shape:
        raise ValueError(f"`pattern` must have shape (H, W) = {values.shape[1:]} or (N, H, W) = {values.shape}; "
                         f"got {np.shape(pattern)}.")
    if not np.all(np.isfinite(reference)):
        raise ValueError("`pattern` contains NaN or inf values.")
    max_shift = non_negative_int(max_shift, "max_shift")
    height, width = values.shape[1:]
    if max_shift >= min(height, width):
        raise ValueError(f"`max_shift` must be smaller than the maps' {height}x{width} size; got {max_shift}.")
    flat = values.reshape(len(values), -1)
    best = np.full(len(values), np.nan)
    for dy in range(-max_shift, max_shift + 1):
        for dx in range(-max_shift, max_shift + 1):
            shifted = np.zeros_like(reference)
            shifted[:, max(dy, 0):height + min(dy, 0), max(dx, 0):width + min(dx, 0)] = \
                reference[:, max(-dy, 0):height - max(dy, 0), max(-dx, 0):width - max(dx, 0)]
            best = np.fmax(best, _pearson_rows(flat, shifted.reshape(len(values), -1)))
    return best


# ----------------------------------------------------------------------------- deletion / insertion

def _baseline_images(images: np.ndarray, baseline, blur_sigma: float | None) -> np.ndarray:
    if isinstance(baseline, str):
        one_of(baseline, BASELINES, "baseline")
        if baseline == "zero":
            return np.zeros_like(images)
        if baseline == "mean":
            return np.broadcast_to(images.mean(axis=(1, 2), keepdims=True), images.shape).astype(np.float32)
        from scipy.ndimage import gaussian_filter

        sigma = max(1.0, min(images.shape[1:3]) / 10) if blur_sigma is None else float(blur_sigma)
        if not sigma > 0:
            raise ValueError(f"`blur_sigma` must be a positive number of pixels; got {blur_sigma!r}.")
        return gaussian_filter(images, sigma=(0, sigma, sigma, 0), mode="nearest").astype(np.float32)
    array = np.asarray(baseline, dtype=np.float32)
    if array.ndim == 0:
        return np.full_like(images, float(array))
    if array.shape != images.shape or not np.all(np.isfinite(array)):
        raise ValueError(f"`baseline` must be one of {BASELINES}, a number, or finite images of shape {images.shape}; "
                         f"got shape {array.shape}.")
    return array


def _order_positions(relevance: np.ndarray, absolute: bool) -> np.ndarray:
    """Rank position of each pixel, ``(N, H*W)``: 0 for the most relevant (ties: raster order)."""
    flat = relevance.reshape(len(relevance), -1)
    order = np.argsort(-(np.abs(flat) if absolute else flat), axis=1, kind="stable")
    positions = np.empty_like(order)
    np.put_along_axis(positions, order, np.arange(flat.shape[1])[None, :], axis=1)
    return positions


def _random_positions(n: int, pixels: int, seed: int) -> np.ndarray:
    # an argsort of i.i.d. uniforms is a uniformly random permutation, used directly as positions
    return np.argsort(np.random.default_rng(seed).random((n, pixels)), axis=1)


def _step_counts(pixels: int, steps: int) -> tuple[np.ndarray, np.ndarray]:
    fractions = np.linspace(0.0, 1.0, steps + 1)
    return fractions, np.floor(fractions * pixels + 0.5).astype(int)


def curve_auc(scores, fractions) -> np.ndarray:
    """Area under curves ``(..., S)`` sampled at increasing ``fractions`` ``(S,)`` in [0, 1], by the trapezoid rule."""
    fractions = np.asarray(fractions, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    if fractions.ndim != 1 or len(fractions) < 2 or np.any(np.diff(fractions) <= 0) \
            or fractions[0] < 0 or fractions[-1] > 1:
        raise ValueError(f"`fractions` must be an increasing 1-D array of at least 2 values in [0, 1]; "
                         f"got {fractions!r}.")
    if scores.ndim == 0 or scores.shape[-1] != len(fractions) or not np.all(np.isfinite(scores)):
        raise ValueError(f"`scores` must be finite with last axis of length {len(fractions)} (one per fraction); "
                         f"got shape {scores.shape}.")
    return np.trapezoid(scores, fractions, axis=-1)


@dataclass
class PerturbationCurve:
    """Scores of the target class while pixels are deleted or inserted in order of relevance.

    ``scores[i, s]`` is the target's score after ``fractions[s]`` of the pixels of image ``i``
    were deleted (or inserted); ``random_scores`` is the same for a seeded random order.
    Low deletion AUC and high insertion AUC mean a faithful ordering.
    """

    kind: str
    fractions: np.ndarray
    scores: np.ndarray
    random_scores: np.ndarray | None
    targets: np.ndarray
    output: str

    @property
    def auc(self) -> np.ndarray:
        """Per-image AUC, ``(N,)``."""
        return curve_auc(self.scores, self.fractions)

    @property
    def random_auc(self) -> np.ndarray | None:
        return None if self.random_scores is None else curve_auc(self.random_scores, self.fractions)


def _perturbed_outputs(model, images, maps, *, kind, steps, baseline, output, absolute, random_reference, seed,
                       batch_size, blur_sigma):
    """Model outputs ``(R, N, steps + 1, K)`` along the map order (and, R = 2, a seeded random order)."""
    images = _check_images(images, model)
    relevance = _as_maps(maps, n=len(images), spatial=images.shape[1:3])
    steps = positive_int(steps, "steps")
    batch_size = positive_int(batch_size, "batch_size")
    seed = non_negative_int(seed, "seed")
    one_of(output, ("softmax", "logits"), "output")
    base = _baseline_images(images, baseline, blur_sigma)
    n, pixels = len(images), images.shape[1] * images.shape[2]
    positions = [_order_positions(relevance, absolute)]
    if random_reference:
        positions.append(_random_positions(n, pixels, seed))
    positions = np.concatenate(positions).reshape(-1, *images.shape[1:3], 1)
    copies = len(positions) // n
    source, replacement = (images, base) if kind == "deletion" else (base, images)
    source, replacement = np.concatenate([source] * copies), np.concatenate([replacement] * copies)
    fractions, counts = _step_counts(pixels, steps)
    outputs = []
    for count in counts:
        # all images of a step (and their random-order twins) go through the model as one batch
        outputs.append(_scores(model, np.where(positions < count, replacement, source), batch_size, output))
    outputs = np.stack(outputs, axis=1)
    return images, fractions, outputs.reshape(copies, n, steps + 1, -1)


def _curve(kind, model, images, maps, targets, **options) -> PerturbationCurve:
    images, fractions, outputs = _perturbed_outputs(model, images, maps, kind=kind, **options)
    n, k = outputs.shape[1], outputs.shape[3]
    if targets is None:
        targets = _predict(model, images, options["batch_size"]).argmax(axis=1)
    targets = as_class_indices(targets, n, k, "targets")
    picked = np.take_along_axis(outputs, targets[None, :, None, None], axis=3)[..., 0]
    return PerturbationCurve(kind, fractions, picked[0], picked[1] if len(picked) > 1 else None, targets,
                             options["output"])


def deletion_curve(model, images, maps, targets=None, *, steps: int = 20, baseline="blur", output: str = "softmax",
                   absolute: bool = False, random_reference: bool = True, seed: int = 0, batch_size: int = 256,
                   blur_sigma: float | None = None) -> PerturbationCurve:
    """Target score while the most relevant pixels are replaced by a baseline, step by step.

    Pixel flipping (Samek et al., arXiv:1509.06321) in the deletion form of RISE (Petsiuk
    et al., arXiv:1806.07421). At step ``s`` the top ``round(s / steps * H * W)`` pixels (all
    channels) of each image are replaced; all images of a step are evaluated as one batch.

    Parameters
    ----------
    model : keras.Model or callable images -> (N, K)
    images : (N, H, W, C)
    maps : (N, H, W) or (N, H, W, C)
        Relevance; channels summed. Pixels are taken largest first (``absolute=True``: largest
        magnitude first). Ties go in raster order.
    targets : int or (N,), optional
        Class whose score is tracked; by default the model's prediction on ``images``.
    baseline : ``"blur"`` | ``"mean"`` | ``"zero"`` | float | (N, H, W, C)
        What deleted pixels become: a Gaussian blur of the image (``blur_sigma`` pixels,
        default ``max(1, min(H, W) / 10)``), the image's per-channel mean, zeros, a constant
        or given images.
    output : ``"softmax"`` (probability, default) or ``"logits"``
    random_reference : bool
        Also run a seeded random pixel order (``seed``) for reference.

    Returns
    -------
    PerturbationCurve
        ``fractions (steps + 1,)``, ``scores (N, steps + 1)``, ``random_scores``, ``auc``.
    """
    return _curve("deletion", model, images, maps, targets, steps=steps, baseline=baseline, output=output,
                  absolute=absolute, random_reference=random_reference, seed=seed, batch_size=batch_size,
                  blur_sigma=blur_sigma)


def insertion_curve(model, images, maps, targets=None, *, steps: int = 20, baseline="blur", output: str = "softmax",
                    absolute: bool = False, random_reference: bool = True, seed: int = 0, batch_size: int = 256,
                    blur_sigma: float | None = None) -> PerturbationCurve:
    """Target score while the most relevant pixels are put back into a baseline image, step by step.

    The insertion metric of RISE (Petsiuk et al., arXiv:1806.07421): starts from the baseline
    (see :func:`deletion_curve` for every argument) and restores the image's top pixels first;
    a high AUC means the map found the pixels that carry the decision.
    """
    return _curve("insertion", model, images, maps, targets, steps=steps, baseline=baseline, output=output,
                  absolute=absolute, random_reference=random_reference, seed=seed, batch_size=batch_size,
                  blur_sigma=blur_sigma)


@dataclass
class ContrastiveCurve:
    """``p(true) - p(pred)`` while pixels are deleted in order of a (contrastive) map.

    ``flip_step[i]`` is the first step at which the model's decision is the true class
    (``-1`` if it never is); ``flip_fraction`` the matching share of deleted pixels (NaN if never).
    """

    fractions: np.ndarray
    margin: np.ndarray
    flip_step: np.ndarray
    random_margin: np.ndarray | None
    random_flip_step: np.ndarray | None
    true: np.ndarray
    predicted: np.ndarray

    @property
    def flip_fraction(self) -> np.ndarray:
        return np.where(self.flip_step >= 0, self.fractions[np.maximum(self.flip_step, 0)], np.nan)

    @property
    def random_flip_fraction(self) -> np.ndarray | None:
        if self.random_flip_step is None:
            return None
        return np.where(self.random_flip_step >= 0, self.fractions[np.maximum(self.random_flip_step, 0)], np.nan)

    @property
    def auc(self) -> np.ndarray:
        return curve_auc(self.margin, self.fractions)


def contrastive_deletion_curve(model, images, maps, true_labels, *, predicted=None, steps: int = 20,
                               baseline="blur", absolute: bool = False, random_reference: bool = True,
                               seed: int = 0, batch_size: int = 256,
                               blur_sigma: float | None = None) -> ContrastiveCurve:
    """Delete pixels in order of ``maps`` and track ``p(true) - p(pred)`` (softmax probabilities).

    Meant for misclassified images and a contrastive map of "why ``pred`` rather than
    ``true``" (e.g. a saliency method called with ``targets=pred, foil=true``): a good map
    makes the margin rise fast and the decision flip to the true class after few pixels.
    ``predicted`` defaults to the model's prediction on ``images`` (so step 0 of a correctly
    classified image already counts as flipped). Other arguments as in :func:`deletion_curve`.

    Returns
    -------
    ContrastiveCurve
        ``margin (N, steps + 1)``, ``flip_step (N,)``, the same for a random order, and ``auc``.
    """
    images, fractions, outputs = _perturbed_outputs(
        model, images, maps, kind="deletion", steps=steps, baseline=baseline, output="softmax", absolute=absolute,
        random_reference=random_reference, seed=seed, batch_size=batch_size, blur_sigma=blur_sigma)
    n, k = outputs.shape[1], outputs.shape[3]
    true = as_class_indices(true_labels, n, k, "true_labels")
    # step 0 of a deletion curve is the untouched image, so its argmax is the model's prediction
    predicted = outputs[0, :, 0].argmax(axis=1) if predicted is None else as_class_indices(predicted, n, k, "predicted")
    margin = (np.take_along_axis(outputs, true[None, :, None, None], axis=3)[..., 0]
              - np.take_along_axis(outputs, predicted[None, :, None, None], axis=3)[..., 0])
    # a flip needs the true class strictly ahead of every other class (an all-tied output is no decision)
    others = np.where(np.arange(k) == true[:, None], -np.inf, 0.0)[None, :, None, :]
    flip = _first_true(np.take_along_axis(outputs, true[None, :, None, None], axis=3)[..., 0]
                       > (outputs + others).max(axis=3))
    return ContrastiveCurve(fractions, margin[0], flip[0], margin[1] if len(margin) > 1 else None,
                            flip[1] if len(flip) > 1 else None, true, predicted)


def _first_true(decided: np.ndarray) -> np.ndarray:
    """Index of the first True along the last axis, -1 where there is none."""
    return np.where(decided.any(axis=-1), decided.argmax(axis=-1), -1)


# ----------------------------------------------------------------------------- mistakes

@dataclass
class Mistakes:
    """The misclassified images of a data set.

    ``indices`` (M,) sorted positions in the data; ``predicted``, ``true`` (M,) classes;
    ``confidence`` (M,) softmax probability of the (wrong) prediction; ``p_true`` (M,)
    probability of the true class; ``accuracy`` over all N images.
    """

    indices: np.ndarray
    predicted: np.ndarray
    true: np.ndarray
    confidence: np.ndarray
    p_true: np.ndarray
    accuracy: float

    def __len__(self) -> int:
        return len(self.indices)

    def most_confident(self, k: int = 10) -> np.ndarray:
        """Data indices of the ``k`` mistakes made with the highest confidence."""
        order = np.argsort(-self.confidence, kind="stable")[:positive_int(k, "k")]
        return self.indices[order]


def gather_mistakes(model, images, labels, batch_size: int = 256) -> Mistakes:
    """Run ``model`` on ``(images, labels)`` and collect exactly the misclassified images.

    Probabilities are the softmax of the model's logits (or its outputs if it ends in a softmax).
    """
    images = _check_images(images, model)
    batch_size = positive_int(batch_size, "batch_size")
    probabilities = _probabilities(model, images, batch_size)
    labels = as_class_indices(labels, len(images), probabilities.shape[1], "labels")
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    return Mistakes(indices=wrong, predicted=predicted[wrong], true=labels[wrong],
                    confidence=probabilities[wrong, predicted[wrong]], p_true=probabilities[wrong, labels[wrong]],
                    accuracy=float(np.mean(predicted == labels)))


def confusion_matrix(true, pred, num_classes: int) -> np.ndarray:
    """Counts ``(K, K)`` int64: row = true class, column = predicted class."""
    num_classes = positive_int(num_classes, "num_classes")
    true = as_class_indices(true, np.size(true), num_classes, "true")
    pred = as_class_indices(pred, len(true), num_classes, "pred")
    return np.bincount(true * num_classes + pred, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def top_confusions(true, pred, k: int = 5) -> list[tuple[int, int, int]]:
    """The ``k`` most frequent mistakes as ``(true, pred, count)``, most frequent first.

    Correct predictions (``true == pred``) are not confusions and never listed; ties are
    ordered by ``(true, pred)``.
    """
    k = positive_int(k, "k")
    true = as_class_indices(true, np.size(true), None, "true")
    pred = as_class_indices(pred, len(true), None, "pred")
    wrong = true != pred
    pairs, counts = np.unique(np.stack([true[wrong], pred[wrong]], axis=1), axis=0, return_counts=True)
    order = np.lexsort((pairs[:, 1], pairs[:, 0], -counts))[:k] if len(pairs) else []
    return [(int(pairs[i, 0]), int(pairs[i, 1]), int(counts[i])) for i in order]


# ----------------------------------------------------------------------------- SpRAy

@dataclass
class SprayResult:
    """Per-class Clever-Hans suspicion from the structure of saliency maps alone.

    Arrays are ``(K,)`` over ``classes``. ``suspicion = max over clusters of share * concentration``:
    high when a sizeable group of the class's maps agree on a small spot. ``eigengap`` is the
    largest gap among the first eigenvalues of the normalised kNN-graph Laplacian (SpRAy's
    cue for well separated groups), ``n_clusters`` the group count it suggests,
    ``largest_cluster_share`` the share of images in the biggest group, ``concentration`` that
    of the cluster behind ``suspicion``: the share of its mean map's relevance in the top
    ``top_share`` of cells, rescaled so that a uniform map gives 0 and a single cell 1.
    ``image_concentration`` is the same statistic averaged over single maps.
    """

    classes: np.ndarray
    suspicion: np.ndarray
    eigengap: np.ndarray
    n_clusters: np.ndarray
    largest_cluster_share: np.ndarray
    concentration: np.ndarray
    image_concentration: np.ndarray
    eigenvalues: dict = field(default_factory=dict)
    cluster_labels: dict = field(default_factory=dict)
    indices: dict = field(default_factory=dict)

    def ranking(self) -> np.ndarray:
        """Classes from most to least suspicious (NaN last)."""
        return self.classes[np.argsort(-np.nan_to_num(self.suspicion, nan=-np.inf), kind="stable")]

    def as_table(self) -> list[dict]:
        keys = ("suspicion", "eigengap", "n_clusters", "largest_cluster_share", "concentration", "image_concentration")
        return [{"class": int(c), **{key: getattr(self, key)[i].item() for key in keys}}
                for i, c in enumerate(self.classes)]


def _downsize(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from skimage.transform import resize

    if maps.shape[1:] == size:
        return maps
    return resize(maps, (len(maps), *size), order=1, anti_aliasing=True, mode="edge").astype(np.float64)


def _concentration(maps: np.ndarray, top_share: float) -> np.ndarray:
    """Rescaled share of mass in the top cells of nonnegative maps ``(M, P)``: 0 uniform, 1 one cell."""
    cells = maps.shape[1]
    top = max(1, int(np.ceil(top_share * cells)))
    if top >= cells:
        return np.zeros(len(maps))
    totals = maps.sum(axis=1)
    mass = np.sort(maps, axis=1)[:, ::-1][:, :top].sum(axis=1) / np.where(totals > 0, totals, 1)
    uniform = top / cells
    return np.where(totals > 0, (mass - uniform) / (1 - uniform), 0.0)


def spray(maps, labels, *, size: int | tuple[int, int] = 8, part: str = "abs", n_neighbors: int = 10,
          max_clusters: int = 8, top_share: float = 0.1, max_per_class: int = 500, seed: int = 0) -> SprayResult:
    """SpRAy-style search for classes whose explanations look like a shortcut (arXiv:1902.10178).

    For every class: take the magnitude (``part="abs"``) or positive part of its maps, downsize
    them to ``size x size``, normalise each to unit sum, connect each map to its
    ``n_neighbors`` nearest maps (symmetric kNN graph), compute the spectrum of the normalised
    graph Laplacian, choose the number of clusters by the eigengap among the first
    ``max_clusters`` eigenvalues, cluster the spectral embedding with k-means and score each
    cluster by ``share of the class * concentration of its mean map``. A class whose maps (or a
    tight group of them) sit on one small spot, such as a planted trigger, gets a high
    suspicion; classes with diffuse, varied maps score low. Neither trigger masks nor a
    poisoning plan is used.

    Parameters
    ----------
    maps : (N, H, W) or (N, H, W, C)
        Saliency maps (channels summed), e.g. of each image for its predicted or true class.
    labels : (N,) int
        Class each map belongs to (grouping only).
    max_per_class : int
        Larger classes are subsampled (seeded) to keep the dense eigendecomposition cheap.

    Returns
    -------
    SprayResult
        Per-class statistics; classes with fewer than 3 maps get NaN.
    """
    from scipy.sparse.csgraph import laplacian
    from sklearn.cluster import KMeans
    from sklearn.neighbors import kneighbors_graph

    relevance = _as_maps(maps)
    labels = as_class_indices(labels, len(relevance), None, "labels")
    pair = (size, size) if isinstance(size, (int, np.integer)) else tuple(size) if isinstance(size, (tuple, list)) else ()
    if len(pair) != 2:
        raise ValueError(f"`size` must be an int or (height, width); got {size!r}.")
    size = (positive_int(pair[0], "size"), positive_int(pair[1], "size"))
    one_of(part, ("abs", "positive"), "part")
    n_neighbors = positive_int(n_neighbors, "n_neighbors")
    max_clusters = positive_int(max_clusters, "max_clusters")
    top_share = check_fraction(top_share, "top_share")
    max_per_class = positive_int(max_per_class, "max_per_class")
    seed = non_negative_int(seed, "seed")
    relevance = np.abs(relevance) if part == "abs" else np.maximum(relevance, 0.0)

    classes = np.unique(labels)
    columns = {key: np.full(len(classes), np.nan) for key in
               ("suspicion", "eigengap", "n_clusters", "largest_cluster_share", "concentration", "image_concentration")}
    result = SprayResult(classes=classes, **columns)
    for row, cls in enumerate(classes):
        members = np.flatnonzero(labels == cls)
        if len(members) > max_per_class:
            members = np.sort(np.random.default_rng([seed, int(cls)]).choice(members, max_per_class, replace=False))
        result.indices[int(cls)] = members
        if len(members) < 3:
            continue
        small = _downsize(relevance[members], size).reshape(len(members), -1)
        small = np.maximum(small, 0.0)
        totals = small.sum(axis=1, keepdims=True)
        small = np.where(totals > 0, small / np.where(totals > 0, totals, 1), 1.0 / small.shape[1])
        graph = kneighbors_graph(small, min(n_neighbors, len(members) - 1), mode="connectivity", include_self=False)
        graph = graph.maximum(graph.T).toarray()
        eigenvalues, eigenvectors = np.linalg.eigh(laplacian(graph, normed=True))
        first = eigenvalues[:min(max_clusters, len(members) - 1) + 1]
        gaps = np.diff(first)
        n_clusters = int(np.argmax(gaps)) + 1
        embedding = eigenvectors[:, :n_clusters]
        embedding = embedding / np.maximum(np.linalg.norm(embedding, axis=1, keepdims=True), 1e-12)
        assignment = (np.zeros(len(members), dtype=int) if n_clusters == 1 else
                      KMeans(n_clusters, n_init=10, random_state=seed).fit_predict(embedding))
        shares = np.bincount(assignment, minlength=n_clusters) / len(members)
        cluster_means = np.stack([small[assignment == j].mean(axis=0) if shares[j] > 0 else np.zeros(small.shape[1])
                                  for j in range(n_clusters)])
        concentrations = _concentration(cluster_means, top_share)
        best = int(np.argmax(shares * concentrations))
        result.suspicion[row] = shares[best] * concentrations[best]
        result.eigengap[row] = gaps.max()
        result.n_clusters[row] = n_clusters
        result.largest_cluster_share[row] = shares.max()
        result.concentration[row] = concentrations[best]
        result.image_concentration[row] = _concentration(small, top_share).mean()
        result.eigenvalues[int(cls)] = first
        result.cluster_labels[int(cls)] = assignment
    return result


# ----------------------------------------------------------------------------- sanity checks

@dataclass
class RandomizationResult:
    """Similarity of maps after randomising layers to the maps of the intact model.

    ``layers`` lists the rows: ``"original"`` (an untouched clone; 1 for a deterministic method),
    then each randomised layer, top down (cascading: that layer and every layer above it).
    ``per_example[metric]`` is ``(rows, N)`` for ``metric`` in ``"spearman"`` (signed maps),
    ``"spearman_abs"`` and ``"ssim"`` (magnitude maps); ``maps[row]`` holds the maps (N, H, W).
    """

    mode: str
    layers: list[str]
    per_example: dict[str, np.ndarray]
    maps: dict[str, np.ndarray]

    @property
    def similarity(self) -> dict[str, dict[str, float]]:
        """``layer -> metric -> mean over examples`` (NaNs of constant maps ignored)."""
        return {layer: {metric: float(np.nanmean(values[row])) if np.isfinite(values[row]).any() else float("nan")
                        for metric, values in self.per_example.items()}
                for row, layer in enumerate(self.layers)}

    def as_table(self) -> list[dict]:
        return [{"layer": layer, **scores} for layer, scores in self.similarity.items()]


def _weighted_layers(model) -> list:
    """Leaf layers that own weights, nested models flattened, in forward order."""
    found = []
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:
            found.extend(_weighted_layers(layer))
        elif layer.weights:
            found.append(layer)
    return found


def _clone(model):
    import keras

    if not _is_keras(model):
        raise ValueError(f"`model` must be a Keras model that keras.models.clone_model can copy; got {type(model)}.")
    try:
        clone = keras.models.clone_model(model)
    except Exception as error:  # subclassed models cannot be cloned from their config
        raise ValueError(f"`model` could not be cloned (keras.models.clone_model: {error}); use a functional or "
                         f"Sequential model.") from error
    clone.set_weights(model.get_weights())
    return clone


def _randomize_layer(layer, seed: int, index: int) -> None:
    """Re-draw every weight of ``layer`` in place, reproducibly from ``(seed, index)``.

    Weights with a Keras initializer attribute (``kernel`` -> ``kernel_initializer``) are drawn
    from it with a fixed seed, so constant initializers reset biases and BatchNorm statistics
    to their initial values; other weights get a seeded normal with the original's std.
    """
    import keras

    for position, variable in enumerate(layer.weights):
        values = np.asarray(variable)
        child_seed = int(np.random.default_rng([seed, index, position]).integers(2 ** 31 - 1))
        short_name = variable.name.split("/")[-1].split(":")[0]
        initializer = getattr(layer, f"{short_name}_initializer", None)
        if isinstance(initializer, keras.initializers.Initializer):
            config = initializer.get_config()
            if "seed" in config:
                initializer = initializer.__class__.from_config({**config, "seed": child_seed})
            new = np.asarray(initializer(values.shape, dtype=variable.dtype))
        else:
            new = np.random.default_rng(child_seed).normal(0.0, values.std(), values.shape)
        variable.assign(new.astype(values.dtype))


def _maps_of(method, model, images, targets, batch_size, method_params) -> np.ndarray:
    return _as_maps(method(model, images, targets, batch_size=batch_size, **method_params), "method output",
                    n=len(images), spatial=images.shape[1:3])


def model_randomization(model, method, images, targets, *, cascading: bool = True, layers=None, seed: int = 0,
                        batch_size: int = 64, method_params: Mapping | None = None) -> RandomizationResult:
    """Adebayo et al.'s model-parameter randomisation test (arXiv:1810.03292).

    The maps of ``method`` on the intact ``model`` are compared with its maps on a clone whose
    layers are re-initialised from the top (logits) down: cumulatively (``cascading=True``) or one
    layer at a time (``cascading=False``). A method that explains the model should lose
    similarity as learned weights are destroyed; one that stays similar is explaining the input.
    ``model`` itself is never changed (everything happens on ``keras.models.clone_model``).

    Parameters
    ----------
    model : keras.Model
        Functional or Sequential (it must be clonable).
    method : callable
        ``method(model, images, targets, *, batch_size, **method_params) -> maps``.
    images : (N, H, W, C)
    targets : int or (N,)
    layers : list of str, optional
        Layers to randomise, in this order; default every layer with weights, top down.
    seed : int
        Seeds the re-initialisation (the same seed gives the same random weights).

    Returns
    -------
    RandomizationResult
        Rows ``"original"`` then one per layer; ``similarity`` gives the means.
    """
    from ._validation import num_classes

    method = _check_method(method)
    images = _check_images(images, model)
    targets = as_class_indices(targets, len(images), num_classes(model), "targets")
    batch_size = positive_int(batch_size, "batch_size")
    seed = non_negative_int(seed, "seed")
    method_params = dict(method_params or {})
    weighted = _weighted_layers(model)
    if layers is None:
        names = [layer.name for layer in reversed(weighted)]
    else:
        names = list(layers)
        for name in names:
            if not find_layer(model, name).weights:
                raise ValueError(f"`layers`: layer {name!r} has no weights to randomise.")
    if not names:
        raise ValueError(f"`model` has no layers with weights; layers are {all_layer_names(model)}.")

    reference = _maps_of(method, model, images, targets, batch_size, method_params)
    clone = _clone(model)
    original_weights = clone.get_weights()
    rows, maps = ["original"], {"reference": reference}
    maps["original"] = _maps_of(method, clone, images, targets, batch_size, method_params)
    scores = [_similarities(reference, maps["original"])]
    index = {layer.name: i for i, layer in enumerate(weighted)}
    for name in names:
        if not cascading:
            clone.set_weights(original_weights)
        _randomize_layer(find_layer(clone, name), seed, index.get(name, len(index)))
        maps[name] = _maps_of(method, clone, images, targets, batch_size, method_params)
        scores.append(_similarities(reference, maps[name]))
        rows.append(name)
    per_example = {metric: np.stack([row[metric] for row in scores]) for metric in SIMILARITIES}
    return RandomizationResult("cascading" if cascading else "independent", rows, per_example, maps)


@dataclass
class LabelRandomizationResult:
    """Maps of a model trained on true labels versus the same architecture trained on shuffled ones.

    ``per_example[metric]`` is ``(N,)``; ``similarity`` the means; ``random_model`` the model
    trained on shuffled labels and ``shuffled_accuracy`` its accuracy on its own shuffled
    training labels (how much it memorised).
    """

    per_example: dict[str, np.ndarray]
    maps: np.ndarray
    random_maps: np.ndarray
    random_model: object
    shuffled_accuracy: float

    @property
    def similarity(self) -> dict[str, float]:
        return {metric: float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
                for metric, values in self.per_example.items()}


def _fresh_model(model, builder):
    import keras

    if builder is None:
        if not _is_keras(model):
            raise ValueError("`builder` is needed when `model` is not a Keras model.")
        return keras.models.clone_model(model)
    if not callable(builder):
        raise ValueError(f"`builder` must be a callable returning a new, untrained model; got {builder!r}.")
    return builder()


def label_randomization(model, method, images, targets, x_train, y_train, *, builder=None, epochs: int = 2,
                        seed: int = 0, batch_size: int = 64, method_params: Mapping | None = None,
                        train_params: Mapping | None = None, verbose: int = 0) -> LabelRandomizationResult:
    """Adebayo et al.'s data-randomisation test (arXiv:1810.03292).

    Trains the same architecture (``builder()``, default a fresh ``clone_model(model)``) on
    ``(x_train, permuted y_train)`` with :func:`introspect.models.train` (seeded, ``epochs``),
    then compares ``method``'s maps of ``images`` on ``model`` and on that model. A model that
    learned nothing about the labels should get different explanations; high similarity
    means the method mostly shows the input. ``model`` is not changed.
    """
    from . import models as model_utils
    from ._validation import num_classes

    method = _check_method(method)
    images = _check_images(images, model)
    targets = as_class_indices(targets, len(images), num_classes(model), "targets")
    x_train = as_images(x_train, "x_train", model=model)
    y_train = as_class_indices(y_train, len(x_train), num_classes(model), "y_train")
    epochs = positive_int(epochs, "epochs")
    seed = non_negative_int(seed, "seed")
    batch_size = positive_int(batch_size, "batch_size")
    method_params = dict(method_params or {})
    shuffled = np.random.default_rng(seed).permutation(y_train)
    model_utils.set_seed(seed)
    random_model = _fresh_model(model, builder)
    model_utils.train(random_model, x_train, shuffled, epochs=epochs, seed=seed, verbose=verbose,
                      **dict(train_params or {}))
    maps = _maps_of(method, model, images, targets, batch_size, method_params)
    random_maps = _maps_of(method, random_model, images, targets, batch_size, method_params)
    return LabelRandomizationResult(_similarities(maps, random_maps), maps, random_maps, random_model,
                                    model_utils.accuracy(random_model, x_train, shuffled))


# ----------------------------------------------------------------------------- ROAR

def remove_pixels(images, maps, fraction: float, *, absolute: bool = True) -> np.ndarray:
    """Copy of ``images`` with each image's top ``round(fraction * H * W)`` pixels set to its mean.

    The replacement is the per-image, per-channel mean of the original image, as in ROAR
    (Hooker et al., arXiv:1806.10758). Pixels are ranked by ``|map|`` (``absolute=True``) or the
    signed map, channels summed; ties in raster order.
    """
    images = as_images(images)
    relevance = _as_maps(maps, n=len(images), spatial=images.shape[1:3])
    fraction = check_fraction(fraction, "fraction")
    count = int(np.floor(fraction * images.shape[1] * images.shape[2] + 0.5))
    removed = (_order_positions(relevance, absolute) < count).reshape(*relevance.shape, 1)
    return np.where(removed, images.mean(axis=(1, 2), keepdims=True), images).astype(np.float32)


@dataclass
class RoarResult:
    """Test accuracy of a retrained model after removing each method's top pixels.

    ``accuracy[name]`` is ``(F,)`` over ``fractions`` (the first is 0.0: nothing removed,
    shared by all methods); ``"random"`` is the seeded random-order reference. A faithful
    method's accuracy falls faster than random. ``train_indices``/``test_indices`` are the
    subsets used.
    """

    fractions: np.ndarray
    accuracy: dict[str, np.ndarray]
    train_indices: np.ndarray
    test_indices: np.ndarray
    epochs: int

    def as_table(self) -> list[dict]:
        return [{"method": name, "fraction_removed": float(f), "accuracy": float(a)}
                for name, values in self.accuracy.items() for f, a in zip(self.fractions, values)]


def _subset(labels: np.ndarray, size: int | None, seed: int) -> np.ndarray:
    from .data import stratified_indices

    if size is None or size >= len(labels):
        return np.arange(len(labels))
    positive_int(size, "train_size/test_size")
    return stratified_indices(labels, size, seed)


def roar(model, methods, x_train, y_train, x_test, y_test, *, fractions=None, builder=None, epochs: int | None = None,
         train_size: int | None = None, test_size: int | None = None, quick: bool = False,
         random_reference: bool = True,
         absolute: bool = True, seed: int = 0, batch_size: int = 64, method_params: Mapping | None = None,
         train_params: Mapping | None = None, verbose: int = 0) -> RoarResult:
    """RemOve And Retrain (Hooker et al., arXiv:1806.10758).

    For each method (and a random order), the maps of the trained ``model`` rank the pixels of
    every training and test image; the top ``fraction`` are replaced by the image's mean
    (:func:`remove_pixels`), a fresh model is trained on the modified training set and its
    accuracy measured on the modified test set. Every model is built after
    ``set_seed(seed)`` and trained by :func:`introspect.models.train` with ``seed``, so the
    0.0 entry is exactly the accuracy of ``set_seed(seed); m = builder(); train(m, ..., seed=seed)``
    on the unmodified subsets.

    Parameters
    ----------
    model : keras.Model
        The model whose explanations are evaluated (not changed).
    methods : callable or mapping name -> callable
        Attribution methods of the package's signature; maps are taken for the true labels,
        computed in batches of ``batch_size``.
    x_train, y_train, x_test, y_test
        Images ``(N, H, W, C)`` and labels.
    fractions : sequence of float in (0, 1], optional
        Default ``(0.1, 0.3, 0.5, 0.7, 0.9)``, or ``(0.1, 0.5, 0.9)`` when ``quick``.
    builder : callable, optional
        Returns a new untrained model; default ``keras.models.clone_model(model)`` (same
        architecture, fresh weights), e.g. :func:`introspect.models.build_fashion_cnn`.
    epochs, train_size, test_size : optional
        Cost controls; ``None`` takes :data:`ROAR_FULL` (3 epochs, 10,000 train / 2,000 test
        images) or, with ``quick=True``, :data:`ROAR_QUICK` (2 epochs, 2,000 / 500). Subsets
        are stratified and seeded; pass ``len(x_train)`` to use everything.

    Returns
    -------
    RoarResult
        Costs ``1 + (len(methods) + random_reference) * len(fractions)`` trainings.
    """
    from . import models as model_utils
    from ._validation import num_classes

    defaults = ROAR_QUICK if quick else ROAR_FULL
    fractions = defaults["fractions"] if fractions is None else fractions
    fractions = [check_fraction(f, "fractions") for f in (fractions if np.ndim(fractions) else [fractions])]
    fractions = [f for f in fractions if f > 0]  # 0.0 is always measured, once
    epochs = positive_int(defaults["epochs"] if epochs is None else epochs, "epochs")
    seed = non_negative_int(seed, "seed")
    batch_size = positive_int(batch_size, "batch_size")
    if callable(methods):
        methods = {getattr(methods, "__name__", "method"): methods}
    if not isinstance(methods, Mapping):
        raise ValueError(f"`methods` must be a callable or a mapping name -> callable; got {methods!r}.")
    methods = {str(name): _check_method(fn) for name, fn in methods.items()}
    if "random" in methods and random_reference:
        raise ValueError("`methods` may not use the name 'random', which is kept for the random-order reference.")
    k = num_classes(model)
    x_train = as_images(x_train, "x_train", model=model)
    y_train = as_class_indices(y_train, len(x_train), k, "y_train")
    x_test = as_images(x_test, "x_test", model=model)
    y_test = as_class_indices(y_test, len(x_test), k, "y_test")
    train_indices = _subset(y_train, defaults["train_size"] if train_size is None else train_size, seed)
    test_indices = _subset(y_test, defaults["test_size"] if test_size is None else test_size, seed)
    x_train, y_train = x_train[train_indices], y_train[train_indices]
    x_test, y_test = x_test[test_indices], y_test[test_indices]
    method_params, train_params = dict(method_params or {}), dict(train_params or {})

    def retrained_accuracy(train_images, test_images) -> float:
        model_utils.set_seed(seed)
        fresh = _fresh_model(model, builder)
        model_utils.train(fresh, train_images, y_train, epochs=epochs, seed=seed, verbose=verbose, **train_params)
        return model_utils.accuracy(fresh, test_images, y_test)

    rankings = {name: (_maps_of(fn, model, x_train, y_train, batch_size, method_params),
                       _maps_of(fn, model, x_test, y_test, batch_size, method_params))
                for name, fn in methods.items()}
    if random_reference:
        rng = np.random.default_rng(seed)
        rankings["random"] = (rng.random(x_train.shape[:3]), rng.random(x_test.shape[:3]))
    intact = retrained_accuracy(x_train, x_test)
    accuracy = {}
    for name, (train_maps, test_maps) in rankings.items():
        accuracy[name] = np.array([intact] + [
            retrained_accuracy(remove_pixels(x_train, train_maps, f, absolute=absolute),
                               remove_pixels(x_test, test_maps, f, absolute=absolute)) for f in fractions])
    return RoarResult(np.array([0.0, *fractions]), accuracy, train_indices, test_indices, epochs)


# ----------------------------------------------------------------------------- image statistics

def _as_batch(images, name: str) -> np.ndarray:
    """Finite float ``(N, H, W, C)`` from ``(N, H, W)`` or ``(N, H, W, C)``; signed values allowed."""
    array = np.asarray(images, dtype=np.float32)
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4 or min(array.shape[1:3]) < 2:
        raise ValueError(f"`{name}` must have shape (N, H, W) or (N, H, W, C) with H, W >= 2; "
                         f"got shape {array.shape}.")
    return as_images(array, name)


def total_variation(images) -> np.ndarray:
    """Anisotropic total variation per image, ``(N,)``.

    ``sum |x[i+1, j] - x[i, j]| + sum |x[i, j+1] - x[i, j]|`` over all pixels and channels
    (Rudin, Osher & Fatemi 1992; the image prior of Mahendran & Vedaldi, arXiv:1412.0035).
    ``images`` ``(N, H, W)`` or ``(N, H, W, C)`` may be signed, e.g. difference images.
    """
    x = _as_batch(images, "images").astype(np.float64)
    return (np.abs(np.diff(x, axis=1)).sum(axis=(1, 2, 3)) + np.abs(np.diff(x, axis=2)).sum(axis=(1, 2, 3)))


def roughness(images) -> np.ndarray:
    """Total variation per unit L2 norm, ``(N,)``: how noise-like an image or a change is.

    Scale-free (``roughness(c * x) == roughness(x)`` for ``c != 0``). For an ``H x W`` map of
    independent Gaussian noise it is about ``(2 H W - H - W) * (2 / sqrt(pi)) / sqrt(H W)``
    (about 61 for 28 x 28); a smooth Gaussian blob of sigma 4 pixels scores about 6. NaN for an all-zero image.
    Use it to compare difference images, e.g. counterfactual changes with adversarial ones.
    """
    x = _as_batch(images, "images").astype(np.float64)
    norm = np.sqrt(np.square(x).sum(axis=(1, 2, 3)))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, total_variation(x) / np.where(norm > 0, norm, 1.0), np.nan)
