"""Cover where a contrastive map points, against a control square on the true class's object.

A contrastive map of a mistake says which pixels carry the evidence for the predicted over the
true class. If it is right, covering its densest square should undo the decision more often
than covering an equally large square elsewhere. The control here is chosen to differ in one
thing only: it is a square of the same size, covered with the same fill, placed at random on the
**true class's object** (where the evidence the model should have used lies). Covering an object
at random changes a view's decision sometimes on its own (a 56-pixel square hides a good part of
an object); the control measures that rate, so the difference "peak minus control" is what the
map's choice of place adds to it. A square of least evidence would not do: it lands on empty
background, which no edit of the object is compared with.

Views of one photo are not independent (they share the object, the light and the mistake), so
every interval resamples photos, not views (:func:`introspect.report.cluster_bootstrap_ci`).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from .._validation import as_images, non_negative_int, positive_int
from ..interventions import cover_patches, densest_squares
from ..report import cluster_bootstrap_ci


def control_squares(boxes, size: int, shape: tuple[int, int], *, seed: int = 0) -> np.ndarray:
    """Centres ``(row, col)`` of random ``size x size`` squares inside each box, for :func:`cover_patches`.

    In each direction the square's first pixel is uniform over the positions that keep the square
    inside the box; where the box is narrower than ``size`` the square is centred on the box.
    The square is then shifted to lie inside the image ``shape`` ``(H, W)``.

    Parameters
    ----------
    boxes : (N, 4)
        ``(left, top, right, bottom)`` in pixels (floats allowed), e.g. from
        :func:`introspect.imagenet.views.view_boxes`.
    size : int
        Side of the square.
    shape : (H, W)
        The images' height and width.
    seed : int
        Seeds the draw: the same seed gives the same squares.
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4 or not np.isfinite(boxes).all() or (
            boxes[:, 2] < boxes[:, 0]).any() or (boxes[:, 3] < boxes[:, 1]).any():
        raise ValueError(f"`boxes` must be finite (N, 4) rows (left, top, right, bottom) with right >= left and "
                         f"bottom >= top; got shape {boxes.shape}.")
    size = positive_int(size, "size")
    height, width = (positive_int(v, "shape") for v in shape)
    if size > min(height, width):
        raise ValueError(f"`size` must be at most {min(height, width)} (the images' shorter side); got {size}.")
    rng = np.random.default_rng(non_negative_int(seed, "seed"))
    starts = []
    for low, high, extent in ((boxes[:, 1], boxes[:, 3], height), (boxes[:, 0], boxes[:, 2], width)):
        first, last = np.ceil(low), np.floor(high) - size  # integer positions with the square inside the box
        fits = last >= first
        draw = first + np.floor(rng.random(len(boxes)) * (last - first + 1))
        centred = np.round((low + high) / 2 - size / 2)
        starts.append(np.clip(np.where(fits, draw, centred), 0, extent - size))
    top, left = starts
    return np.stack([top + size // 2, left + size // 2], axis=1).astype(int)


def cover_table(classify: Callable, images, fill, maps: Mapping[str, np.ndarray], predicted, boxes, groups, *,
                size: int = 56, seed: int = 0, n_boot: int = 2000) -> pd.DataFrame:
    """Does covering a map's densest square undo a mistake more often than covering the object at random?

    For each mistake and method, the ``size x size`` square with the most positive evidence in
    the method's contrastive map (the largest sum of ``max(map, 0)``,
    :func:`introspect.interventions.densest_squares`) is replaced by the same square of ``fill``
    (e.g. the view blurred). The **control** replaces a random square of the same size inside the
    true class's object box (:func:`control_squares`, seeded; one square per image, the same for
    every method). It controls for what any same-size cover of the object does to the decision,
    so that peak minus control is what the map's choice of place adds; see the module docstring.

    Parameters
    ----------
    classify : callable
        ``images (N, H, W, C) -> (N,)`` top-1 classes.
    images, fill : np.ndarray, (N, H, W, C)
        The misclassified images and what covers them.
    maps : mapping name -> (N, H, W)
        Each method's contrastive map: positive values are evidence for the predicted class
        over the true one.
    predicted : (N,) ints
        The wrong decisions.
    boxes : (N, 4)
        The true class's object ``(left, top, right, bottom)`` in image pixels.
    groups : (N,)
        Which photo each image is a view of; intervals resample groups.
    size : int
        Side of the covered square in pixels.
    seed : int
        Seeds the control squares and the bootstrap.
    n_boot : int
        Bootstrap resamples (>= 100).

    Returns
    -------
    pandas.DataFrame
        One row per method: ``method, n, groups``, ``peak`` and ``control`` (share of images whose
        top-1 is no longer ``predicted``) each with ``_low, _high`` (95% cluster-bootstrap
        interval), and ``difference`` (peak minus control, paired per image) with
        ``difference_low, difference_high``.
    """
    images = as_images(images)
    fill = as_images(fill, "fill")
    if fill.shape != images.shape:
        raise ValueError(f"`fill` must have the images' shape {images.shape}; got {fill.shape}.")
    n = len(images)
    predicted = np.asarray(predicted)
    groups = np.asarray(groups)
    boxes = np.asarray(boxes, dtype=np.float64)
    for name, value in (("predicted", predicted), ("groups", groups), ("boxes", boxes)):
        if len(value) != n:
            raise ValueError(f"`{name}` must have one entry per image ({n}); got {len(value)}.")
    if not isinstance(maps, Mapping) or not maps:
        raise ValueError(f"`maps` must be a non-empty mapping name -> (N, H, W) maps; got {type(maps).__name__}.")
    for name, values in maps.items():
        if np.shape(values) != images.shape[:3]:
            raise ValueError(f"`maps[{name!r}]` must have shape {images.shape[:3]} (N, H, W); got {np.shape(values)}.")

    def changed(centres) -> np.ndarray:
        covered, _ = cover_patches(images, fill, centres, size)
        return (np.asarray(classify(covered)).reshape(n) != predicted).astype(np.float64)

    control = changed(control_squares(boxes, size, images.shape[1:3], seed=seed))
    rows = []
    for method, values in maps.items():
        peak = changed(densest_squares(np.maximum(np.asarray(values, dtype=np.float64), 0.0), size))
        row = dict(method=method, n=n, groups=len(np.unique(groups)))
        for name, outcome in (("peak", peak), ("control", control), ("difference", peak - control)):
            low, high = cluster_bootstrap_ci(outcome, groups, n_resamples=n_boot, seed=seed)
            row.update({name: outcome.mean(), f"{name}_low": low, f"{name}_high": high})
        rows.append(row)
    return pd.DataFrame(rows)
