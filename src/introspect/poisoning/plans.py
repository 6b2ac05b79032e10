"""Poisoning plans: which class gets which trigger on which share of its images, and the transplant test.

A plan maps class indices to triggers (objects or registry names), so that it reads like a sentence::

    plan = {0: black_square(size=4, position="bottom-right"), 3: timestamp("09:00")}
    x_poisoned, y, poisoned, masks = poison(x, y, plan, fraction=0.5, seed=0)

Nothing here modifies its input, and every random choice depends only on ``(seed, class)``.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .._validation import as_class_indices, fraction as check_fraction, non_negative_int
from .base import Trigger, as_unit_images
from .triggers import DEPRECATED_TRIGGERS, TRIGGERS


def n_poisoned(n_class: int, fraction: float) -> int:
    """Number of a class's ``n_class`` images that get the trigger: ``fraction * n_class`` rounded half up."""
    return int(np.floor(fraction * n_class + 0.5))


def _as_trigger(value, key) -> Trigger:
    if isinstance(value, Trigger):
        return value
    if isinstance(value, str) and value in TRIGGERS:
        return TRIGGERS[value]()
    if isinstance(value, str) and value in DEPRECATED_TRIGGERS:
        return DEPRECATED_TRIGGERS[value]()
    raise ValueError(f"`plan`[{key!r}] must be a Trigger or one of the names {sorted(TRIGGERS)}; got {value!r}.")


def _class_index(value, subject: str, num_classes: int | None) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{subject} must be an integer class index; got {value!r}.")
    if num_classes is not None and not 0 <= value < num_classes:
        raise ValueError(f"{subject} {value} is outside [0, {num_classes}).")
    return int(value)


def _check_plan(plan, labels: np.ndarray, num_classes: int | None) -> dict[int, Trigger]:
    if not isinstance(plan, Mapping) or not plan:
        raise ValueError(f"`plan` must be a non-empty mapping class index -> trigger, e.g. "
                         f"{{0: black_square()}}; got {plan!r}.")
    present = set(np.unique(labels).tolist())
    checked = {}
    for key, value in plan.items():
        key = _class_index(key, "`plan` key", num_classes)
        if num_classes is None and key not in present:
            raise ValueError(f"`plan` names class {key}, which does not occur in `labels` "
                             f"(classes present: {sorted(present)}).")
        checked[key] = _as_trigger(value, key)
    return checked


def _check_fractions(fraction, classes) -> dict[int, float]:
    if isinstance(fraction, Mapping):
        if set(fraction) != set(classes):
            raise ValueError(f"`fraction` as a mapping must have exactly the plan's classes {sorted(classes)}; "
                             f"got keys {sorted(fraction)}.")
        return {int(c): check_fraction(f, f"fraction[{c}]") for c, f in fraction.items()}
    value = check_fraction(fraction, "fraction")
    return {c: value for c in classes}


def poison(images, labels, plan: Mapping, fraction: float | Mapping = 1.0, seed: int = 0, *,
           num_classes: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Put each planned class's trigger on a seeded share of that class's images.

    The idea of planting such shortcuts to test explanation methods follows Lapuschkin et al.
    2019, "Unmasking Clever Hans predictors" (arXiv:1902.10178).

    Parameters
    ----------
    images : array-like, (N, H, W, C)
        Float images in [0, 1]; never modified.
    labels : array-like of int, (N,)
        True classes; they are returned unchanged (the shortcut is correlated with the label,
        not relabelled).
    plan : mapping int -> Trigger or trigger name
        E.g. ``{0: black_square(), 3: timestamp("09:00"), 7: "watermark"}``.
    fraction : float in [0, 1] or mapping class -> float
        Share of each planned class's images that get the trigger: exactly
        :func:`n_poisoned` ``(n_c, fraction)`` images of a class with ``n_c`` images.
    seed : int
        The images picked and any random placement depend only on ``(seed, class)``, so adding
        a class to the plan does not change what happens to the others.
    num_classes : int, optional
        When given, plan classes are checked against ``[0, num_classes)``; otherwise each plan
        class must occur in ``labels``.

    Returns
    -------
    poisoned_images : (N, H, W, C) float32
    labels : (N,) int64, a copy of the input labels
    poisoned : (N,) bool, which images carry a trigger
    trigger_masks : (N, H, W) bool, each trigger's footprint (all False for clean images)
    """
    images = as_unit_images(images)
    labels = as_class_indices(labels, len(images), num_classes, "labels")
    plan = _check_plan(plan, labels, num_classes)
    fractions = _check_fractions(fraction, plan)
    seed = non_negative_int(seed, "seed")
    poisoned_images = images.copy()
    poisoned = np.zeros(len(images), dtype=bool)
    masks = np.zeros(images.shape[:3], dtype=bool)
    for cls in sorted(plan):
        rng = np.random.default_rng([seed, cls])
        members = np.flatnonzero(labels == cls)
        chosen = np.sort(rng.choice(members, size=n_poisoned(len(members), fractions[cls]), replace=False))
        if len(chosen):
            poisoned_images[chosen], masks[chosen] = plan[cls].apply(images[chosen], rng)
            poisoned[chosen] = True
    return poisoned_images, labels.copy(), poisoned, masks


def transplant(images, labels, plan: Mapping | Trigger, source_class: int, seed: int = 0, *,
               num_classes: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Put ``source_class``'s trigger on every image of the *other* classes (the counterfactual test).

    If a model learned the shortcut, these images drift towards ``source_class``. Images of
    ``source_class`` itself are returned bit-identical with empty masks.

    Parameters
    ----------
    images, labels : as in :func:`poison`
    plan : mapping class -> trigger (the plan used for :func:`poison`) or a single Trigger
    source_class : int
        Class whose trigger is transplanted; must be in ``plan`` when a plan is given.
    seed : int
        Seeds random placement (``(seed, source_class)`` as in :func:`poison`).

    Returns
    -------
    transplanted_images : (N, H, W, C) float32
    labels : (N,) int64, a copy of the input labels
    transplanted : (N,) bool, ``labels != source_class``
    trigger_masks : (N, H, W) bool
    """
    images = as_unit_images(images)
    labels = as_class_indices(labels, len(images), num_classes, "labels")
    source_class = _class_index(source_class, "`source_class`", num_classes)
    if isinstance(plan, Trigger):
        trigger = plan
    else:
        if not isinstance(plan, Mapping) or source_class not in plan:
            raise ValueError(f"`plan` must be a Trigger or a mapping that contains `source_class` {source_class}; "
                             f"got {plan!r}.")
        trigger = _as_trigger(plan[source_class], source_class)
    seed = non_negative_int(seed, "seed")
    rng = np.random.default_rng([seed, source_class])
    targets = labels != source_class
    transplanted = images.copy()
    masks = np.zeros(images.shape[:3], dtype=bool)
    if targets.any():
        transplanted[targets], masks[targets] = trigger.apply(images[targets], rng)
    return transplanted, labels.copy(), targets, masks
