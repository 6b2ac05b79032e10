"""Compare attribution methods on the same images: the loops methods x images x measures, as DataFrames.

Every function returns a *long* table (one row per method and image, and per fill where there is
one) so that a notebook can summarise it with intervals: :func:`summarize` gives each method's
mean with a bootstrap 95% interval, :func:`versus_best` the paired interval of each method's
difference to the best one (methods share images, so the comparison is paired).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from ..maps import reduce_channels
from .localisation import pointing_game, relevance_mass
from .perturbation import contrastive_deletion_curve, curve_auc, deletion_curve, insertion_curve
from .sanity import model_randomization
from .similarity import spearman


def as_pixel_maps(maps) -> np.ndarray:
    """``(N, H, W)`` maps: per-channel maps summed over channels (the sign is kept)."""
    maps = np.asarray(maps, dtype=np.float32)
    return reduce_channels(maps, "sum") if maps.ndim == 4 else maps


def explain(model, images, targets, methods: Mapping[str, Callable], *, foil=None, batch_size: int = 64
            ) -> tuple[dict[str, np.ndarray], pd.Series]:
    """Each method's maps ``(N, H, W)`` for ``targets`` (contrastive with ``foil``) and its seconds per image.

    ``methods`` maps a name to a method of the package's signature with its parameters bound
    (e.g. ``functools.partial(saliency.smoothgrad, n_samples=50)``).
    """
    maps, seconds = {}, {}
    for name, method in methods.items():
        start = time.perf_counter()
        maps[name] = as_pixel_maps(method(model, images, targets, foil=foil, batch_size=batch_size))
        seconds[name] = (time.perf_counter() - start) / len(images)
    return maps, pd.Series(seconds, name="seconds per image")


def perturbation_table(model, images, maps: Mapping[str, np.ndarray], targets, *, fills=("mean", "uniform", "blur"),
                       steps: int = 20, seed: int = 0, batch_size: int = 256) -> pd.DataFrame:
    """Deletion and insertion AUC (softmax of ``targets``) per method, fill and image, plus a random order.

    Petsiuk et al., RISE, arXiv:1806.07421. ``fills`` are baselines of
    :func:`introspect.maps.baseline_images`; the random order is the same for every method.
    Columns: ``method, fill, image, deletion_auc, insertion_auc`` (deletion: lower is better).
    """
    rows = []
    for fill in fills:
        for index, (name, relevance) in enumerate(maps.items()):
            options = dict(steps=steps, baseline=fill, seed=seed, batch_size=batch_size, progress=False,
                           random_reference=index == 0)
            deletion = deletion_curve(model, images, relevance, targets, **options)
            insertion = insertion_curve(model, images, relevance, targets, **options)
            rows.append(pd.DataFrame(dict(method=name, fill=fill, image=np.arange(len(images)),
                                          deletion_auc=deletion.auc, insertion_auc=insertion.auc)))
            if index == 0:
                rows.append(pd.DataFrame(dict(method="random", fill=fill, image=np.arange(len(images)),
                                              deletion_auc=deletion.random_auc, insertion_auc=insertion.random_auc)))
    return pd.concat(rows, ignore_index=True)


def contrastive_table(model, images, maps: Mapping[str, np.ndarray], true_labels, predicted, *, fill="mean",
                      steps: int = 20, budget: float = 0.2, seed: int = 0, batch_size: int = 256) -> pd.DataFrame:
    """Contrastive deletion per method and image: does deleting the map's top pixels hand the decision back?

    Columns: ``method, image, flipped`` (decision moved to the true class once at most ``budget``
    of the pixels are deleted, 0/1), ``margin_auc`` (area under ``p(true) - p(pred)``), and
    ``random`` rows for a seeded random order.
    """
    rows = []
    for index, (name, relevance) in enumerate(maps.items()):
        curve = contrastive_deletion_curve(model, images, relevance, true_labels, predicted=predicted, steps=steps,
                                           baseline=fill, seed=seed, batch_size=batch_size, progress=False,
                                           random_reference=index == 0)
        limit = int(round(budget * steps))
        found = [(name, curve.flip_step, curve.auc)]
        if index == 0:
            found.append(("random", curve.random_flip_step, curve_auc(curve.random_margin, curve.fractions)))
        for label, flip_step, auc in found:
            rows.append(pd.DataFrame(dict(method=label, image=np.arange(len(images)),
                                          flipped=((flip_step >= 0) & (flip_step <= limit)).astype(float),
                                          margin_auc=auc)))
    return pd.concat(rows, ignore_index=True)


def localisation_table(maps: Mapping[str, np.ndarray], masks) -> pd.DataFrame:
    """Relevance mass (Arras et al., arXiv:2003.07258) and pointing game (Zhang et al., arXiv:1608.00507)
    of each method's positive evidence inside known evidence ``masks`` ``(N, H, W)`` bool.

    Columns ``method, image, relevance_mass, pointing, mask_share`` (the mask's share of the
    image: the relevance mass of a map that is uniform).
    """
    masks = np.asarray(masks, dtype=bool)
    rows = []
    for name, relevance in maps.items():
        positive = np.maximum(as_pixel_maps(relevance), 0)
        rows.append(pd.DataFrame(dict(method=name, image=np.arange(len(masks)),
                                      relevance_mass=relevance_mass(positive, masks),
                                      pointing=pointing_game(positive, masks).astype(float),
                                      mask_share=masks.mean(axis=(1, 2)))))
    return pd.concat(rows, ignore_index=True)


def _masked_spearman(a: np.ndarray, b: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Spearman correlation of ``a[i][keep[i]]`` and ``b[i][keep[i]]`` per image (NaN if constant)."""
    from scipy.stats import spearmanr

    out = np.full(len(a), np.nan)
    for i in range(len(a)):
        x, y = a[i][keep[i]], b[i][keep[i]]
        if x.size > 2 and np.ptp(x) > 0 and np.ptp(y) > 0:
            out[i] = spearmanr(x, y).statistic
    return out


def map_similarity(maps_a: Mapping[str, np.ndarray], maps_b: Mapping[str, np.ndarray], *, region=None,
                   absolute: bool = False) -> pd.DataFrame:
    """Spearman correlation of each method's two maps of the same image, over ``region`` only.

    ``maps_a`` and ``maps_b`` map method names to ``(N, H, W)`` maps of the same images (for
    example the maps of the predicted and of the true class, or of two models). ``region``
    ``(N, H, W)`` bool restricts the comparison to some pixels (e.g. the garment, ``images > 0``:
    on Fashion-MNIST's black background many methods are exactly 0 in both maps, and those ties
    alone would make any two maps look alike). ``absolute`` compares ``|map|`` (where evidence
    is, Adebayo et al.'s choice for the sanity checks) instead of the signed maps (evidence for
    and against). Columns ``method, image, rho`` (NaN where a map is constant on the region).
    """
    if set(maps_a) != set(maps_b):
        raise ValueError(f"`maps_a` and `maps_b` must name the same methods; got {sorted(maps_a)} and "
                         f"{sorted(maps_b)}.")
    rows = []
    for name in maps_a:
        a, b = as_pixel_maps(maps_a[name]), as_pixel_maps(maps_b[name])
        if a.shape != b.shape:
            raise ValueError(f"maps of {name!r} differ in shape: {a.shape} and {b.shape}.")
        keep = np.ones(a.shape, bool) if region is None else np.asarray(region, dtype=bool)
        if keep.shape != a.shape:
            raise ValueError(f"`region` must have the maps' shape {a.shape}; got {keep.shape}.")
        if absolute:
            a, b = np.abs(a), np.abs(b)
        rows.append(pd.DataFrame(dict(method=name, image=np.arange(len(a)), rho=_masked_spearman(a, b, keep))))
    return pd.concat(rows, ignore_index=True)


def cascade_table(model, methods: Mapping[str, Callable], images, targets, *, region=None, seed: int = 0,
                  batch_size: int = 64) -> pd.DataFrame:
    """Cascading model randomisation (Adebayo et al., arXiv:1810.03292) for several methods, layer by layer.

    Every layer with weights is re-initialised in turn, from the logits down, keeping the layers
    above it random (:func:`~.sanity.model_randomization`); after each step the maps are compared
    with the trained model's by the Spearman correlation of ``|map|`` over ``region`` (``(N, H, W)``
    bool, e.g. the garment's pixels). A method that explains the model loses similarity as
    learned weights are destroyed. Columns ``method, step`` (1 = the top layer randomised),
    ``layer`` (the layer randomised at that step), ``image, rho``.
    """
    images = np.asarray(images, dtype=np.float32)
    region = np.ones(images.shape[:3], bool) if region is None else np.asarray(region, dtype=bool)
    rows = []
    for name, method in methods.items():
        result = model_randomization(model, method, images, targets, cascading=True, seed=seed,
                                     batch_size=batch_size, progress=False)
        trained = np.abs(as_pixel_maps(result.maps["reference"]))
        for step, layer in enumerate(result.layers[1:], start=1):
            rows.append(pd.DataFrame(dict(method=name, step=step, layer=layer, image=np.arange(len(images)),
                                          rho=_masked_spearman(trained, np.abs(as_pixel_maps(result.maps[layer])),
                                                               region))))
    return pd.concat(rows, ignore_index=True)


def summarize(table: pd.DataFrame, columns, *, by=("method",), confidence: float = 0.95, seed: int = 0
              ) -> pd.DataFrame:
    """Mean of each column per group with a bootstrap interval over images (NaNs dropped).

    Returns one row per group, and for each column ``c`` the columns ``c``, ``c_low``, ``c_high``.
    """
    from ..report import bootstrap_ci

    columns = [columns] if isinstance(columns, str) else list(columns)
    rows = []
    for key, group in table.groupby(list(by), sort=False):
        row = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        for column in columns:
            values = group[column].dropna().to_numpy(dtype=float)
            row[column] = values.mean() if len(values) else np.nan
            low, high = bootstrap_ci(values, confidence=confidence, seed=seed) if len(values) > 1 else (np.nan,) * 2
            row[f"{column}_low"], row[f"{column}_high"] = low, high
        rows.append(row)
    return pd.DataFrame(rows)


def versus_best(table: pd.DataFrame, column: str, *, higher_is_better: bool, confidence: float = 0.95,
                seed: int = 0) -> pd.DataFrame:
    """Each method against the best one on ``column`` (same images): paired bootstrap interval of the difference.

    Rows sorted best first; ``separable`` says whether the interval of ``method - best``
    excludes zero (the best method's own row is ``False``). ``table`` has ``method, image, column``.
    """
    from ..report import paired_bootstrap_ci

    wide = table.pivot_table(index="image", columns="method", values=column, sort=False)
    means = wide.mean()
    order = means.sort_values(ascending=not higher_is_better).index
    best = order[0]
    rows = []
    for name in order:
        pair = wide[[name, best]].dropna()
        low, high = (paired_bootstrap_ci(pair[name].to_numpy(), pair[best].to_numpy(), confidence=confidence,
                                         seed=seed) if name != best else (0.0, 0.0))
        rows.append(dict(method=name, mean=means[name], difference_to_best=means[name] - means[best],
                         difference_low=low, difference_high=high, separable=bool(low > 0 or high < 0)))
    return pd.DataFrame(rows)


def intervention_table(classify: Callable, groups: Mapping[str, tuple], edits: Mapping[str, Callable], *,
                       controls: Mapping[str, str] | None = None, seed: int = 0) -> pd.DataFrame:
    """How often an image edit moves each group's decision to its goal class, with bootstrap intervals.

    Parameters
    ----------
    classify : callable
        ``images -> (N,)`` predicted classes.
    groups : mapping name -> (images, goal)
        Images ``(N, H, W, C)`` and the class an edit should move them to (int or ``(N,)``).
    edits : mapping name -> callable
        ``images -> edited images``, e.g. an intervention and its control of the same size.
    controls : mapping edit -> edit, optional
        For an edit with a control: the paired interval of ``rate(edit) - rate(control)`` on the
        same images is added (``difference_low``, ``difference_high``; NaN for other rows).

    Returns
    -------
    pandas.DataFrame
        One row per group and edit: ``group, edit, n, rate, rate_low, rate_high`` (95% interval)
        and the difference columns.
    """
    from ..report import bootstrap_ci, paired_bootstrap_ci

    controls = dict(controls or {})
    rows = []
    for group, (images, goal) in groups.items():
        moved = {edit: (np.asarray(classify(apply(images))) == np.asarray(goal)).astype(float)
                 for edit, apply in edits.items()}
        for edit, values in moved.items():
            low, high = bootstrap_ci(values, seed=seed) if len(values) > 1 else (np.nan, np.nan)
            difference = (paired_bootstrap_ci(values, moved[controls[edit]], seed=seed)
                          if edit in controls and len(values) > 1 else (np.nan, np.nan))
            rows.append(dict(group=group, edit=edit, n=len(values), rate=values.mean(), rate_low=low, rate_high=high,
                             difference_low=difference[0], difference_high=difference[1]))
    return pd.DataFrame(rows)
