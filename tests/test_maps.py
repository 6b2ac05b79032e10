"""Tests of introspect.maps: image statistics (total variation, roughness) and baseline images."""
import numpy as np
import pytest

from introspect import maps, metrics


# ---------------------------------------------------------------------------------------------
# Image statistics


def test_total_variation_counts_every_step_between_neighbours():
    step = np.zeros((1, 4, 5, 1), np.float32)
    step[:, :, 3:] = 2.0  # one vertical edge of height 2, four rows long
    np.testing.assert_allclose(maps.total_variation(step), [8.0])
    np.testing.assert_allclose(maps.total_variation(step[..., 0]), [8.0])  # (N, H, W) works too
    np.testing.assert_allclose(maps.total_variation(-step), [8.0])  # signed changes
    rgb = np.concatenate([step, 0.5 * step, np.zeros_like(step)], axis=-1)
    np.testing.assert_allclose(maps.total_variation(rgb), [12.0])  # summed over channels


def test_total_variation_reduction_and_beta():
    step = np.zeros((1, 4, 5, 1), np.float32)
    step[:, :, 3:] = 2.0
    # mean: 8 over 16 horizontal differences (4 rows x 4) + 0 over 15 vertical ones (3 x 5)
    np.testing.assert_allclose(maps.total_variation(step, reduction="mean"), [8.0 / 16])
    np.testing.assert_allclose(maps.total_variation(step, beta=2.0), [16.0])  # four steps of 2 squared
    with pytest.raises(ValueError, match="`reduction`"):
        maps.total_variation(step, reduction="max")
    with pytest.raises(ValueError, match="`beta`"):
        maps.total_variation(step, beta=0)


def test_total_variation_agrees_with_its_tensorflow_twin():
    from introspect import numerics

    images = np.random.default_rng(0).normal(size=(3, 7, 6, 2)).astype(np.float32)
    for reduction in ("sum", "mean"):
        np.testing.assert_allclose(numerics.total_variation(images, reduction=reduction).numpy(),
                                   maps.total_variation(images, reduction=reduction), rtol=1e-5)


def test_roughness_separates_noise_from_smooth_changes_and_ignores_scale():
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(64, 28, 28)).astype(np.float32)
    expected = (2 * 28 * 28 - 56) * (2 / np.sqrt(np.pi)) / 28
    np.testing.assert_allclose(maps.roughness(noise).mean(), expected, rtol=0.03)
    y, x = np.mgrid[:28, :28]
    blob = np.exp(-((y - 14) ** 2 + (x - 12) ** 2) / 30.0)[None].astype(np.float32)
    assert maps.roughness(blob)[0] < 10 < expected
    np.testing.assert_allclose(maps.roughness(-3 * noise[:4]), maps.roughness(noise[:4]), rtol=1e-5)
    assert np.isnan(maps.roughness(np.zeros((1, 5, 5))))[0]


@pytest.mark.parametrize("images", [np.zeros((5, 5)), np.zeros((2, 1, 5)), np.full((1, 4, 4), np.nan)])
def test_image_statistics_reject_bad_input(images):
    for function in (maps.total_variation, maps.roughness):
        with pytest.raises(ValueError, match="`images`"):
            function(images)


def test_image_statistics_still_import_from_metrics():
    assert metrics.total_variation is maps.total_variation and metrics.roughness is maps.roughness


# ---------------------------------------------------------------------------------------------
# Baselines


@pytest.fixture
def images():
    return np.random.default_rng(1).uniform(0.2, 0.9, size=(3, 8, 6, 2)).astype(np.float32)


@pytest.mark.parametrize("name", ["zero", "black"])
def test_zero_baseline_and_its_black_alias(images, name):
    baseline = maps.baseline_images(images, name)
    assert baseline.shape == images.shape and baseline.dtype == np.float32
    assert not baseline.any()


def test_mean_baseline_is_each_images_channel_mean(images):
    baseline = maps.baseline_images(images, "mean")
    for image, base in zip(images, baseline):
        for channel in range(2):
            np.testing.assert_allclose(base[..., channel], image[..., channel].mean(), rtol=1e-6)


def test_blur_baseline_is_a_gaussian_with_the_default_sigma():
    impulse = np.zeros((1, 31, 31, 1), np.float32)
    impulse[0, 15, 15] = 1.0
    sigma = 1.5
    # scipy's kernel: exp(-x^2 / (2 sigma^2)) normalised over |x| <= round(4 sigma)
    x = np.arange(-6, 7)
    kernel = np.exp(-x ** 2 / (2 * sigma ** 2))
    kernel /= kernel.sum()
    expected = np.zeros((31, 31))
    expected[9:22, 9:22] = np.outer(kernel, kernel)
    np.testing.assert_allclose(maps.baseline_images(impulse, "blur", blur_sigma=sigma)[0, ..., 0], expected,
                               atol=1e-7)
    # the default sigma is max(1, max(H, W) / 10): 3.1 here, 1 for tiny images, also for non-square ones
    assert maps.default_blur_sigma((31, 31)) == pytest.approx(3.1)
    assert maps.default_blur_sigma((5, 8, 3)) == 1.0 and maps.default_blur_sigma((40, 20)) == 4.0
    np.testing.assert_allclose(maps.baseline_images(impulse, "blur"),
                               maps.baseline_images(impulse, "blur", blur_sigma=3.1))
    wide = np.random.default_rng(2).random((2, 40, 20, 1)).astype(np.float32)
    np.testing.assert_allclose(maps.baseline_images(wide, "blur"), maps.baseline_images(wide, "blur", blur_sigma=4.0))


def test_uniform_baseline_is_seeded_noise_within_each_images_range(images):
    a = maps.baseline_images(images, "uniform", seed=3)
    np.testing.assert_array_equal(a, maps.baseline_images(images, "uniform", seed=3))
    assert not np.array_equal(a, maps.baseline_images(images, "uniform", seed=4))
    for image, base in zip(images, a):
        assert image.min() <= base.min() and base.max() <= image.max()
        assert base.std() > 0.1 * (image.max() - image.min())


def test_numbers_and_broadcastable_arrays_are_baselines(images):
    np.testing.assert_array_equal(maps.baseline_images(images, 0.5), np.full_like(images, 0.5))
    pixel = np.array([0.1, 0.7], np.float32)
    np.testing.assert_array_equal(maps.baseline_images(images, pixel), np.broadcast_to(pixel, images.shape))
    np.testing.assert_array_equal(maps.baseline_images(images, images[::-1]), images[::-1])


@pytest.mark.parametrize("baseline, arguments, message", [
    ("noise", {}, "`baseline` must be one of 'zero', 'mean', 'blur', 'uniform'"),
    ("uniform", {"choices": ("zero", "mean")}, "`baseline` must be one of 'zero', 'mean'; got 'uniform'"),
    ("gray", {"name": "reference"}, "`reference` must be one of"),
    (np.zeros((3, 4, 4, 2)), {}, r"`baseline` must be one of .* broadcastable to the images \(3, 8, 6, 2\)"),
    ("not an array".split(), {}, "`baseline` must be one of"),
    (np.nan, {}, "`baseline` contains NaN"),
    ("blur", {"blur_sigma": -1.0}, "`blur_sigma`"),
    ("uniform", {"seed": -1}, "`seed`"),
])
def test_bad_baselines_raise_naming_the_argument(images, baseline, arguments, message):
    with pytest.raises(ValueError, match=message):
        maps.baseline_images(images, baseline, **arguments)


def test_baseline_images_checks_the_images():
    with pytest.raises(ValueError, match="`images` must be a batch"):
        maps.baseline_images(np.zeros((8, 8, 1)), "zero")
