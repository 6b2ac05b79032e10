"""Tiny models, methods and data shared by the test packages (``pythonpath = ["tests"]``: ``import helpers``).

Append new helpers in a section of your own; keep everything small, seeded and offline.
"""
import sys
import types

import keras
import numpy as np
import tensorflow as tf


# ---------------------------------------------------------------------------------------------
# Metrics: analytic linear models, a reference gradient method and random images


def linear_model(weights: np.ndarray, name: str = "linear"):
    """Logits ``x.flatten() @ weights`` without bias for images of shape ``weights.shape[:-1]``."""
    shape = weights.shape[:-1]
    inputs = keras.Input(shape=shape)
    outputs = keras.layers.Dense(weights.shape[-1], use_bias=False, name="logits")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, outputs, name=name)
    model.get_layer("logits").set_weights([weights.reshape(-1, weights.shape[-1]).astype(np.float32)])
    return model


def sum_model(shape=(6, 6, 1)):
    """Class 0 scores f(x) = sum(x), class 1 scores -sum(x)."""
    ones = np.ones(shape)
    return linear_model(np.stack([ones, -ones], axis=-1))


def halves_model(size: int = 4):
    """Class 0 = sum of the left half of a ``size x size`` image, class 1 = sum of the right half."""
    left = np.zeros((size, size, 1))
    left[:, : size // 2] = 1
    return linear_model(np.stack([left, 1 - left], axis=-1))


def tape_gradient(model, images, targets, *, batch_size=64, **_):
    """Vanilla gradient of the target logit written with a plain GradientTape (independent of saliency)."""
    images = np.asarray(images, np.float32)
    targets = np.broadcast_to(np.asarray(targets), (len(images),))
    grads = []
    for start in range(0, len(images), batch_size):
        x = tf.convert_to_tensor(images[start:start + batch_size])
        t = tf.convert_to_tensor(targets[start:start + batch_size])
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = tf.gather(model(x, training=False), t, batch_dims=1)
        grads.append(tape.gradient(score, x).numpy())
    return np.concatenate(grads)


def input_map(model, images, targets, *, batch_size=64, **_):
    """An explanation that ignores the model: the image itself (an 'edge detector')."""
    return np.asarray(images, np.float32).copy()


def rng_images(n: int, shape=(6, 6, 1), seed: int = 0) -> np.ndarray:
    """``n`` seeded uniform images in [0, 1) of ``shape``, float32."""
    return np.random.default_rng(seed).random((n, *shape)).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Optimisation and numerics: narrow copies of the shipped CNN, a model ending in a softmax


def tiny_fashion_cnn(input_shape=(28, 28, 1), seed: int = 0):
    """An untrained, narrow copy of the shipped architecture: same layer names, a fraction of the cost."""
    from introspect import models

    keras.utils.set_random_seed(seed)
    return models.build_fashion_cnn(input_shape=input_shape, width=4)


def softmax_model(shape=(28, 28, 1), classes: int = 10, seed: int = 0):
    """A dense classifier whose last layer applies a softmax (its outputs are not logits)."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input(shape), keras.layers.Flatten(),
                             keras.layers.Dense(classes, activation="softmax")])


# ---------------------------------------------------------------------------------------------
# Saliency: a small CNN with BatchNorm, blob images, a model that only sees a bright patch


def batchnorm_cnn(name: str = "cnn", shape=(12, 12, 1), classes: int = 3):
    """A small non-linear CNN with BatchNorm whose statistics are not the identity (seeded)."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input(shape, name="image")
    x = keras.layers.Conv2D(6, 3, padding="same", name="conv1")(inputs)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.ReLU(name="relu1")(x)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(16, activation="relu", name="dense")(x)
    outputs = keras.layers.Dense(classes, name="logits")(x)
    model = keras.Model(inputs, outputs, name=name)
    rng = np.random.default_rng(4)
    model.get_layer("bn1").set_weights([rng.uniform(0.5, 1.5, 6), rng.normal(0, 0.2, 6), rng.normal(0, 0.3, 6),
                                        rng.uniform(0.5, 2, 6)])
    return model


def blob_images(n: int, seed: int, classes: int = 3):
    """12 x 12 images of three classes: a bright 4x4 blob near the top-left, the centre or the bottom-right."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    x = rng.uniform(0, 0.3, size=(n, 12, 12, 1)).astype(np.float32)
    for image, label in zip(x, labels):
        row, col = np.array([(1, 1), (4, 4), (7, 7)][label]) + rng.integers(-1, 2, size=2)
        image[row:row + 4, col:col + 4] += 0.7
    return x, labels


def patch_detector():
    """``(model, images, corners)``: class 0 scores the mean of relu(local 3x3 mean - 0.6), so only the
    bright 4x4 patch at ``corners[i]`` of image ``i`` activates it."""
    inputs = keras.Input((16, 16, 1))
    detector = keras.layers.Conv2D(1, 3, padding="same", activation="relu", name="detector")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(detector)
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(pooled))
    model.get_layer("detector").set_weights([np.full((3, 3, 1, 1), 1 / 9, np.float32), np.array([-0.6], np.float32)])
    model.get_layer("head").set_weights([np.array([[10.0, -10.0]], np.float32), np.zeros(2, np.float32)])
    x = np.random.default_rng(14).uniform(0, 0.3, size=(3, 16, 16, 1)).astype(np.float32)
    corners = [(8, 4), (2, 10), (10, 10)]
    for image, (row, col) in zip(x, corners):
        image[row:row + 4, col:col + 4] = 1.0
    return model, x, corners


#: Cheap settings per saliency method, for the tests that loop over ``saliency.METHODS``.
FAST_SALIENCY_PARAMS = {
    "smoothgrad": dict(n_samples=5),
    "integrated_gradients": dict(steps=6),
    "occlusion": dict(patch=4, stride=3),
    "meaningful_perturbation": dict(steps=5),
}


def assert_peaks_inside_patches(maps, corners, name: str = "") -> None:
    """Each ``(H, W)`` map's maximum lies inside the 4x4 bright patch whose top-left corner is given."""
    for saliency_map, (row, col) in zip(maps, corners):
        peak = np.unravel_index(np.argmax(saliency_map), saliency_map.shape)
        assert row <= peak[0] < row + 4 and col <= peak[1] < col + 4, (name, peak, (row, col))


# ---------------------------------------------------------------------------------------------
# zennit (the reference LRP of the cross-checks and of benchmarks/bench_lrp.py)


def import_zennit():
    """zennit, or None without torch or zennit. zennit imports torchvision only to name three classes
    (ResNet blocks, FrozenBatchNorm2d) of canonizers not used here; PyPI's torchvision does not load
    against the CPU build of torch, so stand-ins for those names are enough when it is missing."""
    try:
        import torch
    except ImportError:
        return None
    try:
        import torchvision  # noqa: F401
    except ImportError:
        stub = {name: types.ModuleType(name) for name in
                ("torchvision", "torchvision.models", "torchvision.models.resnet", "torchvision.ops")}
        stub["torchvision"].models, stub["torchvision"].ops = stub["torchvision.models"], stub["torchvision.ops"]
        stub["torchvision.models"].resnet = stub["torchvision.models.resnet"]
        for name in ("Bottleneck", "BasicBlock"):
            setattr(stub["torchvision.models.resnet"], name, type(name, (torch.nn.Module,), {}))
        stub["torchvision.ops"].FrozenBatchNorm2d = type("FrozenBatchNorm2d", (torch.nn.Module,), {})
        sys.modules.update(stub)
    try:
        import zennit
    except ImportError:
        return None
    return zennit


def identity_encoder(shape=(6, 6, 1)):
    """A 1x1 convolution with weight 1: an "encoder" whose codes are the images themselves."""
    inputs = keras.Input(shape=shape)
    conv = keras.layers.Conv2D(1, 1, use_bias=False)
    model = keras.Model(inputs, conv(inputs))
    conv.set_weights([np.ones((1, 1, 1, 1), np.float32)])
    return model


def load_script(path, name: str):
    """Import a script of ``scripts/`` (not a package) as a module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
