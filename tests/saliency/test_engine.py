"""The shared engine: results independent of batch size and input type, no retracing, nested and never-called
models, contrastive (foil) and softmax scores."""
import numpy as np
import pytest
import tensorflow as tf

import keras
from helpers import FAST_SALIENCY_PARAMS, batchnorm_cnn
from introspect import saliency


@pytest.mark.parametrize("name", sorted(saliency.METHODS))
def test_batch_size_and_tensor_input_do_not_change_results(cnn, cnn_images, name):
    method = saliency.METHODS[name]
    params = FAST_SALIENCY_PARAMS.get(name, {})
    targets = np.array([0, 1, 2, 0, 1, 2])
    reference = method(cnn, cnn_images, targets, batch_size=64, **params)
    for batch_size in (1, 7):
        np.testing.assert_allclose(method(cnn, cnn_images, targets, batch_size=batch_size, **params), reference,
                                   rtol=1e-4, atol=1e-6, err_msg=f"batch_size={batch_size}")
    np.testing.assert_allclose(method(cnn, tf.constant(cnn_images), tf.constant(targets), **params), reference,
                               rtol=1e-5, atol=1e-7)


def test_repeated_calls_do_not_retrace():
    model = batchnorm_cnn("retrace")
    x = np.random.default_rng(12).uniform(size=(9, 12, 12, 1)).astype(np.float32)
    assert saliency.trace_count(model) == 0
    for name, method in saliency.METHODS.items():
        method(model, x, 1, batch_size=4, **FAST_SALIENCY_PARAMS.get(name, {}))
    traces = saliency.trace_count(model)
    # One trace per kernel: input gradient, guided gradient, layer gradient (both CAMs), forward score,
    # occluded score, perturbation optimiser, LRP's modified backward pass.
    assert traces == 7
    for name, method in saliency.METHODS.items():
        params = FAST_SALIENCY_PARAMS.get(name, {})
        method(model, x[:5], [0, 1, 2, 0, 1], batch_size=4, **params)   # other N, other targets
        method(model, x, 2, batch_size=3, **params)                      # other chunk size
    assert saliency.trace_count(model) == traces
    saliency.vanilla_gradient(model, x, 1, output="softmax")             # another configuration traces once
    assert saliency.trace_count(model) == traces + 1


def test_never_called_sequential_works(cnn_images):
    keras.utils.set_random_seed(13)
    model = keras.Sequential([keras.layers.Conv2D(4, 3, activation="relu", name="c1"),
                              keras.layers.Conv2D(4, 3, activation="relu", name="c2"),
                              keras.layers.Flatten(), keras.layers.Dense(3)])
    for name, method in saliency.METHODS.items():
        result = method(model, cnn_images, 0, **FAST_SALIENCY_PARAMS.get(name, {}))
        assert result.shape[:3] == cnn_images.shape[:3] and np.all(np.isfinite(result)), name
    assert saliency.last_conv_layer(model) == "c2"


def test_nested_model_gives_the_same_results(cnn, cnn_images):
    inputs = keras.Input((12, 12, 1))
    outer = keras.Model(inputs, keras.layers.Identity()(cnn(inputs)), name="outer")
    sequential = keras.Sequential([keras.Input((12, 12, 1)), cnn], name="outer_seq")
    assert saliency.last_conv_layer(outer) == "conv2"
    for name, method in saliency.METHODS.items():
        params = FAST_SALIENCY_PARAMS.get(name, {})
        reference = method(cnn, cnn_images, 1, **params)
        # Every method through a functional wrapper; the layer-walking ones also through a Sequential.
        wrappers = (outer, sequential) if name in ("guided_backprop", "grad_cam", "vanilla_gradient") else (outer,)
        for wrapper in wrappers:
            np.testing.assert_allclose(method(wrapper, cnn_images, 1, **params), reference, rtol=1e-5, atol=1e-6,
                                       err_msg=f"{name} on {wrapper.name}")
    np.testing.assert_allclose(saliency.grad_cam(outer, cnn_images, 1, layer="conv1"),
                               saliency.grad_cam(cnn, cnn_images, 1, layer="conv1"), atol=1e-6)


def test_gradient_through_folded_batchnorm_is_the_model_s(cnn, cnn_images):
    x = tf.constant(cnn_images)
    before = cnn(x).numpy()
    with tf.GradientTape() as tape:
        tape.watch(x)
        score = cnn(x, training=False)[:, 1]
    np.testing.assert_allclose(saliency.vanilla_gradient(cnn, x, 1), tape.gradient(score, x).numpy(),
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(cnn(x).numpy(), before)  # the user's layers are untouched


@pytest.mark.parametrize("name, params", [("vanilla_gradient", {}), ("gradient_x_input", {}),
                                          ("integrated_gradients", dict(steps=8, baseline="blur")),
                                          ("smoothgrad", dict(n_samples=4))])
def test_foil_is_the_difference_of_maps(cnn, cnn_images, name, params):
    method = saliency.METHODS[name]
    targets, foils = np.array([0, 1, 2, 0, 1, 2]), np.array([1, 2, 0, 2, 0, 1])
    contrast = method(cnn, cnn_images, targets, foil=foils, **params)
    np.testing.assert_allclose(contrast, method(cnn, cnn_images, targets, **params)
                               - method(cnn, cnn_images, foils, **params), atol=1e-5)


def test_softmax_model_asked_for_logits_says_how_to_get_them(cnn, cnn_images):
    functional = keras.Model(cnn.inputs, keras.layers.Softmax()(cnn.outputs[0]))
    inputs = keras.Input((12, 12, 1))
    dense = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(inputs)))
    for model in (functional, dense):
        with pytest.raises(ValueError,
                           match=r"`output`.*softmax.*keras\.Model\(model\.inputs, model\.layers\[-1\]\.input\)"):
            saliency.vanilla_gradient(model, cnn_images, 0)
    # Asking the softmax model for probabilities applies no second softmax.
    for output in ("softmax", "log_softmax"):
        np.testing.assert_allclose(saliency.vanilla_gradient(functional, cnn_images, 0, output=output),
                                   saliency.vanilla_gradient(cnn, cnn_images, 0, output=output), atol=1e-6)


def test_softmax_score_gradient(cnn, cnn_images):
    # d p_c / dx = p_c * (d z_c/dx - sum_k p_k d z_k/dx)
    p = tf.nn.softmax(cnn(cnn_images)).numpy()
    grads = np.stack([saliency.vanilla_gradient(cnn, cnn_images, k) for k in range(3)], axis=1)
    weighted = np.einsum("nk,nk...->n...", p, grads)
    expected = p[:, 1, None, None, None] * (grads[:, 1] - weighted)
    np.testing.assert_allclose(saliency.vanilla_gradient(cnn, cnn_images, 1, output="softmax"), expected, atol=1e-6)
