"""Repairing the Clever Hans model of notebook 01: masks from the answer key or from explanations alone.

Right for the Right Reasons (Ross et al. 2017, arXiv:1703.03717) needs masks of the pixels that
should not matter; :func:`known_masks` takes them from the poisoning plan, :func:`explanation_masks`
from LRP maps and SpRAy clusters only (no answer key). P-ClArC (Anders et al. 2022,
arXiv:1912.11425) needs examples with and without each artifact (:func:`pclarc_all`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.ndimage import binary_dilation, uniform_filter

from .. import metrics, poisoning
from ..repair.clarc import pclarc
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


def inpaint(images, masks, *, max_iterations: int = 30) -> np.ndarray:
    """A copy of ``images`` ``(N, H, W, 1)`` whose pixels inside ``masks`` ``(N, H, W)`` are filled from outside.

    Each masked pixel takes the mean of its known 3x3 neighbours, repeated inwards until every
    masked pixel is filled (a simple diffusion fill): a trigger on the black background becomes
    black again, 1-px watermark stripes take the garment's values beside them.
    """
    values = np.asarray(images, np.float32)[..., 0].copy()
    unknown = np.asarray(masks, bool).copy()
    for _ in range(max_iterations):
        if not unknown.any():
            break
        known = (~unknown).astype(np.float32)
        total = uniform_filter(values * known, size=(1, 3, 3), mode="nearest")
        count = uniform_filter(known, size=(1, 3, 3), mode="nearest")
        fill = unknown & (count > 1e-6)
        values[fill] = total[fill] / count[fill]
        unknown &= ~fill
    return values[..., None]


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


def repair_study(poisoned, control, d: study.PoisonedData, *, epochs: int, n_spray: int, weight: float = 0.01,
                 folder=None, progress: bool = True, only=None) -> tuple[pd.DataFrame, dict]:
    """Repair ``poisoned`` six ways and measure each against ``control`` (:func:`repair_rows`).

    Right for the Right Reasons with the known masks: the gradient penalty alone (``rrr_known``);
    with counterexamples, the masked training images once more with their masks filled by
    :func:`inpaint` (``rrr_known_cf``, from scratch; ``rrr_known_cf_finetuned``, from the cheating
    weights; ``rrr_known_cf_long``, from scratch with two more epochs, as the penalty slows training);
    with masks and counterexamples derived from LRP and SpRAy alone (``rrr_explained``,
    :func:`explanation_masks`). And P-ClArC with every trigger (``pclarc``, :func:`pclarc_all`).
    ``only`` (a set of keys) trains just those RRR variants and returns their rows alone.
    With ``folder``, the RRR models are saved there as ``01_<key>.weights.h5``. Returns the table
    and ``{"regions": ..., "models": {...}}``.
    """
    from ..repair import right_for_the_right_reasons
    from .runs import lrp_maps, save_model

    known = known_masks(d)
    index = study.per_class_index(d.y_train, n_spray)
    maps = lrp_maps(poisoned, d.x_train[index], d.y_train[index])
    found = metrics.spray(maps, d.y_train[index], seed=0)
    union, regions = explanation_masks(maps, d.y_train[index], found)
    derived = np.broadcast_to(union, d.train_masks.shape)
    flagged = np.isin(d.y_train, list(regions))

    def with_counterexamples(masks, chosen):
        filled = inpaint(d.x_train[chosen], masks[chosen])
        return (np.concatenate([d.x_train, filled]), np.concatenate([d.y_train, d.y_train[chosen]]),
                np.concatenate([masks, masks[chosen]]))

    counterexamples = with_counterexamples(known, d.train_poisoned)
    runs = {"rrr_known": ((d.x_train, d.y_train, known), True, epochs),
            "rrr_known_cf": (counterexamples, True, epochs),
            "rrr_known_cf_long": (counterexamples, True, epochs + 2),
            "rrr_known_cf_finetuned": (counterexamples, False, epochs),
            "rrr_explained": (with_counterexamples(derived, flagged), True, epochs)}
    repaired = {}
    for key, ((x, y, masks), scratch, n_epochs) in runs.items():
        if only is not None and key not in only:
            continue
        repaired[key] = right_for_the_right_reasons(poisoned, x, y, masks, weight=weight, epochs=n_epochs,
                                                    batch_size=128, from_scratch=scratch, seed=0, progress=progress)
        if folder is not None:
            save_model(repaired[key], key, folder)
    if only is not None:
        return repair_rows(repaired, d), {"regions": regions, "models": repaired}
    repaired["pclarc"] = pclarc_all(poisoned, d)
    table = repair_rows({"control": control, "poisoned": poisoned, **repaired}, d)
    return table, {"regions": regions, "models": repaired}
