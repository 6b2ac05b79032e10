"""The shared TensorFlow numerics against hand-written numpy and scipy references."""
import numpy as np
import pytest
import tensorflow as tf
from scipy.ndimage import gaussian_filter

from helpers import linear_model, softmax_model
from introspect import numerics


def numpy_adam(params, gradients, active, per_example, lr=0.01, b1=0.9, b2=0.999, eps=1e-8):
    """Adam written out per example; ``gradients[t]`` and ``active[t]`` drive update number t + 1."""
    params = params.astype(np.float64).copy()
    first = np.zeros_like(params)
    second = np.zeros((len(params), 1, 1)) if per_example else np.zeros_like(params)
    for count, (gradient, on) in enumerate(zip(gradients, active), start=1):
        for i in np.flatnonzero(on):
            first[i] = b1 * first[i] + (1 - b1) * gradient[i]
            squared = np.mean(gradient[i] ** 2) if per_example else gradient[i] ** 2
            second[i] = b2 * second[i] + (1 - b2) * squared
            step_size = lr * np.sqrt(1 - b2 ** count) / (1 - b1 ** count)
            params[i] -= step_size * first[i] / (np.sqrt(second[i]) + eps)
    return params, first, second


@pytest.mark.parametrize("per_example", [False, True])
def test_adam_step_matches_numpy_adam_with_masking(per_example):
    rng = np.random.default_rng(0)
    params = rng.normal(size=(3, 4, 5)).astype(np.float32)
    gradients = (rng.normal(size=(6, 3, 4, 5)) * np.array([1.0, 1e-3, 10.0])[:, None, None]).astype(np.float32)
    active = np.array([[1, 1, 1], [1, 0, 1], [0, 0, 1], [1, 1, 0], [1, 1, 1], [0, 1, 1]], bool)
    x, m = tf.constant(params), tf.zeros_like(params)
    v = tf.zeros((3, 1, 1)) if per_example else tf.zeros_like(params)
    for count, (gradient, on) in enumerate(zip(gradients, active), start=1):
        x, m, v = numerics.adam_step(x, tf.constant(gradient), m, v, tf.constant(float(count)), 0.01,
                                     active=tf.constant(on), per_example=per_example)
    expected = numpy_adam(params, gradients, active, per_example)
    for got, want in zip((x, m, v), expected):
        np.testing.assert_allclose(got.numpy(), want, rtol=2e-5, atol=1e-7)
    assert v.shape == ((3, 1, 1) if per_example else (3, 4, 5))


def test_adam_step_without_a_mask_updates_every_example():
    rng = np.random.default_rng(1)
    params, gradient = rng.normal(size=(2, 3)).astype(np.float32), rng.normal(size=(2, 3)).astype(np.float32)
    x, _, _ = numerics.adam_step(tf.constant(params), tf.constant(gradient), tf.zeros((2, 3)), tf.zeros((2, 3)),
                                 tf.constant(1.0), 0.1)
    # the first bias-corrected step is lr * g / (|g| + eps) = lr * sign(g)
    np.testing.assert_allclose(x.numpy(), params - 0.1 * np.sign(gradient), atol=1e-5)


@pytest.mark.parametrize("sigma", [0.7, 1.5])
def test_gaussian_blur_preserves_the_sum_and_matches_scipy(sigma):
    images = np.random.default_rng(0).random((2, 20, 17, 3), dtype=np.float32)
    blurred = numerics.gaussian_blur(tf.constant(images), sigma).numpy()
    impulse = np.zeros((1, 21, 21, 1), np.float32)
    impulse[0, 10, 10] = 1
    assert numerics.gaussian_blur(tf.constant(impulse), sigma).numpy().sum() == pytest.approx(1.0, abs=1e-6)
    radius = int(np.ceil(3 * sigma))
    reference = gaussian_filter(images, (0, sigma, sigma, 0), mode="reflect", truncate=radius / sigma)
    inner = (slice(None), slice(radius, -radius), slice(radius, -radius))
    np.testing.assert_allclose(blurred[inner], reference[inner], atol=1e-6)
    # at the borders TensorFlow's REFLECT does not repeat the edge pixel: scipy's "mirror"
    mirror = gaussian_filter(images, (0, sigma, sigma, 0), mode="mirror", truncate=radius / sigma)
    np.testing.assert_allclose(blurred, mirror, atol=1e-6)


@pytest.mark.parametrize("beta", [1.0, 2.0])
def test_total_variation_reductions_match_numpy(beta):
    images = np.random.default_rng(0).normal(size=(3, 6, 5, 2)).astype(np.float32)
    vertical = np.abs(images[:, 1:] - images[:, :-1]) ** beta
    horizontal = np.abs(images[:, :, 1:] - images[:, :, :-1]) ** beta
    for reduction, reduce in (("sum", np.sum), ("mean", np.mean)):
        got = numerics.total_variation(tf.constant(images), reduction=reduction, beta=beta).numpy()
        np.testing.assert_allclose(got, reduce(vertical, axis=(1, 2, 3)) + reduce(horizontal, axis=(1, 2, 3)),
                                   rtol=1e-5)
    with pytest.raises(ValueError, match="`reduction`"):
        numerics.total_variation(tf.constant(images), reduction="max")


@pytest.fixture(scope="module")
def linear():
    weights = np.random.default_rng(0).normal(size=(4, 4, 1, 3)).astype(np.float32)
    images = np.random.default_rng(1).random((7, 4, 4, 1), dtype=np.float32)
    return linear_model(weights), weights, images


def test_predict_gives_logits_and_softmax(linear):
    model, weights, images = linear
    logits = images.reshape(7, -1) @ weights.reshape(-1, 3)
    np.testing.assert_allclose(numerics.predict(model, images, output="logits"), logits, rtol=1e-5, atol=1e-6)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(numerics.predict(model, images, output="softmax"), probabilities, rtol=1e-5)


def test_predict_does_not_depend_on_the_batch_size(linear):
    model, _, images = linear
    whole = numerics.predict(model, images, batch_size=100)
    for batch_size in (1, 3):
        np.testing.assert_allclose(numerics.predict(model, images, batch_size=batch_size), whole, atol=1e-6)


def test_predict_refuses_logits_from_a_softmax_model_and_keeps_its_probabilities():
    model = softmax_model(shape=(4, 4, 1), classes=3)
    images = np.random.default_rng(2).random((5, 4, 4, 1), dtype=np.float32)
    with pytest.raises(ValueError, match="`output`"):
        numerics.predict(model, images, output="logits")
    np.testing.assert_allclose(numerics.predict(model, images, output="softmax"),
                               model(images, training=False).numpy(), rtol=1e-6)  # not a second softmax


def test_softmax_is_stable_for_large_logits():
    probabilities = numerics.softmax(np.array([[1000.0, 1000.0, -1000.0], [0.0, np.log(3.0), -np.inf]]))
    np.testing.assert_allclose(probabilities, [[0.5, 0.5, 0.0], [0.25, 0.75, 0.0]], atol=1e-12)
