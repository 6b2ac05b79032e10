"""Part 1 on a network trained on photos: visualisations of EfficientNet-Lite0 judged by EfficientNet-Lite2.

The pieces of notebook 03's section "Part 1 on photos" and of ``scripts/imagenet_visualisation_03.py``:

* :func:`judge_verdicts`: where an independent ImageNet network (EfficientNet-Lite2, trained on its
  own, at 260 px) ranks each picture's target class;
* :func:`unseen_views` and :func:`unseen_top1`: the visualised network's own top-1 under
  transformations the optimisation never used (a flip, a 1.3x zoom, +-25 degree rotations);
* :func:`recipe_table`: per recipe and step count, judge top-1 and top-5 with Wilson intervals, the
  own top-1 under unseen views, the photo statistics (:func:`~.spectrum.image_statistics`) and the
  seconds per class;
* :func:`strongest_channels`: the channels of a layer that the photos' views excite most.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import tensorflow as tf

from .._validation import as_images
from ..numerics import predict
from .recipes import target_scores
from .spectrum import image_statistics
from .transforms import resample

#: The classes of the measurement, fixed before the run: every 50th ImageNet class.
CLASSES = np.arange(0, 1000, 50)
#: Steps after which the runs keep snapshots.
STEPS_SHOWN = (0, 16, 64, 256, 512)
#: Transformations never used by any recipe (those use +-12 px shifts, 0.9-1.1 zoom, +-10 degrees):
#: name -> (flip, zoom, degrees).
UNSEEN = {"flip": (True, 1.0, 0.0), "zoom 1.3": (False, 1.3, 0.0), "rotate +25": (False, 1.0, 25.0),
          "flip, rotate -25": (True, 1.0, -25.0)}


def resize(images, size: int) -> np.ndarray:
    """Images ``(N, H, W, C)`` resized to ``size`` x ``size`` (bilinear, antialiased), in [0, 1]."""
    images = as_images(images, "images", value_range=(0, 1))
    return np.clip(tf.image.resize(images, (size, size), antialias=True).numpy(), 0.0, 1.0)


def judge_verdicts(judge, images, classes) -> pd.DataFrame:
    """One row per image: the ``judge``'s ``rank`` of its target class (0 = first), ``top1``, ``top5``, its own ``top_class``.

    Images are resized to the judge's input size first (260 px for EfficientNet-Lite2).
    """
    classes = np.asarray(classes)
    logits = predict(judge, resize(images, judge.input_shape[1]))
    target = logits[np.arange(len(classes)), classes]
    rank = (logits > target[:, None]).sum(axis=1)
    return pd.DataFrame({"class": classes, "rank": rank, "top1": rank == 0, "top5": rank < 5,
                         "top_class": logits.argmax(axis=1)})


def _unseen_matrix(flip: bool, zoom: float, degrees: float) -> np.ndarray:
    angle = math.radians(degrees)
    rotation = np.array([[math.cos(angle), math.sin(angle), 0], [-math.sin(angle), math.cos(angle), 0], [0, 0, 1]])
    mirror = np.diag([-1.0 if flip else 1.0, 1.0, 1.0])
    return (mirror @ rotation / np.array([[zoom], [zoom], [1.0]])).astype(np.float32)


def unseen_views(images) -> np.ndarray:
    """``(V, N, H, W, C)``: each image under every transformation of :data:`UNSEEN` (reflected borders)."""
    images = tf.constant(as_images(images, "images", value_range=(0, 1)))
    n = images.shape[0]
    return np.stack([resample(images, tf.constant(np.repeat(_unseen_matrix(*spec)[None], n, axis=0))).numpy()
                     for spec in UNSEEN.values()])


def unseen_top1(model, images, classes) -> np.ndarray:
    """``(N,)`` share of the :data:`UNSEEN` views of each image that ``model`` assigns to its class."""
    classes = np.asarray(classes)
    views = unseen_views(images)
    predicted = predict(model, views.reshape(-1, *views.shape[2:])).argmax(axis=1).reshape(len(views), -1)
    return (predicted == classes[None]).mean(axis=0)


def own_scores(model, images, classes) -> dict:
    """Lists ``(N,)``: the model's target ``logit``, largest ``other`` logit and target probability ``p`` on the images."""
    target, others, p = target_scores(predict(model, images), classes)
    return {"logit": target.tolist(), "other": others.tolist(), "p": p.tolist()}


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion ``successes / n`` (sensible at 0 and n, unlike the bootstrap)."""
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def recipe_row(verdicts: pd.DataFrame, images, own_top1: np.ndarray, seconds_per_class: float) -> dict:
    """One row of :func:`recipe_table` from a recipe's verdicts, images, unseen-view top-1 and time."""
    n = len(verdicts)
    stats = image_statistics(images)
    row = {"classes": n}
    for name in ("top1", "top5"):
        hits = int(verdicts[name].sum())
        row[f"judge {name}"] = hits / n
        row[f"judge {name} low"], row[f"judge {name} high"] = wilson_interval(hits, n)
    row["own top1 unseen"] = float(np.mean(own_top1))
    row.update({name: float(np.mean(values)) for name, values in stats.items()})
    row["seconds per class"] = seconds_per_class
    return row


def recipe_table(record: dict) -> pd.DataFrame:
    """The rows of :func:`recipe_row` of every run and snapshot in ``record``, indexed by recipe, objective and steps.

    The judge's intervals are derived again from the shares and the class count (:func:`wilson_interval`).
    """
    rows = {}
    for key, run in record["runs"].items():
        recipe, objective = key.split("/")
        for step, row in run["rows"].items():
            for name in ("top1", "top5"):
                bounds = wilson_interval(round(row[f"judge {name}"] * row["classes"]), row["classes"])
                row = {**row, f"judge {name} low": bounds[0], f"judge {name} high": bounds[1]}
            rows[(recipe, objective, int(step))] = row
    index = pd.MultiIndex.from_tuples(list(rows), names=["recipe", "objective", "steps"])
    return pd.DataFrame(list(rows.values()), index=index).sort_index()


#: Where ``scripts/imagenet_visualisation_03.py`` writes.
RESULTS = "03_imagenet_visualisation"


def load_results(folder) -> tuple[dict, dict, pd.DataFrame]:
    """The script's record (JSON), its images (name -> float ``(M, h, w, 3)`` in [0, 1]) and :func:`recipe_table`."""
    import json
    from pathlib import Path

    folder = Path(folder)
    record = json.loads((folder / f"{RESULTS}.json").read_text(encoding="utf-8"))
    with np.load(folder / f"{RESULTS}.npz") as stored:
        images = {name: stored[name].astype(np.float32) / 255 for name in stored.files}
    return record, images, recipe_table(record)


def photo_like(row, photos: dict) -> bool:
    """The issue's goal for photo-likeness: pixel std >= 0.75x and saturation >= 0.6x the photos', slope within 0.4."""
    return bool(row["pixel_std"] >= 0.75 * photos["pixel_std"] and row["saturation"] >= 0.6 * photos["saturation"]
                and abs(row["spectrum_slope"] - photos["spectrum_slope"]) <= 0.4)


def strongest_channels(model, layer: str, images, *, count: int = 1, batch_size: int = 16) -> np.ndarray:
    """The ``count`` channels of ``layer`` with the largest mean activation on their single best image, strongest first."""
    from .dataset_examples import _activations
    from .loop import _feature_model

    maps = _activations(_feature_model(model, (layer,)), as_images(images, "images", value_range=(0, 1)),
                        batch_size)
    return np.argsort(-maps.mean(axis=(1, 2)).max(axis=0))[:count]


def show_compact(fig, name: str, colors: int = 256) -> None:
    """Save ``fig`` at full quality (:func:`introspect.report.save`) and show it inline as a palette PNG.

    Visualisations are noise-like and compress badly: the inline copy has a palette of ``colors``
    colours (median cut) with Floyd-Steinberg dithering, which keeps the colours' look at about 40%
    of the bytes, so that a notebook of many image grids stays small; the file in ``figures/``
    keeps every colour.
    """
    import io

    import matplotlib.pyplot as plt
    from PIL import Image

    from .. import report

    report.save(fig, name)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    buffer.seek(0)
    with Image.open(buffer) as image:
        rgb = image.convert("RGB")
        palette = rgb.quantize(colors, method=Image.Quantize.MEDIANCUT)
        quantised = rgb.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG)
    out = io.BytesIO()
    quantised.save(out, format="png", optimize=True)
    try:
        from IPython.display import Image as Shown, display
    except ImportError:
        return
    display(Shown(data=out.getvalue(), format="png"))


def summary(table: pd.DataFrame, photos: dict, objective: str = "logit", steps=(256, 512)) -> pd.DataFrame:
    """:func:`recipe_table` for one objective and some step counts, intervals as ``(low, high)`` cells, the photos last.

    The form :func:`introspect.report.table` shows: one row per recipe and step count, then a row
    ``"packaged photos"`` with the photos' statistics.
    """
    part = table.xs(objective, level="objective")
    part = part[part.index.get_level_values("steps").isin(steps)]
    rows = []
    for (recipe, step), row in part.iterrows():
        rows.append({"recipe": f"{recipe}, {step} steps", "judge top-1": row["judge top1"],
                     "top-1 95% interval": (row["judge top1 low"], row["judge top1 high"]),
                     "judge top-5": row["judge top5"], "top-5 95% interval": (row["judge top5 low"], row["judge top5 high"]),
                     "Lite0 top-1, unseen views": row["own top1 unseen"], "pixel std": row["pixel_std"],
                     "saturation": row["saturation"], "spectrum slope": row["spectrum_slope"],
                     "s per class": row["seconds per class"], "photo-like": photo_like(row, photos)})
    rows.append({"recipe": f"packaged photos ({photos.get('count', '')})", "pixel std": photos["pixel_std"],
                 "saturation": photos["saturation"], "spectrum slope": photos["spectrum_slope"]})
    return pd.DataFrame(rows)
