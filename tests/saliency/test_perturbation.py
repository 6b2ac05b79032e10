"""Meaningful perturbation: localisation, small deletions that remove the score, bad parameters."""
import numpy as np
import pytest

from helpers import assert_peaks_inside_patches
from introspect import saliency
from introspect.maps import baseline_images


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


def test_floor_stops_rewarding_deletion_once_the_score_is_that_low(detector):
    model, x, _ = detector
    full, empty = model(x).numpy()[:, 0], model(baseline_images(x, "blur")).numpy()[:, 0]
    unbounded = saliency.meaningful_perturbation(model, x, 0, steps=150, return_scores=True, progress=False)
    half, scores = saliency.meaningful_perturbation(model, x, 0, steps=150, floor=0.5, return_scores=True,
                                                    progress=False)
    kept = (scores - empty) / (full - empty)
    np.testing.assert_allclose(kept, 0.5, atol=0.05)  # deletes just enough to halve the score ...
    assert np.all(half.mean(axis=(1, 2)) < 0.5 * unbounded[0].mean(axis=(1, 2)))  # ... with under half the area
    # the detector's score cannot fall below the blurred image's, so floor=0 changes nothing
    np.testing.assert_allclose(saliency.meaningful_perturbation(model, x, 0, steps=150, floor=0.0, progress=False),
                               unbounded[0], atol=1e-6)


@pytest.mark.parametrize("params, argument", [
    (dict(steps=0), "steps"), (dict(mask_size=0), "mask_size"), (dict(mask_size=(4, 20)), "mask_size"),
    (dict(l1_coeff=-1.0), "l1_coeff"), (dict(tv_beta=0), "tv_beta"), (dict(learning_rate=0), "learning_rate"),
    (dict(blur_sigma=0), "blur_sigma"), (dict(jitter=-1), "jitter"), (dict(seed=-1), "seed"),
    (dict(floor=1.5), "floor"), (dict(floor=float("nan")), "floor"),
])
def test_bad_parameters(cnn, cnn_images, params, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        saliency.meaningful_perturbation(cnn, cnn_images, 0, **params)
