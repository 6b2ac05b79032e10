"""Every attribution method on every keras.applications family (weights=None, 32x32 inputs, 10 logits).

Each family is built once, untrained, at the smallest input most of them accept; every entry of
``saliency.METHODS`` must return a finite map of the right shape, with the cheapest settings
(2 samples, 2 path steps, four occlusion patches, 2 optimisation steps). Most of the time goes into
tracing each method's compiled function through hundreds of layers (a few minutes on two cores),
hence ``slow``.
"""
import numpy as np
import pytest
import tensorflow as tf

import keras
from introspect import saliency
from introspect._keras import find_layer

FAMILIES = {  # family -> (name of the feature map Grad-CAM reads by default, up to Keras' numbering; its channels)
    "ResNet50V2": ("post_relu", 2048),       # after the last Add, BatchNorm and ReLU
    "MobileNetV2": ("out_relu", 1280),
    "MobileNetV3Small": ("activation", 576),  # the last hard swish, before pooling and the 1x1-conv head
    "DenseNet121": ("relu", 1024),           # after the last Concatenate and BatchNorm
    "EfficientNetB0": ("top_activation", 1280),
    "ConvNeXtTiny": ("add", 768),            # the last residual sum (a Keras op, not a layer)
    "VGG16": ("block5_conv3", 512),
}
CHEAP = {"smoothgrad": dict(n_samples=2), "integrated_gradients": dict(steps=2), "occlusion": dict(patch=16),
         "meaningful_perturbation": dict(steps=2)}
TARGETS = np.array([1, 2])


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_every_method_explains_the_family(family):
    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, family)(weights=None, input_shape=(32, 32, 3), classes=10,
                                                 classifier_activation=None)
    images = np.random.default_rng(0).uniform(0, 1, size=(2, 32, 32, 3)).astype(np.float32)
    layer = saliency.last_conv_layer(model)
    name, channels = FAMILIES[family]
    assert layer.startswith(name) and find_layer(model, layer).output.shape[-1] == channels, layer
    maps = {}
    for name, method in saliency.METHODS.items():
        maps[name] = method(model, images, TARGETS, progress=False, **CHEAP.get(name, {}))
        expected = images.shape if maps[name].ndim == 4 else images.shape[:3]
        assert maps[name].shape == expected and np.all(np.isfinite(maps[name])), name
    # Guided backprop applies to every rectifier, swish, hard swish and GELU included, so it is not the plain
    # gradient. (Untrained ConvNeXt is the exception: its LayerScale starts at 1e-6, so its GELU blocks barely
    # touch the residual stream and both gradients agree to 1e-5; see the test below.)
    if family != "ConvNeXtTiny":
        difference = np.abs(maps["guided_backprop"] - maps["vanilla_gradient"]).max()
        assert difference > 1e-3 * np.abs(maps["vanilla_gradient"]).max()


@pytest.mark.parametrize("activation", ["gelu", "swish", "hard_silu", "relu"])
def test_guided_backprop_rectifies_smooth_rectifiers(activation):
    # Dense(4, activation) -> Dense(1): guided backprop is W1 (act'(z) * relu(w2)), the gradient W1 (act'(z) * w2).
    keras.utils.set_random_seed(5)
    inputs = keras.Input((2, 2, 1))
    hidden = keras.layers.Dense(4, activation=activation)
    model = keras.Model(inputs, keras.layers.Dense(2)(hidden(keras.layers.Flatten()(inputs))))
    images = np.random.default_rng(6).normal(size=(3, 2, 2, 1)).astype(np.float32)
    w1, b1 = hidden.get_weights()
    w2 = model.layers[-1].get_weights()[0][:, 0]
    z = images.reshape(3, 4) @ w1 + b1
    x = tf.constant(z)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = keras.activations.get(activation)(x)
    slope = tape.gradient(y, x, output_gradients=tf.ones_like(y)).numpy()
    expected = (slope * np.maximum(w2, 0)) @ w1.T
    guided = saliency.guided_backprop(model, images, 0, progress=False).reshape(3, 4)
    np.testing.assert_allclose(guided, expected, rtol=1e-5, atol=1e-6)
    assert np.abs(guided - (slope * w2) @ w1.T).max() > 1e-3  # the plain gradient differs: the check can fail
