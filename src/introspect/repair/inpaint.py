"""Fill masked pixels from their neighbours: the counterexamples of a Right-for-the-Right-Reasons repair.

A counterexample for :func:`~.rrr.right_for_the_right_reasons` (Ross et al. 2017, arXiv:1703.03717)
is a training image with its "should not matter" region replaced by what the image would plausibly
show there without the artifact, with the same label.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import uniform_filter

from .._validation import as_images, positive_int


def inpaint(images, masks, *, max_iterations: int = 30) -> np.ndarray:
    """A copy of ``images`` whose pixels inside ``masks`` are filled from the pixels outside (a diffusion fill).

    Each masked pixel takes the mean of its known 3x3 neighbours (the image's border repeated
    outwards), channel by channel; pixels filled in one round count as known in the next, so the
    fill moves inwards until every masked pixel is filled. A trigger on a black background
    becomes black again; 1-px watermark stripes take the values of the garment beside them.
    A masked pixel with no known pixel within ``max_iterations`` steps (a mask covering the whole
    image) keeps its value.

    Parameters
    ----------
    images : array-like, (N, H, W, C)
        Images; never modified.
    masks : bool array, (N, H, W) or (N, H, W, C)
        True where the pixel is to be filled; ``(N, H, W)`` masks every channel of the pixel.
    max_iterations : int
        Rounds of filling (a masked region ``2 * max_iterations`` pixels wide is filled through).

    Returns
    -------
    np.ndarray, (N, H, W, C) float32
        The filled copy; pixels outside ``masks`` are the input's exactly.
    """
    values = as_images(images).copy()
    unknown = as_masks(masks, values.shape).astype(bool)
    unknown = np.broadcast_to(unknown, values.shape).copy()
    max_iterations = positive_int(max_iterations, "max_iterations")
    size = (1, 3, 3, 1)
    for _ in range(max_iterations):
        if not unknown.any():
            break
        known = (~unknown).astype(np.float32)
        total = uniform_filter(values * known, size=size, mode="nearest")
        count = uniform_filter(known, size=size, mode="nearest")
        fill = unknown & (count > 1e-6)
        values[fill] = total[fill] / count[fill]
        unknown &= ~fill
    return values


def as_masks(masks, shape: tuple, name: str = "masks") -> np.ndarray:
    """``(N, H, W, 1 or C)`` float32 0/1 masks from bool or 0/1 ``(N, H, W)`` or ``(N, H, W, C)`` for ``shape``."""
    array = np.asarray(masks)
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4 or array.shape[:3] != tuple(shape[:3]) or array.shape[3] not in (1, shape[3]):
        raise ValueError(f"`{name}` must have shape (N, H, W) or (N, H, W, C) = {tuple(shape[:3])} or "
                         f"{tuple(shape)}; got {np.shape(masks)}.")
    if array.dtype != bool and not np.all((array == 0) | (array == 1)):
        raise ValueError(f"`{name}` must be boolean (True where the pixel should not matter) or 0/1.")
    return array.astype(np.float32)
