"""Tests of introspect.metrics.similarity: Spearman's rho against scipy, SSIM, the similarity set."""
import numpy as np
import pytest

from introspect import metrics
from introspect.metrics.similarity import similarities


def test_similarity_measures_match_scipy_and_are_one_for_identical_maps():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(4)
    a = rng.normal(size=(5, 9, 9))
    b = a + rng.normal(scale=0.7, size=a.shape)
    b[0, :3] = 0.0  # ties
    expected = [spearmanr(x.ravel(), y.ravel())[0] for x, y in zip(a, b)]
    np.testing.assert_allclose(metrics.spearman(a, b), expected, rtol=1e-6)
    np.testing.assert_allclose(metrics.spearman(a, a), 1.0)
    np.testing.assert_allclose(metrics.ssim(a, a), 1.0)
    assert (metrics.ssim(a, rng.normal(size=a.shape)) < 0.5).all()
    assert np.isnan(metrics.spearman(np.ones((1, 4, 4)), a[:1, :4, :4])[0])


def test_ssim_matches_scikit_image_on_magnitudes_scaled_to_one():
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(2, 3, 10, 10))
    expected = [structural_similarity(np.abs(x) / np.abs(x).max(), np.abs(y) / np.abs(y).max(), win_size=7,
                                      data_range=1.0) for x, y in zip(a, b)]
    np.testing.assert_allclose(metrics.ssim(a, b), expected, rtol=1e-5)
    # sign and scale do not matter: SSIM compares magnitudes scaled by their maximum
    np.testing.assert_allclose(metrics.ssim(-3 * a, b), expected, rtol=1e-5)


def test_similarities_reports_every_measure_and_abs_spearman_ignores_sign():
    rng = np.random.default_rng(6)
    a = rng.normal(size=(4, 8, 8))
    scores = similarities(a, -a)
    assert tuple(scores) == metrics.SIMILARITIES
    np.testing.assert_allclose(scores["spearman"], -1.0)
    np.testing.assert_allclose(scores["spearman_abs"], 1.0)
    np.testing.assert_allclose(scores["ssim"], 1.0)


def test_similarity_rejects_mismatched_or_tiny_maps():
    a = np.zeros((3, 9, 9))
    with pytest.raises(ValueError, match="`maps_b` holds 2 maps"):
        metrics.spearman(a, a[:2])
    with pytest.raises(ValueError, match="`maps_b` has spatial shape"):
        metrics.ssim(a, a[:, :8])
    with pytest.raises(ValueError, match="`maps_a` must be at least 3x3"):
        metrics.ssim(a[:, :2, :2], a[:, :2, :2])
