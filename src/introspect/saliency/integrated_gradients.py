"""Integrated gradients: the path integral of gradients from a baseline to each image."""
from __future__ import annotations

import numpy as np

from ..maps import baseline_images
from .._validation import non_negative_int, positive_int, positive_number
from ._arguments import prepare
from ._engine import stream_gradients


def integrated_gradients(model, images, targets, *, output: str = "logits", foil=None, batch_size: int = 64,
                         baseline="zero", steps: int = 64, blur_sigma: float | None = None, seed: int = 0,
                         return_delta: bool = False):
    """Path integral of gradients from a baseline to each image, by the trapezoid rule.

    Sundararajan, Taly & Yan, "Axiomatic attribution for deep networks", arXiv:1703.01365.
    The ``N * steps`` path points are one stream cut into chunks of ``batch_size``.

    Parameters
    ----------
    model, images, targets, output, foil, batch_size
        As in :func:`~introspect.saliency.vanilla_gradient` (score: the logit by default).
    baseline : {"zero", "mean", "blur", "uniform"} or float or array
        ``"zero"`` (alias ``"black"``): all zeros; ``"mean"``: each image's per-channel mean;
        ``"blur"``: the image blurred with ``blur_sigma``; ``"uniform"``: noise uniform in each
        image's value range (seeded by ``seed``); a constant; or an array broadcastable to
        ``(N, H, W, C)``. See :func:`introspect.maps.baseline_images`.
    steps : int >= 2
        Points on the straight path, both ends included (= gradient evaluations per image).
    blur_sigma : float, optional
        Gaussian sigma in pixels of the ``blur`` baseline; default
        :func:`introspect.maps.default_blur_sigma`, ``max(1, max(H, W) / 10)``.
    seed : int
        Seed of the ``"uniform"`` baseline.
    return_delta : bool
        Also return the completeness error ``sum(attributions) - (f(x) - f(baseline))`` per image.

    Returns
    -------
    np.ndarray, (N, H, W, C) float32
        Signed attributions ``(x - baseline) * mean path gradient``; with ``return_delta`` a tuple
        ``(attributions, delta (N,))``.
    """
    request = prepare(model, images, targets, output, foil, batch_size)
    steps = positive_int(steps, "steps")
    if steps < 2:
        raise ValueError(f"`steps` must be at least 2 (the trapezoid rule needs both path ends); got {steps}.")
    x = request.images
    sigma = None if blur_sigma is None else positive_number(blur_sigma, "blur_sigma")
    base = baseline_images(x, baseline, name="baseline", blur_sigma=sigma, seed=non_negative_int(seed, "seed"))
    difference = x - base
    alphas = np.linspace(0.0, 1.0, steps, dtype=np.float32)
    weights = np.full(steps, 1.0 / (steps - 1))
    weights[[0, -1]] *= 0.5

    def make_inputs(image_index, sample_index):
        return base[image_index] + alphas[sample_index].reshape(-1, 1, 1, 1) * difference[image_index]

    sums, _, scores = stream_gradients(request, request.engine.gradient(request), steps, make_inputs,
                                       weights=weights)
    attributions = (sums * difference).astype(np.float32)
    if not return_delta:
        return attributions
    delta = attributions.reshape(len(x), -1).sum(axis=1, dtype=np.float64) - (scores[:, -1] - scores[:, 0])
    return attributions, delta.astype(np.float32)
