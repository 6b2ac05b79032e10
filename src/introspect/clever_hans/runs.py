"""The trainings of notebook 01: several seeds, the poisoning sweep, and the repairs; small enough for a script.

``scripts/clever_hans_runs.py`` runs them at the :data:`FULL` budget and writes
``data/results/01_*.json`` (tables) and ``data/results/01_*.weights.h5`` (the seed-0 models the
notebook explains); the notebook loads those, and in quick mode computes the same tables at the
:data:`QUICK` budget. Each function returns DataFrames with one row per measured number.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .. import data, metrics
from ..report import quick_mode
from . import study
from ..data import CLASS_NAMES
from .study import LOCALISED, POISONED_CLASSES, TRIGGER_NAMES

RESULTS = Path(__file__).resolve().parents[3] / "data" / "results"


@dataclass(frozen=True)
class Budget:
    """Sizes of one run: training images and epochs (main models and sweep), seeds, images explained."""

    n_train: int
    epochs: int
    sweep_train: int
    sweep_epochs: int
    seeds: tuple
    n_spray: int          # training images per class whose LRP maps SpRAy clusters
    n_explain: int        # triggered test images per localised trigger for relevance mass
    repair_epochs: int
    fractions: tuple = (1.0, 0.3, 0.1, 0.03)


FULL = Budget(n_train=20000, epochs=4, sweep_train=10000, sweep_epochs=3, seeds=(0, 1, 2), n_spray=100,
              n_explain=100, repair_epochs=4)
QUICK = Budget(n_train=2000, epochs=1, sweep_train=1000, sweep_epochs=1, seeds=(0,), n_spray=15, n_explain=8,
               repair_epochs=1, fractions=(1.0, 0.1))


def budget() -> Budget:
    """:data:`QUICK` when ``INTROSPECT_QUICK=1``, else :data:`FULL`."""
    return QUICK if quick_mode() else FULL


def load_data(n_train: int, *, level: str = "strong", fraction: float = 1.0, seed: int = 0) -> study.PoisonedData:
    """A stratified subset of ``n_train`` training images (and as many test images, at most 10,000), poisoned."""
    train, test = data.load_fashion_mnist(limit=n_train)
    return study.poisoned_data(train, test, study.fashion_plan(level), fraction, seed=seed)


def lrp_maps(model, images, targets) -> np.ndarray:
    """LRP maps ``(N, H, W)`` (composite rule, channels summed) of ``targets``' logits."""
    from ..saliency.lrp import lrp

    return lrp(model, images, targets, progress=False).sum(axis=-1)


def spray_ranks(model, d: study.PoisonedData, n_per_class: int, *, seed: int = 0) -> metrics.SprayResult:
    """SpRAy (arXiv:1902.10178) on the LRP maps of ``n_per_class`` *training* images per class, as in the paper."""
    index = study.per_class_index(d.y_train, n_per_class)
    return metrics.spray(lrp_maps(model, d.x_train[index], d.y_train[index]), d.y_train[index], seed=seed)


def rank_of(result: metrics.SprayResult, values=None) -> np.ndarray:
    """Rank ``(K,)`` of each class by ``values`` (default: suspicion), 1 = most suspicious."""
    values = result.suspicion if values is None else values
    return np.argsort(np.argsort(-np.nan_to_num(values, nan=-np.inf), kind="stable"), kind="stable") + 1


def audit(model, d: study.PoisonedData, b: Budget, *, seed: int = 0) -> pd.DataFrame:
    """Behaviour, LRP relevance mass in each trigger and the SpRAy rank of each poisoned class: one row per trigger."""
    table = study.behaviour(model, d).iloc[POISONED_CLASSES].reset_index(drop=True)
    index = study.per_class_index(d.y_test, b.n_explain, LOCALISED)
    mass = study.trigger_relevance({"m": {"LRP": lrp_maps(model, d.x_test_triggered[index], d.y_test[index])}},
                                   d, index).set_index("trigger")
    found = spray_ranks(model, d, b.n_spray, seed=seed)
    table["LRP mass"] = [mass["relevance mass"].get(TRIGGER_NAMES[c], np.nan) for c in POISONED_CLASSES]
    table["area"] = [mass["area"].get(TRIGGER_NAMES[c], np.nan) for c in POISONED_CLASSES]
    table["SpRAy rank"] = rank_of(found)[POISONED_CLASSES]
    table["SpRAy score"] = found.suspicion[POISONED_CLASSES]
    table["overall clean"] = study.clean_correct(model, d).mean()
    return table


def seed_study(b: Budget, folder: Path | None = None, *, progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Poisoned and control models at every seed of ``b``: :func:`audit` rows, and SpRAy per class.

    Returns ``(audit rows with seed and model, one row per model, seed and class with the LRP-SpRAy
    score and the class-mean baseline's score)``; the second table lets a decision rule be tested on
    the clean classes too. With ``folder``, the seed-0 models are saved there as
    ``01_poisoned.weights.h5`` and ``01_control.weights.h5``.
    """
    from tqdm import tqdm

    d = load_data(b.n_train)
    rows, spray_rows = [], []
    for seed in tqdm(b.seeds, desc="seeds", ascii=True, ncols=80, disable=not progress):
        for name, x in (("poisoned", d.x_train), ("control", d.x_train_clean)):
            model = study.train_model(x, d.y_train, epochs=b.epochs, seed=seed, name=name)
            rows.append(audit(model, d, b, seed=seed).assign(seed=seed, model=name))
            found = spray_ranks(model, d, b.n_spray, seed=seed)
            spray_rows += [{"model": name, "seed": seed, "class": int(c), "SpRAy score": found.suspicion[i],
                            "class-mean score": found.mean_concentration[i]} for i, c in enumerate(found.classes)]
            if folder is not None and seed == b.seeds[0]:
                save_model(model, name, folder)
    return pd.concat(rows, ignore_index=True), pd.DataFrame(spray_rows)


def sweep(b: Budget, *, progress: bool = True) -> pd.DataFrame:
    """The poisoning sweep: share of poisoned images x trigger strength x seed, one small training each.

    Rows: ``fraction``, ``level``, ``seed``, trigger, :func:`audit` columns. ``fraction = 0`` is the
    control (trained on the clean images, audited against the strong triggers). The seed chooses the
    poisoned images as well as the initialisation and the batches.
    """
    from tqdm import tqdm

    cells = [(0.0, "strong")] + [(f, level) for f in b.fractions for level in study.LEVELS]
    runs = [(fraction, level, seed) for fraction, level in cells for seed in b.seeds]
    rows = []
    for fraction, level, seed in tqdm(runs, desc="sweep", ascii=True, ncols=80, disable=not progress):
        d = load_data(b.sweep_train, level=level, fraction=fraction, seed=seed)
        model = study.train_model(d.x_train, d.y_train, epochs=b.sweep_epochs, seed=seed, name="sweep")
        rows.append(audit(model, d, b, seed=seed).assign(fraction=fraction, level=level, seed=seed))
    return pd.concat(rows, ignore_index=True)


def save_table(frame: pd.DataFrame, name: str, folder: Path = RESULTS) -> Path:
    """Write ``frame`` as ``<folder>/<name>.json`` (records, NaN as null)."""
    path = Path(folder) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(json.loads(frame.to_json(orient="records")), indent=1))
    return path


def load_table(name: str, folder: Path = RESULTS) -> pd.DataFrame:
    """The table saved by :func:`save_table` (``scripts/clever_hans_runs.py``)."""
    path = Path(folder) / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; create it with `python scripts/clever_hans_runs.py`.")
    return pd.DataFrame(json.loads(path.read_text()))


def save_model(model, name: str, folder: Path = RESULTS) -> Path:
    """Save ``model``'s weights (not its optimizer's state) as ``<folder>/01_<name>.weights.h5``."""
    from .. import models

    plain = models.build_fashion_cnn(name=name, seed=None)
    plain.set_weights(model.get_weights())
    path = Path(folder) / f"01_{name}.weights.h5"
    plain.save_weights(path)
    return path


def load_model(name: str, folder: Path = RESULTS):
    """The Fashion CNN with the weights ``<folder>/01_<name>.weights.h5`` saved by the script."""
    from .. import models

    path = Path(folder) / f"01_{name}.weights.h5"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; create it with `python scripts/clever_hans_runs.py`.")
    model = models.build_fashion_cnn(name=name, seed=None)
    model.load_weights(path)
    return model


@dataclass
class Results:
    """The script's outputs: tables ``seeds``, ``spray_seeds``, ``sweep``, ``repair``, the ``regions`` found from
    explanations, models."""

    seeds: pd.DataFrame
    spray_seeds: pd.DataFrame
    sweep: pd.DataFrame
    repair: pd.DataFrame
    regions: dict
    models: dict


def precomputed(b: Budget, folder: Path | None = None, *, progress: bool = False) -> Results:
    """Load the script's results (full budget) from ``folder`` (default ``data/results``); quick mode computes them.

    With :data:`QUICK` the same functions run at the tiny budget into a temporary folder, so that
    every cell of the notebook runs without the precomputed files.
    """
    import tempfile

    if b == QUICK:
        folder = Path(tempfile.mkdtemp(prefix="introspect-01-"))
        from .repairs import repair_study

        seeds, spray_seeds = seed_study(b, folder, progress=progress)
        table = sweep(b, progress=progress)
        repair_table, extra = repair_study(load_model("poisoned", folder), load_data(b.n_train),
                                           epochs=b.repair_epochs, seeds=b.seeds, n_spray=b.n_spray,
                                           folder=folder, progress=progress)
        save_table(seeds, "01_seeds", folder)
        save_table(spray_seeds, "01_spray_seeds", folder)
        save_table(table, "01_sweep", folder)
        save_table(repair_table, "01_repair", folder)
        (folder / "01_regions.json").write_text(json.dumps({str(c): r.astype(int).tolist()
                                                            for c, r in extra["regions"].items()}))
    folder = RESULTS if folder is None else Path(folder)
    names = ("poisoned", "control", "rrr", "rrr_transplant", "rrr_penalty_only", "rrr_explained")
    regions = {int(c): np.array(r, bool) for c, r in json.loads((folder / "01_regions.json").read_text()).items()}
    return Results(load_table("01_seeds", folder), load_table("01_spray_seeds", folder), load_table("01_sweep", folder),
                   load_table("01_repair", folder),
                   regions, {name: load_model(name, folder) for name in names})


def seed_ranges(seeds: pd.DataFrame, columns=("clean", "with trigger", "transplant flip", "LRP mass")) -> pd.DataFrame:
    """Per model and trigger the ``(min, max)`` over seeds of each column (cells are intervals for ``report.table``)."""
    rows = []
    for (model, trigger), part in seeds.groupby(["model", "trigger"], sort=False):
        row = {"model": model, "trigger": trigger}
        for column in columns:
            values = part[column].to_numpy(dtype=float)
            row[column] = (np.nanmin(values), np.nanmax(values)) if np.isfinite(values).any() else np.nan
        rows.append(row)
    order = {t: i for i, t in enumerate(TRIGGER_NAMES.values())}
    return pd.DataFrame(rows).sort_values(["model", "trigger"], key=lambda s: s.map(order) if s.name == "trigger"
                                          else s.map({"poisoned": 0, "control": 1})).reset_index(drop=True)


def discovery_table(found: dict) -> pd.DataFrame:
    """Rank of each poisoned class among the 10 by three statistics of :func:`metrics.spray`, per method.

    ``SpRAy``: the suspicion (share x concentration of the most suspicious cluster); ``eigengap``: the
    paper's cue, the largest gap in the Laplacian spectrum; ``class mean``: the concentration of the
    plain class-mean map (no clustering). ``poisoned in top 4`` counts the poisoned classes ranked 1-4.
    """
    rows = []
    for method, result in found.items():
        for statistic, values in (("SpRAy", result.suspicion), ("eigengap", result.eigengap),
                                  ("class mean", result.mean_concentration)):
            ranks = rank_of(result, values)
            row = {"method": method, "statistic": statistic}
            row.update({TRIGGER_NAMES[c]: int(ranks[c]) for c in POISONED_CLASSES})
            row["poisoned in top 4"] = int(np.sum(ranks[POISONED_CLASSES] <= 4))
            rows.append(row)
    return pd.DataFrame(rows)


#: Detectors of the sweep: column, the direction that signals cheating, and whether it needs the answer key.
DETECTORS = {"accuracy drop": ("clean", -1, "no: clean test images only"),
             "transplant test": ("transplant flip", +1, "the trigger's pixels"),
             "LRP mass": ("LRP mass", +1, "the trigger's footprint"),
             "SpRAy": ("SpRAy score", +1, "no: training images and their labels")}


def detections(table: pd.DataFrame, reference: pd.DataFrame | None = None) -> pd.DataFrame:
    """How many seeds each detector flags, per trigger, strength and share: one rule for every detector.

    A detector flags a class when its value lies beyond the control's range over the control's
    seeds, in the direction of cheating (:data:`DETECTORS`): clean accuracy below the control's
    lowest, transplant flip, LRP mass or SpRAy score above the control's highest. ``table`` holds
    :func:`audit` rows with ``seed`` (the sweep's, or the seed study's with ``model``); the control
    is ``reference`` if given, else the rows with ``fraction == 0``. Returns one row per cell with
    ``"k/n"`` strings per detector.
    """
    if reference is None:
        reference, table = table[table.fraction == 0], table[table.fraction > 0]
    keys = [key for key in ("trigger", "level", "fraction") if key in table]
    rows = []
    for cell, part in table.groupby(keys, sort=False):
        cell = dict(zip(keys, cell if isinstance(cell, tuple) else (cell,)))
        control = reference[reference.trigger == cell["trigger"]]
        row = dict(cell)
        for name, (column, sign, _) in DETECTORS.items():
            values, bound = part[column].to_numpy(float), control[column].to_numpy(float)
            if np.isnan(values).all() or np.isnan(bound).all():
                row[name] = "n/a"
                continue
            flagged = values < bound.min() if sign < 0 else values > bound.max()
            row[name] = f"{int(flagged.sum())}/{len(values)}"
        rows.append(row)
    return pd.DataFrame(rows)


def earliest_detection(found: pd.DataFrame) -> pd.DataFrame:
    """Per trigger and strength, the smallest share at which each detector flags every seed (of :func:`detections`).

    A cell counts as detected only when all its seeds are flagged: with values that the poison does
    not move, one seed lies beyond the control's range of three seeds with chance 1/4 (one-sided),
    all three with chance 1/64. ``None`` where no share is detected.
    """
    rows = []
    for (trigger, level), part in found.groupby(["trigger", "level"], sort=False):
        row = {"trigger": trigger, "level": level}
        for name in DETECTORS:
            hits = part.loc[part[name].map(lambda k: k != "n/a" and k.split("/")[0] == k.split("/")[1]), "fraction"]
            row[name] = hits.min() if len(hits) else None
        rows.append(row)
    return pd.DataFrame(rows)


def spray_flags(spray_seeds: pd.DataFrame, columns=("SpRAy score", "class-mean score")) -> pd.DataFrame:
    """Every class against the decision rule: flagged in a seed when its score exceeds the control's largest.

    ``spray_seeds`` is :func:`seed_study`'s second table. Per class and statistic: the poisoned
    model's range over seeds, the threshold (the control's largest score for that class over its
    seeds) and how many seeds are flagged, ``"k/n"``. One row per class.
    """
    rows = []
    for c, part in spray_seeds.groupby("class"):
        row = {"class": CLASS_NAMES[int(c)], "trigger": TRIGGER_NAMES.get(int(c), "")}
        for column in columns:
            scores = part.loc[part.model == "poisoned", column].to_numpy(float)
            threshold = part.loc[part.model == "control", column].max()
            row[f"{column}: poisoned"] = (scores.min(), scores.max())
            row[f"{column}: threshold"] = threshold
            row[f"{column}: flagged"] = f"{int((scores > threshold).sum())}/{len(scores)}"
        rows.append(row)
    return pd.DataFrame(rows)
