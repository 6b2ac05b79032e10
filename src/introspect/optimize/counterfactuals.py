"""Counterfactual explanations: the smallest input changes that make a classifier change its mind.

:func:`counterfactuals` is :func:`~introspect.optimize.optimize` with the :func:`counterfactual`
objective (Wachter et al. 2017, arXiv:1711.00399), started from the images themselves, plus the
bookkeeping of when each image flipped and how much it changed. Each image stops at its first
flip; :func:`~introspect.optimize.minimal_counterfactuals` keeps minimising the change after it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import as_class_indices, as_images, num_classes
from .loop import OptimizationResult, optimize
from .objectives import counterfactual


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

    Runs :func:`~introspect.optimize.optimize` with :func:`counterfactual` (Wachter et al. 2017,
    arXiv:1711.00399), starting from the images themselves: each example moves until its true
    class wins by ``margin`` logits and then stops changing. Intended for misclassified images
    ("what would it take for the model to get this right?"), but any images and target classes work.

    Parameters
    ----------
    model : keras.Model
        Classifier that outputs logits ``(N, K)``.
    images : array-like (N, H, W, C)
        Images in [0, 1].
    true_labels : int or array-like (N,)
        The classes to reach.
    steps, learning_rate, param, adam_scaling, snapshots, seed, progress
        As in :func:`~introspect.optimize.optimize` (but one Adam step size per image by default).
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
