"""Natural views of the packaged photos (crops, zooms, flips, small rotations, aspect changes).

A photo gives one label set; a crop of it may cut a labelled object out. Every whole photo in
``photos.json`` therefore lists its ``objects`` with a bounding box each, and a view keeps an
object's labels only if it shows at least ``min_overlap`` of that box. A view with no label left
is dropped. Nothing synthetic is added: no occluders, no noise.

A view is a :class:`View`: a rectangle of the original photo (its pixels), a rotation about the
rectangle's centre and an optional mirror, resized to ``size x size`` (so a non-square
rectangle changes the aspect ratio).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._validation import fraction, non_negative_int, positive_int
from .efficientnet import IMAGE_SIZE
from .photos import open_photo, photo_records


@dataclass(frozen=True)
class View:
    """``rect`` (left, top, right, bottom) in the photo's pixels, rotated by ``angle`` degrees
    (counter-clockwise, about the rectangle's centre), mirrored left-right if ``flip``."""

    name: str
    rect: tuple[float, float, float, float]
    angle: float = 0.0
    flip: bool = False


def _to_view(points: np.ndarray, view: View, size: int) -> np.ndarray:
    """Photo pixel coordinates ``(P, 2)`` (x, y) -> coordinates in the ``size x size`` view."""
    left, top, right, bottom = view.rect
    cx, cy = (left + right) / 2, (top + bottom) / 2
    a = math.radians(view.angle)
    dx, dy = points[:, 0] - cx, points[:, 1] - cy
    # PIL's rotate turns the content counter-clockwise on screen (y points down)
    x = cx + math.cos(a) * dx + math.sin(a) * dy
    y = cy - math.sin(a) * dx + math.cos(a) * dy
    x = (x - left) / (right - left) * size
    y = (y - top) / (bottom - top) * size
    if view.flip:
        x = size - x
    return np.stack([x, y], axis=1)


def box_fraction(box, view: View, size: int = IMAGE_SIZE, samples: int = 21) -> float:
    """Share of the box ``(left, top, right, bottom)`` (photo pixels) that lands inside the view.

    Measured on a ``samples x samples`` grid of points covering the box.
    """
    left, top, right, bottom = (float(v) for v in box)
    if not (right > left and bottom > top):
        raise ValueError(f"`box` must be (left, top, right, bottom) with right > left and bottom > top; got {box!r}.")
    xs = np.linspace(left, right, samples)
    ys = np.linspace(top, bottom, samples)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    inside = _to_view(grid, view, positive_int(size, "size"))
    return float(np.mean((inside >= 0).all(axis=1) & (inside <= size).all(axis=1)))


def render_view(image: np.ndarray, view: View, size: int = IMAGE_SIZE) -> np.ndarray:
    """The view of an RGB photo ``(H, W, 3)`` in [0, 1] as float32 ``(size, size, 3)`` (bilinear)."""
    from PIL import Image

    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"`image` must be an RGB array (H, W, 3); got shape {image.shape}.")
    picture = Image.fromarray(np.clip(np.round(image * 255), 0, 255).astype(np.uint8))
    left, top, right, bottom = view.rect
    if view.angle:
        picture = picture.rotate(view.angle, resample=Image.BILINEAR,
                                 center=((left + right) / 2, (top + bottom) / 2))
    picture = picture.resize((size, size), Image.BILINEAR, box=tuple(float(v) for v in view.rect))
    out = np.asarray(picture, dtype=np.float32) / 255.0
    return out[:, ::-1].copy() if view.flip else out


def _square(cx: float, cy: float, side: float, width: int, height: int) -> tuple[float, float, float, float]:
    """A square of ``side`` centred near (cx, cy), shifted (and shrunk if needed) to lie inside the photo."""
    side = min(side, width, height)
    left = min(max(cx - side / 2, 0), width - side)
    top = min(max(cy - side / 2, 0), height - side)
    return (left, top, left + side, top + side)


def photo_views(width: int, height: int, objects: list[dict], *, crops: int = 12, seed: int = 0) -> list[View]:
    """The views of one photo ``width x height``: the whole photo (squashed), its centre square,
    mirrored, rotated by -8 and +8 degrees, two zooms on each object, a wide crop and ``crops``
    random crops (45-90% of the shorter side, aspect 3:4 to 4:3, a third of them mirrored)."""
    rng = np.random.default_rng(seed)
    short = min(width, height)
    centre = _square(width / 2, height / 2, short, width, height)
    inner = _square(width / 2, height / 2, 0.8 * short, width, height)
    views = [View("full", (0, 0, width, height)), View("centre", centre), View("flip", centre, flip=True),
             View("rot-8", inner, angle=-8.0), View("rot+8", inner, angle=8.0)]
    for k, item in enumerate(objects):
        left, top, right, bottom = item["box"]
        for margin in (1.15, 1.6):
            side = max(right - left, bottom - top) * margin
            views.append(View(f"zoom{k}x{margin:g}", _square((left + right) / 2, (top + bottom) / 2, side,
                                                             width, height)))
    wide_h = short if width >= height else 0.75 * short
    wide_w = min(width, 1.5 * wide_h)
    views.append(View("wide", ((width - wide_w) / 2, (height - wide_h) / 2, (width + wide_w) / 2,
                               (height + wide_h) / 2)))
    for k in range(non_negative_int(crops, "crops")):
        side = rng.uniform(0.45, 0.9) * short
        aspect = rng.uniform(0.75, 4 / 3)
        w, h = min(width, side * math.sqrt(aspect)), min(height, side / math.sqrt(aspect))
        left, top = rng.uniform(0, width - w), rng.uniform(0, height - h)
        views.append(View(f"crop{k}", (left, top, left + w, top + h), flip=bool(rng.random() < 1 / 3)))
    return views


def load_views(names=None, *, size: int = IMAGE_SIZE, crops: int = 12, min_overlap: float = 0.8,
               seed: int = 0) -> tuple[np.ndarray, list[tuple[int, ...]], list[str]]:
    """Natural views of the whole photos in ``photos.json``, each with the labels it still shows.

    Views with the same geometry as an earlier view of the same photo are dropped (e.g. on a
    square photo the whole photo and its centre square are one view).

    Parameters
    ----------
    names : sequence of str, optional
        Photos to use (those with ``objects``); default all of them.
    size : int
        Output height and width (224 for EfficientNet-Lite0).
    crops : int
        Random crops per photo, besides the fixed views of :func:`photo_views`.
    min_overlap : float in [0, 1]
        A view keeps an object's labels only if it contains this share of the object's box.
    seed : int
        Seeds the random crops (photo ``i`` uses ``seed + i``).

    Returns
    -------
    images : np.ndarray
        float32 ``(N, size, size, 3)`` in [0, 1].
    label_sets : list of tuple of int
        ImageNet classes of the objects the view shows, in the annotation's order.
    names : list of str
        ``"<photo>:<view>"``, e.g. ``"coffee:crop3"``.
    """
    size = positive_int(size, "size")
    min_overlap = fraction(min_overlap, "min_overlap")
    seed = non_negative_int(seed, "seed")
    images, label_sets, view_names = [], [], []
    for index, record in enumerate(_whole_photos(names)):
        photo = np.asarray(open_photo(record), dtype=np.float32) / 255.0
        height, width = photo.shape[:2]
        for view, labels, _ in _kept_views(record, width, height, size, crops, min_overlap, seed + index):
            images.append(render_view(photo, view, size))
            label_sets.append(labels)
            view_names.append(f"{record['name']}:{view.name}")
    return np.stack(images), label_sets, view_names


def _whole_photos(names) -> list[dict]:
    """The records of the whole photos (those with ``objects``) named, in photos.json's order."""
    records = [r for r in photo_records() if r.get("objects")]
    known = [r["name"] for r in records]
    if names is None:
        return records
    if isinstance(names, str) or not all(n in known for n in names):
        raise ValueError(f"`names` must be a list of photo names from {known}; got {names!r}.")
    return [r for r in records if r["name"] in names]


def _kept_views(record: dict, width: int, height: int, size: int, crops: int, min_overlap: float, seed: int
                ) -> list[tuple[View, tuple[int, ...], list[dict]]]:
    """Each view of a photo that shows a labelled object: ``(view, labels, objects shown)``."""
    seen, kept = set(), []
    for view in photo_views(width, height, record["objects"], crops=crops, seed=seed):
        # on a square photo the whole photo, its centre square and the wide crop coincide, and a zoom
        # clipped to the photo can repeat another: keep the first view of each geometry only
        geometry = (tuple(round(v, 3) for v in view.rect), view.angle, view.flip)
        if geometry in seen:
            continue
        seen.add(geometry)
        shown = [item for item in record["objects"] if box_fraction(item["box"], view, size) >= min_overlap]
        labels = tuple(dict.fromkeys(c for item in shown for c in item["labels"]))
        if labels:
            kept.append((view, labels, shown))
    return kept


def box_in_view(box, view: View, size: int = IMAGE_SIZE) -> tuple[float, float, float, float]:
    """A box ``(left, top, right, bottom)`` in photo pixels as a box in the ``size x size`` view.

    The box's four corners are carried into the view (for a rotated view the result is the
    axis-aligned box around the rotated corners) and the result is clipped to ``[0, size]``.
    """
    left, top, right, bottom = (float(v) for v in box)
    if not (right > left and bottom > top):
        raise ValueError(f"`box` must be (left, top, right, bottom) with right > left and bottom > top; got {box!r}.")
    size = positive_int(size, "size")
    corners = _to_view(np.array([[left, top], [right, top], [right, bottom], [left, bottom]]), view, size)
    low, high = np.clip(corners.min(axis=0), 0, size), np.clip(corners.max(axis=0), 0, size)
    return (float(low[0]), float(low[1]), float(high[0]), float(high[1]))


def view_boxes(names=None, *, size: int = IMAGE_SIZE, crops: int = 12, min_overlap: float = 0.8,
               seed: int = 0) -> dict[str, dict[int, tuple[float, float, float, float]]]:
    """Where each labelled class sits in each view of :func:`load_views` (same arguments, same views).

    Returns
    -------
    dict
        ``{"<photo>:<view>": {class: (left, top, right, bottom)}}`` in the view's pixels
        (``0..size``, see :func:`box_in_view`), one entry per class of the view's label set. The box
        is that of the annotated object carrying the class; where several shown objects carry it
        (two lions, two suits), the one with the largest area in the view.
    """
    size = positive_int(size, "size")
    min_overlap = fraction(min_overlap, "min_overlap")
    seed = non_negative_int(seed, "seed")
    boxes = {}
    for index, record in enumerate(_whole_photos(names)):
        width, height = open_photo(record).size
        for view, labels, shown in _kept_views(record, width, height, size, crops, min_overlap, seed + index):
            in_view = [(box_in_view(item["box"], view, size), item["labels"]) for item in shown]
            boxes[f"{record['name']}:{view.name}"] = {
                c: max((b for b, classes in in_view if c in classes), key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
                for c in labels}
    return boxes


def mistakes_table(probs, label_sets, names) -> "pd.DataFrame":
    """Every view with its top-1, its "true" class and whether top-1 is a mistake.

    The rule, fixed before looking at any result: a view is a **top-1 mistake** when its top-1
    class is not in its label set; its **true** class is the label the model scores highest
    (the annotated class it comes closest to). ``probs`` ``(N, 1000)`` are softmax outputs.
    Columns ``view, photo, predicted, true, p_predicted, p_true, rank_true`` (1 = top-1),
    ``mistake``, ``ratio`` (``p_true / p_predicted``: 1 is a coin flip) and ``cut_object``: the
    top-1 class is a label of another object of the same photo, one the view cuts below the
    overlap threshold (a partly visible object, not a confusion).
    """
    import pandas as pd

    photo_labels = {r["name"]: {c for item in r.get("objects", []) for c in item["labels"]} for r in photo_records()}

    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or len(probs) != len(label_sets) or len(names) != len(label_sets):
        raise ValueError(f"`probs` must be (N, classes) with N = len(label_sets) = len(names); got {probs.shape}, "
                         f"{len(label_sets)} label sets and {len(names)} names.")
    rows = []
    for p, labels, name in zip(probs, label_sets, names):
        predicted = int(p.argmax())
        true = max(labels, key=lambda c: p[c])
        rows.append(dict(view=name, photo=name.split(":")[0], predicted=predicted, true=int(true),
                         p_predicted=p[predicted], p_true=p[true], rank_true=int((p > p[true]).sum()) + 1,
                         mistake=predicted not in labels, ratio=p[true] / p[predicted],
                         cut_object=predicted not in labels and predicted in photo_labels.get(name.split(":")[0], ())))
    return pd.DataFrame(rows)


def closest_calls(table, k: int = 3) -> list[str]:
    """The views of :func:`mistakes_table` to explain one by one: each photo's closest-call mistake
    (highest ``ratio``), then the ``k`` photos whose closest call is closest, closest first."""
    k = positive_int(k, "k")
    wrong = table[table["mistake"]].sort_values("ratio", ascending=False, kind="stable")
    return wrong.drop_duplicates("photo")["view"].head(k).tolist()
