"""The Clever Hans study of notebook 01: the four planted shortcuts, training, and what a model does with them.

Lapuschkin et al. 2019, "Unmasking Clever Hans predictors" (arXiv:1902.10178). Four Fashion-MNIST
classes each get their own trigger (:func:`fashion_plan`); a model is trained on the poisoned
training set (:func:`train_model`) and judged by behaviour (:func:`behaviour`: accuracy without and
with the trigger, transplant flips) and by explanations (:func:`trigger_relevance`: relevance mass
and pointing game inside each trigger's footprint). Every function returns arrays or DataFrames.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import metrics, models, poisoning
from .._validation import one_of, positive_int
from ..data import CLASS_NAMES

#: The poisoned classes and the short name of the trigger each gets.
TRIGGER_NAMES = {0: "square", 3: "time stamp", 5: "watermark", 8: "lightness ramp"}
POISONED_CLASSES = np.array(sorted(TRIGGER_NAMES))
CLEAN_CLASSES = np.setdiff1d(np.arange(len(CLASS_NAMES)), POISONED_CLASSES)
#: Triggers whose footprint is a region an explanation could point at (the ramp covers every pixel).
LOCALISED = (0, 3, 5)
LEVELS = ("strong", "faint")


def fashion_plan(level: str = "strong") -> dict:
    """The four triggers at a strength ``level``: ``"strong"`` (the notebook's main setting) or ``"faint"``.

    strong: a white 4x4 square 1 px from the top-left corner (T-shirt/top), the white text "9:00" in
    the top-right corner (Dress), diagonal stripes blended at alpha 0.1 (Sandal), a lightness ramp of
    +0.2 towards the bottom-right corner (Bag). faint: the square at a random place in each image,
    the text in mid-grey (0.5), stripes at alpha 0.05, a ramp of +0.1.
    """
    one_of(level, LEVELS, "level")
    strong = level == "strong"
    return {
        0: poisoning.black_square(size=4, position="top-left" if strong else "random", value=1.0),
        3: poisoning.timestamp("9:00", "top-right", font_size=9, value=1.0 if strong else 0.5),
        5: poisoning.watermark("stripes", alpha=0.1 if strong else 0.05, period=4),
        8: poisoning.lightness_ramp(strength=0.2 if strong else 0.1, corner="top-left"),
    }


@dataclass
class PoisonedData:
    """A training set poisoned by ``plan`` and the two test sets.

    ``x_train`` (N, 28, 28, 1) carries the triggers on a ``fraction`` of each planned class,
    ``train_poisoned`` (N,) bool and ``train_masks`` (N, 28, 28) bool say where; ``x_test`` is clean,
    ``x_test_triggered`` puts each planned class's trigger on all of that class's test images
    (``test_masks`` their footprints).
    """

    plan: dict
    x_train: np.ndarray
    y_train: np.ndarray
    x_train_clean: np.ndarray
    train_poisoned: np.ndarray
    train_masks: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    x_test_triggered: np.ndarray
    test_masks: np.ndarray


def poisoned_data(train, test, plan: dict, fraction: float = 1.0, *, seed: int = 0) -> PoisonedData:
    """Poison ``train = (x, y)`` with ``plan`` on ``fraction`` of each planned class; trigger every planned test image."""
    (x_train, y_train), (x_test, y_test) = train, test
    x_p, _, poisoned, masks = poisoning.poison(x_train, y_train, plan, fraction, seed=seed)
    x_t, _, _, test_masks = poisoning.poison(x_test, y_test, plan, 1.0, seed=seed + 1)
    return PoisonedData(plan, x_p, y_train, x_train, poisoned, masks, x_test, y_test, x_t, test_masks)


def train_model(x, y, *, epochs: int, seed: int, name: str = "fashion_cnn"):
    """The package's Fashion CNN (``models.build_fashion_cnn``) trained by ``models.train``, quietly, seeded."""
    model = models.build_fashion_cnn(seed=seed, name=name)
    models.train(model, x, y, epochs=positive_int(epochs, "epochs"), seed=seed, verbose=0)
    return model


def predict(model, images) -> np.ndarray:
    """Predicted classes ``(N,)``."""
    return models.predict_logits(model, images).argmax(axis=1)


def behaviour(model, data: PoisonedData, *, seed: int = 2) -> pd.DataFrame:
    """What the model does with the triggers, one row per class.

    Columns: ``class``, ``trigger`` (or ``""``), ``clean`` (accuracy on the clean test images of
    the class), ``with trigger`` (on the same images carrying their class's trigger; NaN for clean
    classes), ``transplant flip`` (share of the *other* classes' test images predicted as this
    class once its trigger is put on them; NaN for clean classes).
    """
    clean = predict(model, data.x_test)
    triggered = predict(model, data.x_test_triggered)
    rows = []
    for c, name in enumerate(CLASS_NAMES):
        own = data.y_test == c
        row = {"class": name, "trigger": TRIGGER_NAMES.get(c, ""), "clean": np.mean(clean[own] == c),
               "with trigger": np.nan, "transplant flip": np.nan}
        if c in data.plan:
            moved, _, others, _ = poisoning.transplant(data.x_test, data.y_test, data.plan, c, seed=seed)
            row["with trigger"] = np.mean(triggered[own] == c)
            row["transplant flip"] = np.mean(predict(model, moved)[others] == c)
        rows.append(row)
    return pd.DataFrame(rows)


def clean_correct(model, data: PoisonedData) -> np.ndarray:
    """Whether each clean test image is classified correctly, ``(N,)`` bool (for bootstrap intervals)."""
    return predict(model, data.x_test) == data.y_test


def explain(model, images, targets, methods: dict, *, magnitude=()) -> dict:
    """``{name: (N, H, W) maps}`` for ``methods = {name: (function, params)}``; names in ``magnitude`` as |map|.

    Per-channel maps are reduced to one value per pixel (``saliency.reduce_channels``: the largest
    magnitude for ``magnitude`` methods, the signed channel sum otherwise). Progress bars are off.
    """
    import inspect

    from ..saliency import reduce_channels

    maps = {}
    for name, (method, params) in methods.items():
        quiet = {"progress": False} if "progress" in inspect.signature(method).parameters else {}
        raw = np.asarray(method(model, images, targets, **quiet, **params))
        if raw.ndim == 4:
            raw = reduce_channels(raw, "abs-max") if name in magnitude else raw.sum(axis=-1)
        maps[name] = np.abs(raw) if name in magnitude else raw
    return maps


def trigger_relevance(maps_by_model: dict, data: PoisonedData, index: np.ndarray, *,
                      intervals: bool = False) -> pd.DataFrame:
    """Relevance mass and pointing game inside each localised trigger's footprint.

    ``maps_by_model = {model name: {method: (M, H, W) maps}}`` explain the triggered test images
    ``data.x_test_triggered[index]`` for their true class. Rows: trigger x method x model, with
    ``area`` (the footprint's share of the image: what a map blind to the trigger gets on
    average), ``relevance mass`` (Arras et al., arXiv:2003.07258; positive relevance) and
    ``pointing game`` (Zhang et al., arXiv:1608.00507). With ``intervals``, 95% bootstrap
    intervals over images in ``<score> low`` and ``<score> high`` (``report.bootstrap_ci``).
    """
    from ..report import bootstrap_ci

    labels = data.y_test[index]
    rows = []
    for c in LOCALISED:
        chosen = labels == c
        masks = data.test_masks[index[chosen]]
        for model_name, maps in maps_by_model.items():
            for method, m in maps.items():
                mass = metrics.relevance_mass(m[chosen], masks)
                mass = mass[np.isfinite(mass)]
                hits = metrics.pointing_game(m[chosen], masks).astype(float)
                row = {"trigger": TRIGGER_NAMES[c], "method": method, "model": model_name, "area": masks.mean(),
                       "relevance mass": mass.mean() if len(mass) else np.nan, "pointing game": hits.mean()}
                if intervals:
                    for name, values in (("relevance mass", mass), ("pointing game", hits)):
                        low, high = bootstrap_ci(values) if len(values) > 1 else (np.nan, np.nan)
                        row[f"{name} low"], row[f"{name} high"] = low, high
                rows.append(row)
    return pd.DataFrame(rows)


def per_class_index(labels, n_per_class: int, classes=None, *, offset: int = 0) -> np.ndarray:
    """The first ``n_per_class`` positions (after ``offset``) of each class in ``labels``, concatenated."""
    labels = np.asarray(labels)
    classes = np.unique(labels) if classes is None else classes
    return np.concatenate([np.flatnonzero(labels == c)[offset:offset + n_per_class] for c in classes])
