"""LRP on the constructs of keras.applications' families, each in a tiny functional model.

DenseNet's Concatenate, EfficientNet's input Normalization and squeeze-excite gate with swish,
ConvNeXt's LayerNormalization, GELU, LayerScale and residual ``x + y``, MobileNetV3's hard swish
and hard-sigmoid gate written as Keras ops. Bias-free, with ``epsilon -> 0``, every one of them
conserves relevance exactly (the pixel relevances sum to the logit); with shifts they do not.
"""
import numpy as np
import pytest

import keras
from introspect.saliency.lrp import lrp


def _batchnorm(x, rng, shifts: bool):
    """A BatchNormalization with statistics far from the identity (no shift when ``shifts`` is False)."""
    norm = keras.layers.BatchNormalization()
    y = norm(x)
    channels = x.shape[-1]
    norm.set_weights([rng.uniform(0.5, 2, channels), shifts * rng.normal(0, 0.5, channels),
                      shifts * rng.normal(0, 0.5, channels), rng.uniform(0.5, 2, channels)])
    return y


def densenet_block(shifts: bool = False, seed: int = 0):
    """DenseNet in miniature: a stem, two dense layers (BN-ReLU-conv, concatenated), a transition, GAP."""
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(8, 3, use_bias=False)(keras.layers.ZeroPadding2D(1)(inputs))
    x = keras.layers.Activation("relu")(_batchnorm(x, rng, shifts))
    x = keras.layers.MaxPooling2D(2)(x)
    for _ in range(2):
        new = keras.layers.Activation("relu")(_batchnorm(x, rng, shifts))
        new = keras.layers.Conv2D(8, 1, use_bias=False)(new)
        new = keras.layers.Activation("relu")(_batchnorm(new, rng, shifts))
        new = keras.layers.Conv2D(4, 3, padding="same", use_bias=False)(new)
        x = keras.layers.Concatenate()([x, new])
    x = keras.layers.Activation("relu")(_batchnorm(x, rng, shifts))
    x = keras.layers.AveragePooling2D(2)(keras.layers.Conv2D(6, 1, use_bias=False)(x))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Activation("relu")(_batchnorm(x, rng, shifts)))
    return keras.Model(inputs, keras.layers.Dense(3, use_bias=shifts)(x), name="densenet_block")


def efficientnet_block(shifts: bool = False, seed: int = 0):
    """EfficientNet in miniature: Rescaling and Normalization at the input, swish, a squeeze-excite gate.

    The gate's two 1x1 convolutions keep their biases even when ``shifts`` is False: the gate is held
    constant and its branch gets no relevance, so they cannot absorb any.
    """
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    inputs = keras.Input((10, 10, 3))
    x = keras.layers.Rescaling(2.0, offset=-1.0)(inputs)
    x = keras.layers.Normalization(mean=[0.1, -0.2, 0.3], variance=[0.5, 2.0, 1.5])(x)
    x = keras.layers.Conv2D(8, 3, strides=2, use_bias=False)(keras.layers.ZeroPadding2D(1)(x))
    skip = x = keras.layers.Activation("swish")(_batchnorm(x, rng, shifts))
    x = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    x = keras.layers.Activation("swish")(_batchnorm(x, rng, shifts))
    gate = keras.layers.Reshape((1, 1, 8))(keras.layers.GlobalAveragePooling2D()(x))
    gate = keras.layers.Conv2D(2, 1, activation="swish")(gate)
    gate = keras.layers.Conv2D(8, 1, activation="sigmoid", bias_initializer="ones")(gate)
    x = keras.layers.Multiply()([x, gate])
    x = keras.layers.Dropout(0.2)(_batchnorm(keras.layers.Conv2D(8, 1, use_bias=False)(x), rng, shifts))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Add()([x, skip]))
    return keras.Model(inputs, keras.layers.Dense(3, use_bias=shifts)(x), name="efficientnet_block")


def convnext_block(shifts: bool = False, seed: int = 0):
    """ConvNeXt in miniature: input Normalization, a patchify stem with LayerNormalization (a nested
    Sequential), a grouped 7x7-style convolution, LayerNormalization, GELU, LayerScale, StochasticDepth
    and the residual sum written as ``x + y``."""
    from keras.src.applications.convnext import LayerScale, StochasticDepth

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Normalization(mean=[0.4, 0.5, 0.6], variance=[0.06, 0.05, 0.07])(inputs)
    stem = keras.Sequential([keras.layers.Conv2D(8, 2, strides=2, use_bias=shifts),
                             keras.layers.LayerNormalization(epsilon=1e-6, center=shifts)])
    skip = x = stem(x)
    x = keras.layers.Conv2D(8, 3, padding="same", groups=8, use_bias=shifts)(x)
    x = keras.layers.LayerNormalization(epsilon=1e-6, center=shifts)(x)
    x = keras.layers.Activation("gelu")(keras.layers.Dense(32, use_bias=shifts)(x))
    x = LayerScale(0.5, 8)(keras.layers.Dense(8, use_bias=shifts)(x))
    x = skip + StochasticDepth(0.1)(x)
    x = keras.layers.LayerNormalization(epsilon=1e-6, center=shifts)(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, keras.layers.Dense(3, use_bias=shifts)(x), name="convnext_block")
    for layer in model.layers + stem.layers:  # norms far from the identity
        if isinstance(layer, keras.layers.LayerNormalization):
            layer.set_weights([rng.uniform(0.5, 2, w.shape) if i == 0 else rng.normal(0, 0.5, w.shape)
                               for i, w in enumerate(layer.get_weights())])
    return model


def mobilenet_v3_block(shifts: bool = False, seed: int = 0):
    """MobileNetV3 in miniature: Rescaling, hard swish, a squeeze-excite gate whose hard sigmoid is
    ``ReLU6(x + 3) * (1 / 6)`` in Keras ops, and the 1x1-convolution head after keep-dims pooling."""
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.Rescaling(2.0, offset=-1.0)(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False)(x)
    skip = x = keras.layers.Activation("hard_silu")(_batchnorm(x, rng, shifts))
    x = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    x = keras.layers.ReLU()(_batchnorm(x, rng, shifts))
    gate = keras.layers.GlobalAveragePooling2D(keepdims=True)(x)
    gate = keras.layers.Conv2D(8, 1)(keras.layers.ReLU()(keras.layers.Conv2D(4, 1)(gate)))
    x = keras.layers.Multiply()([x, keras.layers.ReLU(6.0)(gate + 3.0) * (1.0 / 6.0)])
    x = keras.layers.Add()([_batchnorm(keras.layers.Conv2D(8, 1, use_bias=False)(x), rng, shifts), skip])
    x = keras.layers.Activation("hard_silu")(_batchnorm(keras.layers.Conv2D(16, 1, use_bias=False)(x), rng, shifts))
    x = keras.layers.GlobalAveragePooling2D(keepdims=True)(x)
    x = keras.layers.Dropout(0.2)(keras.layers.Activation("hard_silu")(keras.layers.Conv2D(12, 1, use_bias=shifts)(x)))
    x = keras.layers.Flatten()(keras.layers.Conv2D(3, 1, use_bias=shifts)(x))
    return keras.Model(inputs, x, name="mobilenet_v3_block")


FAMILIES = {"densenet": densenet_block, "efficientnet": efficientnet_block, "convnext": convnext_block,
            "mobilenet_v3": mobilenet_v3_block}
TARGETS = np.array([0, 1, 2, 1], np.int32)


def images_of(model, n=4, seed=1):
    return np.random.default_rng(seed).uniform(0, 1, size=(n, *model.input_shape[1:])).astype(np.float32)


def scores(model, images, targets=TARGETS):
    return model(images, training=False).numpy()[np.arange(len(images)), targets]


@pytest.mark.parametrize("family", FAMILIES)
def test_bias_free_family_block_conserves_relevance(family):
    model = FAMILIES[family](shifts=False)
    images = images_of(model)
    totals = lrp(model, images, TARGETS, rule="epsilon", epsilon=1e-9).reshape(len(images), -1).sum(axis=1)
    expected = scores(model, images)
    print(f"{family}: conservation error {np.max(np.abs(totals - expected) / np.abs(expected)):.1e} (relative)")
    np.testing.assert_allclose(totals, expected, rtol=1e-4, atol=1e-6)
    # With shifts (BatchNorm betas, biases) relevance is absorbed: the check above can fail.
    model = FAMILIES[family](shifts=True)
    totals = lrp(model, images, TARGETS, rule="epsilon", epsilon=1e-9).reshape(len(images), -1).sum(axis=1)
    assert np.max(np.abs(totals - scores(model, images))) > 1e-2


@pytest.mark.parametrize("family", FAMILIES)
def test_composite_explains_family_block(family):
    model = FAMILIES[family](shifts=True)
    maps = lrp(model, images_of(model), TARGETS)
    assert np.all(np.isfinite(maps)) and np.abs(maps).max() > 0


def test_layer_normalization_rule_is_gradient_x_input_with_constant_std():
    # Ali et al. 2022 (arXiv:2202.07304): with the standard deviation held constant, LayerNormalization is
    # the linear map A = diag(gamma / std) (I - 11^T / n); below a bias-free Dense, epsilon -> 0 gives
    # R = x * A^T w_target.
    keras.utils.set_random_seed(2)
    inputs = keras.Input((3, 2, 2))
    norm = keras.layers.LayerNormalization(center=False, epsilon=1e-3)
    model = keras.Model(inputs, keras.layers.Dense(3, use_bias=False)(norm(keras.layers.Flatten()(inputs))))
    norm.set_weights([np.random.default_rng(3).uniform(0.5, 2, 12)])
    images = images_of(model)
    w = model.layers[-1].get_weights()[0]
    x = images.reshape(len(images), -1)
    std = np.sqrt(x.var(axis=1, keepdims=True) + 1e-3)
    centring = np.eye(12) - 1.0 / 12
    expected = np.stack([xi * (centring.T @ (norm.gamma.numpy() / s * w[:, t]))
                         for xi, s, t in zip(x, std, TARGETS)])
    maps = lrp(model, images, TARGETS, rule="epsilon", epsilon=1e-9).reshape(len(images), -1)
    np.testing.assert_allclose(maps, expected, rtol=1e-4, atol=1e-6)


def test_input_normalization_is_folded_into_the_zbox_rule():
    # zB on the normalised pixels, bounds mapped through Rescaling and Normalization, equals zB on the raw
    # pixels in [0, 1] of the same network with the affine maps folded into its first convolution.
    keras.utils.set_random_seed(4)
    mean, variance = np.array([0.1, -0.2, 0.3]), np.array([0.5, 2.0, 1.5])
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Rescaling(2.0, offset=-1.0)(inputs)
    x = keras.layers.Normalization(mean=mean, variance=variance)(x)
    conv = keras.layers.Conv2D(4, 3, activation="relu", name="conv")
    head = keras.layers.Dense(3, name="head")
    model = keras.Model(inputs, head(keras.layers.Flatten()(conv(x))))
    folded_inputs = keras.Input((8, 8, 3))
    folded_conv = keras.layers.Conv2D(4, 3, activation="relu")
    folded_head = keras.layers.Dense(3)
    folded = keras.Model(folded_inputs, folded_head(keras.layers.Flatten()(folded_conv(folded_inputs))))
    kernel, bias = conv.get_weights()
    scale, offset = 2.0 / np.sqrt(variance), (-1.0 - mean) / np.sqrt(variance)  # x' = scale * x + offset
    folded_conv.set_weights([kernel * scale[:, None], bias + np.einsum("hwio,i->o", kernel, offset)])
    folded_head.set_weights(head.get_weights())
    images = images_of(model)
    np.testing.assert_allclose(folded(images).numpy(), model(images).numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(lrp(model, images, TARGETS), lrp(folded, images, TARGETS), rtol=1e-4, atol=1e-6)


def test_multiply_without_a_gate_is_named():
    inputs = keras.Input((4, 4, 1))
    flat = keras.layers.Flatten()(inputs)
    product = keras.layers.Multiply(name="product")([keras.layers.Dense(3)(flat), keras.layers.Dense(3)(flat)])
    model = keras.Model(inputs, keras.layers.Dense(2)(product))
    with pytest.raises(ValueError, match="'product'.*gate"):
        lrp(model, np.zeros((1, 4, 4, 1), np.float32), 0)
