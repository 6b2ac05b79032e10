"""The SmoothGrad family: gradients over noisy copies of each image (SmoothGrad, SmoothGrad², VarGrad)."""
from __future__ import annotations

import math

import numpy as np

from .._validation import fraction, non_negative_int, one_of, positive_int
from ._arguments import prepare
from ._engine import stream_gradients

VARIANTS = ("mean", "squared", "var")

_NOISE_BLOCK = 16


def _noise_rows(seed: int, image_index: np.ndarray, sample_index: np.ndarray, n_samples: int,
                shape: tuple) -> np.ndarray:
    """Standard normal noise for (image, sample) pairs, the same whatever the chunking.

    Noise comes in blocks of at most ``_NOISE_BLOCK`` samples of one image, each drawn from its
    own Philox stream keyed by ``(seed, image)`` and a counter per block, so memory stays bounded
    by the chunk size and a sample's noise does not depend on ``batch_size``.
    """
    block = math.ceil(n_samples / math.ceil(n_samples / _NOISE_BLOCK))
    block_index = sample_index // block
    rows = np.empty((len(image_index), *shape), np.float32)
    keys = image_index.astype(np.int64) * (n_samples + 1) + block_index
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], len(keys)]
    for start, end in zip(starts, ends):
        bits = np.random.Philox(key=[seed, int(image_index[start])], counter=[0, 0, 0, int(block_index[start])])
        noise = np.random.Generator(bits).standard_normal((block, *shape), dtype=np.float32)
        rows[start:end] = noise[sample_index[start:end] - block_index[start] * block]
    return rows


def smoothgrad(model, images, targets, *, output: str = "logits", foil=None, batch_size: int = 64,
               n_samples: int = 50, noise_level: float = 0.15, variant: str = "mean", seed: int = 0,
               noise=None, progress: bool = True) -> np.ndarray:
    """Gradients averaged over noisy copies of each image: SmoothGrad, SmoothGrad² or VarGrad.

    Smilkov et al., "SmoothGrad: removing noise by adding noise", arXiv:1706.03825;
    VarGrad from Adebayo et al., "Local explanation methods for deep neural networks lack
    sensitivity to parameter values", arXiv:1810.03307. The ``N * n_samples`` noisy copies
    are one stream cut into chunks of ``batch_size``.

    Parameters
    ----------
    model, images, targets, output, foil, batch_size
        As in :func:`~introspect.saliency.vanilla_gradient` (score: the logit by default).
    n_samples : int
        Noisy copies per image (the paper uses 50).
    noise_level : float in [0, 1]
        Standard deviation of the Gaussian noise as a fraction of each image's value range
        ``max - min`` (the paper recommends 0.1-0.2).
    variant : {"mean", "squared", "var"}
        ``mean`` of gradients (SmoothGrad), mean of squared gradients (SmoothGrad²), or their
        variance (VarGrad).
    seed : int
        Noise seed; the noise of each (image, sample) does not depend on ``batch_size``.
    noise : array (N, n_samples, H, W, C), optional
        Explicit noise added to the images instead of drawing it (``noise_level`` and ``seed``
        are then ignored); useful to reproduce another implementation.
    progress : bool
        Show a plain-text progress bar when the call lasts over ~2 s; ``False`` silences it.

    Returns
    -------
    np.ndarray, (N, H, W, C) float32
        Signed for ``mean``, non-negative for ``squared`` and ``var``.
    """
    request = prepare(model, images, targets, output, foil, batch_size)
    n_samples = positive_int(n_samples, "n_samples")
    variant = one_of(variant, VARIANTS, "variant")
    x = request.images
    if noise is None:
        noise_level = fraction(noise_level, "noise_level")
        seed = non_negative_int(seed, "seed")
        sigma = noise_level * (x.max(axis=(1, 2, 3)) - x.min(axis=(1, 2, 3)))

        def make_inputs(image_index, sample_index):
            rows = _noise_rows(seed, image_index, sample_index, n_samples, x.shape[1:])
            return x[image_index] + sigma[image_index].reshape(-1, 1, 1, 1) * rows
    else:
        expected = (len(x), n_samples, *x.shape[1:])
        noise = np.asarray(noise, dtype=np.float32)
        if noise.shape != expected:
            raise ValueError(f"`noise` must have shape (N, n_samples, H, W, C) = {expected}; got {noise.shape}.")
        if not np.all(np.isfinite(noise)):
            raise ValueError("`noise` contains NaN or inf values.")

        def make_inputs(image_index, sample_index):
            return x[image_index] + noise[image_index, sample_index]

    sums, square_sums, _ = stream_gradients(request, request.engine.gradient(request), n_samples, make_inputs,
                                            squares=variant != "mean", progress=progress,
                                            description=f"smoothgrad ({variant}, {n_samples} samples)")
    mean = sums / n_samples
    if variant == "mean":
        return mean.astype(np.float32)
    mean_square = square_sums / n_samples
    if variant == "squared":
        return mean_square.astype(np.float32)
    return np.maximum(mean_square - np.square(mean), 0.0).astype(np.float32)
