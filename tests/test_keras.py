"""introspect._keras, the one module that touches Keras internals: layer walks, softmax detection,
layer-by-layer runs and BatchNorm folding."""
import numpy as np
import pytest
import tensorflow as tf

import keras
from helpers import batchnorm_cnn
from introspect import _keras


@pytest.fixture(scope="module")
def nested():
    """A functional model around the BatchNorm CNN: outer layers, then the inner model's own."""
    inner = batchnorm_cnn("inner")
    inputs = keras.Input((12, 12, 1), name="outer_image")
    outputs = keras.layers.Dense(2, name="head")(inner(inputs))
    return keras.Model(inputs, outputs, name="outer"), inner


def test_layer_walks_flatten_nested_models_in_order(nested):
    model, inner = nested
    inner_names = ["image", "conv1", "bn1", "relu1", "pool1", "conv2", "flatten", "dense", "logits"]
    assert _keras.all_layer_names(model) == ["outer_image", "inner", *inner_names, "head"]
    assert [layer.name for layer in _keras.flat_layers(model)] == _keras.all_layer_names(model)
    assert [layer.name for layer in _keras.weighted_layers(model)] == ["conv1", "bn1", "conv2", "dense", "logits",
                                                                      "head"]
    assert _keras.find_layer(model, "bn1") is inner.get_layer("bn1")
    with pytest.raises(ValueError, match="`layer` 'nope'.*conv1"):
        _keras.find_layer(model, "nope")
    assert _keras.last_conv_layer(model) == "conv2"


def test_ends_in_softmax_and_rescaling(nested):
    model, inner = nested
    assert not _keras.ends_in_softmax(model)
    inputs = keras.Input((12, 12, 1))
    assert _keras.ends_in_softmax(keras.Model(inputs, keras.layers.Softmax()(inner(inputs))))
    wrapped = keras.Sequential([keras.Input((12, 12, 1)), keras.Model(inputs, keras.layers.Softmax()(inner(inputs)))])
    assert _keras.ends_in_softmax(wrapped)
    assert _keras.rescales_8bit_input(keras.Model(inputs, inner(keras.layers.Rescaling(1 / 255)(inputs))))
    assert not _keras.rescales_8bit_input(keras.Model(inputs, inner(keras.layers.Rescaling(2.0, -1.0)(inputs))))
    assert not _keras.rescales_8bit_input(model)


def test_run_layers_calls_every_layer_and_computes_the_model(nested):
    model, _ = nested
    x = tf.constant(np.random.default_rng(0).uniform(size=(3, 12, 12, 1)).astype(np.float32))
    seen = []

    def hook(layer, value):
        seen.append(layer.name)
        return value

    np.testing.assert_allclose(_keras.run_layers(model, x, hook).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-6)
    assert seen[:2] == ["conv1", "bn1"] and seen[-2:] == ["inner", "head"]


def test_check_layerwise_refuses_subclassed_models():
    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__(name="subclassed")
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    model = Subclassed()
    model(np.zeros((1, 3), np.float32))
    assert not _keras.is_layerwise(model)
    with pytest.raises(ValueError, match="`model`: 'subclassed'.*guided_backprop"):
        _keras.check_layerwise(model, "guided_backprop")
    assert _keras.inference_folds(model) == {}


def test_batchnorm_folding_gives_the_model_s_function():
    # conv -> bn folds; a conv whose output also feeds another layer, and a conv with its own
    # activation, must not.
    keras.utils.set_random_seed(15)
    inputs = keras.Input((10, 10, 2))
    a = keras.layers.Conv2D(4, 3, padding="same", name="a")(inputs)
    a = keras.layers.BatchNormalization(name="bn_a")(a)
    b = keras.layers.Conv2D(4, 3, padding="same", name="b")(a)
    b_norm = keras.layers.BatchNormalization(name="bn_b")(b)
    c = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c")(keras.layers.Add()([b, b_norm]))
    c = keras.layers.BatchNormalization(name="bn_c")(c)
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(c)))
    rng = np.random.default_rng(16)
    for name in ("bn_a", "bn_b", "bn_c"):
        model.get_layer(name).set_weights([rng.uniform(0.5, 2, 4), rng.normal(0, 0.5, 4), rng.normal(0, 0.5, 4),
                                           rng.uniform(0.2, 3, 4)])
    folds = _keras.inference_folds(model)
    assert sorted(norm.name for norm, _ in folds.values()) == ["bn_a"]
    x = tf.constant(rng.uniform(size=(4, 10, 10, 2)).astype(np.float32))
    before = model(x).numpy()
    np.testing.assert_allclose(_keras.run_layers(model, x, lambda layer, value: value, folds).numpy(), before,
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(model(x).numpy(), before)  # the user's layers are untouched


def test_guided_hook_changes_only_relu_gradients():
    relu, dense = keras.layers.ReLU(), keras.layers.Dense(2, activation="relu")
    leaky = keras.layers.ReLU(negative_slope=0.1)
    assert _keras.is_relu(relu) and _keras.is_relu(dense) and not _keras.is_relu(leaky)
    value = tf.constant([[1.0, 2.0]])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(value)
        guided = _keras.guided_hook(relu, value) * tf.constant([[-1.0, 3.0]])
        plain = _keras.guided_hook(leaky, value) * tf.constant([[-1.0, 3.0]])
    np.testing.assert_allclose(tape.gradient(guided, value).numpy(), [[0.0, 3.0]])
    np.testing.assert_allclose(tape.gradient(plain, value).numpy(), [[-1.0, 3.0]])
