"""Vanilla gradient, gradient x input and guided backprop: analytic models and a tf-explain cross-check."""
import numpy as np
import pytest

import keras
from introspect import saliency


@pytest.mark.parametrize("target", [0, 2])
def test_linear_gradient_and_gradient_x_input(linear, images, target):
    model, w, _ = linear
    np.testing.assert_allclose(saliency.vanilla_gradient(model, images, target),
                               np.broadcast_to(w[target], images.shape), atol=1e-5)
    np.testing.assert_allclose(saliency.gradient_x_input(model, images, target), w[target] * images, atol=1e-5)


def test_foil_on_linear_model_is_weight_difference(linear, images):
    model, w, _ = linear
    np.testing.assert_allclose(saliency.vanilla_gradient(model, images, 0, foil=2),
                               np.broadcast_to(w[0] - w[2], images.shape), atol=1e-5)


def test_guided_backprop_on_one_hidden_layer(images):
    # guided(x) = W1 @ ((z > 0) * relu(W2[:, c])) for y = W2^T relu(W1^T x), written once with
    # an activation inside Dense and once with a separate ReLU layer.
    shape, classes = images.shape[1:], 3
    rng = np.random.default_rng(7)
    w1 = rng.normal(size=(int(np.prod(shape)), 8)).astype(np.float32)
    w2 = rng.normal(size=(8, classes)).astype(np.float32)
    flat = images.reshape(len(images), -1)
    z = flat @ w1
    expected = ((z > 0) * np.maximum(w2[:, 2], 0)) @ w1.T
    for separate_relu in (False, True):
        inputs = keras.Input(shape)
        x = keras.layers.Flatten()(inputs)
        if separate_relu:
            x = keras.layers.ReLU()(keras.layers.Dense(8, use_bias=False, name="hidden")(x))
        else:
            x = keras.layers.Dense(8, activation="relu", use_bias=False, name="hidden")(x)
        model = keras.Model(inputs, keras.layers.Dense(classes, use_bias=False, name="out")(x))
        model.get_layer("hidden").set_weights([w1])
        model.get_layer("out").set_weights([w2])
        before = saliency.vanilla_gradient(model, images, 2)
        guided = saliency.guided_backprop(model, images, 2)
        np.testing.assert_allclose(guided.reshape(len(images), -1), expected, atol=1e-4)
        # The user's model is untouched: same activation objects, same plain gradient afterwards.
        assert model.get_layer("hidden").activation is (keras.activations.linear if separate_relu
                                                        else keras.activations.relu)
        np.testing.assert_array_equal(saliency.vanilla_gradient(model, images, 2), before)
        assert not np.allclose(guided, before, atol=1e-3)


def test_guided_backprop_refuses_a_subclassed_model(cnn_images):
    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__(name="subclassed")
            self.flatten = keras.layers.Flatten()
            self.dense = keras.layers.Dense(3)

        def call(self, x):
            return self.dense(self.flatten(x))

    with pytest.raises(ValueError, match="`model`.*subclassed.*keras.Model"):
        saliency.vanilla_gradient(Subclassed(), cnn_images, 0)
    inputs = keras.Input(cnn_images.shape[1:])
    wrapped = keras.Model(inputs, Subclassed()(inputs))
    assert saliency.vanilla_gradient(wrapped, cnn_images, 0).shape == cnn_images.shape
    with pytest.raises(ValueError, match="`model`: 'subclassed'.*guided_backprop"):
        saliency.guided_backprop(wrapped, cnn_images, 0)


def test_vanilla_gradient_matches_tf_explain(cnn, cnn_images):
    from tf_explain.core.vanilla_gradients import VanillaGradients

    theirs = VanillaGradients.compute_gradients(cnn_images, cnn, 1).numpy()
    np.testing.assert_allclose(saliency.vanilla_gradient(cnn, cnn_images, 1), theirs, atol=1e-5)
