"""Shared fixtures of the saliency tests: an analytic linear model, a small BatchNorm CNN, their images."""
import numpy as np
import pytest

import keras
from helpers import batchnorm_cnn, patch_detector

SHAPE = (6, 5, 2)
CLASSES = 3


@pytest.fixture(scope="session")
def linear():
    """``(model, w, b)``: f(x)[k] = sum(w[k] * x) + b[k] for (6, 5, 2) images, w (3, 6, 5, 2), b (3,)."""
    inputs = keras.Input(SHAPE)
    outputs = keras.layers.Dense(CLASSES, name="scores")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, outputs, name="linear")
    weights = np.random.default_rng(1).normal(size=(int(np.prod(SHAPE)), CLASSES)).astype(np.float32)
    bias = np.array([0.1, -0.2, 0.3], np.float32)
    model.get_layer("scores").set_weights([weights, bias])
    return model, np.moveaxis(weights, -1, 0).reshape(CLASSES, *SHAPE), bias


@pytest.fixture(scope="session")
def images():
    return np.random.default_rng(2).uniform(0, 1, size=(5, *SHAPE)).astype(np.float32)


@pytest.fixture(scope="session")
def cnn():
    return batchnorm_cnn()


@pytest.fixture(scope="session")
def cnn_images():
    return np.random.default_rng(5).uniform(0, 1, size=(6, 12, 12, 1)).astype(np.float32)


@pytest.fixture(scope="session")
def detector():
    """``(model, images, corners)`` of :func:`helpers.patch_detector`."""
    return patch_detector()

