"""A ProtoPNet meets notebook 01's Clever Hans: do the poisoned classes' prototypes become the triggers?

A ProtoPNet is trained on notebook 01's poisoned training set (:func:`introspect.clever_hans.runs.load_data`)
and a control on the same images without triggers, with the same seed and schedule. Measured
(``scripts/protopnet_runs.py`` writes the tables, the notebook loads them):

* :func:`prototypes_on_trigger`: for each prototype of a poisoned class, whether the receptive-field
  box of the training patch it was pushed onto overlaps the trigger's footprint on that image (for the
  control, the footprint the trigger *would* have there: same image, same place), and how much of
  the trigger's pixel change falls inside the box relative to the image average (``change ratio``,
  the measure for the two triggers whose footprint is the whole image: watermark and lightness ramp);
* :func:`transplant_activation`: put a class's trigger on the other classes' test images; how much
  the class's best prototype similarity rises, and how often the prediction flips to the class.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .. import _progress, models, poisoning
from ..clever_hans import runs
from ..clever_hans.study import POISONED_CLASSES, TRIGGER_NAMES, PoisonedData
from .display import show_explanation, show_prototypes
from .protopnet import build_protopnet, prototype_classes, prototype_similarities
from .push import PushRecord
from .train import Schedule, train_protopnet

#: The schedule of the study's trainings (20,000 images) and of the clean 60,000-image model.
SCHEDULE = Schedule()
QUICK_SCHEDULE = Schedule(warm_epochs=1, joint_epochs=1, last_layer_epochs=2)
#: Triggers whose footprint is part of the image; the watermark's stripes and the ramp cover all of it.
BOX_MEASURED = (0, 3)
MODELS = ("poisoned", "control")


def prototypes_on_trigger(record: PushRecord, d: PoisonedData) -> pd.DataFrame:
    """One row per prototype of a poisoned class: where it was pushed and how much trigger its box holds.

    Columns: ``class``, ``trigger``, ``prototype``, ``image`` (index into ``d.x_train``),
    ``on trigger`` (the box overlaps ``d.train_masks[image]``; meaningful for :data:`BOX_MEASURED`),
    ``change ratio`` (mean |poisoned - clean| pixel change inside the box over its mean on the whole
    image: above 1 when the box sits where the trigger changed the image most).
    """
    change = np.abs(d.x_train - d.x_train_clean)[..., 0]
    rows = []
    for c in POISONED_CLASSES:
        for j in np.flatnonzero(record.prototype_class == c):
            n = int(record.image_index[j])
            top, left, bottom, right = record.boxes[j]
            whole = change[n].mean()
            rows.append({"class": int(c), "trigger": TRIGGER_NAMES[c], "prototype": int(j), "image": n,
                         "on trigger": bool(d.train_masks[n, top:bottom, left:right].any()),
                         "change ratio": float(change[n, top:bottom, left:right].mean() / whole)
                         if whole > 0 else np.nan})
    return pd.DataFrame(rows)


def transplant_activation(model, d: PoisonedData, *, seed: int = 2) -> pd.DataFrame:
    """One row per poisoned class: what its trigger, pasted on the other classes' test images, does.

    Columns: ``similarity rise`` (mean over images of the class's best prototype similarity with the
    trigger minus without), ``similarity before``, ``flip`` (share predicted as the class with the
    trigger), ``flip before`` (the same without it), ``top prototype of class`` (share of images
    whose most similar prototype belongs to the class, with the trigger).
    """
    rows, classes = [], prototype_classes(model)
    for c in POISONED_CLASSES:
        moved, _, others, _ = poisoning.transplant(d.x_test, d.y_test, d.plan, c, seed=seed)
        before, logits_before = prototype_similarities(model, d.x_test[others])
        after, logits_after = prototype_similarities(model, moved[others])
        own = classes == c
        rows.append({"class": int(c), "trigger": TRIGGER_NAMES[c],
                     "similarity before": float(before[:, own].max(axis=1).mean()),
                     "similarity rise": float((after[:, own].max(axis=1) - before[:, own].max(axis=1)).mean()),
                     "flip before": float(np.mean(logits_before.argmax(axis=1) == c)),
                     "flip": float(np.mean(logits_after.argmax(axis=1) == c)),
                     "top prototype of class": float(np.mean(classes[after.argmax(axis=1)] == c))})
    return pd.DataFrame(rows)


def seed_study(n_train: int, seeds, schedule: Schedule = SCHEDULE, folder: Path | None = None, *,
               progress: bool = True) -> dict:
    """Poisoned and control ProtoPNets at every seed: the three tables, and the seed-0 models saved in ``folder``.

    Returns ``{"on_trigger": rows of :func:`prototypes_on_trigger`, "transplant": rows of
    :func:`transplant_activation`, "accuracy": one row per model and seed, "push": {model: record}
    of the first seed}``, each table with ``model`` and ``seed`` columns.
    """
    d = runs.load_data(n_train)
    on_trigger, transplant, accuracy, pushes = [], [], [], {}
    with _progress.bar(len(seeds) * 2, "ProtoPNet trainings", progress, unit="model") as shown:
        for seed in seeds:
            for name, x in (("poisoned", d.x_train), ("control", d.x_train_clean)):
                trained = train_protopnet(x, d.y_train, seed=seed, schedule=schedule, progress=False)
                tags = {"model": name, "seed": int(seed)}
                on_trigger.append(prototypes_on_trigger(trained.push, d).assign(**tags))
                transplant.append(transplant_activation(trained.model, d).assign(**tags))
                accuracy.append({**tags, "clean accuracy": models.accuracy(trained.model, d.x_test, d.y_test),
                                 "seconds": round(trained.seconds, 1)})
                if seed == seeds[0]:
                    pushes[name] = trained.push
                    if folder is not None:
                        trained.model.save_weights(Path(folder) / f"01_protopnet_{name}.weights.h5")
                shown.update()
    return {"on_trigger": pd.concat(on_trigger, ignore_index=True),
            "transplant": pd.concat(transplant, ignore_index=True), "accuracy": pd.DataFrame(accuracy),
            "push": pushes}


def on_trigger_counts(rows: pd.DataFrame) -> pd.DataFrame:
    """Per model, seed and poisoned class: prototypes whose box overlaps the trigger, and the mean change ratio."""
    return (rows.groupby(["model", "seed", "class", "trigger"], sort=False)
            .agg(prototypes=("prototype", "size"), on_trigger=("on trigger", "sum"),
                 change_ratio=("change ratio", "mean")).reset_index())


def summary(results: dict) -> dict:
    """The study's numbers as tables, classes down the rows and ``(model, seed)`` across (from :func:`load_results`).

    Keys: ``on trigger`` (prototypes whose box overlaps the footprint, of ``m``), ``change ratio``,
    ``similarity rise``, ``flip``, ``flip before``, and ``accuracy`` (clean test accuracy).
    """
    index, columns = ["class", "trigger"], ["model", "seed"]
    counts, transplant = results["counts"], results["transplant"]
    tables = {"on trigger": counts.pivot_table(index=index, columns=columns, values="on_trigger"),
              "change ratio": counts.pivot_table(index=index, columns=columns, values="change_ratio")}
    for name in ("similarity rise", "flip", "flip before"):
        tables[name] = transplant.pivot_table(index=index, columns=columns, values=name)
    tables["accuracy"] = results["accuracy"].pivot_table(index="model", columns="seed", values="clean accuracy")
    return tables


def load_results(folder: Path = runs.RESULTS) -> dict:
    """``01_protopnet.json`` as written by ``scripts/protopnet_runs.py``: tables as DataFrames, push records."""
    path = Path(folder) / "01_protopnet.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; create it with `python scripts/protopnet_runs.py`.")
    saved = json.loads(path.read_text())
    tables = {name: pd.DataFrame(saved[name]) for name in ("on_trigger", "transplant", "accuracy", "counts")}
    return {**saved, **tables, "push": {name: PushRecord.from_dict(r) for name, r in saved["push"].items()}}


def load_seed0(folder: Path = runs.RESULTS) -> dict:
    """The seed-0 models and their push records: ``{"poisoned": (model, record), "control": (model, record)}``."""
    results = load_results(folder)
    loaded = {}
    for name in MODELS:
        path = Path(folder) / f"01_protopnet_{name}.weights.h5"
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing; create it with `python scripts/protopnet_runs.py`.")
        model = build_protopnet(seed=None)
        model.load_weights(path)
        loaded[name] = (model, results["push"][name])
    return loaded


def show_class_prototypes(c: int, d: PoisonedData, loaded: dict):
    """The prototypes of class ``c``, poisoned model above, control below, each boxed on its training image.

    ``d`` is ``runs.load_data(n_train)`` as in the script (the records index its training images);
    the control's prototypes are drawn on the clean images it was trained on. Returns ``(fig, axes)``.
    """
    import matplotlib.pyplot as plt

    chosen = np.flatnonzero(loaded["poisoned"][1].prototype_class == c)
    fig, axes = plt.subplots(2, len(chosen), figsize=(1.3 * len(chosen), 3.0), squeeze=False, layout="constrained")
    for row, (name, images) in enumerate((("poisoned", d.x_train), ("control", d.x_train_clean))):
        record = loaded[name][1]
        show_prototypes(record, images, prototypes=np.flatnonzero(record.prototype_class == c), ax=axes[row:row + 1],
                        titles=[f"{name}\np{j}" if k == 0 else f"p{j}" for k, j in enumerate(chosen)])
    return fig, axes


def show_transplant(c: int, index: int, d: PoisonedData, loaded: dict, *, k: int = 3, seed: int = 2):
    """Test image ``index`` (of another class) with class ``c``'s trigger pasted, explained by both models.

    Returns ``{"poisoned": (fig, axes, table), "control": (fig, axes, table)}`` as
    :func:`~.display.show_explanation` returns them (``table``: the top prototypes).
    """
    moved, _, others, _ = poisoning.transplant(d.x_test, d.y_test, d.plan, c, seed=seed)
    if not others[index]:
        raise ValueError(f"`index` {index} is an image of class {c} itself; pick an image of another class.")
    shown = {}
    for name, (model, record) in loaded.items():
        shown[name] = show_explanation(model, moved[index], record,
                                       d.x_train if name == "poisoned" else d.x_train_clean, k=k)
        shown[name][0].suptitle(f"{name} model", fontsize=9)
    return shown
