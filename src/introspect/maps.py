"""Numpy-only numerics on images and maps: post-processing, baselines, image statistics.

Everything here is a small pure function of arrays and imports no TensorFlow, so that display code
(:mod:`introspect.plotting`) and measurements can use it without a model. Saliency, metrics and
optimisation all build their baselines and blurs here, so that ``"blur"`` means one blur everywhere.

* post-processing of attribution maps, never applied by default: :func:`reduce_channels`,
  :func:`normalize_percentile`, :func:`gaussian_smooth`;
* reference images: :func:`baseline_images` with one vocabulary (``"zero"``, alias ``"black"``;
  ``"mean"``; ``"blur"`` with :func:`default_blur_sigma`; ``"uniform"``; a number or an array);
* image statistics: :func:`total_variation`, :func:`roughness`;
* filling masked pixels from their neighbours: :func:`inpaint` (occlusion's ``"inpaint"`` fill, the
  counterexamples of :mod:`introspect.repair`).
"""
from __future__ import annotations

import numpy as np

from ._validation import as_images, fraction, non_negative_int, one_of, positive_int, positive_number

#: Baseline names understood by :func:`baseline_images` (``"black"`` is accepted as ``"zero"``).
BASELINES = ("zero", "mean", "blur", "uniform")
_ALIASES = {"black": "zero"}


def reduce_channels(maps, method: str = "abs-max") -> np.ndarray:
    """Collapse the channel axis of ``(N, H, W, C)`` maps to ``(N, H, W)``.

    ``abs-max``: largest absolute value over channels (Simonyan et al., arXiv:1312.6034);
    ``sum``: signed sum; ``l2``: Euclidean norm over channels.
    """
    method = one_of(method, ("abs-max", "sum", "l2"), "method")
    array = np.asarray(maps, dtype=np.float32)
    if array.ndim != 4:
        raise ValueError(f"`maps` must have shape (N, H, W, C); got shape {array.shape}.")
    if method == "abs-max":
        return np.abs(array).max(axis=-1)
    if method == "sum":
        return array.sum(axis=-1)
    return np.sqrt(np.square(array).sum(axis=-1))


def normalize_percentile(maps, upper: float = 99.5, lower: float | None = None) -> np.ndarray:
    """Scale each map of a batch ``(N, ...)`` by its own percentiles.

    With ``lower=None`` (signed maps) each map is divided by the ``upper`` percentile of its
    absolute values and clipped to [-1, 1], which keeps zero at zero. With ``lower`` given
    (magnitude maps) it becomes ``(map - P_lower) / (P_upper - P_lower)`` clipped to [0, 1].
    Clipping hides the largest values: it is for display, not for measuring.
    """
    array = np.asarray(maps, dtype=np.float32)
    if array.ndim < 2:
        raise ValueError(f"`maps` must be a batch (N, ...) of maps; got shape {array.shape}.")
    upper = fraction(upper, "upper", low=0.0, high=100.0)
    flat = array.reshape(len(array), -1)
    per_map = (-1, *([1] * (array.ndim - 1)))
    if lower is None:
        scale = np.percentile(np.abs(flat), upper, axis=1)
        return np.clip(array / np.where(scale > 0, scale, 1.0).reshape(per_map), -1.0, 1.0)
    lower = fraction(lower, "lower", low=0.0, high=upper)
    low, high = (np.percentile(flat, q, axis=1).reshape(per_map) for q in (lower, upper))
    return np.clip((array - low) / np.where(high > low, high - low, 1.0), 0.0, 1.0)


def gaussian_smooth(maps, sigma: float) -> np.ndarray:
    """Gaussian blur over the two spatial axes of ``(N, H, W)`` or ``(N, H, W, C)`` arrays.

    Borders repeat the edge pixel. Smoothing makes maps look cleaner but spreads each value over
    its neighbours, i.e. it changes what a map says about single pixels; keep the raw map for any
    measurement. This is the numpy blur of the package; :func:`introspect.numerics.gaussian_blur`
    is its TensorFlow twin for use inside compiled functions.
    """
    from scipy.ndimage import gaussian_filter

    array = np.asarray(maps, dtype=np.float32)
    if array.ndim not in (3, 4):
        raise ValueError(f"`maps` must have shape (N, H, W) or (N, H, W, C); got shape {array.shape}.")
    sigma = positive_number(sigma, "sigma")
    sigmas = (0, sigma, sigma) + ((0,) if array.ndim == 4 else ())
    return gaussian_filter(array, sigmas, mode="nearest").astype(np.float32)


def default_blur_sigma(shape: tuple) -> float:
    """The blur baseline's Gaussian sigma in pixels for images ``(H, W, ...)``: ``max(1, max(H, W) / 10)``.

    About 2.8 px on Fashion-MNIST and 22 px at 224 x 224: enough to remove edges and texture
    while keeping the coarse layout (the deletion blur of Fong & Vedaldi, arXiv:1704.03296).
    """
    return max(1.0, max(int(shape[0]), int(shape[1])) / 10)


def baseline_images(images, baseline="zero", *, name: str = "baseline", blur_sigma: float | None = None,
                    seed: int = 0, choices: tuple = BASELINES) -> np.ndarray:
    """A reference image per input, ``(N, H, W, C)`` float32, from a name, a number or an array.

    Parameters
    ----------
    images : (N, H, W, C) array
        The images the baselines belong to.
    baseline : str, float or array
        ``"zero"`` (alias ``"black"``): all zeros; ``"mean"``: each image's per-channel mean;
        ``"blur"``: the image blurred with ``blur_sigma``; ``"uniform"``: uniform noise between each
        image's minimum and maximum (seeded); a number: that constant; an array broadcastable to
        ``images``.
    name : str
        The caller's argument name, used in error messages.
    blur_sigma : float, optional
        Sigma of the ``"blur"`` baseline in pixels; default :func:`default_blur_sigma`.
    choices : tuple of str
        The names this caller accepts (a subset of :data:`BASELINES`).
    """
    images = as_images(images)
    if isinstance(baseline, str):
        kind = one_of(_ALIASES.get(baseline, baseline), choices, name)
        if kind == "zero":
            return np.zeros_like(images)
        if kind == "mean":
            return np.broadcast_to(images.mean(axis=(1, 2), keepdims=True), images.shape).astype(np.float32)
        if kind == "blur":
            sigma = default_blur_sigma(images.shape[1:]) if blur_sigma is None else blur_sigma
            return gaussian_smooth(images, positive_number(sigma, "blur_sigma"))
        low = images.min(axis=(1, 2, 3), keepdims=True)
        high = images.max(axis=(1, 2, 3), keepdims=True)
        uniform = np.random.default_rng(non_negative_int(seed, "seed")).random(images.shape, dtype=np.float32)
        return (low + uniform * (high - low)).astype(np.float32)
    try:
        array = np.broadcast_to(np.asarray(baseline, dtype=np.float32), images.shape)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be one of {', '.join(map(repr, choices))}, a number, or an array "
                         f"broadcastable to the images {images.shape}; got {baseline!r:.80}.") from None
    if not np.all(np.isfinite(array)):
        raise ValueError(f"`{name}` contains NaN or inf values; expected finite pixel values.")
    return np.ascontiguousarray(array)


def _as_batch(images, name: str) -> np.ndarray:
    """Finite float64 ``(N, H, W, C)`` from ``(N, H, W)`` or ``(N, H, W, C)``; signed values allowed."""
    array = np.asarray(images, dtype=np.float32)
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4 or min(array.shape[1:3]) < 2:
        raise ValueError(f"`{name}` must have shape (N, H, W) or (N, H, W, C) with H, W >= 2; "
                         f"got shape {array.shape}.")
    return as_images(array, name).astype(np.float64)


def total_variation(images, *, reduction: str = "sum", beta: float = 1.0) -> np.ndarray:
    """Anisotropic total variation per image, ``(N,)``.

    ``sum |x[i+1, j] - x[i, j]|^beta + sum |x[i, j+1] - x[i, j]|^beta`` over all pixels and channels
    (Rudin, Osher & Fatemi 1992; the image prior of Mahendran & Vedaldi, arXiv:1412.0035). With
    ``reduction="mean"`` each of the two sums is a mean over its differences instead.
    ``images`` ``(N, H, W)`` or ``(N, H, W, C)`` may be signed, e.g. difference images.
    :func:`introspect.numerics.total_variation` is the TensorFlow twin.
    """
    reduce = {"sum": np.sum, "mean": np.mean}[one_of(reduction, ("sum", "mean"), "reduction")]
    beta = positive_number(beta, "beta")
    x = _as_batch(images, "images")
    return (reduce(np.abs(np.diff(x, axis=1)) ** beta, axis=(1, 2, 3))
            + reduce(np.abs(np.diff(x, axis=2)) ** beta, axis=(1, 2, 3)))


def roughness(images) -> np.ndarray:
    """Total variation per unit L2 norm, ``(N,)``: how noise-like an image or a change is.

    Scale-free (``roughness(c * x) == roughness(x)`` for ``c != 0``). For an ``H x W`` map of
    independent Gaussian noise it is about ``(2 H W - H - W) * (2 / sqrt(pi)) / sqrt(H W)``
    (about 61 for 28 x 28); a smooth Gaussian blob of sigma 4 pixels scores about 6. NaN for an
    all-zero image. Use it to compare difference images, e.g. counterfactual changes with adversarial ones.
    """
    x = _as_batch(images, "images")
    norm = np.sqrt(np.square(x).sum(axis=(1, 2, 3)))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, total_variation(x) / np.where(norm > 0, norm, 1.0), np.nan)


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
    from scipy.ndimage import uniform_filter

    values = as_images(images).copy()
    unknown = as_masks(masks, values.shape)
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


def as_masks(masks, shape: tuple, name: str = "masks", *, meaning: str = "the pixel is to be filled") -> np.ndarray:
    """Boolean ``(N, H, W, 1 or C)`` from bool or 0/1 masks ``(N, H, W)`` or ``(N, H, W, C)`` for images ``shape``.

    ``name`` and ``meaning`` (what True stands for) go into the error messages.
    """
    array = np.asarray(masks)
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4 or array.shape[:3] != tuple(shape[:3]) or array.shape[3] not in (1, shape[3]):
        raise ValueError(f"`{name}` must have shape (N, H, W) or (N, H, W, C) = {tuple(shape[:3])} or "
                         f"{tuple(shape)}; got {np.shape(masks)}.")
    if array.dtype != bool and not np.all((array == 0) | (array == 1)):
        raise ValueError(f"`{name}` must be boolean (True where {meaning}) or 0/1.")
    return array.astype(bool)
