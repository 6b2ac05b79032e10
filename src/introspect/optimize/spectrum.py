"""How photo-like images are, and the natural-image spectrum that MACO keeps fixed.

* :func:`image_statistics`: pixel standard deviation, colour saturation and the log-log slope of
  the radial power spectrum, per image: three numbers that separate washed-out, grey or
  over-textured visualisations from photos;
* :func:`radial_magnitude` and :func:`natural_magnitude`: the mean Fourier magnitude of natural
  images as a function of spatial frequency, per opponent colour channel (luminance, red-green,
  blue-yellow), estimated once from the packaged photos (:func:`estimate_natural_spectrum`) and
  shipped as ``natural_spectrum.npy`` (a ``(4, 64)`` array: the bin frequencies, then one row per
  channel). MACO (Fel et al. 2023, arXiv:2306.06805) optimises only the phase and keeps this magnitude.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .._validation import as_images, positive_int

#: Orthonormal opponent colour axes (rows: luminance, red-green, blue-yellow) in RGB.
OPPONENT = np.array([[1, 1, 1], [1, -1, 0], [1, 1, -2]], dtype=np.float64)
OPPONENT /= np.linalg.norm(OPPONENT, axis=1, keepdims=True)
#: The shipped spectrum: bin centres (cycles per pixel) in row 0, the opponent channels' magnitudes below.
SPECTRUM_FILE = Path(__file__).resolve().parent / "natural_spectrum.npy"
#: Frequencies over which :func:`image_statistics` fits the spectrum's slope (cycles per pixel).
SLOPE_BAND = (0.02, 0.4)


def rfft_frequencies(height: int, width: int) -> np.ndarray:
    """``(H, W // 2 + 1)`` spatial frequency (cycles per pixel) of each rfft2 coefficient."""
    return np.hypot(np.fft.fftfreq(height)[:, None], np.fft.rfftfreq(width)[None, :])


def radial_magnitude(images, bins: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Mean Fourier magnitude per frequency band and channel, over images ``(N, H, W, C)``.

    Each channel's mean is removed first. Returns the band centres ``(bins,)`` in cycles per pixel
    (equal bands from 0 to 0.5 * sqrt(2)) and the magnitudes ``(C, bins)``, divided by ``sqrt(H W)`` so
    that they do not depend on the image size (NaN for empty bands).
    """
    images = as_images(images, "images").astype(np.float64)
    bins = positive_int(bins, "bins")
    _, height, width, channels = images.shape
    centred = images - images.mean(axis=(1, 2), keepdims=True)
    magnitude = np.abs(np.fft.rfft2(np.transpose(centred, (0, 3, 1, 2)))).mean(axis=0) / np.sqrt(height * width)
    edges = np.linspace(0, 0.5 * np.sqrt(2), bins + 1)
    band = np.clip(np.digitize(rfft_frequencies(height, width), edges) - 1, 0, bins - 1)
    counts = np.bincount(band.ravel(), minlength=bins)
    sums = np.stack([np.bincount(band.ravel(), weights=m.ravel(), minlength=bins) for m in magnitude])
    with np.errstate(invalid="ignore"):
        return (edges[:-1] + edges[1:]) / 2, sums / counts


def estimate_natural_spectrum(images, bins: int = 64) -> np.ndarray:
    """The ``(4, bins)`` array of ``natural_spectrum.npy`` from RGB photos ``(N, H, W, 3)`` in [0, 1].

    Row 0: band centres (cycles per pixel); rows 1-3: :func:`radial_magnitude` of the photos'
    opponent channels (:data:`OPPONENT`), empty bands filled from their neighbours.
    """
    images = as_images(images, "images", value_range=(0, 1))
    centres, magnitude = radial_magnitude(images @ OPPONENT.T, bins)
    filled = np.stack([np.interp(centres, centres[np.isfinite(m)], m[np.isfinite(m)]) for m in magnitude])
    return np.vstack([centres, filled]).astype(np.float32)


def write_natural_spectrum(path: str | Path = SPECTRUM_FILE) -> np.ndarray:
    """Estimate the natural spectrum from the packaged photos (:func:`introspect.imagenet.load_photos`, 224 px) and save it.

    ``python -c "from introspect.optimize import spectrum; spectrum.write_natural_spectrum()"``
    re-creates the shipped ``natural_spectrum.npy``.
    """
    from ..imagenet import load_photos

    table = estimate_natural_spectrum(load_photos()[0])
    np.save(path, table)
    return table


def natural_magnitude(height: int, width: int) -> np.ndarray:
    """``(3, H, W // 2 + 1)`` Fourier magnitude of natural images per opponent channel, zero at frequency 0.

    Interpolated (log-log) from the shipped ``natural_spectrum.npy`` at each rfft2 coefficient's
    frequency and scaled by ``sqrt(H W)``, the scale of ``numpy.fft.rfft2``.
    """
    table = np.load(SPECTRUM_FILE)
    frequency = rfft_frequencies(height, width)
    safe = np.maximum(frequency, table[0, 0])
    magnitude = np.stack([np.exp(np.interp(np.log(safe), np.log(table[0]), np.log(row))) for row in table[1:]])
    magnitude[:, frequency == 0] = 0.0
    return (magnitude * np.sqrt(height * width)).astype(np.float32)


def spectrum_slope(images, band: tuple = SLOPE_BAND) -> np.ndarray:
    """``(N,)`` log-log slope of each image's radial power spectrum (of its grey-level image).

    The power (squared magnitude, averaged over equal-width frequency bands) is fitted by a line in
    log power vs log frequency over ``band`` (cycles per pixel); photos give about -2 to -3, white noise 0.
    """
    images = as_images(images, "images")
    grey = images.mean(axis=-1, keepdims=True)
    slopes = []
    for image in grey:
        centres, magnitude = radial_magnitude(image[None], bins=64)
        power = magnitude[0] ** 2
        keep = (centres >= band[0]) & (centres <= band[1]) & np.isfinite(power) & (power > 0)
        slopes.append(np.polyfit(np.log(centres[keep]), np.log(power[keep]), 1)[0])
    return np.asarray(slopes)


def image_statistics(images) -> dict:
    """How photo-like RGB images ``(N, H, W, 3)`` in [0, 1] are: three arrays ``(N,)``.

    ``pixel_std``: standard deviation of all values of the image (contrast); ``saturation``:
    mean over pixels of max - min over R, G, B (0 for grey); ``spectrum_slope``: :func:`spectrum_slope`
    (steeper, more negative: less fine texture).
    """
    images = as_images(images, "images", value_range=(0, 1))
    if images.shape[-1] != 3:
        raise ValueError(f"`images` must be RGB, (N, H, W, 3); got shape {images.shape}.")
    return {"pixel_std": images.std(axis=(1, 2, 3)),
            "saturation": (images.max(axis=-1) - images.min(axis=-1)).mean(axis=(1, 2)),
            "spectrum_slope": spectrum_slope(images)}
