"""Grad-CAM and Grad-CAM++: the class activation map on a GAP model, default layer, weights, localisation."""
import numpy as np
import pytest

import keras
from helpers import assert_peaks_inside_patches
from introspect import saliency
from introspect.models import build_fashion_cnn


def test_grad_cam_equals_class_activation_map():
    # conv -> global average pooling -> dense: Grad-CAM is relu(sum_k W[k, c] A_k) / (h w), the CAM.
    keras.utils.set_random_seed(8)
    inputs = keras.Input((8, 8, 2))
    features = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="features")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(features)
    model = keras.Model(inputs, keras.layers.Dense(3, name="head")(pooled))
    x = np.random.default_rng(9).uniform(size=(3, 8, 8, 2)).astype(np.float32)
    activations = keras.Model(inputs, features)(x).numpy()
    head = model.get_layer("head").get_weights()[0]
    expected = np.maximum(np.einsum("nhwk,k->nhw", activations, head[:, 1]) / 64, 0)
    np.testing.assert_allclose(saliency.grad_cam(model, x, 1), expected, atol=1e-6)
    np.testing.assert_allclose(saliency.grad_cam(model, x, 1, layer="features", relu=False),
                               np.einsum("nhwk,k->nhw", activations, head[:, 1]) / 64, atol=1e-6)
    assert saliency.last_conv_layer(model) == "features"


def test_default_cam_layer_is_the_rectified_last_conv(cnn):
    assert saliency.last_conv_layer(build_fashion_cnn()) == "relu3"       # conv3 -> bn3 -> relu3
    assert saliency.last_conv_layer(cnn) == "conv2"                        # activation inside the conv
    inputs = keras.Input((12, 12, 1))
    branch = keras.layers.Conv2D(2, 3, name="late_conv")(inputs)
    mixed = keras.layers.ReLU(name="other_relu")(keras.layers.Conv2D(2, 3, name="other")(inputs))
    model = keras.Model(inputs, keras.layers.Add()([branch, mixed]))
    # Layer order is other, late_conv, other_relu: the ReLU after late_conv does not consume it.
    assert [layer.name for layer in model.layers[1:4]] == ["other", "late_conv", "other_relu"]
    assert saliency.last_conv_layer(model) == "late_conv"
    with pytest.raises(ValueError, match="`layer`"):
        saliency.last_conv_layer(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]))


def test_hires_cam_sums_to_the_logit_behind_a_dense_head():
    # conv -> flatten -> dense (no bias): the logit is sum(grad * A) exactly, which HiResCAM keeps per position
    # while Grad-CAM's spatial mean of the gradient does not (the dense weights differ from place to place).
    keras.utils.set_random_seed(3)
    inputs = keras.Input((6, 6, 1))
    features = keras.layers.Conv2D(3, 3, padding="same", activation="relu", name="features")(inputs)
    head = keras.layers.Dense(2, use_bias=False, name="head")(keras.layers.Flatten()(features))
    model = keras.Model(inputs, head)
    x = np.random.default_rng(4).uniform(size=(4, 6, 6, 1)).astype(np.float32)
    logits = model(x).numpy()[:, 1]
    hires = saliency.hires_cam(model, x, 1, layer="features")
    np.testing.assert_allclose(hires.sum(axis=(1, 2)), logits, rtol=1e-4, atol=1e-5)
    assert not np.allclose(saliency.grad_cam(model, x, 1, layer="features", relu=False).sum(axis=(1, 2)), logits,
                           rtol=1e-2)
    np.testing.assert_allclose(saliency.hires_cam_weights(x, x[::-1]), x[::-1])


def test_grad_cam_plus_plus_weights_closed_form():
    # One location per channel: alpha = g^2 / (2 g^2 + A g^3); weight = alpha * relu(g).
    activations = np.array([[[[2.0, 1.0]]]])
    gradients = np.array([[[[0.5, -1.0]]]])
    alpha = 0.25 / (2 * 0.25 + 2.0 * 0.125)
    np.testing.assert_allclose(saliency.grad_cam_plus_plus_weights(activations, gradients), [[alpha * 0.5, 0.0]])
    np.testing.assert_allclose(saliency.grad_cam_weights(activations, gradients), [[0.5, -1.0]])


@pytest.mark.parametrize("name", ["grad_cam", "grad_cam_plus_plus", "hires_cam"])
def test_maps_peak_inside_the_bright_patch(detector, name):
    model, x, corners = detector
    maps = saliency.METHODS[name](model, x, 0)
    assert maps.shape == x.shape[:3]
    assert_peaks_inside_patches(maps, corners, name)


@pytest.mark.parametrize("call, argument", [
    (lambda m, x: saliency.grad_cam(m, x, 0, layer="no_such_layer"), "layer"),
    (lambda m, x: saliency.grad_cam(m, x, 0, layer=3), "layer"),
    (lambda m, x: saliency.grad_cam_plus_plus(m, x, 0, layer="flatten"), "layer"),
])
def test_bad_parameters(cnn, cnn_images, call, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        call(cnn, cnn_images)
