"""Model builders, deterministic training, and the shipped pre-trained weights.

Every model here ends in a ``Dense`` layer without activation: its outputs are
logits. Probabilities are one :func:`predict_proba` call away.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ._validation import as_class_indices, as_images, positive_int
from .numerics import predict

#: The shipped weights and their records: package data, inside the wheel as in a checkout.
MODELS_DIR = Path(__file__).resolve().parent / "weights"

#: Names of the shipped models, mapped to their weights file in :data:`MODELS_DIR`.
PRETRAINED = {"fashion_cnn": "fashion_cnn.weights.h5"}
#: Builder arguments of the shipped Fashion-MNIST model (it was trained before the default
#: BatchNorm momentum became 0.9; six full epochs are long enough for 0.99).
FASHION_CNN_ARGS = {"bn_momentum": 0.99}


def build_fashion_cnn(input_shape=(28, 28, 1), num_classes: int = 10, *, width: int = 16,
                      dropout: float = 0.3, bn_momentum: float = 0.9, seed: int | None = 0,
                      name: str = "fashion_cnn"):
    """A small functional CNN for Fashion-MNIST that outputs logits.

    ``bn_momentum`` is BatchNorm's moving-average momentum: Keras' default 0.99 leaves the
    inference statistics far from the data after a short training (a 3-epoch run on 2,000 images
    scores 0.24 at inference against 0.80 with batch statistics), so short retrainings (ROAR,
    sanity checks, poisoned models) use 0.9. ``seed`` fixes the initial weights (it re-seeds Python, numpy and Keras' global generators
    before the layers are created); ``None`` leaves the global random state alone.

    Three conv blocks ``conv{i} -> bn{i} -> relu{i}`` (``width`` x 1, 2, 4 filters; max-pooling after
    the first two, so the last conv map ``conv3``/``relu3`` is 7x7), then ``dense`` (128, ReLU),
    dropout and ``logits`` (no softmax). Grad-CAM reads ``relu3`` (the last conv's rectified
    output) by default.
    """
    import keras
    from keras import layers

    if seed is not None:
        keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for block, filters in enumerate((width, 2 * width, 4 * width), start=1):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{block}")(x)
        x = layers.BatchNormalization(momentum=bn_momentum, name=f"bn{block}")(x)
        x = layers.ReLU(name=f"relu{block}")(x)
        if block < 3:
            x = layers.MaxPooling2D(2, name=f"pool{block}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(128, activation="relu", name="dense")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def set_seed(seed: int) -> None:
    """Seed Python, numpy and TensorFlow, and make TensorFlow's ops deterministic."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def train(model, x, y, *, epochs: int = 5, batch_size: int = 128, learning_rate: float = 1e-3,
          validation_data=None, seed: int = 0, augment=None, verbose: int = 2):
    """Train ``model`` in place with Adam on sparse-categorical cross-entropy from logits.

    The learning rate follows a cosine decay from ``learning_rate`` to 0 over all epochs, which
    settles BatchNorm statistics and weights at the end of a short run.

    Deterministic under ``seed`` (identical weights across runs on the same machine).
    ``augment`` is an optional function ``(images, rng) -> images`` applied to each epoch's
    copy of the training set (numpy, seeded), so that what augmentation does to the input
    is explicit and inspectable. Progress is Keras' one-line-per-epoch display
    (``verbose=2``), which reads well in executed notebooks.

    Returns the Keras ``History``.
    """
    import keras

    x = as_images(x, "x", model=model)
    y = as_class_indices(y, len(x), int(model.outputs[0].shape[-1]), "y")
    epochs = positive_int(epochs, "epochs")
    set_seed(seed)
    steps_per_epoch = -(-len(x) // batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=epochs * steps_per_epoch)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    if augment is None:
        return model.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=True,
                         validation_data=validation_data, verbose=verbose)
    rng = np.random.default_rng(seed)
    history = None
    for epoch in range(epochs):
        history = model.fit(augment(x, rng), y, initial_epoch=epoch, epochs=epoch + 1, batch_size=batch_size,
                            shuffle=True, validation_data=validation_data, verbose=verbose)
    return history


def training_record(name: str, builder: str, data: str, *, epochs: int, seed: int, seconds: float, scores: dict,
                    reproduce: str, optimizer: str = "Adam, cosine decay from 1e-3 to 0",
                    batch_size: int = 128) -> dict:
    """The JSON record written next to trained weights: how they were made, how good they are, on what machine.

    Keys in order: ``name``, ``builder`` (the call that rebuilds the architecture, e.g.
    ``"introspect.models.build_fashion_cnn(seed=1, bn_momentum=0.99)"``), ``data``, ``epochs``,
    ``batch_size``, ``optimizer``, ``seed``, then ``scores`` (e.g. ``{"test_accuracy": 0.92}``),
    ``training_seconds``, ``machine``, ``load_average_1min_at_end``, library versions and the
    ``reproduce`` command.
    """
    import keras
    import tensorflow as tf

    return {"name": name, "builder": builder, "data": data, "epochs": epochs, "batch_size": batch_size,
            "optimizer": optimizer, "seed": seed, **scores, "training_seconds": round(seconds, 1),
            "machine": f"{os.cpu_count()} CPU cores, no GPU",
            # Other jobs inflate the time; the load average says how busy the cores were.
            "load_average_1min_at_end": round(os.getloadavg()[0], 2),
            "tensorflow": tf.__version__, "keras": keras.__version__, "reproduce": reproduce}


def predict_logits(model, images, batch_size: int = 256) -> np.ndarray:
    """Logits ``(N, K)`` (float64) for a batch, in chunks, without Keras' progress output.

    ``numerics.predict(..., output="logits")``: a model that ends in a softmax is a ``ValueError``.
    """
    return predict(model, images, batch_size=batch_size, output="logits")


def predict_proba(model, images, batch_size: int = 256) -> np.ndarray:
    """Softmax probabilities ``(N, K)`` (float64) of a classifier: ``numerics.predict(..., output="softmax")``."""
    return predict(model, images, batch_size=batch_size, output="softmax")


def accuracy(model, images, labels, batch_size: int = 256) -> float:
    """Top-1 accuracy of ``model`` on ``(images, labels)`` (logits or probabilities: the argmax is the same)."""
    predictions = predict(model, images, batch_size=batch_size, output="raw").argmax(axis=1)
    return float(np.mean(predictions == as_class_indices(labels, len(predictions), None, "labels")))


def load_pretrained(name: str = "fashion_cnn"):
    """Load a shipped model with its weights; no download, no pickles, no Lambda layers.

    ``"fashion_cnn"``: the Fashion-MNIST CNN of :func:`build_fashion_cnn`, trained by
    ``scripts/train_fashion_cnn.py``; how it was made is in ``introspect/weights/fashion_cnn.json``.
    ``"efficientnet_lite0"``: the ImageNet model of :mod:`introspect.imagenet`.
    """
    if name == "efficientnet_lite0":
        from . import imagenet

        return imagenet.load_efficientnet_lite0()
    if name not in PRETRAINED:
        raise ValueError(f"`name` must be one of {sorted([*PRETRAINED, 'efficientnet_lite0'])}; got {name!r}.")
    path = MODELS_DIR / PRETRAINED[name]
    if not path.is_file():
        raise FileNotFoundError(f"Shipped weights {path} are missing; re-create them with "
                                f"`python scripts/train_fashion_cnn.py`.")
    model = build_fashion_cnn(**FASHION_CNN_ARGS)
    model.load_weights(path)
    return model


def pretrained_record(name: str = "fashion_cnn") -> dict:
    """The JSON record of how a shipped model was made (data, epochs, seed, accuracy, time)."""
    return json.loads((MODELS_DIR / f"{name}.json").read_text())
