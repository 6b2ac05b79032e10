"""Occlusion: the score drop when a patch of the image is replaced by a fill, patch by patch."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from ..maps import baseline_images, inpaint
from .._validation import positive_number
from ._arguments import Request, pair, prepare
from ._engine import chunked, stream_scores

FILLS = ("zero", "mean", "blur")
#: Fills that depend on the patch: the patch filled from the pixels around it (:func:`introspect.maps.inpaint`).
PATCH_FILLS = ("inpaint",)


def _positions(size: int, patch: int, stride: int) -> np.ndarray:
    """Patch corners along one axis, the last one flush with the edge so every pixel is covered."""
    corners = list(range(0, size - patch + 1, stride))
    if corners[-1] != size - patch:
        corners.append(size - patch)
    return np.asarray(corners)


def _inpainted(images: np.ndarray, corners: np.ndarray, patch: tuple) -> np.ndarray:
    """``images`` with the patch at each image's corner filled from its surroundings (the rest unchanged)."""
    masks = np.zeros(images.shape[:3], bool)
    for k, (row, col) in enumerate(corners):
        masks[k, row:row + patch[0], col:col + patch[1]] = True
    return inpaint(images, masks)


def _occluded_kernel(request: Request, patch: tuple):
    """``f(x, targets, foils, fill, corners) -> score`` of ``x`` with a patch at ``corners`` replaced by ``fill``."""
    engine, score_of = request.engine, request.engine.scorer(request)
    height, width = request.shape[:2]

    def occluded(x, targets, foils, fill, corners):
        rows = tf.range(height)[None, :] - corners[:, :1]
        cols = tf.range(width)[None, :] - corners[:, 1:]
        inside_rows = tf.cast((rows >= 0) & (rows < patch[0]), tf.float32)
        inside_cols = tf.cast((cols >= 0) & (cols < patch[1]), tf.float32)
        mask = (inside_rows[:, :, None] * inside_cols[:, None, :])[..., None]
        x = x * (1.0 - mask) + fill * mask
        return score_of(engine.outputs(x), targets, foils)

    specs = (tf.TensorSpec((None, *request.shape), tf.float32), tf.TensorSpec((None, 2), tf.int32))
    return engine.kernel(request, "occluded", occluded, specs, key=(patch,))


def occlusion(model, images, targets, *, output: str = "logits", foil=None, batch_size: int = 64,
              patch=4, stride=None, baseline="zero", blur_sigma: float | None = None,
              progress: bool = True) -> np.ndarray:
    """Score drop when a square patch is replaced, averaged over the patches covering each pixel.

    Zeiler & Fergus, "Visualizing and understanding convolutional networks", arXiv:1311.2901.
    Beware the fill value: a black (``"zero"``) patch over a black region changes nothing, so
    the map there is 0 whatever the model uses; ``"mean"`` or ``"blur"`` remove information
    differently, and comparing two of them shows what the map owes to the fill. The
    ``N * patches`` occluded copies are built inside the compiled call, ``batch_size`` at a time.

    Parameters
    ----------
    model, images, targets, output, foil, batch_size
        As in :func:`~introspect.saliency.vanilla_gradient` (score: the logit by default).
    patch : int or (rows, cols)
        Size of the occluding patch in pixels.
    stride : int or (rows, cols), optional
        Step between patches; default ``patch`` (no overlap). The last patch of each row and
        column is placed flush with the border.
    baseline : {"zero", "mean", "blur", "inpaint"} or float or array
        Fill of the patch: 0 (``"zero"``, alias ``"black"``), each image's per-channel mean, the
        image blurred with ``blur_sigma`` (default :func:`introspect.maps.default_blur_sigma`,
        ``max(1, max(H, W) / 10)``), the patch filled from the pixels around it
        (``"inpaint"``, :func:`introspect.maps.inpaint`: what the image plausibly shows there
        without the patch's content; one fill per patch, so slower), a constant, or an array
        broadcastable to ``(N, H, W, C)``.
    progress : bool
        Show a plain-text progress bar when the call lasts over ~2 s; ``False`` silences it.

    Returns
    -------
    np.ndarray, (N, H, W) float32
        ``score(image) - score(occluded)``: positive where hiding a pixel lowers the score.
    """
    request = prepare(model, images, targets, output, foil, batch_size)
    x = request.images
    height, width = x.shape[1:3]
    patch = pair(patch, "patch", (height, width))
    stride = patch if stride is None else pair(stride, "stride", (height, width))
    sigma = None if blur_sigma is None else positive_number(blur_sigma, "blur_sigma")
    per_patch = isinstance(baseline, str) and baseline in PATCH_FILLS
    fill = None if per_patch else baseline_images(x, baseline, name="baseline", blur_sigma=sigma, choices=FILLS)
    corners = np.stack(np.meshgrid(_positions(height, patch[0], stride[0]), _positions(width, patch[1], stride[1]),
                                   indexing="ij"), axis=-1).reshape(-1, 2).astype(np.int32)
    full = stream_scores(request, request.engine.forward(request), x)

    function = _occluded_kernel(request, patch)
    total = len(x) * len(corners)
    drops = np.empty(total, np.float32)
    for start in chunked(total, request.batch_size, f"occlusion ({len(corners)} patches)", progress):
        flat = np.arange(start, min(start + request.batch_size, total))
        image_index, corner_index = np.divmod(flat, len(corners))
        fills = (_inpainted(x[image_index], corners[corner_index], patch) if per_patch else fill[image_index])
        scores = function(x[image_index], request.targets[image_index], request.foils[image_index],
                          fills, corners[corner_index]).numpy()
        drops[flat] = full[image_index] - scores
    drops = drops.reshape(len(x), len(corners))

    sums = np.zeros((len(x), height, width), np.float64)
    counts = np.zeros((height, width), np.float64)
    for k, (row, col) in enumerate(corners):
        sums[:, row:row + patch[0], col:col + patch[1]] += drops[:, k, None, None]
        counts[row:row + patch[0], col:col + patch[1]] += 1
    return (sums / counts).astype(np.float32)
