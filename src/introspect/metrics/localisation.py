"""Does a map point at a known region? Scores against ground-truth masks and reference patterns.

* :func:`relevance_mass`: share of positive relevance inside a mask (Arras et al., arXiv:2003.07258);
* :func:`pointing_game`: is the maximum inside the mask (Zhang et al., arXiv:1608.00507);
* :func:`pattern_correlation`: does a map draw a known pattern, allowing small shifts.
"""
from __future__ import annotations

import numpy as np

from .._validation import non_negative_int
from ._checks import as_maps, as_masks
from .similarity import pearson_rows


def relevance_mass(maps, masks) -> np.ndarray:
    """Share of each map's positive relevance that falls inside its mask, ``(N,)`` in [0, 1].

    ``sum(max(R, 0) * mask) / sum(max(R, 0))`` (relevance mass accuracy of Arras et al.,
    arXiv:2003.07258). NaN for a map without positive relevance (use ``np.nanmean``).

    Parameters
    ----------
    maps : (N, H, W) or (N, H, W, C)
        Relevance; channels are summed first.
    masks : (N, H, W) bool
        Ground-truth regions, e.g. trigger masks from :mod:`introspect.poisoning`; none may be empty.
    """
    relevance = np.maximum(as_maps(maps), 0.0).astype(np.float64)
    masks = as_masks(masks, relevance.shape)
    total = relevance.reshape(len(relevance), -1).sum(axis=1)
    inside = (relevance * masks).reshape(len(relevance), -1).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, inside / np.where(total > 0, total, 1), np.nan)


def pointing_game(maps, masks, *, tolerance: int = 0) -> np.ndarray:
    """Whether each map's maximum lies inside its mask, ``(N,)`` bool (Zhang et al., arXiv:1608.00507).

    A hit needs the largest value inside the mask (grown by ``tolerance`` pixels, a square
    dilation) to be strictly larger than every value outside, so a flat map, whose maximum
    is everywhere, never scores. ``maps`` ``(N, H, W)`` or ``(N, H, W, C)`` have their channels
    summed first; pass ``np.abs(maps)`` to point with magnitudes. ``masks`` are ``(N, H, W)`` bool.
    """
    from scipy.ndimage import binary_dilation

    relevance = as_maps(maps)
    masks = as_masks(masks, relevance.shape)
    tolerance = non_negative_int(tolerance, "tolerance")
    if tolerance:
        kernel = np.ones((1, 2 * tolerance + 1, 2 * tolerance + 1), dtype=bool)
        masks = binary_dilation(masks, structure=kernel)
    flat, inside = relevance.reshape(len(relevance), -1), masks.reshape(len(masks), -1)
    best_inside = np.where(inside, flat, -np.inf).max(axis=1)
    best_outside = np.where(inside, -np.inf, flat).max(axis=1)
    return best_inside > best_outside


def pattern_correlation(maps, pattern, *, max_shift: int = 0) -> np.ndarray:
    """Pearson correlation of each map with a reference pattern, the best over small shifts, ``(N,)``.

    Asks whether a map (e.g. the change activation maximisation made to its start image) draws
    a known pattern, such as a planted trigger's footprint. With ``max_shift > 0`` the pattern
    is also compared shifted by up to ``max_shift`` pixels along each axis (vacated pixels are
    0, nothing wraps around) and the best correlation is kept, so that a periodic pattern drawn
    at another phase still counts; the maximum over ``(2 * max_shift + 1) ** 2`` comparisons is
    biased upwards for unrelated maps, so compare against a reference (e.g. a control model).

    Parameters
    ----------
    maps : (N, H, W) or (N, H, W, C)
        Maps or image differences; channels are summed first.
    pattern : (H, W) or (N, H, W)
        One pattern for every map, or one per map.
    max_shift : int
        Largest shift in pixels (0: positions must agree exactly).

    Returns
    -------
    np.ndarray, (N,) float in [-1, 1]
        NaN where a map (or every shift of the pattern) is constant.
    """
    values = as_maps(maps).astype(np.float64)
    reference = np.asarray(pattern, dtype=np.float64)
    if reference.shape == values.shape[1:]:
        reference = np.broadcast_to(reference, values.shape)
    if reference.shape != values.shape:
        raise ValueError(f"`pattern` must have shape (H, W) = {values.shape[1:]} or (N, H, W) = {values.shape}; "
                         f"got {np.shape(pattern)}.")
    if not np.all(np.isfinite(reference)):
        raise ValueError("`pattern` contains NaN or inf values.")
    max_shift = non_negative_int(max_shift, "max_shift")
    height, width = values.shape[1:]
    if max_shift >= min(height, width):
        raise ValueError(f"`max_shift` must be smaller than the maps' {height}x{width} size; got {max_shift}.")
    flat = values.reshape(len(values), -1)
    best = np.full(len(values), np.nan)
    for dy in range(-max_shift, max_shift + 1):
        for dx in range(-max_shift, max_shift + 1):
            shifted = np.zeros_like(reference)
            shifted[:, max(dy, 0):height + min(dy, 0), max(dx, 0):width + min(dx, 0)] = \
                reference[:, max(-dy, 0):height - max(dy, 0), max(-dx, 0):width - max(dx, 0)]
            best = np.fmax(best, pearson_rows(flat, shifted.reshape(len(values), -1)))
    return best
