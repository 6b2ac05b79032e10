"""Two models that keep notebook 03 honest: an independent judge and a data prior.

* :func:`build_judge_cnn`: a second Fashion-MNIST classifier with another architecture (5x5
  convolutions, no BatchNorm, one narrower dense layer) and another seed than
  :func:`~introspect.models.build_fashion_cnn`. Counterfactuals and class visualisations made for
  the shipped model are judged by it: a change that explains the data should convince a second
  model, an adversarial one should not.
* :func:`build_autoencoder`: a small convolutional autoencoder whose encoder gives the latent
  space of prototype-guided counterfactuals (Van Looveren & Klaise 2019, arXiv:1907.02584) and
  whose decoder is the image prior of :func:`~introspect.optimize.visualise_classes`.

Both are trained by ``scripts/train_companions.py``; their weights and JSON records live in
``src/introspect/weights/`` (``fashion_judge.*``, ``fashion_autoencoder.*``) and load with :func:`load_judge`,
:func:`load_autoencoder`.
"""
from __future__ import annotations

import json

import numpy as np

from .models import MODELS_DIR

JUDGE_WEIGHTS = "fashion_judge.weights.h5"
AUTOENCODER_WEIGHTS = "fashion_autoencoder.weights.h5"
#: Shape of the autoencoder's latent code for a 28x28 image: 7 x 7 positions x 4 channels.
LATENT_SHAPE = (7, 7, 4)


def build_judge_cnn(input_shape=(28, 28, 1), num_classes: int = 10, *, seed: int = 1, name: str = "fashion_judge"):
    """A second classifier (logits) unlike the shipped one: two 5x5 conv blocks without BatchNorm.

    ``conv_a`` (24 filters, 5x5) -> max-pool -> ``conv_b`` (48, 5x5) -> max-pool -> ``features``
    (dense, 64 units, ReLU; its output is the feature space in which notebook 03 measures distances
    to real images) -> ``logits``. ``seed`` fixes the initial weights.
    """
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Conv2D(24, 5, padding="same", activation="relu", name="conv_a")(inputs)
    x = layers.MaxPooling2D(2, name="pool_a")(x)
    x = layers.Conv2D(48, 5, padding="same", activation="relu", name="conv_b")(x)
    x = layers.MaxPooling2D(2, name="pool_b")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(64, activation="relu", name="features")(x)
    outputs = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def build_autoencoder(input_shape=(28, 28, 1), *, seed: int = 0):
    """A convolutional autoencoder ``(autoencoder, encoder, decoder)`` with a 7x7x4 latent code.

    Encoder: two stride-2 3x3 convolutions (16, 32 filters, ReLU) and a linear 1x1 convolution to 4
    channels. Decoder: two stride-2 transposed convolutions (32, 16, ReLU) and a 3x3 convolution
    with a sigmoid, so decoded images are in [0, 1]. ``seed`` fixes the initial weights.
    """
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    image = keras.Input(shape=input_shape, name="image")
    x = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="enc1")(image)
    x = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu", name="enc2")(x)
    code = layers.Conv2D(LATENT_SHAPE[-1], 1, name="code")(x)
    encoder = keras.Model(image, code, name="encoder")
    latent = keras.Input(shape=LATENT_SHAPE, name="latent")
    y = layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu", name="dec1")(latent)
    y = layers.Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu", name="dec2")(y)
    decoded = layers.Conv2D(input_shape[-1], 3, padding="same", activation="sigmoid", name="decoded")(y)
    decoder = keras.Model(latent, decoded, name="decoder")
    autoencoder = keras.Model(image, decoder(encoder(image)), name="autoencoder")
    return autoencoder, encoder, decoder


def _weights(name: str):
    path = MODELS_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"Shipped weights {path} are missing; re-create them with "
                                f"`python scripts/train_companions.py`.")
    return path


def load_judge():
    """The shipped judge classifier (:func:`build_judge_cnn` trained by ``scripts/train_companions.py``)."""
    model = build_judge_cnn()
    model.load_weights(_weights(JUDGE_WEIGHTS))
    return model


def load_autoencoder():
    """The shipped ``(autoencoder, encoder, decoder)`` of :func:`build_autoencoder`."""
    autoencoder, encoder, decoder = build_autoencoder()
    autoencoder.load_weights(_weights(AUTOENCODER_WEIGHTS))
    return autoencoder, encoder, decoder


def record(name: str) -> dict:
    """The JSON record of how ``"fashion_judge"`` or ``"fashion_autoencoder"`` was made."""
    if name not in ("fashion_judge", "fashion_autoencoder"):
        raise ValueError(f"`name` must be 'fashion_judge' or 'fashion_autoencoder'; got {name!r}.")
    return json.loads((MODELS_DIR / f"{name}.json").read_text())


def encode(encoder, images, batch_size: int = 512) -> np.ndarray:
    """Latent codes ``(N, 7 * 7 * 4)`` (flattened, float64) of images ``(N, 28, 28, 1)`` in [0, 1]."""
    import tensorflow as tf

    from .numerics import predict

    def flat_codes(batch):
        return tf.reshape(encoder(batch, training=False), [tf.shape(batch)[0], -1])

    return predict(flat_codes, images, batch_size=batch_size, output="raw")
