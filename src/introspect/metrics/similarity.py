"""How alike two batches of maps are, per example: rank correlation and structural similarity.

Used by the sanity checks (:mod:`.sanity`) to compare maps of a trained model with those of a
randomised one, as in Adebayo et al. (arXiv:1810.03292).
"""
from __future__ import annotations

import numpy as np

from ._checks import as_maps

#: Similarity measures reported by the sanity checks, keys of :func:`similarities`.
SIMILARITIES = ("spearman", "spearman_abs", "ssim")


def pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of matching rows of ``(N, P)`` arrays, ``(N,)``; NaN where a row is constant."""
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    denominator = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (a * b).sum(axis=1) / np.where(denominator > 0, denominator, 1), np.nan)


def spearman(maps_a, maps_b) -> np.ndarray:
    """Spearman rank correlation per example between two batches of maps, ``(N,)``.

    ``maps_a``, ``maps_b`` are ``(N, H, W)`` or ``(N, H, W, C)`` (channels summed). Ties share their
    mean rank. NaN where a map is constant (its ranks carry no order).
    """
    from scipy.stats import rankdata

    a = as_maps(maps_a, "maps_a")
    b = as_maps(maps_b, "maps_b", n=len(a), spatial=a.shape[1:])
    return pearson_rows(rankdata(a.reshape(len(a), -1), axis=1), rankdata(b.reshape(len(b), -1), axis=1))


def ssim(maps_a, maps_b) -> np.ndarray:
    """Structural similarity per example of ``|maps|`` scaled to [0, 1] by their maximum, ``(N,)``.

    Uses scikit-image's SSIM with a 7x7 window (smaller, odd, for maps under 7 pixels) and
    ``data_range=1``, on magnitude maps as in Adebayo et al. (arXiv:1810.03292). Maps are
    ``(N, H, W)`` or ``(N, H, W, C)`` (channels summed) with H, W >= 3.
    """
    from skimage.metrics import structural_similarity

    a = np.abs(as_maps(maps_a, "maps_a"))
    b = np.abs(as_maps(maps_b, "maps_b", n=len(a), spatial=a.shape[1:]))
    side = min(a.shape[1:])
    if side < 3:
        raise ValueError(f"`maps_a` must be at least 3x3 for SSIM; got {a.shape[1:]}.")
    window = min(7, side if side % 2 else side - 1)

    def unit(m):
        peak = m.max()
        return m / peak if peak > 0 else m

    return np.array([structural_similarity(unit(x).astype(np.float64), unit(y).astype(np.float64),
                                           win_size=window, data_range=1.0) for x, y in zip(a, b)])


def similarities(reference, other) -> dict[str, np.ndarray]:
    """Every measure of :data:`SIMILARITIES` between two batches of maps, each ``(N,)``.

    ``"spearman"`` on signed maps, ``"spearman_abs"`` and ``"ssim"`` on magnitudes.
    """
    return {"spearman": spearman(reference, other),
            "spearman_abs": spearman(np.abs(reference), np.abs(other)),
            "ssim": ssim(reference, other)}


def nan_mean(values) -> float:
    """Mean ignoring NaNs (the similarity of constant maps); NaN, without a warning, if all are NaN."""
    values = np.asarray(values, dtype=np.float64)
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
