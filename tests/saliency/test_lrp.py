"""LRP: epsilon -> 0 is gradient x input, conservation, unsupported layers, invariances (zennit: test_lrp_zennit.py)."""
import numpy as np
import pytest
import tensorflow as tf

import keras
from introspect.saliency.lrp import lrp


def relu_cnn(bias: bool = False, seed: int = 0):
    """A small ReLU/max-pool CNN for (12, 12, 2) images with 3 logits; bias-free unless asked."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((12, 12, 2))
    x = keras.layers.Conv2D(4, 3, padding="same", use_bias=bias, activation="relu")(inputs)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(6, 3, use_bias=bias)(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(8, use_bias=bias, activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(3, use_bias=bias)(x), name="relu_cnn")


def residual_cnn(shifts: bool = True, seed: int = 0):
    """EfficientNet's layer types in miniature: Rescaling, ZeroPadding, depthwise conv, BatchNorm, ReLU6, Add.

    ``shifts=False`` makes the network bias-free: BatchNorms that only scale, a Dense without bias.
    """
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((10, 10, 3))
    x = keras.layers.Rescaling(2.0, offset=-1.0)(inputs)
    x = keras.layers.ZeroPadding2D(1)(x)
    x = keras.layers.Conv2D(8, 3, use_bias=False)(x)
    x = keras.layers.ReLU(max_value=6.0)(keras.layers.BatchNormalization()(x))
    skip = x
    x = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    x = keras.layers.ReLU(max_value=6.0)(keras.layers.BatchNormalization()(x))
    x = keras.layers.BatchNormalization()(keras.layers.Conv2D(8, 1, use_bias=False)(x))
    x = keras.layers.Add()([x, skip])
    x = keras.layers.AveragePooling2D(2)(x)
    x = keras.layers.Dropout(0.2)(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, keras.layers.Dense(4, use_bias=shifts)(x), name="residual_cnn")
    rng = np.random.default_rng(seed)
    for layer in model.layers:  # BatchNorms with statistics far from the identity
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 2, gamma.shape), shifts * rng.normal(0, 0.5, beta.shape),
                               shifts * rng.normal(0, 0.5, mean.shape), rng.uniform(0.5, 2, var.shape)])
    return model


def images_of(model, n=5, seed=1):
    return np.random.default_rng(seed).uniform(0, 1, size=(n, *model.input_shape[1:])).astype(np.float32)


def scores(model, images, targets):
    return model(images, training=False).numpy()[np.arange(len(images)), targets]


def gradient_x_input(model, images, targets):
    x = tf.constant(images)
    with tf.GradientTape() as tape:
        tape.watch(x)
        score = tf.gather(model(x, training=False), tf.constant(targets), batch_dims=1)
    return (tape.gradient(score, x) * x).numpy()


def relative(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


TARGETS = np.array([0, 1, 2, 0, 1], np.int32)


def test_epsilon_to_zero_is_gradient_x_input():
    # Ancona et al. 2018 (arXiv:1711.06104): on ReLU networks LRP-epsilon with epsilon -> 0 is gradient x input.
    model = relu_cnn()
    images = images_of(model)
    expected = gradient_x_input(model, images, TARGETS)
    assert relative(lrp(model, images, TARGETS, rule="epsilon", epsilon=1e-9), expected) < 1e-4
    # A large epsilon absorbs relevance: the test above can fail.
    assert relative(lrp(model, images, TARGETS, rule="epsilon", epsilon=1.0), expected) > 1e-2


@pytest.mark.parametrize("rule, input_rule", [("zplus", "same"), ("alpha_beta", "same"), ("zplus", "zbox"),
                                              ("zplus", "flat"), ("zplus", "wsquare"), ("gamma", "same")])
def test_bias_free_rules_conserve_relevance(rule, input_rule):
    model = relu_cnn()
    images = images_of(model)
    totals = lrp(model, images, TARGETS, rule=rule, input_rule=input_rule).reshape(len(images), -1).sum(axis=1)
    np.testing.assert_allclose(totals, scores(model, images, TARGETS), rtol=1e-4, atol=1e-7)


def test_conservation_through_batchnorm_depthwise_relu6_and_add():
    # Bias-free, epsilon -> 0 conserves relevance through folded BatchNorms, zero padding, ReLU6, Add and
    # pooling, with each input rule (flat and w^2 give the padding nothing); BatchNorm shifts absorb some.
    # (z+ is not used here: the projection conv's outputs are not rectified, and an output with only
    # negative contributions has no positive ones to give its relevance to.)
    targets = np.array([0, 1, 2, 3], np.int32)
    for shifts in (False, True):
        model = residual_cnn(shifts=shifts)
        images = images_of(model, 4)
        expected = scores(model, images, targets)
        for input_rule in ("zbox", "flat", "wsquare", "same"):
            totals = lrp(model, images, targets, rule="epsilon", epsilon=1e-9,
                         input_rule=input_rule).reshape(4, -1).sum(axis=1)
            if shifts:
                assert np.max(np.abs(totals - expected)) > 1e-2
            else:
                np.testing.assert_allclose(totals, expected, rtol=1e-4, atol=1e-6)


def test_foil_is_the_difference_of_two_explanations():
    model = relu_cnn(bias=True)
    images = images_of(model)
    foils = (TARGETS + 1) % 3
    for rule in ("composite", "gamma"):
        np.testing.assert_allclose(lrp(model, images, TARGETS, rule=rule, foil=foils),
                                   lrp(model, images, TARGETS, rule=rule) - lrp(model, images, foils, rule=rule),
                                   atol=1e-5)


def test_batch_size_invariance_and_model_untouched():
    model = residual_cnn()
    images = images_of(model, 7)
    before = [w.copy() for w in model.get_weights()]
    full = lrp(model, images, 1)
    np.testing.assert_allclose(lrp(model, images, 1, batch_size=3), full, rtol=1e-5, atol=1e-6)
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)
    assert full.shape == images.shape and full.dtype == np.float32


@pytest.mark.parametrize("layer, name", [(keras.layers.UnitNormalization(), "UnitNormalization"),
                                         (keras.layers.Dense(5, activation="softmax"), "softmax")])
def test_unsupported_layer_is_named(layer, name):
    inputs = keras.Input((4, 4, 1))
    x = layer(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    with pytest.raises(ValueError, match=f"{name}.*supported"):
        lrp(model, np.zeros((1, 4, 4, 1), np.float32), 0)


@pytest.mark.parametrize("kwargs, match", [({"rule": "lrp0"}, "`rule`"), ({"alpha": 2.0, "beta": 0.5}, "`alpha`"),
                                           ({"epsilon": 0.0}, "`epsilon`"), ({"input_rule": "box"}, "`input_rule`"),
                                           ({"input_bounds": (1.0, 0.0)}, "`input_bounds`"),
                                           ({"gamma": -1.0}, "`gamma`"), ({"bias": "no"}, "`bias`")])
def test_bad_arguments(kwargs, match):
    model = relu_cnn()
    with pytest.raises(ValueError, match=match):
        lrp(model, images_of(model, 1), 0, **kwargs)


def test_explains_the_shipped_fashion_cnn():
    from introspect import models
    from introspect.saliency import trace_count

    model = models.load_pretrained("fashion_cnn")
    images = np.random.default_rng(0).uniform(0, 1, size=(3, 28, 28, 1)).astype(np.float32)
    maps = lrp(model, images, [0, 3, 9])
    traces = trace_count(model)
    assert maps.shape == images.shape and np.all(np.isfinite(maps)) and np.abs(maps).max() > 0
    lrp(model, images[:2], [1, 2])
    assert trace_count(model) == traces  # traced once per model and configuration


@pytest.mark.slow
def test_explains_efficientnet_lite0():
    from introspect import imagenet

    model = imagenet.load_efficientnet_lite0()
    images = np.random.default_rng(0).uniform(0, 1, size=(2, 224, 224, 3)).astype(np.float32)
    targets = model(images, training=False).numpy().argmax(axis=1)
    maps = lrp(model, images, targets)
    assert maps.shape == images.shape and np.all(np.isfinite(maps)) and np.abs(maps).max() > 0
    # The positive relevance outweighs the negative for the predicted class.
    assert np.all(maps.reshape(2, -1).sum(axis=1) > 0)
