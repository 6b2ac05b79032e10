"""Occlusion: exact patch sums on a linear model, fills, localisation, bad parameters."""
import numpy as np
import pytest

from helpers import assert_peaks_inside_patches
from introspect import maps as maps_module
from introspect import saliency


def test_linear_occlusion_is_patch_sum(linear, images):
    model, w, _ = linear
    maps = saliency.occlusion(model, images, 0, patch=(3, 5), baseline="zero")
    # Two non-overlapping 3x5 patches: each pixel gets the score its patch removes.
    contribution = (w[0] * images).sum(axis=-1)
    for rows in (slice(0, 3), slice(3, 6)):
        expected = contribution[:, rows].sum(axis=(1, 2))
        np.testing.assert_allclose(maps[:, rows], np.broadcast_to(expected[:, None, None], maps[:, rows].shape),
                                   atol=1e-5)


def test_fills_on_linear_model(linear, images):
    # One patch covering the whole image: the map is the score change sum(w * (x - fill)) everywhere.
    model, w, _ = linear
    whole = images.shape[1:3]
    mean = images.mean(axis=(1, 2), keepdims=True)
    for baseline, fill in [("black", 0.0), ("zero", 0.0), (0.5, 0.5), ("mean", mean)]:
        expected = (w[2] * (images - fill)).sum(axis=(1, 2, 3))
        maps = saliency.occlusion(model, images, 2, patch=whole, baseline=baseline)
        np.testing.assert_allclose(maps, np.broadcast_to(expected[:, None, None], maps.shape), atol=1e-5,
                                   err_msg=str(baseline))


def test_inpainted_patch_is_filled_from_its_surroundings(linear, images):
    # Each patch gets its own fill (introspect.maps.inpaint of that patch alone): on a linear model the
    # map of a patch is sum(w * (x - inpainted)) over it, and an image constant around a patch changes nothing.
    model, w, _ = linear
    maps = saliency.occlusion(model, images, 0, patch=(3, 5), baseline="inpaint")
    for rows in (slice(0, 3), slice(3, 6)):
        masks = np.zeros(images.shape[:3], bool)
        masks[:, rows] = True
        filled = maps_module.inpaint(images, masks)
        expected = (w[0] * (images - filled)).sum(axis=(1, 2, 3))
        np.testing.assert_allclose(maps[:, rows], np.broadcast_to(expected[:, None, None], maps[:, rows].shape),
                                   atol=1e-5)
    flat = np.full_like(images, 0.3)
    np.testing.assert_allclose(saliency.occlusion(model, flat, 0, patch=2, baseline="inpaint"), 0.0, atol=1e-5)
    assert not np.allclose(saliency.occlusion(model, images, 0, patch=2, baseline="inpaint"),
                           saliency.occlusion(model, images, 0, patch=2, baseline="zero"))


def test_overlapping_patches_average(linear, images):
    model, w, _ = linear
    # 2 x 5 patches with stride 1 over 6 rows: patch p covers rows p and p + 1 and removes c[p] + c[p + 1];
    # each pixel gets the mean drop of the patches covering it (one at the borders, two inside).
    maps = saliency.occlusion(model, images, 1, patch=(2, 5), stride=1)
    rows = (w[1] * images).sum(axis=(2, 3))
    drops = rows[:, :-1] + rows[:, 1:]
    expected = np.stack([drops[:, 0], *((drops[:, r - 1] + drops[:, r]) / 2 for r in range(1, 5)), drops[:, 4]], 1)
    np.testing.assert_allclose(maps, np.broadcast_to(expected[:, :, None], maps.shape), atol=1e-5)


def test_maps_peak_inside_the_bright_patch(detector):
    model, x, corners = detector
    maps = saliency.occlusion(model, x, 0, patch=4, stride=2)
    assert maps.shape == x.shape[:3]
    assert_peaks_inside_patches(maps, corners, "occlusion")


@pytest.mark.parametrize("params, argument", [
    (dict(patch=0), "patch"), (dict(patch=13), "patch"), (dict(patch="big"), "patch"),
    (dict(baseline="uniform"), "baseline"), (dict(baseline="grey"), "baseline"),
    (dict(stride=(2, 0)), "stride"), (dict(baseline="blur", blur_sigma=-1.0), "blur_sigma"),
])
def test_bad_parameters(cnn, cnn_images, params, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        saliency.occlusion(cnn, cnn_images, 0, **params)
