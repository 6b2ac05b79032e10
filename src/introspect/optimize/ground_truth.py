"""Counterfactuals with a known answer: where does the smallest fix of a shortcut model's mistake go?

A model trained with a planted trigger on some classes (notebook 01, :mod:`introspect.clever_hans`)
misclassifies clean images of those classes because the trigger is missing. If minimal
counterfactuals teach *why* an error was made, the smallest change that fixes such a mistake should
fall inside the trigger's footprint and draw the trigger. :func:`trigger_counterfactuals` runs
:func:`~introspect.optimize.minimal_counterfactuals` on those mistakes and measures, per image,
the share of ``|change|`` inside the footprint (against the footprint's share of the image: the
share a change spread evenly would have) and the cosine between the change and the trigger.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .._validation import as_images, positive_int
from ..numerics import predict
from .minimal import MinimalResult, minimal_counterfactuals


def change_in_region(differences, masks) -> pd.DataFrame:
    """Per image: ``inside``, the share of ``|differences|`` in ``masks``, and ``area``, the masks' share of the image.

    ``differences`` ``(N, H, W, C)``; ``masks`` ``(N, H, W)`` bool. ``inside`` is NaN for a zero change.
    """
    magnitude = np.abs(np.asarray(differences, np.float64)).sum(axis=-1)
    masks = np.asarray(masks, bool)
    if masks.shape != magnitude.shape:
        raise ValueError(f"`masks` must have shape {magnitude.shape} (N, H, W); got {masks.shape}.")
    total = magnitude.sum(axis=(1, 2))
    inside = np.where(total > 0, (magnitude * masks).sum(axis=(1, 2)) / np.where(total > 0, total, 1), np.nan)
    return pd.DataFrame({"inside": inside, "area": masks.mean(axis=(1, 2))})


def pattern_cosine(differences, patterns, masks) -> np.ndarray:
    """Cosine ``(N,)`` between each change and its trigger pattern, both restricted to ``masks``.

    ``patterns`` ``(N, H, W, C)`` is what the trigger adds (triggered image minus clean image);
    +1: the change draws the trigger exactly, 0: unrelated, -1: it erases the trigger's pixels.
    """
    keep = np.asarray(masks, bool)[..., None]
    a = (np.asarray(differences, np.float64) * keep).reshape(len(keep), -1)
    b = (np.asarray(patterns, np.float64) * keep).reshape(len(keep), -1)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.where(norms > 0, (a * b).sum(axis=1) / np.where(norms > 0, norms, 1), np.nan)


def pattern_drawn(differences, patterns, masks) -> np.ndarray:
    """How much of the trigger each change draws ``(N,)``: its projection on the pattern inside ``masks``.

    ``<change, pattern> / <pattern, pattern>`` over the footprint: 1 draws the whole trigger, 0 none of it.
    """
    keep = np.asarray(masks, bool)[..., None]
    a = (np.asarray(differences, np.float64) * keep).reshape(len(keep), -1)
    b = (np.asarray(patterns, np.float64) * keep).reshape(len(keep), -1)
    energy = (b * b).sum(axis=1)
    return np.where(energy > 0, (a * b).sum(axis=1) / np.where(energy > 0, energy, 1), np.nan)


def trigger_counterfactuals(model, images, labels, masks, patterns, classes, *, n_per_class: int = 32,
                            rounds: int = 8, distance: str = "l2", seed: int = 0) -> tuple[pd.DataFrame, MinimalResult]:
    """Minimal counterfactuals of ``model``'s mistakes on clean images of ``classes``, judged by the trigger.

    Parameters
    ----------
    model : keras.Model
        Classifier with logits.
    images, labels : (N, H, W, C), (N,)
        Clean test images and their labels.
    masks : (N, H, W) bool
        The footprint each image's class trigger would have on it.
    patterns : (N, H, W, C)
        What that trigger adds (triggered minus clean image).
    classes : sequence of int
        The poisoned classes whose mistakes are searched.
    n_per_class : int
        At most this many misclassified images per class (a seeded draw).
    rounds : int
        Binary-search rounds of :func:`minimal_counterfactuals`.
    distance : {"l2", "elastic"}
        Its size measure (``"elastic"`` adds an L1 term, which favours sparse changes).

    Returns
    -------
    (DataFrame, MinimalResult)
        One row per searched image: ``index`` (into ``images``), ``class``, ``predicted``,
        ``flipped``, ``l2``, ``inside``, ``area`` (:func:`change_in_region`), ``cosine``
        (:func:`pattern_cosine`) and ``drawn`` (:func:`pattern_drawn`); and the search's result.
    """
    images = as_images(images, "images", model=model, value_range=(0, 1))
    labels = np.asarray(labels)
    n_per_class = positive_int(n_per_class, "n_per_class")
    predicted = predict(model, images).argmax(axis=1)
    rng = np.random.default_rng(seed)
    chosen = []
    for c in classes:
        wrong = np.flatnonzero((labels == c) & (predicted != c))
        chosen.append(np.sort(rng.choice(wrong, size=min(n_per_class, len(wrong)), replace=False)))
    index = np.concatenate(chosen).astype(int)
    if len(index) == 0:
        raise ValueError("`model` makes no mistake on the clean images of `classes`: nothing to search.")
    result = minimal_counterfactuals(model, images[index], labels[index], rounds=rounds, distance=distance,
                                    progress=False)
    table = change_in_region(result.differences, np.asarray(masks)[index])
    table.insert(0, "index", index)
    table.insert(1, "class", labels[index])
    table.insert(2, "predicted", predicted[index])
    table.insert(3, "flipped", result.flipped)
    table.insert(4, "l2", result.l2)
    footprint, pattern = np.asarray(masks)[index], np.asarray(patterns)[index]
    table["cosine"] = pattern_cosine(result.differences, pattern, footprint)
    table["drawn"] = pattern_drawn(result.differences, pattern, footprint)
    return table, result
