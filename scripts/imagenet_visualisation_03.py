"""Part 1 on photos: visualise EfficientNet-Lite0 by three recipes and let EfficientNet-Lite2 judge.

    python scripts/imagenet_visualisation_03.py [--steps 256] [--classes 20] [--out data/results]

For the 20 classes fixed before the run (every 50th ImageNet class, ``photo_study.CLASSES``), one run
per recipe (``"pixels"``, ``"fourier"``, ``"maco"``: ``introspect.optimize.RECIPES``) of ``--steps``
steps maximising the class logit of the packaged EfficientNet-Lite0, snapshots at 0, 16, 64 and 256
steps (and 512 with ``--steps 512``); each snapshot judged by EfficientNet-Lite2 (resized to 260 px), by Lite0 itself under
four transformations the optimisation never used (``photo_study.UNSEEN``), and by the photo
statistics (``optimize.image_statistics``) beside those of the 21 packaged photos. Then the same
for the class probability (``"maco"``), DeepDream's objective
(``layer_activation("block9_add")``, recipe ``"fourier"``) from the recipe's start and from a
packaged photo, and one channel at each of five depths (the channel whose best view excites it
most, among the 250 views of ``imagenet.load_views``) by ``"fourier"`` and ``"maco"`` beside the
crops of its four strongest views.

Writes ``data/results/03_imagenet_visualisation.json`` (tables, verdicts per class, times) and
``03_imagenet_visualisation.npz`` (the images the notebook shows, uint8 at 128 px).

Measured: 1,496 s (25 min) on 2 CPU cores shared with two training jobs (the JSON's ``seconds``): 333 s
for MACO, 403 s for Fourier, 214 s for pixels (20 classes x 256 steps each), 240 s for MACO's
probability run, the rest for the DeepDream and channel runs (128 steps each). The numbers, 256 steps,
20 classes, judge EfficientNet-Lite2 (Wilson 95% intervals):

============  ==============  ================  ================  =========  ==========  ===========
recipe        judge top-1     judge top-5       Lite0 top-1,      pixel std  saturation  spectrum
                                                unseen views                             slope
============  ==============  ================  ================  =========  ==========  ===========
pixels        0% (0-16%)      5% (1-24%)        3%                0.116      0.175       -0.74
fourier       85% (64-95%)    95% (76-99%)      98%               0.123      0.066       -2.03
maco          95% (76-99%)    95% (76-99%)      93%               0.208      0.107       -3.00
photos (21)                                                       0.254      0.158       -3.03
============  ==============  ================  ================  =========  ==========  ===========

MACO's probability run: judge top-5 70% (48-85%), the target logit raised by 16 against 36 for the logit.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from introspect import imagenet
from introspect import optimize as opt
from introspect.optimize import photo_study as study

#: Classes shown in the notebook's figures (a subset of photo_study.CLASSES: flamingo, monarch, ...).
SHOWN = np.array([100, 300, 400, 600, 850, 950])
#: Snapshots kept for the figure of steps: this class.
SNAPSHOT_CLASS = 950
#: Five depths of Lite0 (residual outputs, 56 -> 7 px) and DeepDream's layer.
LAYERS = ("block2_add", "block4_add", "block7_add", "block10_add", "block14_add")
DREAM_LAYER = "block9_add"
DREAM_PHOTO = "coffee"
STORE_SIZE = 128


def small(images) -> np.ndarray:
    """uint8 copies at :data:`STORE_SIZE` px for the notebook's figures."""
    return np.round(study.resize(images, STORE_SIZE) * 255).astype(np.uint8)


def judged(result, model, judge, classes) -> tuple[dict, dict]:
    """Per snapshot step: the table row inputs and per-class verdicts."""
    rows, per_class = {}, {}
    for step, images in result.snapshots.items():
        verdicts = study.judge_verdicts(judge, images, classes)
        own = study.unseen_top1(model, images, classes)
        rows[step] = (verdicts, images, own)
        per_class[step] = {"rank": verdicts["rank"].tolist(), "top_class": verdicts["top_class"].tolist(),
                           "own_unseen": own.tolist(), **study.own_scores(model, images, classes)}
    return rows, per_class


def class_runs(model, judge, classes, steps, out_images, record):
    snapshots = tuple(s for s in study.STEPS_SHOWN if s <= steps)
    shown = np.flatnonzero(np.isin(classes, SHOWN)) if np.isin(classes, SHOWN).any() else np.arange(1)
    for objective, recipes in (("logit", ("maco", "fourier", "pixels")), ("probability", ("maco",))):
        for recipe in recipes:
            run_steps, kept = steps, snapshots
            start = time.perf_counter()
            result = opt.visualise_classes(model, classes, recipe=recipe, steps=run_steps, objective=objective,
                                           snapshots=kept, seed=0, progress=True)
            seconds = time.perf_counter() - start
            rows, per_class = judged(result, model, judge, classes)
            key = f"{recipe}/{objective}"
            record["runs"][key] = {"seconds": seconds, "steps": run_steps, "per_class": per_class,
                                   "rows": {str(step): study.recipe_row(v, im, own, seconds / len(classes) * step
                                                                        / run_steps)
                                            for step, (v, im, own) in rows.items()}}
            out_images[f"{key}/final"] = small(result.images[shown])
            if objective == "logit":
                where = int(np.flatnonzero(classes == SNAPSHOT_CLASS)[0]) if SNAPSHOT_CLASS in classes else 0
                out_images[f"{key}/snapshots"] = small(np.stack([result.snapshots[s][where] for s in kept]))
            print(f"{key}: {seconds:.0f} s; " + ", ".join(
                f"{s}: top5 {r['judge top5']:.2f} std {r['pixel_std']:.3f}"
                for s, r in record["runs"][key]["rows"].items()), flush=True)
    record["shown_classes"] = [int(c) for c in classes[shown]]


def dream_runs(model, steps, out_images, record):
    photos, _, names = imagenet.load_photos(names=[DREAM_PHOTO])
    objective = opt.layer_activation(DREAM_LAYER)
    starts = {"noise": opt.RECIPES["fourier"].start(1, (224, 224, 3), seed=0), "photo": photos}
    record["dream"] = {"layer": DREAM_LAYER, "photo_name": DREAM_PHOTO, "steps": steps}
    for name, init in starts.items():
        result = opt.run_recipe(model, objective, recipe="fourier", init=init, steps=steps, snapshots=(0, steps))
        out_images[f"dream/{name}"] = small(np.concatenate([result.snapshots[0], result.images]))
        record["dream"][name] = {"objective_start": float(result.objective[0, 0]),
                                 "objective_end": float(result.objective[-1, 0]),
                                 "change_l2": float(np.sqrt(((result.images - result.snapshots[0]) ** 2).mean()))}


def channel_runs(model, steps, out_images, record):
    views, _, view_names = imagenet.load_views()
    record["channels"] = []
    for layer in LAYERS:
        channel = study.strongest_channels(model, layer, views)[:1]
        examples = opt.dataset_examples(model, layer, channel, views, k=4, batch_size=16)
        crops = opt.receptive_field_crops(model, layer, examples, views)[0]
        entry = {"layer": layer, "channel": int(channel[0]), "views": [view_names[i] for i in examples.indices[0]]}
        for recipe in ("fourier", "maco"):
            result = opt.visualise_channels(model, layer, channel, recipe=recipe, steps=steps)
            out_images[f"channel/{layer}/{recipe}"] = small(result.images)
            entry[recipe] = float(result.objective[-1, 0])
        out_images[f"channel/{layer}/crops"] = small(crops)
        entry["view_activation"] = float(examples.activations[0, 0])
        record["channels"].append(entry)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=256)
    parser.add_argument("--dream-steps", type=int, default=128, help="steps of the DeepDream and channel runs")
    parser.add_argument("--classes", type=int, default=len(study.CLASSES), help="the first N of photo_study.CLASSES")
    parser.add_argument("--out", type=Path, default=Path("data/results"))
    args = parser.parse_args()
    begin = time.perf_counter()
    model, judge = imagenet.load_efficientnet_lite0(), imagenet.load_efficientnet_lite(2)
    classes = study.CLASSES[:args.classes]
    photos = imagenet.load_photos()[0]
    record = {"classes": classes.tolist(), "runs": {}, "unseen": list(study.UNSEEN),
              "photos": {name: float(np.mean(v)) for name, v in opt.image_statistics(photos).items()}}
    record["photos"]["count"] = len(photos)
    images = {}
    class_runs(model, judge, classes, args.steps, images, record)
    dream_runs(model, args.dream_steps, images, record)
    channel_runs(model, args.dream_steps, images, record)
    record["seconds"] = time.perf_counter() - begin
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "03_imagenet_visualisation.json").write_text(json.dumps(record, indent=1))
    np.savez_compressed(args.out / "03_imagenet_visualisation.npz", **images)
    print(f"done in {record['seconds']:.0f} s")


if __name__ == "__main__":
    main()
