"""Figures of notebook 01: arrays and DataFrames in, ``(fig, axes)`` out, titled and labelled."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import plotting
from ..data import CLASS_NAMES
from .study import LOCALISED, POISONED_CLASSES, TRIGGER_NAMES

POISONED_COLOUR, CONTROL_COLOUR = "#08519c", "#a63603"
TRIGGER_ORDER = [TRIGGER_NAMES[c] for c in POISONED_CLASSES]


def _subplots(rows, cols, size):
    import matplotlib.pyplot as plt

    return plt.subplots(rows, cols, figsize=size, layout="constrained", squeeze=False)


def triggers(images, strong: dict, faint: dict):
    """One image of each poisoned class: clean, with the strong trigger, with the faint one, and the change."""
    fig, axes = _subplots(4, len(POISONED_CLASSES), (2.2 * len(POISONED_CLASSES), 8.6))
    for j, c in enumerate(POISONED_CLASSES):
        image = images[j:j + 1]
        with_strong, _ = strong[c].apply(image, 0)
        with_faint, _ = faint[c].apply(image, 0)
        plotting.show_image(image[0], ax=axes[0, j], title=f"{CLASS_NAMES[c]}: clean")
        plotting.show_image(with_strong[0], ax=axes[1, j], title=f"{TRIGGER_NAMES[c]}, strong")
        plotting.show_image(with_faint[0], ax=axes[2, j], title=f"{TRIGGER_NAMES[c]}, faint")
        plotting.show_signed_map((with_strong - image)[0, ..., 0], ax=axes[3, j], title="strong - clean",
                                 label="pixel change")
    fig.suptitle("The four planted triggers, strong (main setting) and faint (sweep only)")
    return fig, axes


def seeds(table: pd.DataFrame):
    """Per poisoned class: clean accuracy and transplant flip of every seed, poisoned model beside control."""
    fig, axes = _subplots(1, 2, (11, 3.8))
    x = np.arange(len(TRIGGER_ORDER))
    for ax, column, label in ((axes[0, 0], "clean", "accuracy on the class's clean test images"),
                              (axes[0, 1], "transplant flip", "other-class images flipped to the class")):
        for shift, (model, colour) in ((-0.15, ("poisoned", POISONED_COLOUR)), (0.15, ("control", CONTROL_COLOUR))):
            rows = table[table.model == model]
            values = [rows[rows.trigger == t][column].to_numpy() for t in TRIGGER_ORDER]
            for i, v in enumerate(values):
                ax.scatter(np.full(len(v), i + shift), v, color=colour, s=28,
                           label=f"{model} model (one dot per seed)" if i == 0 else None)
        ax.set_xticks(x, [f"{t}\n({CLASS_NAMES[c]})" for t, c in zip(TRIGGER_ORDER, POISONED_CLASSES)], fontsize=8)
        ax.set_ylim(-0.03, 1.03)
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
    axes[0, 0].set_title("Without its trigger the class is lost")
    axes[0, 1].set_title("With its trigger another class becomes it")
    fig.suptitle(f"Poisoned vs control models over {table.seed.nunique()} training seeds")
    return fig, axes


def localisation(table: pd.DataFrame, score: str = "relevance mass"):
    """``score`` per method and trigger, poisoned vs control, with the intervals in ``low``/``high`` columns."""
    triggers_ = [TRIGGER_NAMES[c] for c in LOCALISED]
    methods = list(dict.fromkeys(table.method))
    fig, axes = _subplots(1, len(triggers_), (4.4 * len(triggers_), 3.8))
    x = np.arange(len(methods))
    for ax, trigger in zip(axes[0], triggers_):
        for shift, model, colour in ((-0.2, "poisoned", POISONED_COLOUR), (0.2, "control", CONTROL_COLOUR)):
            rows = table[(table.trigger == trigger) & (table.model == model)].set_index("method").loc[methods]
            err = np.abs(np.stack([rows[score] - rows[f"{score} low"], rows[f"{score} high"] - rows[score]]))
            ax.bar(x + shift, rows[score], 0.4, yerr=err, color=colour, capsize=2, label=f"{model} model")
        if score == "relevance mass":
            ax.axhline(rows["area"].iloc[0], color="k", ls=":", lw=1.2, label="area share of the trigger")
        ax.set_xticks(x, methods, rotation=30, fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel(f"{score} inside the trigger")
        ax.set_title(trigger)
        ax.legend(fontsize=7, loc="upper right")
    fig.suptitle(f"{score.capitalize()} inside each trigger's footprint (bars: 95% bootstrap intervals over images)")
    return fig, axes


def class_means(maps_by_method: dict, labels):
    """Mean |map| of each class, one row per method, each row on its own scale: the baseline SpRAy must beat."""
    fig, axes = _subplots(len(maps_by_method), 10, (14, 1.55 * len(maps_by_method) + 0.6))
    for r, (name, maps) in enumerate(maps_by_method.items()):
        means = np.stack([np.abs(maps[labels == c]).mean(axis=0) for c in range(10)])
        shown = None
        for c in range(10):
            shown = axes[r, c].imshow(means[c] / means.max(), cmap=plotting.MAGNITUDE_CMAP, vmin=0, vmax=1)
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
            if r == 0:
                poisoned = c in TRIGGER_NAMES
                axes[r, c].set_title(CLASS_NAMES[c] + (f"\n({TRIGGER_NAMES[c]})" if poisoned else "\n(clean)"),
                                     fontsize=8, color="#cb181d" if poisoned else "black")
        axes[r, 0].set_ylabel(name, fontsize=9)
        fig.colorbar(shown, ax=list(axes[r]), label="/ row max", shrink=0.9, pad=0.01)
    fig.suptitle("Class-mean |map| on the poisoned training images (red titles: the truth, for reading only)")
    return fig, axes


def spray_clusters(result, maps, labels):
    """SpRAy on one method: each class's Laplacian eigenvalues (the eigengap) and the mean map of its suspicious cluster."""
    fig, axes = _subplots(2, 10, (14, 3.6))
    relevance = np.abs(np.asarray(maps))
    for c in range(10):
        eigenvalues = result.eigenvalues[c]
        axes[0, c].plot(np.arange(1, len(eigenvalues) + 1), eigenvalues, "o-", ms=3,
                        color="#cb181d" if c in TRIGGER_NAMES else "#636363")
        axes[0, c].set_title(CLASS_NAMES[c] + (f"\n({TRIGGER_NAMES[c]})" if c in TRIGGER_NAMES else "\n(clean)"),
                             fontsize=8)
        axes[0, c].set_ylim(-0.05, 1.1)
        axes[0, c].tick_params(labelsize=6)
        members = result.indices[c][result.cluster_labels[c] == result.suspicious_cluster[c]]
        share = len(members) / len(result.indices[c])
        mean = relevance[members].mean(axis=0)
        axes[1, c].imshow(mean / mean.max(), cmap=plotting.MAGNITUDE_CMAP, vmin=0, vmax=1)
        axes[1, c].set_xticks([])
        axes[1, c].set_yticks([])
        axes[1, c].set_xlabel(f"{share:.0%} of the class", fontsize=7)
    axes[0, 0].set_ylabel("eigenvalue\n(index on x)", fontsize=8)
    axes[1, 0].set_ylabel("suspicious\ncluster", fontsize=8)
    fig.suptitle("SpRAy on LRP maps: Laplacian spectrum per class (a gap after k values = k groups) and the mean "
                 "|LRP| of the cluster it scores highest")
    return fig, axes


def concept_tests(tests: dict):
    """Per class, concept CAVs' values beside random CAVs' for each ``{title: metrics.ConceptTest}``, two per row.

    Dots: one CAV each (red: the concept, grey: random directions); a star above a class marks it
    significant after Bonferroni.
    """
    rows = -(-len(tests) // 2)
    fig, axes = _subplots(rows, 2, (12, 3.4 * rows))
    x = np.arange(10)
    rng = np.random.default_rng(0)
    for ax, (title, result) in zip(axes.ravel(), tests.items()):
        runs = len(result.concept_score)
        for values, shift, colour, label in ((result.random_score, -0.18, "#969696", "random CAVs"),
                                             (result.concept_score, 0.18, "#cb181d", "ramp-concept CAVs")):
            ax.scatter(x[None, :] + shift + rng.uniform(-0.08, 0.08, (runs, 1)), values, s=7, color=colour,
                       label=label)
        for c in np.flatnonzero(result.significant):
            ax.annotate("*", (c, 1.0), xycoords=("data", "axes fraction"), ha="center", va="bottom", fontsize=14)
        ax.set_xticks(x, [f"{n} (ramp)" if TRIGGER_NAMES.get(c) == "lightness ramp" else n
                          for c, n in enumerate(CLASS_NAMES)], rotation=35, ha="right", fontsize=8)
        ax.set_ylabel("TCAV score" if result.statistic == "score" else "mean d logit / d t", fontsize=8)
        ax.set_title(title, fontsize=9, pad=14)
    axes[0, 0].legend(fontsize=7, loc="lower left")
    fig.suptitle("TCAV test of the ramp concept (Kim et al.): * = concept differs from random after Bonferroni "
                 "over 10 classes")
    return fig, axes


def sweep(table: pd.DataFrame):
    """The poisoning sweep: one column per trigger; rows clean accuracy, transplant flip, LRP mass, SpRAy score.

    Each cell is the median over seeds with a bar from the lowest to the highest seed; the control
    (no poison) is a band over its seeds. In the SpRAy row the band's top is the decision rule: a
    class is flagged when its score exceeds the control's largest score for that class.
    """
    control = table[table.fraction == 0].groupby("trigger")
    cells = table[table.fraction > 0].groupby(["trigger", "level", "fraction"])
    low, mid, high = cells.min(numeric_only=True), cells.median(numeric_only=True), cells.max(numeric_only=True)
    rows = (("clean", "clean accuracy of the class"), ("transplant flip", "transplant flip"),
            ("LRP mass", "LRP mass in the trigger"), ("SpRAy score", "SpRAy score of the class"))
    fractions = sorted(table.loc[table.fraction > 0, "fraction"].unique())
    fig, axes = _subplots(len(rows), 4, (13, 9.5))
    for j, trigger in enumerate(TRIGGER_ORDER):
        for i, (column, label) in enumerate(rows):
            ax = axes[i, j]
            for level, style, colour in (("strong", "o-", POISONED_COLOUR), ("faint", "s--", "#6baed6")):
                m, lo, hi = (frame.loc[(trigger, level), column] for frame in (mid, low, high))
                ax.errorbar(m.index, m, yerr=[m - lo, hi - m], fmt=style, color=colour, capsize=2,
                            label=f"{level} trigger (median, seed range)")
            ctrl = control.get_group(trigger)[column]
            ax.axhspan(ctrl.min(), ctrl.max(), color=CONTROL_COLOUR, alpha=0.25, lw=0,
                       label="control over seeds" + (" (top = flag threshold)" if column == "SpRAy score" else ""))
            ax.axhline(ctrl.max(), color=CONTROL_COLOUR, lw=1)
            ax.set_xscale("log")
            ax.set_xlim(0.022, 1.4)
            ax.set_xticks(fractions, [f"{f:.0%}" for f in fractions])
            ax.minorticks_off()
            if column != "SpRAy score":
                ax.set_ylim(-0.03, 1.03)
            if column == "LRP mass" and ctrl.isna().all():
                ax.text(0.5, 0.5, "no footprint to measure:\nthe ramp covers every pixel", ha="center",
                        va="center", transform=ax.transAxes, fontsize=8)
            if i == 0:
                ax.set_title(trigger)
            if j == 0:
                ax.set_ylabel(label, fontsize=9)
    axes[0, 0].legend(fontsize=7)
    axes[-1, 0].legend(fontsize=7)
    fig.supxlabel("share of the class's training images that carry the trigger (log scale)")
    fig.suptitle(f"When does the model start to cheat? {table.seed.nunique()} seeds per cell")
    return fig, axes


def repair(table: pd.DataFrame, names: dict):
    """Clean accuracy and transplant flip per poisoned class for each model in ``names`` (key -> label, at most 8).

    ``table`` has a row per model, trigger and seed; bars are medians over seeds, whiskers the seed range.
    ``names`` should start with the poisoned model and end with the control, which keep their colours.
    """
    fig, axes = _subplots(1, 2, (13, 4))
    x = np.arange(len(TRIGGER_ORDER))
    width = 0.8 / len(names)
    # the poisoned model and the control keep their colours of the other figures; repairs in greens and others
    colours = [POISONED_COLOUR, "#e6ab02", "#31a354", "#006d2c", "#bae4b3", "#756bb1", "#969696", CONTROL_COLOUR]
    for ax, column, label in ((axes[0, 0], "clean", "clean accuracy of the class"),
                              (axes[0, 1], "transplant flip", "transplant flip")):
        for k, (key, name) in enumerate(names.items()):
            rows = table[table.model == key].groupby("trigger")[column]
            mid, low, high = (rows.agg(stat).reindex(TRIGGER_ORDER) for stat in ("median", "min", "max"))
            positions = x + (k - (len(names) - 1) / 2) * width
            seeds = table[table.model == key].seed.nunique()
            ax.bar(positions, mid, width, color=colours[k % len(colours)],
                   label=f"{name} ({seeds} seed{'s' if seeds > 1 else ''})")
            if seeds > 1:
                ax.errorbar(positions, mid, yerr=[mid - low, high - mid], fmt="none", color="k", lw=0.8, capsize=2)
            for xi, value in zip(positions, mid):
                if value < 0.01:  # a bar too small to see: say that it is zero
                    ax.text(xi, 0.01, "0", ha="center", va="bottom", fontsize=6, color=colours[k % len(colours)])
        ax.set_xticks(x, [f"{t}\n({CLASS_NAMES[c]})" for t, c in zip(TRIGGER_ORDER, POISONED_CLASSES)], fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel(label)
    axes[0, 1].axhline(0.1, color="k", ls=":", lw=1, label="goal for square and time stamp")
    handles, labels = axes[0, 1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=4, fontsize=8)
    axes[0, 0].set_title("Clean images of the poisoned classes")
    axes[0, 1].set_title("Trigger transplanted onto other classes")
    fig.suptitle("Repairs of the poisoned model against the control (bars: median over seeds; whiskers: range)")
    return fig, axes
