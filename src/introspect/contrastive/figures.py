"""Figures of notebook 02: arrays and DataFrames in, ``(fig, axes)`` out, titled and labelled."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import plotting
from ..data import CLASS_NAMES
from ..report import shared_limit


def _subplots(rows, cols, size, **options):
    import matplotlib.pyplot as plt

    return plt.subplots(rows, cols, figsize=size, layout="constrained", squeeze=False, **options)


def _signed(ax, values, limit, title=None):
    """A signed map at a given symmetric limit (no colour bar)."""
    from matplotlib.colors import TwoSlopeNorm

    image = ax.imshow(values, cmap=plotting.SIGNED_CMAP, norm=TwoSlopeNorm(0.0, -limit, limit))
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)
    return image


def logit_softmax(images, logit_maps, softmax_maps, contrast_maps, mistakes, shown):
    """Per mistake: the image, the gradient of its predicted logit, of its probability, and of logit(pred) - logit(true)."""
    fig, axes = _subplots(len(shown), 4, (8.4, 2.2 * len(shown)))
    for row, k in enumerate(shown):
        name = f"{CLASS_NAMES[mistakes.true[k]]} called {CLASS_NAMES[mistakes.predicted[k]]}"
        plotting.show_image(images[row], ax=axes[row, 0], title=f"{name}\np = {mistakes.confidence[k]:.2f}")
        for col, (values, title) in enumerate(((logit_maps, "d logit(pred) / dx"), (softmax_maps, "d p(pred) / dx"),
                                               (contrast_maps, "d [logit(pred) − logit(true)] / dx")), start=1):
            array = np.asarray(values[row])[..., 0]
            image = _signed(axes[row, col], array, shared_limit(array[None]), title)
            fig.colorbar(image, ax=axes[row, col], shrink=0.8)
    fig.suptitle("Gradient saliency of three mistakes (red: raising the pixel raises the score; each panel its own "
                 "scale: the softmax gradient is smaller)", fontsize=10)
    return fig, axes


def mean_maps(images, pred_maps: dict, true_maps: dict, predicted, true, pairs: pd.DataFrame, methods):
    """Mean maps over the mistakes of each confusion pair: predicted class, true class, their difference.

    Columns: per pair the mean image, then the three maps; rows: methods, one colour scale per row.
    """
    fig, axes = _subplots(len(methods), 4 * len(pairs), (2.0 * 4 * len(pairs) * 0.62, 1.55 * len(methods) + 0.6))
    groups = [np.flatnonzero((np.asarray(true) == CLASS_NAMES.index(t)) & (np.asarray(predicted) == CLASS_NAMES.index(p)))
              for t, p in pairs[["true", "predicted"]].itertuples(index=False)]
    for row, method in enumerate(methods):
        means = [(pred_maps[method][g].mean(0), true_maps[method][g].mean(0)) for g in groups]
        limit = shared_limit(np.stack([m for pair in means for m in (*pair, pair[0] - pair[1])]))
        for j, ((p_map, t_map), group, (t, p)) in enumerate(zip(means, groups, pairs[["true", "predicted"]].itertuples(
                index=False))):
            first = row == 0
            plotting.show_image(images[group].mean(0), ax=axes[row, 4 * j],
                                title=f"{t} → {p}\n(n = {len(group)})" if first else None)
            for col, (values, title) in enumerate(((p_map, f"for {p}"), (t_map, f"for {t}"),
                                                   (p_map - t_map, "difference")), start=1):
                image = _signed(axes[row, 4 * j + col], values, limit, title if first else None)
        axes[row, 0].set_ylabel(method, fontsize=8)
        fig.colorbar(image, ax=axes[row, -1], shrink=0.8)
    fig.suptitle("Mean maps of the three most frequent confusions (true → predicted): for the predicted class, for "
                 "the true class, their difference (one colour scale per method)", fontsize=10)
    return fig, axes


def region_evidence(table: pd.DataFrame):
    """Per confusion: methods x garment parts, coloured by the mean contrastive evidence; grey text where the
    95% interval includes 0."""
    groups = list(dict.fromkeys(table["group"]))
    fig, axes = _subplots(1, len(groups), (3.6 * len(groups), 3.0), sharey=True)
    limit = np.abs(table["evidence"]).max()
    for ax, group in zip(axes[0], groups):
        rows = table[table["group"] == group]
        grid = rows.pivot(index="method", columns="part", values="evidence").reindex(
            index=list(dict.fromkeys(rows["method"])), columns=list(dict.fromkeys(rows["part"])))
        image = _signed(ax, grid.to_numpy(), limit, group)
        for (i, method), (j, part) in ((a, b) for a in enumerate(grid.index) for b in enumerate(grid.columns)):
            cell = rows[(rows["method"] == method) & (rows["part"] == part)].iloc[0]
            certain = cell["evidence_low"] > 0 or cell["evidence_high"] < 0
            ax.text(j, i, f"{cell['evidence']:+.2f}", ha="center", va="center", fontsize=7,
                    color="black" if certain else "grey", fontweight="bold" if certain else "normal")
        ax.set_xticks(range(len(grid.columns)), grid.columns, rotation=40, ha="right", fontsize=8)
        ax.set_yticks(range(len(grid.index)), grid.index, fontsize=8)
    fig.colorbar(image, ax=axes[0, -1], shrink=0.8, label="evidence for predicted − true\n(per mean |map|)")
    fig.suptitle("Where the contrastive maps put the evidence, by garment part (bold: the 95% interval excludes 0)",
                 fontsize=10)
    return fig, axes


def imagenet_maps(images, net_maps: dict, chosen: pd.DataFrame, names):
    """Per view: the photo, then per method the maps of the predicted and the true class and their difference."""
    methods = list(net_maps)
    fig, axes = _subplots(len(images), 1 + 3 * len(methods), (1.45 * (1 + 3 * len(methods)), 1.6 * len(images) + 0.5))
    for row, (view, info) in enumerate(chosen.iterrows()):
        plotting.show_image(images[row][::2, ::2], ax=axes[row, 0], title=view.replace(":", "\n"))  # half size: a smaller PNG
        p, t = names[info["predicted"]], names[info["true"]]
        for m, method in enumerate(methods):
            # every fourth pixel: Grad-CAM (7 x 7) and occlusion (an 8 x 8 grid) lose nothing, the PNG stays small
            pred_map, true_map = net_maps[method][0][row][::4, ::4], net_maps[method][1][row][::4, ::4]
            limit = shared_limit(np.stack([pred_map, true_map]))
            for col, (values, title) in enumerate(((pred_map, f"{method}\nfor {p}"), (true_map, f"for {t}"),
                                                   (pred_map - true_map, "difference")), start=1 + 3 * m):
                image = _signed(axes[row, col], values, limit, title)
            fig.colorbar(image, ax=axes[row, 3 * m + 3], shrink=0.8)
    fig.suptitle("EfficientNet-Lite0's three closest-call mistakes: maps for the predicted and the true class and their "
                 "difference (one scale per method and view)", fontsize=10)
    return fig, axes


def fills(images, fill_maps: dict, examples=(0, 1)):
    """Contrastive occlusion maps of a few mistakes under each fill, one colour scale per row."""
    fig, axes = _subplots(len(examples), 1 + len(fill_maps), (1.9 * (1 + len(fill_maps)), 2.0 * len(examples) + 0.4))
    for row, k in enumerate(examples):
        plotting.show_image(images[k], ax=axes[row, 0], title="image")
        limit = shared_limit(np.stack([values[k] for values in fill_maps.values()]))
        for col, (fill, values) in enumerate(fill_maps.items(), start=1):
            image = _signed(axes[row, col], values[k], limit, f"{fill} patch")
        fig.colorbar(image, ax=axes[row, -1], shrink=0.8, label="for predicted − for true")
    fig.suptitle("Contrastive occlusion (4 × 4 patches) under four fills: black removes nothing on the black "
                 "background", fontsize=10)
    return fig, axes


def rankings(ranking: dict):
    """Each method's mean per measure; filled markers: separable from the best method (paired 95% interval)."""
    fig, axes = _subplots(1, len(ranking), (2.7 * len(ranking), 3.6), sharey=True)
    order = list(next(iter(ranking.values()))["method"])
    order = sorted(order, key=lambda m: m in ("random", "meaningful perturbation"))
    for ax, (measure, table) in zip(axes[0], ranking.items()):
        rows = table.set_index("method").reindex(order)
        y = np.arange(len(order))
        ax.scatter(rows["mean"], y, s=28, facecolors=np.where(rows["separable"], "C0", "white"), edgecolors="C0")
        ax.scatter(rows["mean"].iloc[rows["mean"].argmin() if "deletion" in measure else rows["mean"].argmax()],
                   y[rows["mean"].argmin() if "deletion" in measure else rows["mean"].argmax()], marker="*", s=90,
                   color="C3", zorder=3, label="best")
        ax.set_title(measure + ("\n(lower is better)" if "deletion" in measure else "\n(higher is better)"), fontsize=9)
        ax.set_yticks(y, order)
        ax.grid(axis="x", alpha=0.3)
        ax.set_xlabel("AUC" if "flips" not in measure else "share of mistakes flipped")
    axes[0, 0].invert_yaxis()
    axes[0, 0].legend(fontsize=7, loc="lower right")
    fig.suptitle("Faithfulness by measure (hollow: not separable from the best method by the paired 95% interval)",
                 fontsize=10)
    return fig, axes


def cascade(table: pd.DataFrame, twin: pd.DataFrame):
    """Cascading randomisation: rank correlation per step, mean and 95% interval, with the seed-twin level dashed."""
    from ..metrics.compare import summarize

    summary = summarize(table, "rho", by=("method", "step", "layer"))
    methods = list(dict.fromkeys(summary["method"]))
    halves = [methods[:len(methods) // 2], methods[len(methods) // 2:]]
    fig, axes = _subplots(1, 2, (12, 4.2), sharey=True)
    twin = twin.set_index("method")
    for ax, group in zip(axes[0], halves):
        for k, method in enumerate(group):
            rows = summary[summary["method"] == method]
            colour = f"C{methods.index(method)}"
            ax.plot(rows["step"], rows["rho"], "o-", color=colour, label=method, ms=3)
            ax.fill_between(rows["step"], rows["rho_low"], rows["rho_high"], color=colour, alpha=0.2)
            ax.axhline(twin.loc[method, "rho"], color=colour, ls="--", lw=1)
        ax.set_xticks(rows["step"], rows["layer"], rotation=45, fontsize=8)
        ax.set_xlabel("layers randomised, from the logits down (cumulative)")
        ax.axhline(0, color="grey", lw=0.8)
        ax.legend(fontsize=8)
    axes[0, 0].set_ylabel("Spearman of |map| with the trained model's\n(garment pixels)")
    fig.suptitle("Cascading model randomisation (Adebayo et al.): dashed, the same method between two models trained "
                 "with different seeds", fontsize=10)
    return fig, axes


def roar(runs: pd.DataFrame, masks_only: pd.DataFrame):
    """ROAR accuracy against the share of pixels removed (mean, min-max over seeds) and the mask-only classifiers."""
    fig, axes = _subplots(1, 2, (12, 4.2))
    unmodified = runs.loc[runs["method"] == "unmodified", "accuracy"]
    for ax, table, title in ((axes[0, 0], runs[runs["method"] != "unmodified"], "retrained on the images"),
                             (axes[0, 1], masks_only, "trained on the removal masks alone")):
        for k, (method, rows) in enumerate(table.groupby("method", sort=False)):
            stats = rows.groupby("fraction")["accuracy"].agg(["mean", "min", "max"])
            style = dict(color="black", ls="--") if method == "random" else dict(color=f"C{k}", ls="-")
            ax.plot(stats.index, stats["mean"], marker="o", label=method, ms=3, **style)
            ax.fill_between(stats.index, stats["min"], stats["max"], alpha=0.2, color=style["color"])
        ax.set_xlabel("share of each image's pixels removed")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=8)
    if len(unmodified):
        axes[0, 0].axhline(unmodified.mean(), color="grey", lw=0.8, label="nothing removed")
    axes[0, 1].axhline(0.1, color="grey", lw=0.8)
    axes[0, 0].set_ylabel("test accuracy")
    fig.suptitle("ROAR: accuracy after removing each method's top pixels and retraining (lower = the method found "
                 "what the model needs); right: what the removal pattern alone gives away", fontsize=10)
    return fig, axes


def embedding(planes: dict, labels, predicted):
    """The penultimate layer in two dimensions per method, coloured by class; mistakes ringed."""
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    fig, axes = _subplots(1, len(planes), (6.6 * len(planes), 5.6))
    import matplotlib.pyplot as plt

    for ax, (name, xy) in zip(axes[0], planes.items()):
        for c, class_name in enumerate(CLASS_NAMES):
            ax.scatter(*xy[labels == c].T, s=7, color=plt.cm.tab10(c), label=class_name)
        wrong = predicted != labels
        ax.scatter(*xy[wrong].T, s=30, facecolors="none", edgecolors="black", linewidths=0.6, label="mistake")
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, -1].legend(fontsize=7, markerscale=1.5, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle("Penultimate layer (128 ReLU units) of 1,000 test images in two dimensions; ringed: mistakes")
    return fig, axes
