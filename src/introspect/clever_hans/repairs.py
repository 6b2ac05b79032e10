"""Repairing the Clever Hans model of notebook 01: masks from the answer key or from explanations alone.

Right for the Right Reasons (Ross et al. 2017, arXiv:1703.03717) needs masks of the pixels that
should not matter; :func:`known_masks` takes them from the poisoning plan, :func:`explanation_masks`
from LRP maps and SpRAy clusters only (no answer key). P-ClArC (Anders et al. 2022,
arXiv:1912.11425) needs examples with and without each artifact (:func:`pclarc_all`). ``inpaint``
(the counterexamples' fill) is :func:`introspect.repair.inpaint`, importable from here too.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.ndimage import binary_dilation

from .. import metrics, poisoning
from ..repair import inpaint, pclarc
from . import study
from .study import POISONED_CLASSES, TRIGGER_NAMES

#: Pixels darker than this count as background (Fashion-MNIST backgrounds are 0).
BACKGROUND = 0.05


def known_masks(d: study.PoisonedData, *, margin: int = 2) -> np.ndarray:
    """``(N, H, W)`` bool: each poisoned training image's trigger footprint, from the plan (the answer key).

    The lightness ramp's footprint is the whole image, and forbidding every pixel forbids the
    class; its mask is the image's background instead (clean pixels below :data:`BACKGROUND`
    more than ``margin`` pixels away from the garment), where the ramp is the only thing drawn
    and the garment's outline, which an honest model reads, is left free.
    """
    masks = d.train_masks.copy()
    ramp = [c for c, trigger in d.plan.items() if isinstance(trigger, poisoning.LightnessRamp)]
    chosen = d.train_poisoned & np.isin(d.y_train, ramp)
    garment = d.x_train_clean[chosen][..., 0] >= BACKGROUND
    near = binary_dilation(garment, structure=np.ones((1, 2 * margin + 1, 2 * margin + 1), bool))
    masks[chosen] = ~near
    return masks


def explanation_masks(maps, labels, found: metrics.SprayResult, *, flag_factor: float = 2.0,
                      top_share: float = 0.05) -> tuple[np.ndarray, dict]:
    """Masks of suspicious regions from LRP maps and SpRAy alone, and the classes they come from.

    A class is flagged when its SpRAy suspicion exceeds ``flag_factor`` times the median over
    classes. For each flagged class, the mean normalised |map| of its suspicious cluster minus the
    mean normalised |map| of all other classes gives where that cluster looks *unlike* the rest;
    its top ``top_share`` of pixels, grown by one pixel, is the region. The union of the regions
    is returned, meant for every training image: "these pixels should not matter".

    Parameters
    ----------
    maps : (N, H, W)
        The maps SpRAy clustered (e.g. :func:`~.runs.spray_ranks`'s), full resolution.
    labels : (N,) ints
    found : SprayResult
        Of ``metrics.spray(maps, labels)``.

    Returns
    -------
    (mask (H, W) bool, {class: (H, W) bool region})
    """
    relevance = np.abs(np.asarray(maps, np.float64))
    relevance = relevance / np.maximum(relevance.sum(axis=(1, 2), keepdims=True), 1e-12)
    labels = np.asarray(labels)
    median = np.nanmedian(found.suspicion)
    regions = {}
    for row, c in enumerate(found.classes):
        if not found.suspicion[row] > flag_factor * median:
            continue
        members = found.indices[int(c)][found.cluster_labels[int(c)] == found.suspicious_cluster[int(c)]]
        excess = relevance[members].mean(axis=0) - relevance[labels != c].mean(axis=0)
        top = excess >= np.quantile(excess, 1 - top_share)
        regions[int(c)] = binary_dilation(top & (excess > 0), iterations=1)
    union = np.zeros(relevance.shape[1:], bool)
    for region in regions.values():
        union |= region
    return union, regions


def pclarc_all(model, d: study.PoisonedData, *, layer: str = "dense", n_examples: int = 200, seed: int = 0):
    """P-ClArC for every trigger of the plan, one projection after another, from ``n_examples`` clean training images.

    The examples are clean images of the *clean* classes with and without each trigger, so each
    direction is the trigger's alone.
    """
    rng = np.random.default_rng(seed)
    pool = np.flatnonzero(~np.isin(d.y_train, POISONED_CLASSES))
    examples = d.x_train_clean[rng.choice(pool, n_examples, replace=False)]
    repaired = model
    for c in sorted(d.plan):
        with_trigger, _ = d.plan[c].apply(examples, rng)
        repaired = pclarc(repaired, layer, with_trigger, examples)
        # Each projection is named "<layer>_pclarc"; the next one goes after it, so names stay unique and
        # each direction is found in activations that the earlier projections have already cleaned.
        layer = f"{layer}_pclarc"
    return repaired


def repair_rows(models: dict, d: study.PoisonedData) -> pd.DataFrame:
    """For each named model: per poisoned class the clean accuracy and transplant flip, and overall clean accuracy."""
    rows = []
    for name, model in models.items():
        table = study.behaviour(model, d)
        overall = study.clean_correct(model, d).mean()
        for c in POISONED_CLASSES:
            rows.append({"model": name, "trigger": TRIGGER_NAMES[c], "clean": table["clean"][c],
                         "transplant flip": table["transplant flip"][c], "overall clean": overall})
    return pd.DataFrame(rows)


#: Notebook 01's repairs, each one call of the library with the known masks: key -> arguments beyond the defaults.
#: ``extra_epochs`` lengthens the schedule beyond the poisoned and control models'.
REPAIRS = {"rrr": {},                                                          # inpainted counterexamples, "auto"
           "rrr_transplant": {"counterexamples": ("inpaint", "transplant")},   # + the trigger on other classes
           "rrr_transplant_long": {"counterexamples": ("inpaint", "transplant"), "extra_epochs": 2},
           "rrr_penalty_only": {"counterexamples": None}}                      # the gradient penalty alone


def repair_study(poisoned, d: study.PoisonedData, *, epochs: int, seeds=(0,), n_spray: int = 100,
                 single_seed=("rrr_penalty_only", "rrr_explained"), keys=None, folder=None,
                 progress: bool = True) -> tuple[pd.DataFrame, dict]:
    """Repair ``poisoned`` with :func:`~introspect.repair.right_for_the_right_reasons` as a user would call it.

    Every repair trains the poisoned model's architecture from scratch with the schedule of the
    poisoned and control models (``epochs``, batches of 128), the library's defaults (``weight="auto"``,
    inpainted counterexamples) and :data:`REPAIRS`' arguments, on the training images with the known
    masks (:func:`known_masks`), for each seed of ``seeds``; the keys in ``single_seed`` only for the
    first; ``keys`` (default: all) chooses which to run. ``rrr_explained`` uses masks from LRP and SpRAy alone (:func:`explanation_masks`): their
    union on every training image. Returns :func:`repair_rows` with ``seed`` and the chosen ``weight``,
    and ``{"regions": ..., "models": {key: first seed's model}}``; with ``folder`` those models are
    saved there as ``01_<key>.weights.h5``.
    """
    from ..repair import right_for_the_right_reasons
    from .runs import lrp_maps, save_model

    known = known_masks(d)
    index = study.per_class_index(d.y_train, n_spray)
    maps = lrp_maps(poisoned, d.x_train[index], d.y_train[index])
    union, regions = explanation_masks(maps, d.y_train[index], metrics.spray(maps, d.y_train[index], seed=0))
    masks = {**{key: known for key in REPAIRS}, "rrr_explained": np.broadcast_to(union, known.shape)}
    arguments = {**REPAIRS, "rrr_explained": {}}
    rows, first = [], {}
    for seed in seeds:
        for key in arguments if keys is None else keys:
            if key in single_seed and seed != seeds[0]:
                continue
            options = dict(arguments[key])
            model = right_for_the_right_reasons(poisoned, d.x_train, d.y_train, masks[key],
                                                epochs=epochs + options.pop("extra_epochs", 0), batch_size=128,
                                                seed=seed, progress=progress, **options)
            rows.append(repair_rows({key: model}, d).assign(seed=seed, weight=model.rrr_log.weight))
            if seed == seeds[0]:
                first[key] = model
                if folder is not None:
                    save_model(model, key, folder)
    return pd.concat(rows, ignore_index=True), {"regions": regions, "models": first}


def repair_summary(repair: pd.DataFrame, seeds: pd.DataFrame, names: dict) -> pd.DataFrame:
    """Before, after and control per poisoned class: ranges over seeds of clean accuracy, flip and overall accuracy.

    ``repair`` is :func:`repair_study`'s table, ``seeds`` the seed study's (its ``poisoned`` rows are
    "before", its ``control`` rows the reference). ``names`` maps the keys to show (``"poisoned"``,
    ``"control"`` and repair keys) to row labels, in order. Cells are ``(min, max)`` over seeds.
    """
    rows = pd.concat([seeds[["model", "trigger", "clean", "transplant flip", "overall clean", "seed"]], repair],
                     ignore_index=True)
    out = []
    for key, label in names.items():
        for trigger in TRIGGER_NAMES.values():
            part = rows[(rows.model == key) & (rows.trigger == trigger)]
            row = {"model": label, "trigger": trigger, "seeds": part.seed.nunique()}
            for column in ("clean", "transplant flip", "overall clean"):
                row[column] = (part[column].min(), part[column].max())
            out.append(row)
    return pd.DataFrame(out)
