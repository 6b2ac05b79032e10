"""Integrated gradients: exact on a linear model for every baseline, complete on a trained CNN, tf-explain."""
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

import keras
from helpers import batchnorm_cnn, blob_images
from introspect import saliency
from introspect.saliency.integrated_gradients import RULES, path_rule


def _expected_baseline(baseline, images: np.ndarray, sigma: float) -> np.ndarray:
    """The documented baselines, written out with numpy and scipy (not with the package's builder)."""
    if not isinstance(baseline, str):
        return np.broadcast_to(np.asarray(baseline, np.float32), images.shape)
    if baseline in ("black", "zero"):
        return np.zeros_like(images)
    if baseline == "mean":
        return np.broadcast_to(images.mean(axis=(1, 2), keepdims=True), images.shape)
    if baseline == "blur":
        return gaussian_filter(images, (0, sigma, sigma, 0), mode="nearest")
    assert baseline == "uniform"   # seed 0: uniform between each image's minimum and maximum
    noise = np.random.default_rng(0).random(images.shape, dtype=np.float32)
    low, high = images.min(axis=(1, 2, 3), keepdims=True), images.max(axis=(1, 2, 3), keepdims=True)
    return low + noise * (high - low)


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("baseline", ["zero", "black", "mean", "blur", "uniform", 0.25, "array"])
def test_linear_integrated_gradients(linear, images, baseline, rule):
    model, w, _ = linear
    if baseline == "array":
        baseline = np.random.default_rng(6).uniform(size=images.shape).astype(np.float32)
    # Default blur sigma: max(1, max(H, W) / 10) = 1 pixel for 6 x 5 images.
    reference = _expected_baseline(baseline, images, sigma=1.0)
    attributions, delta = saliency.integrated_gradients(model, images, 1, baseline=baseline, steps=7, rule=rule,
                                                        return_delta=True)
    np.testing.assert_allclose(attributions, w[1] * (images - reference), atol=1e-5)
    np.testing.assert_allclose(delta, 0.0, atol=1e-4)


def test_blur_sigma_is_used(linear, images):
    model, w, _ = linear
    attributions = saliency.integrated_gradients(model, images, 0, baseline="blur", blur_sigma=2.0, steps=3)
    np.testing.assert_allclose(attributions, w[0] * (images - _expected_baseline("blur", images, 2.0)), atol=1e-5)


@pytest.fixture(scope="module")
def trained_cnn():
    # Completeness is judged relative to f(x) - f(baseline), which is tiny for random weights;
    # a briefly trained model has the score changes of a real classifier.
    model = batchnorm_cnn("trained")
    x, labels = blob_images(320, 0)
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, labels, epochs=2, batch_size=32, verbose=0)
    return model


@pytest.mark.parametrize("baseline", ["zero", "blur"])
def test_integrated_gradients_completeness(trained_cnn, baseline):
    x, labels = blob_images(6, 1)
    attributions, delta = saliency.integrated_gradients(trained_cnn, x, labels, baseline=baseline, steps=64,
                                                        return_delta=True)
    reference = _expected_baseline(baseline, x, sigma=1.2)   # default sigma for 12 x 12 images
    rows = np.arange(len(x))
    change = trained_cnn(x).numpy()[rows, labels] - trained_cnn(reference).numpy()[rows, labels]
    total = attributions.reshape(len(x), -1).sum(axis=1)
    np.testing.assert_allclose(total - change, delta, atol=1e-4)
    assert np.all(np.abs(change) > 0.05)
    assert np.all(np.abs(total - change) <= 0.01 * np.abs(change))


@pytest.mark.parametrize("rule", RULES)
def test_completeness_error_falls_with_steps(trained_cnn, rule):
    x, labels = blob_images(8, 2)
    errors = []
    for steps in (4, 16, 64):
        attributions, delta = saliency.integrated_gradients(trained_cnn, x, labels, steps=steps, rule=rule,
                                                            return_delta=True, progress=False)
        change = attributions.reshape(len(x), -1).sum(axis=1) - delta
        errors.append(np.mean(np.abs(delta) / np.abs(change)))
    assert errors[2] < errors[1] < errors[0], errors
    assert errors[2] < 0.01, errors


def test_fitted_rule_on_any_density():
    # A lopsided density: points crowd into the dense cells, weights stay positive and sum to 1.
    density = np.array([3.0, 0.5, 0.25, 0.25])
    alphas, weights = path_rule("fitted", 12, density)
    assert np.all(np.diff(alphas) > 0) and 0 < alphas[0] and alphas[-1] < 1
    assert np.sum(alphas < 0.25) > 12 * 0.25 * 1.5
    assert np.all(weights > 0)
    np.testing.assert_allclose(weights.sum(), 1.0)
    for rule in ("gauss_legendre", "trapezoid", "riemann_midpoint"):
        np.testing.assert_allclose(path_rule(rule, 9)[1].sum(), 1.0)
        # exact on a straight line (the integrand of IG on a model quadratic along the path)
        np.testing.assert_allclose(np.dot(path_rule(rule, 9)[1], 3 * path_rule(rule, 9)[0] + 1), 2.5)


def test_integrated_gradients_matches_tf_explain(cnn, cnn_images):
    # tf-explain returns the plain mean of the gradients at steps points 0, 1/(n-1), ..., 1 from a
    # black baseline; the trapezoid rule counts both ends half, so with g0, g1 the end gradients:
    # ours = x * (n * theirs - (g0 + g1) / 2) / (n - 1).
    from tf_explain.core.integrated_gradients import IntegratedGradients

    steps = 16
    paths = IntegratedGradients.generate_interpolations(cnn_images, steps)
    theirs = IntegratedGradients.get_integrated_gradients(paths, cnn, 2, steps).numpy()
    ends = saliency.vanilla_gradient(cnn, np.zeros_like(cnn_images), 2) + saliency.vanilla_gradient(cnn, cnn_images, 2)
    expected = cnn_images * (steps * theirs - ends / 2) / (steps - 1)
    ours = saliency.integrated_gradients(cnn, cnn_images, 2, steps=steps, rule="trapezoid")
    np.testing.assert_allclose(ours, expected, atol=1e-5)


@pytest.mark.parametrize("params, argument", [
    (dict(steps=0), "steps"), (dict(steps=1, rule="trapezoid"), "steps"), (dict(steps=-3), "steps"),
    (dict(rule="simpson"), "rule"), (dict(rule=None), "rule"), (dict(progress="yes"), "progress"),
    (dict(baseline="grey"), "baseline"), (dict(baseline=np.zeros((2, 2))), "baseline"),
    (dict(baseline=np.full((12, 12, 1), np.nan)), "baseline"),
    (dict(baseline="blur", blur_sigma=0), "blur_sigma"), (dict(baseline="uniform", seed=-1), "seed"),
])
def test_bad_parameters(cnn, cnn_images, params, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        saliency.integrated_gradients(cnn, cnn_images, 0, **params)
