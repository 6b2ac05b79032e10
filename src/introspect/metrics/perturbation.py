"""Faithfulness by perturbation: how a classifier's score moves as pixels go in the order of a map.

* :func:`deletion_curve`, :func:`insertion_curve`: pixel flipping (Samek et al., arXiv:1509.06321)
  in the deletion and insertion forms of RISE (Petsiuk et al., arXiv:1806.07421);
* :func:`contrastive_deletion_curve`: the margin ``p(true) - p(pred)`` and the step at which a
  wrong decision flips back, for contrastive maps of mistakes;
* :func:`curve_auc`: the area under any of these curves.

Deleted pixels become a baseline image from :func:`introspect.maps.baseline_images` (default
``"blur"`` with :func:`introspect.maps.default_blur_sigma`); scores come from
:func:`introspect.numerics.predict`, all images of a step evaluated as one batch.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._progress import bar
from .._validation import as_class_indices, non_negative_int, one_of, positive_int
from ..maps import baseline_images
from ..numerics import predict
from ._checks import as_maps, check_images, pixel_ranks

CURVE_OUTPUTS = ("softmax", "logits")


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

    ``scores[i, s]`` ``(N, S)`` is the target's score after ``fractions[s]`` of the pixels of
    image ``i`` were deleted (or inserted); ``random_scores`` is the same for a seeded random
    order. Low deletion AUC and high insertion AUC mean a faithful ordering.
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
        """Per-image AUC of the random order, ``(N,)``, or ``None`` without a random reference."""
        return None if self.random_scores is None else curve_auc(self.random_scores, self.fractions)


@dataclass
class ContrastiveCurve:
    """``p(true) - p(pred)`` ``(N, S)`` while pixels are deleted in order of a (contrastive) map.

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

    def _fraction_at(self, steps: np.ndarray) -> np.ndarray:
        return np.where(steps >= 0, self.fractions[np.maximum(steps, 0)], np.nan)

    @property
    def flip_fraction(self) -> np.ndarray:
        """Share of deleted pixels at the flip, ``(N,)``; NaN where the decision never flips."""
        return self._fraction_at(self.flip_step)

    @property
    def random_flip_fraction(self) -> np.ndarray | None:
        """:attr:`flip_fraction` of the random order, or ``None`` without a random reference."""
        return None if self.random_flip_step is None else self._fraction_at(self.random_flip_step)

    @property
    def auc(self) -> np.ndarray:
        """Per-image area under the margin curve, ``(N,)``."""
        return curve_auc(self.margin, self.fractions)


def _perturbed_outputs(model, images, maps, *, kind, steps, baseline, output, absolute, random_reference, seed,
                       batch_size, blur_sigma, progress):
    """Model outputs ``(R, N, steps + 1, K)`` along the map order (and, R = 2, a seeded random order)."""
    images = check_images(images, model)
    relevance = as_maps(maps, n=len(images), spatial=images.shape[1:3])
    steps = positive_int(steps, "steps")
    batch_size = positive_int(batch_size, "batch_size")
    seed = non_negative_int(seed, "seed")
    one_of(output, CURVE_OUTPUTS, "output")
    base = baseline_images(images, baseline, blur_sigma=blur_sigma, seed=seed)
    n, pixels = len(images), images.shape[1] * images.shape[2]
    ranks = [pixel_ranks(relevance, absolute)]
    if random_reference:
        # an argsort of i.i.d. uniforms is a uniformly random permutation, used directly as ranks
        ranks.append(np.argsort(np.random.default_rng(seed).random((n, pixels)), axis=1))
    ranks = np.concatenate(ranks).reshape(-1, *images.shape[1:3], 1)
    copies = len(ranks) // n
    source, replacement = (images, base) if kind == "deletion" else (base, images)
    source, replacement = np.concatenate([source] * copies), np.concatenate([replacement] * copies)
    fractions = np.linspace(0.0, 1.0, steps + 1)
    counts = np.floor(fractions * pixels + 0.5).astype(int)
    # all images of a step (and their random-order twins) go through the model as one batch
    outputs = []
    with bar(len(counts), f"{kind} curve", progress, unit="steps") as shown:
        for count in counts:
            outputs.append(predict(model, np.where(ranks < count, replacement, source), batch_size=batch_size,
                                   output=output))
            shown.update()
    outputs = np.stack(outputs, axis=1)
    return fractions, outputs.reshape(copies, n, steps + 1, -1)


def _pick(outputs: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Scores of one class per image, ``(R, N, S)``, from outputs ``(R, N, S, K)`` and classes ``(N,)``."""
    return np.take_along_axis(outputs, classes[None, :, None, None], axis=3)[..., 0]


def _curve(kind, model, images, maps, targets, **options) -> PerturbationCurve:
    fractions, outputs = _perturbed_outputs(model, images, maps, kind=kind, **options)
    n, k = outputs.shape[1], outputs.shape[3]
    if targets is None:
        # the model's prediction on the untouched images: step 0 of deletion, the last step of insertion
        targets = outputs[0, :, 0 if kind == "deletion" else -1].argmax(axis=1)
    targets = as_class_indices(targets, n, k, "targets")
    picked = _pick(outputs, targets)
    return PerturbationCurve(kind, fractions, picked[0], picked[1] if len(picked) > 1 else None, targets,
                             options["output"])


def deletion_curve(model, images, maps, targets=None, *, steps: int = 20, baseline="blur", output: str = "softmax",
                   absolute: bool = False, random_reference: bool = True, seed: int = 0, batch_size: int = 256,
                   blur_sigma: float | None = None, progress: bool = True) -> PerturbationCurve:
    """Target score while the most relevant pixels are replaced by a baseline, step by step.

    Pixel flipping (Samek et al., arXiv:1509.06321) in the deletion form of RISE (Petsiuk
    et al., arXiv:1806.07421). At step ``s`` the top ``round(s / steps * H * W)`` pixels (all
    channels) of each image are replaced; all images of a step are evaluated as one batch.

    Parameters
    ----------
    model : keras.Model or callable images -> (N, K)
        Outputs are read as logits unless a Keras model ends in a softmax.
    images : (N, H, W, C)
    maps : (N, H, W) or (N, H, W, C)
        Relevance; channels summed. Pixels are taken largest first (``absolute=True``: largest
        magnitude first). Ties go in raster order.
    targets : int or (N,), optional
        Class whose score is tracked; by default the model's prediction on ``images``.
    baseline : str, float or array
        What deleted pixels become (:func:`introspect.maps.baseline_images`): ``"blur"`` (a
        Gaussian blur of ``blur_sigma`` pixels, default :func:`introspect.maps.default_blur_sigma`,
        ``max(1, max(H, W) / 10)``), ``"mean"`` (the image's per-channel mean), ``"zero"`` (alias
        ``"black"``), ``"uniform"`` (noise seeded by ``seed``), a constant or images broadcastable
        to ``images``.
    output : ``"softmax"`` (probability, default) or ``"logits"``
    random_reference : bool
        Also run a seeded random pixel order (``seed``) for reference.
    progress : bool
        Show a plain-text progress bar (one tick per step) when the call lasts over ~2 s.

    Returns
    -------
    PerturbationCurve
        ``fractions (steps + 1,)``, ``scores (N, steps + 1)``, ``random_scores``, ``auc``.
    """
    return _curve("deletion", model, images, maps, targets, steps=steps, baseline=baseline, output=output,
                  absolute=absolute, random_reference=random_reference, seed=seed, batch_size=batch_size,
                  blur_sigma=blur_sigma, progress=progress)


def insertion_curve(model, images, maps, targets=None, *, steps: int = 20, baseline="blur", output: str = "softmax",
                    absolute: bool = False, random_reference: bool = True, seed: int = 0, batch_size: int = 256,
                    blur_sigma: float | None = None, progress: bool = True) -> PerturbationCurve:
    """Target score while the most relevant pixels are put back into a baseline image, step by step.

    The insertion metric of RISE (Petsiuk et al., arXiv:1806.07421): starts from the baseline
    (see :func:`deletion_curve` for every argument and the shapes) and restores the image's top
    pixels first; a high AUC means the map found the pixels that carry the decision.
    """
    return _curve("insertion", model, images, maps, targets, steps=steps, baseline=baseline, output=output,
                  absolute=absolute, random_reference=random_reference, seed=seed, batch_size=batch_size,
                  blur_sigma=blur_sigma, progress=progress)


def contrastive_deletion_curve(model, images, maps, true_labels, *, predicted=None, steps: int = 20,
                               baseline="blur", absolute: bool = False, random_reference: bool = True,
                               seed: int = 0, batch_size: int = 256,
                               blur_sigma: float | None = None, progress: bool = True) -> ContrastiveCurve:
    """Delete pixels in order of ``maps`` and track ``p(true) - p(pred)`` (softmax probabilities).

    Meant for misclassified images and a contrastive map of "why ``pred`` rather than
    ``true``" (e.g. a saliency method called with ``targets=pred, foil=true``): a good map
    makes the margin rise fast and the decision flip to the true class after few pixels.
    ``predicted`` defaults to the model's prediction on ``images`` (so step 0 of a correctly
    classified image already counts as flipped). ``true_labels`` and ``predicted`` are int or
    ``(N,)``; other arguments as in :func:`deletion_curve`.

    Returns
    -------
    ContrastiveCurve
        ``margin (N, steps + 1)``, ``flip_step (N,)``, the same for a random order, and ``auc``.
    """
    fractions, outputs = _perturbed_outputs(
        model, images, maps, kind="deletion", steps=steps, baseline=baseline, output="softmax", absolute=absolute,
        random_reference=random_reference, seed=seed, batch_size=batch_size, blur_sigma=blur_sigma,
        progress=progress)
    n, k = outputs.shape[1], outputs.shape[3]
    true = as_class_indices(true_labels, n, k, "true_labels")
    # step 0 of a deletion curve is the untouched image, so its argmax is the model's prediction
    predicted = outputs[0, :, 0].argmax(axis=1) if predicted is None else as_class_indices(predicted, n, k, "predicted")
    p_true = _pick(outputs, true)
    margin = p_true - _pick(outputs, predicted)
    # a flip needs the true class strictly ahead of every other class (an all-tied output is no decision)
    others = np.where(np.arange(k) == true[:, None], -np.inf, 0.0)[None, :, None, :]
    decided = p_true > (outputs + others).max(axis=3)
    flip = np.where(decided.any(axis=-1), decided.argmax(axis=-1), -1)
    return ContrastiveCurve(fractions, margin[0], flip[0], margin[1] if len(margin) > 1 else None,
                            flip[1] if len(flip) > 1 else None, true, predicted)
