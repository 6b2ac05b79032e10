"""Measurements of notebook 02 that go beyond one metric: each takes a model and images, returns a DataFrame."""
from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from .. import maps as maps_module
from .. import saliency
from .._validation import positive_int
from ..metrics import compare
from ..metrics.perturbation import deletion_curve, insertion_curve
from ..metrics.sanity import model_randomization


def pick_examples(mistakes, k: int = 3) -> np.ndarray:
    """Positions (into ``mistakes``) of the most confident mistake of each of the ``k`` most frequent confusions."""
    k = positive_int(k, "k")
    pair = mistakes.true * 1000 + mistakes.predicted
    codes, counts = np.unique(pair, return_counts=True)
    frequent = codes[np.argsort(-counts, kind="stable")[:k]]
    return np.array([np.flatnonzero(pair == code)[np.argmax(mistakes.confidence[pair == code])] for code in frequent])


#: Parts of an upper-body garment on Fashion-MNIST's centred 28 x 28 grid: (rows, columns) index pairs.
GARMENT_PARTS = {"neckline": (slice(0, 5), slice(9, 19)), "centre strip": (slice(6, 23), slice(12, 16)),
                 "sides": (slice(8, 23), np.r_[6:10, 18:22]), "sleeves": (slice(2, 14), np.r_[0:6, 22:28]),
                 "hem": (slice(23, 28), slice(4, 24))}


def region_evidence(contrast_maps: Mapping[str, np.ndarray], groups: Mapping[str, np.ndarray], *, parts=None,
                    seed: int = 0) -> pd.DataFrame:
    """Where a contrastive map puts its evidence, part by part, for each group of mistakes.

    Parameters
    ----------
    contrast_maps : mapping method -> (N, H, W)
        Contrastive maps (positive: evidence for the predicted over the true class).
    groups : mapping name -> indices
        The mistakes of each confusion (e.g. "Shirt → T-shirt/top"), positions into the maps.
    parts : mapping name -> (rows, cols), optional
        Regions to read; default :data:`GARMENT_PARTS`.

    Returns
    -------
    pandas.DataFrame
        One row per group, method and part: ``evidence`` (the part's mean map value per image, in
        units of the group's mean ``|map|`` so that methods compare), its bootstrap 95% interval.
    """
    parts = GARMENT_PARTS if parts is None else parts
    rows = []
    for group, members in groups.items():
        for method, values in contrast_maps.items():
            chosen = np.asarray(values)[np.asarray(members)]
            scale = np.abs(chosen).mean()
            for part, (part_rows, part_cols) in parts.items():
                per_image = chosen[:, part_rows][:, :, part_cols].mean(axis=(1, 2)) / scale
                rows.append(dict(group=group, method=method, part=part, **_summary(per_image, "evidence", seed)))
    return pd.DataFrame(rows)


def _summary(values: np.ndarray, name: str, seed: int) -> dict:
    """``{name: mean, name_low, name_high}`` with a bootstrap 95% interval."""
    from ..report import bootstrap_ci

    low, high = bootstrap_ci(values, seed=seed)
    return {name: float(np.mean(values)), f"{name}_low": low, f"{name}_high": high}


def smoothing_table(model, images, targets, *, sigmas=(0, 1, 2), steps: int = 20, seed: int = 0) -> pd.DataFrame:
    """What Gaussian smoothing of the logit gradient gains to the eye and costs in faithfulness and in the sanity check.

    For each ``sigma`` (0 = the raw map), per image: ``roughness`` (:func:`introspect.maps.roughness`,
    lower looks cleaner), ``deletion_auc`` and ``insertion_auc`` of the softmax of ``targets`` with the
    mean fill (RISE, arXiv:1806.07421; ranked by ``|map|``), ``sign_changed``, the share of garment
    pixels (``images > 0``) whose sign the smoothing reverses (there the map claims the opposite of
    the pixel's own gradient), and ``rho_random``, the Spearman
    correlation of ``|map|`` with the same smoothing of a fully randomised model's map on the
    garment's pixels (``images > 0``; Adebayo et al., arXiv:1810.03292): a map that stays similar
    when every weight is random shows the image, not the model. Columns ``sigma, image`` and those five.
    """
    images = np.asarray(images, dtype=np.float32)
    randomised = model_randomization(model, saliency.vanilla_gradient, images, targets, seed=seed, progress=False)
    raw = compare.as_pixel_maps(randomised.maps["reference"])
    random = compare.as_pixel_maps(randomised.maps[randomised.layers[-1]])
    garment = images[..., 0] > 0
    rows = []
    for sigma in sigmas:
        smooth = (lambda m: maps_module.gaussian_smooth(m, sigma)) if sigma else (lambda m: m)
        relevance = np.abs(smooth(raw))
        options = dict(steps=steps, baseline="mean", seed=seed, progress=False, random_reference=False)
        rows.append(pd.DataFrame(dict(
            sigma=sigma, image=np.arange(len(images)), roughness=maps_module.roughness(smooth(raw)),
            deletion_auc=deletion_curve(model, images, relevance, targets, **options).auc,
            insertion_auc=insertion_curve(model, images, relevance, targets, **options).auc,
            sign_changed=((np.sign(smooth(raw)) != np.sign(raw)) & garment).sum(axis=(1, 2)) / garment.sum(axis=(1, 2)),
            rho_random=compare.map_similarity({"g": smooth(raw)}, {"g": smooth(random)}, region=garment,
                                              absolute=True)["rho"].to_numpy())))
    return pd.concat(rows, ignore_index=True)


def _patch_fills(images: np.ndarray, fill: str, patch: int) -> np.ndarray:
    """What each fill puts in every ``patch x patch`` cell of a grid: ``(N, H, W, C)`` (cells fill independently)."""
    if fill != "inpaint":
        return maps_module.baseline_images(images, fill)
    filled = np.empty_like(images)
    height, width = images.shape[1:3]
    for row in range(0, height, patch):
        for col in range(0, width, patch):
            masks = np.zeros(images.shape[:3], bool)
            masks[:, row:row + patch, col:col + patch] = True
            filled[:, row:row + patch, col:col + patch] = maps_module.inpaint(images, masks)[
                :, row:row + patch, col:col + patch]
    return filled


def fill_table(model, images, fill_maps: Mapping[str, np.ndarray], predicted, true, *, toward: int, patch: int = 4,
               strip=GARMENT_PARTS["centre strip"], steps: int = 20, seed: int = 0) -> pd.DataFrame:
    """Contrastive occlusion under several fills: what each fill removes, what its map says, whether it is right.

    Parameters
    ----------
    images : (N, H, W, C)
        Mistakes between two classes, in either direction.
    fill_maps : mapping fill name -> (N, H, W)
        Contrastive occlusion maps (``foil=true``) made with that fill (``"zero"``, ``"mean"``,
        ``"blur"``, ``"inpaint"``).
    predicted, true : (N,) ints
    toward : int
        The class whose evidence the ``strip`` reading is oriented to: a map value counts positive
        where it speaks for ``toward`` (the contrastive map speaks for the predicted class, so the
        sign flips on the images whose true class is ``toward``).
    patch : int
        The occlusion patch size, for ``unchanged_patches``.
    strip : (rows, cols) slices
        The region read (by default :data:`GARMENT_PARTS`'s centre strip, where a shirt has its placket).

    Returns
    -------
    pandas.DataFrame
        One row per fill: ``unchanged_patches`` (share of the ``patch``-grid cells whose mean
        ``|image - fill|`` is below 0.05: there the fill removes nothing, so the map is ~0 whatever
        the model uses), ``strip`` (mean oriented evidence on the strip, 95% interval) and
        ``flipped`` (contrastive deletion with the mean fill: the decision moves to the true class
        within 20% of the pixels, 95% interval).
    """
    images = np.asarray(images, dtype=np.float32)
    predicted, true = np.asarray(predicted), np.asarray(true)
    orientation = np.where(predicted == toward, 1.0, -1.0)
    rows = []
    for fill, values in fill_maps.items():
        change = np.abs(images - _patch_fills(images, fill, patch)).mean(axis=-1)
        height, width = change.shape[1:]
        cells = change[:, :height - height % patch, :width - width % patch].reshape(
            len(images), height // patch, patch, width // patch, patch).mean(axis=(2, 4))
        flips = compare.contrastive_table(model, images, {fill: values}, true, predicted, steps=steps, seed=seed)
        flipped = flips.loc[flips["method"] == fill, "flipped"].to_numpy()
        rows.append(dict(fill=fill, unchanged_patches=float((cells < 0.05).mean()),
                         **_summary(orientation * np.asarray(values)[:, strip[0], strip[1]].mean(axis=(1, 2)),
                                    "strip", seed),
                         **_summary(flipped, "flipped", seed)))
    return pd.DataFrame(rows)


def cam_sums(model, images, classes, *, batch_size: int = 64) -> pd.DataFrame:
    """The sign of Grad-CAM and HiResCAM summed over the image, against the logit each explains.

    Grad-CAM weighs each channel of the last convolutional layer by its gradient's spatial mean,
    which is exact for global average pooling; behind a flatten and a dense layer a channel's
    gradient changes sign from place to place. HiResCAM (arXiv:2011.08891) keeps the gradient per
    position. One row per method: ``share_negative`` (maps whose total is below 0 although the
    logit is large) and ``rank_with_logit`` (Spearman correlation of the totals with the logits
    over the images).
    """
    from scipy.stats import spearmanr

    from ..models import predict_logits

    classes = np.asarray(classes)
    logits = predict_logits(model, images)[np.arange(len(classes)), classes]
    rows = []
    for name, method in (("Grad-CAM", saliency.grad_cam), ("HiResCAM", saliency.hires_cam)):
        totals = method(model, images, classes, relu=False, batch_size=batch_size, progress=False).sum(axis=(1, 2))
        rows.append(dict(method=name, images=len(totals), share_negative=float((totals < 0).mean()),
                         rank_with_logit=float(spearmanr(totals, logits).statistic)))
    return pd.DataFrame(rows)


def known_evidence(model, images, labels, plan: Mapping, methods: Mapping[str, Callable], *, limit: int = 100,
                   min_contrast: float = 0.3, names=None, seed: int = 0) -> pd.DataFrame:
    """Saliency against a planted trigger whose evidence is known (Kim et al., arXiv:2105.06506).

    For each class of ``plan`` (class -> trigger), the trigger is transplanted onto the images of
    the other classes (:func:`introspect.poisoning.transplant`); where the model did not predict
    the class before and does after, the trigger is the evidence. Only transplants that change
    the trigger's pixels by at least ``min_contrast`` on average count (a dark square on a dark
    background changes nothing), and at most ``limit`` per trigger. Each method's map for the
    class is scored by relevance mass and pointing game inside the trigger
    (:func:`~introspect.metrics.compare.localisation_table`). One row per trigger and method:
    ``trigger`` (contrast and class, named by ``names[class]`` if given), ``flipped`` (images moved to the class), ``n`` (scored),
    the means with 95% intervals.
    """
    from ..numerics import predict
    from ..poisoning import transplant

    images = np.asarray(images, dtype=np.float32)
    rows = []
    for target, trigger in plan.items():
        moved_images, _, moved, masks = transplant(images, labels, {target: trigger}, target, seed=seed)
        before = predict(model, images).argmax(axis=1) != target
        after = predict(model, moved_images).argmax(axis=1) == target
        visible = np.abs(moved_images - images).mean(axis=-1).sum(axis=(1, 2)) >= min_contrast * masks.sum(axis=(1, 2))
        flipped = np.flatnonzero(moved & before & after & visible)
        chosen = flipped[:positive_int(limit, "limit")]
        if len(chosen):
            found = compare.explain(model, moved_images[chosen], target, methods)[0]
            summary = compare.summarize(compare.localisation_table(found, masks[chosen]), ["relevance_mass", "pointing"])
        else:  # the trigger moved no image (an undertrained model): nothing to score
            summary = pd.DataFrame(dict(method=list(methods), **{f"{m}{end}": np.nan for m in ("relevance_mass", "pointing")
                                                                 for end in ("", "_low", "_high")}))
        contrast = "white on black" if trigger.value >= 0.5 else "dark on bright"
        label = names[target] if names is not None else f"class {target}"
        rows.append(summary.assign(trigger=f"{contrast} → {label}", flipped=len(flipped), n=len(chosen)))
    table = pd.concat(rows, ignore_index=True)
    return table[["trigger", "method", "flipped", "n", *[c for c in table.columns if c.startswith(("relevance",
                                                                                                   "pointing"))]]]
