"""Is an optimised image data-like, and does it convince another model? Numbers per image.

A counterfactual that explains an error should look like data and convince a second,
independently trained model; an adversarial change does neither (Van Looveren & Klaise 2019,
arXiv:1907.02584, measure interpretability the same way, with models and autoencoders the
explanation was not made with). :func:`change_table` measures each change; :func:`realism`
measures how far images lie from real data of their class in a judge's feature space.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import maps
from .._validation import as_class_indices, as_images
from ..numerics import predict
from .loop import _feature_model


def _nearest(queries: np.ndarray, reference: np.ndarray, chunk: int = 256) -> np.ndarray:
    """``(N,)`` Euclidean distance from each row of ``queries`` (N, D) to its nearest row of ``reference`` (M, D)."""
    reference_norms = np.square(reference).sum(axis=1)
    out = np.empty(len(queries))
    for i in range(0, len(queries), chunk):
        q = queries[i:i + chunk]
        squared = np.square(q).sum(axis=1)[:, None] - 2 * q @ reference.T + reference_norms[None]
        out[i:i + chunk] = np.sqrt(np.maximum(squared.min(axis=1), 0.0))
    return out


def change_table(images, changed, targets, *, judge=None, reference_images=None, reference_labels=None) -> pd.DataFrame:
    """One row per image: size and texture of ``changed - images``, nearness to data, the judge's verdict.

    Parameters
    ----------
    images, changed : array-like (N, H, W, C)
        Originals and changed images in [0, 1].
    targets : array-like (N,) int
        The class each change aims at.
    judge : keras.Model, optional
        An independently trained classifier (logits); adds ``judge_agrees`` (it predicts the target)
        and ``judge_p`` (its probability of the target).
    reference_images, reference_labels : optional
        Real labelled images; adds ``nearest_real`` (pixel L2 distance of the changed image to the
        nearest reference image of its target class).

    Returns
    -------
    DataFrame with columns ``l1``, ``l2``, ``linf``, ``roughness`` (:func:`introspect.maps.roughness`
    of the change: total variation / L2), optionally ``nearest_real``, ``judge_agrees``, ``judge_p``.
    """
    images = as_images(images, "images", value_range=(0, 1))
    changed = as_images(changed, "changed", value_range=(0, 1))
    if changed.shape != images.shape:
        raise ValueError(f"`changed` must have the shape of `images` {images.shape}; got {changed.shape}.")
    targets = as_class_indices(targets, len(images), None, "targets")
    difference = (changed - images).astype(np.float64)
    table = pd.DataFrame({"l1": np.abs(difference).sum(axis=(1, 2, 3)),
                          "l2": np.sqrt(np.square(difference).sum(axis=(1, 2, 3))),
                          "linf": np.abs(difference).max(axis=(1, 2, 3)),
                          "roughness": maps.roughness(difference)})
    if reference_images is not None:
        reference = as_images(reference_images, "reference_images", value_range=(0, 1))
        labels = as_class_indices(reference_labels, len(reference), None, "reference_labels")
        nearest = np.empty(len(images))
        for c in np.unique(targets):
            rows = targets == c
            members = reference[labels == c]
            nearest[rows] = _nearest(changed[rows].reshape(rows.sum(), -1), members.reshape(len(members), -1))
        table["nearest_real"] = nearest
    if judge is not None:
        p = predict(judge, changed, output="softmax")
        table["judge_agrees"] = p.argmax(axis=1) == targets
        table["judge_p"] = p[np.arange(len(targets)), targets]
    return table


def realism(judge, images, classes, train_images, train_labels, test_images, test_labels, *,
            layer: str = "features") -> pd.DataFrame:
    """How far ``images`` lie from real data of their class, in the feature space of ``judge``.

    For each image: the distance (in the activations of ``layer``) to the nearest training image of
    its class, divided by the median of the same distance for the test images of that class. A
    ratio near 1 means "as close to the training data as a new real image is".

    Returns
    -------
    DataFrame, one row per image: ``class``, ``judge_class``, ``judge_p``, ``distance``,
    ``test_median``, ``ratio``.
    """
    images = as_images(images, "images", value_range=(0, 1))
    classes = as_class_indices(classes, len(images), None, "classes")
    train_labels = as_class_indices(train_labels, len(train_images), None, "train_labels")
    test_labels = as_class_indices(test_labels, len(test_images), None, "test_labels")
    extractor = _feature_model(judge, (layer,))

    def features(batch):
        return np.concatenate([np.asarray(extractor(batch[i:i + 512], training=False)[0], dtype=np.float64)
                               .reshape(len(batch[i:i + 512]), -1) for i in range(0, len(batch), 512)])

    train_f, test_f, image_f = features(train_images), features(test_images), features(images)
    distance, typical = np.empty(len(images)), np.empty(len(images))
    for c in np.unique(classes):
        rows, reference = classes == c, train_f[train_labels == c]
        distance[rows] = _nearest(image_f[rows], reference)
        typical[rows] = np.median(_nearest(test_f[test_labels == c], reference))
    p = predict(judge, images, output="softmax")
    return pd.DataFrame({"class": classes, "judge_class": p.argmax(axis=1),
                         "judge_p": p[np.arange(len(classes)), classes], "distance": distance, "test_median": typical, "ratio": distance / typical})


def mask_statistics(deletion_maps, images, *, background: float = 0.05) -> pd.DataFrame:
    """Per image: ``area`` (mean of the deletion map) and ``on_background`` (its share on black pixels).

    ``deletion_maps`` ``(N, H, W)`` in [0, 1], e.g. from
    :func:`introspect.saliency.meaningful_perturbation`; ``images`` ``(N, H, W, C)``; a pixel is
    background when every channel is below ``background``.
    """
    deletion = np.asarray(deletion_maps, dtype=np.float64)
    images = as_images(images, "images", value_range=(0, 1))
    if deletion.shape != images.shape[:3]:
        raise ValueError(f"`deletion_maps` must have shape {images.shape[:3]} (N, H, W); got {deletion.shape}.")
    dark = (images < background).all(axis=-1)
    total = deletion.sum(axis=(1, 2))
    return pd.DataFrame({"area": deletion.mean(axis=(1, 2)),
                         "on_background": (deletion * dark).sum(axis=(1, 2)) / np.maximum(total, 1e-12)})


def detection_auc(negatives, positives, *, n_resamples: int = 2000, confidence: float = 0.95,
                  seed: int = 0) -> tuple[float, tuple[float, float]]:
    """ROC AUC of a score separating ``positives`` from ``negatives`` and its bootstrap interval.

    The AUC is the probability that a random positive scores above a random negative (ties count
    half; Mann–Whitney). The interval resamples both groups independently (percentile bootstrap).
    An AUC below 0.5 means the score is lower for positives.
    """
    negatives, positives = np.asarray(negatives, np.float64).ravel(), np.asarray(positives, np.float64).ravel()
    if len(negatives) < 2 or len(positives) < 2 or not (np.isfinite(negatives).all() and np.isfinite(positives).all()):
        raise ValueError("`negatives` and `positives` must each hold at least 2 finite scores.")

    def auc(neg, pos):
        both = np.concatenate([neg, pos])
        ranks = pd.Series(both).rank().to_numpy()[len(neg):]
        return (ranks.sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))

    rng = np.random.default_rng(seed)
    samples = [auc(rng.choice(negatives, len(negatives)), rng.choice(positives, len(positives)))
               for _ in range(n_resamples)]
    tail = (1 - confidence) / 2
    return float(auc(negatives, positives)), (float(np.quantile(samples, tail)), float(np.quantile(samples, 1 - tail)))


def blur_recovery(model, images, deletion_maps, classes, *, blur_sigma: float | None = None) -> np.ndarray:
    """Whether blurring what each mask deletes makes the model predict ``classes``, ``(N,)`` bool.

    Fong & Vedaldi's test (arXiv:1704.03296, Sec. 5): each image becomes
    ``(1 - d) * x + d * blur(x)`` with its deletion map ``d`` ``(N, H, W)`` in [0, 1] (1 = blurred),
    the same blur as :func:`introspect.saliency.meaningful_perturbation` (``blur_sigma``); on an
    adversarial image, ``classes`` = the class before the attack asks whether the deletion removes
    the perturbation and the original prediction returns (40% in the paper).
    """
    images = as_images(images, "images", model=model, value_range=(0, 1))
    deletion = np.asarray(deletion_maps, dtype=np.float32)
    if deletion.shape != images.shape[:3]:
        raise ValueError(f"`deletion_maps` must have shape {images.shape[:3]} (N, H, W); got {deletion.shape}.")
    classes = as_class_indices(classes, len(images), None, "classes")
    blurred = maps.baseline_images(images, "blur", name="blur_sigma", blur_sigma=blur_sigma)
    mixed = (1 - deletion[..., None]) * images + deletion[..., None] * blurred
    return predict(model, mixed.astype(np.float32)).argmax(axis=1) == classes
