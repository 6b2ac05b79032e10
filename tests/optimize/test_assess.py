"""Judging changes: sizes, nearest real image, detection AUC, and the intervention-vs-control edit test."""
import numpy as np
import pytest

from helpers import linear_model
from introspect import optimize as opt


def test_change_table_measures_sizes_and_nearest_real_image():
    x = np.zeros((2, 4, 4, 1), np.float32)
    changed = x.copy()
    changed[0, 0, 0] = 0.5
    reference = np.stack([np.zeros((4, 4, 1)), np.ones((4, 4, 1))]).astype(np.float32)
    table = opt.change_table(x, changed, [0, 1], reference_images=reference, reference_labels=[0, 1])
    np.testing.assert_allclose(table["l1"], [0.5, 0.0])
    np.testing.assert_allclose(table["l2"], [0.5, 0.0])
    np.testing.assert_allclose(table["linf"], [0.5, 0.0])
    np.testing.assert_allclose(table["nearest_real"], [0.5, 4.0])
    with pytest.raises(ValueError, match="`changed`"):
        opt.change_table(x, changed[:1], [0, 1])


def test_detection_auc_is_one_half_or_zero_in_the_analytic_cases():
    assert opt.detection_auc([0, 1, 2], [3, 4, 5])[0] == 1.0
    assert opt.detection_auc([3, 4, 5], [0, 1, 2])[0] == 0.0
    assert opt.detection_auc([1, 1], [1, 1])[0] == 0.5
    auc, (low, high) = opt.detection_auc(np.arange(50), np.arange(50) + 10)
    assert low <= auc <= high
    with pytest.raises(ValueError, match="`negatives`"):
        opt.detection_auc([1], [2, 3])


def test_mask_statistics_area_and_background_share():
    images = np.zeros((1, 2, 2, 1), np.float32)
    images[0, 0, 0] = 1.0
    masks = np.array([[[1.0, 1.0], [0.0, 0.0]]])
    stats = opt.mask_statistics(masks, images)
    np.testing.assert_allclose(stats["area"], [0.5])
    np.testing.assert_allclose(stats["on_background"], [0.5])


def test_edit_test_flips_only_where_the_model_looks():
    weights = np.zeros((6, 6, 1, 2), np.float32)
    weights[3:, :, 0, 0] = 1.0  # class 0 reads the bottom half
    weights[:3, :, 0, 1] = 1.0  # class 1 reads the top half
    model = linear_model(weights)
    images = np.full((5, 6, 6, 1), 0.6, np.float32)
    images[:, :3] = 0.4  # class 0 leads by 0.2 * 18 = 3.6
    region = np.zeros((6, 6), bool)
    region[:3] = True
    # brightening the top by a unit-norm edit raises class 1 by size * 18 / sqrt(18): flips above size 0.85;
    # the control (the same edit moved 3 rows down, onto the bottom half) only helps class 0
    result = opt.edit_test(model, images, np.ones((6, 6, 1)), region, to_class=1, sizes=(0.5, 1.5), shift=3)
    np.testing.assert_array_equal(result.intervention, [[False] * 5, [True] * 5])
    np.testing.assert_array_equal(result.control, np.zeros((2, 5), bool))
    np.testing.assert_allclose(np.sqrt(np.square(result.pattern).sum()), 1.0, rtol=1e-6)
    np.testing.assert_allclose(result.control_pattern, np.roll(result.pattern, 3, axis=0))
    table = result.table()
    np.testing.assert_allclose(table["difference"], [0.0, 1.0])
    with pytest.raises(ValueError, match="zero inside `region`"):
        opt.edit_test(model, images, np.zeros((6, 6, 1)), region, to_class=1)


def test_concentrated_change_names_the_largest_share_of_the_mean_change():
    differences = np.zeros((3, 10, 10, 1))
    differences[:, 2:4, 5:7] = 1.0  # 4 pixels of 100 change in every example
    mean, region = opt.concentrated_change(differences, share=0.04, sigma=0)
    np.testing.assert_allclose(mean, differences[0])
    np.testing.assert_array_equal(np.argwhere(region), [[2, 5], [2, 6], [3, 5], [3, 6]])
    _, smooth_region = opt.concentrated_change(differences, share=0.04, sigma=1.0)
    assert smooth_region[2:4, 5:7].all()


def test_blur_recovery_blurs_only_what_the_mask_deletes():
    from introspect import maps

    weights = np.zeros((6, 6, 1, 2), np.float32)
    weights[2:4, 2:4, 0, 0] = 1.0      # class 0: the centre's brightness
    weights[..., 1] = 0.1              # class 1: the mean brightness
    model = linear_model(weights)
    images = np.zeros((2, 6, 6, 1), np.float32)
    images[:, 2:4, 2:4] = 1.0          # a bright centre: class 0 (4 against 0.4)
    deletion = np.zeros((2, 6, 6), np.float32)
    deletion[1] = 1.0                  # the second image is blurred whole: its centre spreads out
    kept = opt.blur_recovery(model, images, deletion, [0, 0], blur_sigma=2.0)
    blurred = maps.baseline_images(images[1:], "blur", blur_sigma=2.0)
    expected = (blurred[0, 2:4, 2:4].sum() > 0.1 * blurred[0].sum())
    np.testing.assert_array_equal(kept, [True, expected])
    with pytest.raises(ValueError, match="`deletion_maps`"):
        opt.blur_recovery(model, images, deletion[:, :3], [0, 0])


def test_matched_control_uses_pixels_of_the_same_kind_and_flip_table_pairs_edits():
    images = np.zeros((4, 6, 6, 1), np.float32)
    images[:, :, :3] = 0.8             # left half: bright garment, right half: background
    region = np.zeros((6, 6), bool)
    region[0, :2] = True               # two bright pixels
    source, target = opt.matched_pixels(region, images, seed=0)
    assert set(source) == {0, 1} and len(set(target)) == 2
    assert all(images[0].ravel()[t] == 0.8 and not region.ravel()[t] for t in target)
    weights = np.zeros((6, 6, 1, 2), np.float32)
    weights[..., 1] = 1.0
    model = linear_model(weights)
    table = opt.flip_table(model, {"none": images, "all bright": np.ones_like(images)}, to_class=1)
    np.testing.assert_allclose(table["flips"], [1.0, 1.0])
    np.testing.assert_allclose(table["difference"], [0.0, 0.0])
    with pytest.raises(ValueError, match="`control`"):
        opt.edit_test(model, images, np.ones((6, 6, 1)), region, to_class=1, control="elsewhere")


def test_flip_table_compares_each_edit_with_its_control():
    weights = np.zeros((6, 6, 1, 2), np.float32)
    weights[:3, :, 0, 1] = 1.0         # class 1: the top half's brightness
    weights[3:, :, 0, 0] = 1.0
    model = linear_model(weights)
    images = np.full((3, 6, 6, 1), 0.5, np.float32)
    images[:, :3] = 0.4                # class 0 leads
    top, bottom = images.copy(), images.copy()
    top[:, :3] += 0.3
    bottom[:, 3:] += 0.3
    table = opt.flip_table(model, {"none": images, "top": top, "bottom": bottom}, to_class=1,
                           controls={"top": "bottom"}).set_index("edit")
    assert table.loc["top", "compared with"] == "bottom" and table.loc["bottom", "compared with"] == "none"
    np.testing.assert_allclose(table["difference"], [0.0, 1.0, 0.0])
    with pytest.raises(ValueError, match="`controls`"):
        opt.flip_table(model, {"none": images}, to_class=1, controls={"none": "missing"})
