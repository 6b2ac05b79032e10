"""Meaningful perturbation: localisation, small deletions that remove the score, bad parameters."""
import numpy as np
import pytest

from helpers import assert_peaks_inside_patches
from introspect import saliency


def test_maps_peak_inside_the_bright_patch(detector):
    model, x, corners = detector
    maps = saliency.meaningful_perturbation(model, x, 0, steps=150, mask_size=8)
    assert maps.shape == x.shape[:3]
    assert_peaks_inside_patches(maps, corners, "meaningful_perturbation")


def test_meaningful_perturbation_deletes_little_and_removes_the_score(detector):
    model, x, _ = detector
    maps, scores = saliency.meaningful_perturbation(model, x, 0, steps=150, return_scores=True)
    full = model(x).numpy()[:, 0]
    assert np.all(scores < 0.2 * full)
    assert np.all(maps.mean(axis=(1, 2)) < 0.35)
    assert maps.min() >= 0.0 and maps.max() <= 1.0


@pytest.mark.parametrize("params, argument", [
    (dict(steps=0), "steps"), (dict(mask_size=0), "mask_size"), (dict(mask_size=(4, 20)), "mask_size"),
    (dict(l1_coeff=-1.0), "l1_coeff"), (dict(tv_beta=0), "tv_beta"), (dict(learning_rate=0), "learning_rate"),
    (dict(blur_sigma=0), "blur_sigma"), (dict(jitter=-1), "jitter"), (dict(seed=-1), "seed"),
])
def test_bad_parameters(cnn, cnn_images, params, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        saliency.meaningful_perturbation(cnn, cnn_images, 0, **params)
