"""Precompute ROAR for notebook 02: remove each method's top pixels, retrain, test; several seeds.

    python scripts/roar.py                 # the full run: writes data/results/roar.json (ROAR and mask-only)
    python scripts/roar.py --quick --out /tmp/roar.json   # a tiny version of both (1-3 min), same format
    python scripts/roar.py --fractions 0.5 --add-to data/results/roar.json --out /tmp/roar.json
        # only the 0.5 fraction, appended to the rows of an earlier run (copy /tmp/roar.json over it when done)
    python scripts/roar.py --methods "Integrated Gradients" --add-to data/results/roar.json --out /tmp/roar.json
        # one more method at the earlier run's fractions and seeds (its unmodified and random rows are kept)
    python scripts/roar.py --mask-only --add-to data/results/roar.json --out /tmp/roar_masks.json
        # only the mask-only test (fractions 0.1, 0.5, 0.9, seed 0; --fractions and --seeds choose others)

Maps are taken for the shipped model's *predicted* class (the label does not choose the masks), once per
method; every (seed, method, fraction) gets a freshly initialised CNN trained on all 60,000
modified training images and is scored on the 10,000 modified test images. The mask-only test
(``record["mask_only_rows"]``) trains the same CNN on the binary removal masks alone (1.0 where a
pixel is removed, no pixel values) with the true labels: accuracy far above 10% means the removed
set's shape tells the class, so ROAR's retrained models can read it. The JSON holds the settings
and one row per training, written after each training so that an interrupted run keeps what it
measured. Notebook 02 reads it (and recomputes the tiny version in quick mode).

Run times measured on 2 cores shared with other jobs: one training on all 60,000 images takes 42-215 s
(mean 88 s for ROAR's 93, 72 s for the 18 mask-only ones); the maps of all five methods 10-17 min per
run, recomputed by each part; ROAR's 93 trainings and their maps 2 h 15 min in all, the mask-only
run 31 min; the quick run (both parts) 1-3 min (45 s of CPU time).
"""
from __future__ import annotations

import argparse
import functools
import json
import platform
import time
from pathlib import Path

import introspect  # noqa: F401  (silences TensorFlow's start-up lines)
from introspect import data, models, saliency
from introspect.metrics.roar_seeds import mask_only_runs, roar_runs

ROOT = Path(__file__).resolve().parents[1]
FULL = dict(width=8, epochs=5, train_size=None, test_size=None, seeds=[0, 1, 2], fractions=[0.1, 0.3, 0.5, 0.7, 0.9],
            n_samples=8, mask_only=dict(fractions=[0.1, 0.5, 0.9], seeds=[0]))
QUICK = dict(width=8, epochs=1, train_size=600, test_size=300, seeds=[0], fractions=[0.9], n_samples=4,
             mask_only=dict(fractions=[0.9], seeds=[0]))


def roar_methods(n_samples: int) -> dict:
    """The ROAR methods: the plain gradient, SmoothGrad² and VarGrad (the two ensembles that beat a random
    order in Hooker et al.), with one noise seed, and Integrated Gradients (32 midpoint steps from a black
    image), the method that leads notebook 02's other measures, beside :func:`brightness`, an order without
    a model. Pixels are ranked by |map|. Plain SmoothGrad ranks pixels by |mean gradient|, between the
    gradient and SmoothGrad²; it is left out to keep the run near an hour and a half on two cores."""
    smooth = functools.partial(saliency.smoothgrad, n_samples=n_samples, noise_level=0.15, seed=0)
    return {"gradient": saliency.vanilla_gradient,
            "SmoothGrad²": functools.partial(smooth, variant="squared"),
            "VarGrad": functools.partial(smooth, variant="var"),
            "Integrated Gradients": functools.partial(saliency.integrated_gradients, steps=32, baseline="black"),
            "brightness": brightness}


def brightness(model, images, targets, **_):
    """A reference order that needs no model: the brightest pixels first (the garment, then the black
    background in reading order). Integrated Gradients from a black image is zero wherever the image is
    black, so its order also ends with the background; this says how much of a method's result is that."""
    return images.sum(axis=-1)


def run(settings: dict, out: Path, fractions=None, add_to: Path | None = None, methods=None,
        parts=("roar", "masks"), seeds=None) -> dict:
    """Run ROAR and the mask-only test with ``settings`` and write ``out`` after every training; returns the record.

    ``parts`` chooses what runs: ``"roar"`` (rows in ``record["rows"]``) and ``"masks"``, models trained
    on the removal masks alone (:func:`~introspect.metrics.roar_seeds.mask_only_runs`, rows in
    ``record["mask_only_rows"]``, at ``settings["mask_only"]``'s fractions and seeds). ``fractions``
    overrides the settings' fractions and ``seeds`` the mask-only seeds; ``add_to`` starts from an
    earlier run's record (its settings and rows are kept, the unmodified references are not
    retrained); ``methods``, a list of names of :func:`roar_methods`, runs only those (with
    ``add_to``: without the random order, which the earlier run has)."""
    earlier = json.loads(add_to.read_text(encoding="utf-8")) if add_to else None
    mask_settings = dict(settings["mask_only"])
    if earlier:
        settings = earlier["settings"]
    settings = {**settings, "mask_only": mask_settings}
    model = models.load_pretrained("fashion_cnn")
    (x_train, y_train), (x_test, y_test) = data.load_fashion_mnist()
    if settings["train_size"]:
        keep = data.stratified_indices(y_train, settings["train_size"], seed=0)
        x_train, y_train = x_train[keep], y_train[keep]
    if settings["test_size"]:
        keep = data.stratified_indices(y_test, settings["test_size"], seed=0)
        x_test, y_test = x_test[keep], y_test[keep]
    record = dict(settings=settings, machine=f"{platform.machine()}, {platform.python_version()}",
                  builder=f"introspect.models.build_fashion_cnn(width={settings['width']}, bn_momentum=0.9)",
                  train_images=len(x_train), test_images=len(x_test), rows=[])
    if earlier:
        record = {**earlier, "settings": settings, "rows": list(earlier["rows"])}
    if "masks" in parts:
        record["mask_only_rows"] = list(record.get("mask_only_rows", []))
    out.parent.mkdir(parents=True, exist_ok=True)

    def write():
        # the settings name what the rows hold, also after runs added to an earlier record
        settings["fractions"] = sorted({row["fraction"] for row in record["rows"]} - {0.0}) or settings["fractions"]
        masks = record.get("mask_only_rows")
        if masks:
            settings["mask_only"] = dict(fractions=sorted({row["fraction"] for row in masks}),
                                         seeds=sorted({row["seed"] for row in masks}))
        out.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    def saver(key):
        def save(row):
            record[key].append(row)
            write()
            print(f"{row.get('input', 'pixels'):>6} {row['method']:>20} {row['fraction']:.1f} seed {row['seed']}: "
                  f"{row['accuracy']:.4f} ({row['seconds']:.0f} s)", flush=True)
        return save

    chosen = roar_methods(settings["n_samples"])
    unknown = set(methods or []) - set(chosen)
    if unknown:
        raise SystemExit(f"--methods: unknown {sorted(unknown)}; choose from {list(chosen)}")
    chosen = {name: method for name, method in chosen.items() if not methods or name in methods}
    common = dict(random_order=not (earlier and methods), epochs=settings["epochs"],
                  builder=functools.partial(models.build_fashion_cnn, width=settings["width"], seed=None))
    if "roar" in parts:
        start = time.perf_counter()
        roar_runs(model, chosen, x_train, y_train, x_test, y_test, fractions=fractions or settings["fractions"],
                  unmodified=earlier is None, seeds=settings["seeds"], on_result=saver("rows"), **common)
        record["total_seconds"] = round(time.perf_counter() - start + record.get("total_seconds", 0), 1)
    if "masks" in parts:
        start = time.perf_counter()
        mask_only_runs(model, chosen, x_train, y_train, x_test, y_test,
                       fractions=fractions or mask_settings["fractions"], seeds=seeds or mask_settings["seeds"],
                       on_result=saver("mask_only_rows"), **common)
        record["mask_only_seconds"] = round(time.perf_counter() - start + record.get("mask_only_seconds", 0), 1)
    write()
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny version (600 training images, 1 epoch)")
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "results" / "roar.json")
    parser.add_argument("--fractions", type=float, nargs="+", help="run only these removal fractions")
    parser.add_argument("--methods", nargs="+", help="run only these methods (names as in roar_methods)")
    parser.add_argument("--add-to", type=Path, help="keep this earlier run's settings and rows; skip the unmodified "
                                                    "models (and the random order, with --methods)")
    parser.add_argument("--mask-only", action="store_true",
                        help="only the mask-only test: models trained on the removal masks alone")
    parser.add_argument("--seeds", type=int, nargs="+", help="with --mask-only: run only these seeds")
    arguments = parser.parse_args()
    if arguments.seeds and not arguments.mask_only:
        parser.error("--seeds needs --mask-only (ROAR seeds added to an earlier run would lack unmodified models)")
    parts = ("masks",) if arguments.mask_only else ("roar",) if arguments.add_to else ("roar", "masks")
    run(QUICK if arguments.quick else FULL, arguments.out, arguments.fractions, arguments.add_to, arguments.methods,
        parts, arguments.seeds)


if __name__ == "__main__":
    main()
