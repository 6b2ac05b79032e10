"""The ProtoPNet network for small images (Chen et al. 2019, "This looks like that", arXiv:1806.10574).

A functional Keras model: a small convolutional feature extractor, two 1x1 add-on convolutions
ending in a sigmoid (the latent map ``z``, ``(N, H', W', D)``), a prototype layer holding ``P = m x K``
prototypes ``(P, D)`` that returns every squared L2 distance between a latent patch and a prototype,
a min-pool over positions, the log-similarity ``log((d + 1) / (d + eps))`` and a last layer without
bias, whose outputs are logits. Prototype ``j`` belongs to class ``j // m``.
"""
from __future__ import annotations

import numpy as np

from .._validation import positive_int

#: The paper's epsilon in the log-similarity.
EPSILON = 1e-4
#: Last-layer initialisation of the paper: +1 from a prototype to its own class, -0.5 to the others.
OWN_CLASS_WEIGHT, OTHER_CLASS_WEIGHT = 1.0, -0.5
#: Names of the layers the training, push and display code reads.
LATENT, PROTOTYPES, MIN_DISTANCES, SIMILARITY, LOGITS = "latent", "prototypes", "min_distances", "similarity", "logits"


def log_similarity(distances, epsilon: float = EPSILON):
    """``log((d + 1) / (d + epsilon))`` of squared distances (numpy or tensor), large when ``d`` is small."""
    import keras

    return keras.ops.log((distances + 1.0) / (distances + epsilon))


def squared_distances(latent, prototypes):
    """Squared L2 distances ``(N, H, W, P)`` between every patch of ``latent`` ``(N, H, W, D)`` and ``prototypes`` ``(P, D)``.

    Expanded as ``||z||^2 - 2 z.p + ||p||^2`` (one matrix product instead of an ``(N, H, W, P, D)``
    difference), clipped at 0 against rounding.
    """
    import keras
    from keras import ops

    z_squared = ops.sum(latent * latent, axis=-1, keepdims=True)
    p_squared = ops.sum(prototypes * prototypes, axis=-1)
    cross = ops.einsum("nhwd,pd->nhwp", latent, prototypes)
    return ops.maximum(z_squared - 2.0 * cross + p_squared, keras.ops.zeros_like(cross))


def _prototype_layer_class():
    import keras

    class PrototypeDistances(keras.layers.Layer):
        """Holds ``num_prototypes`` prototypes ``(P, D)``; maps a latent map to squared distances ``(N, H, W, P)``."""

        def __init__(self, num_prototypes: int, num_classes: int, **kwargs):
            super().__init__(**kwargs)
            self.num_prototypes, self.num_classes = num_prototypes, num_classes

        def build(self, input_shape):
            # The paper draws prototypes uniformly in [0, 1), the range of the sigmoid latent space.
            self.prototypes = self.add_weight(shape=(self.num_prototypes, int(input_shape[-1])),
                                              initializer=keras.initializers.RandomUniform(0.0, 1.0),
                                              name="prototype_vectors")

        def call(self, latent):
            return squared_distances(latent, self.prototypes)

        def compute_output_shape(self, input_shape):
            return (*input_shape[:-1], self.num_prototypes)

        def get_config(self):
            return {**super().get_config(), "num_prototypes": self.num_prototypes, "num_classes": self.num_classes}

    class MinOverPositions(keras.layers.Layer):
        """The smallest distance of each prototype over all positions: ``(N, H, W, P) -> (N, P)``."""

        def call(self, distances):
            return keras.ops.min(distances, axis=(1, 2))

        def compute_output_shape(self, input_shape):
            return (input_shape[0], input_shape[-1])

    class LogSimilarity(keras.layers.Layer):
        """:func:`log_similarity` as a layer."""

        def call(self, distances):
            return log_similarity(distances)

    return PrototypeDistances, MinOverPositions, LogSimilarity


def build_protopnet(input_shape=(28, 28, 1), num_classes: int = 10, *, prototypes_per_class: int = 10,
                    prototype_dim: int = 32, width: int = 16, seed: int | None = 0, name: str = "protopnet"):
    """A ProtoPNet for small images that outputs logits (arXiv:1806.10574).

    Parameters
    ----------
    input_shape : (H, W, C)
        Image shape; the latent map is ``(H/2, W/2)``: 14x14 patches for 28x28 images.
    num_classes : int
        K, the number of classes.
    prototypes_per_class : int
        m; the model holds ``P = m * K`` prototypes, prototype ``j`` belonging to class ``j // m``.
    prototype_dim : int
        D, the depth of the latent map and of each prototype.
    width : int
        Filters of the first convolution (the next two have 2 and 4 times as many).
    seed : int or None
        Seeds the initial weights (Python, numpy and Keras' generators); ``None`` leaves them alone.

    Returns
    -------
    keras.Model
        Blocks ``conv{i} -> bn{i} -> relu{i}`` (3x3 convolutions, BatchNorm, ReLU) with a 2x2 max-pool
        ``pool1`` after the first: a patch of the latent map sees a 12x12 pixel box
        (:func:`~.push.patch_boxes`), then ``add_on1``
        (1x1, ReLU), ``latent`` (1x1, sigmoid), ``prototypes`` (squared distances ``(N, H', W', P)``),
        ``min_distances`` ``(N, P)``, ``similarity`` ``(N, P)``, ``logits`` ``(N, K)`` (no bias,
        initialised +1 / -0.5 as in the paper).
    """
    import keras
    from keras import layers

    num_classes = positive_int(num_classes, "num_classes")
    m = positive_int(prototypes_per_class, "prototypes_per_class")
    prototype_dim, width = positive_int(prototype_dim, "prototype_dim"), positive_int(width, "width")
    if len(tuple(input_shape)) != 3:
        raise ValueError(f"`input_shape` must be (H, W, C); got {input_shape!r}.")
    if seed is not None:
        keras.utils.set_random_seed(seed)
    distance_layer, min_layer, similarity_layer = _prototype_layer_class()
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = inputs
    for i, filters in enumerate((width, 2 * width, 4 * width), start=1):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{i}")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"bn{i}")(x)
        x = layers.ReLU(name=f"relu{i}")(x)
        if i == 1:
            x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(prototype_dim, 1, activation="relu", name="add_on1")(x)
    latent = layers.Conv2D(prototype_dim, 1, activation="sigmoid", name=LATENT)(x)
    distances = distance_layer(m * num_classes, num_classes, name=PROTOTYPES)(latent)
    min_distances = min_layer(name=MIN_DISTANCES)(distances)
    similarity = similarity_layer(name=SIMILARITY)(min_distances)
    logits = layers.Dense(num_classes, use_bias=False, name=LOGITS)(similarity)
    model = keras.Model(inputs, logits, name=name)
    model.get_layer(LOGITS).kernel.assign(last_layer_init(prototype_classes(model), num_classes))
    return model


def prototype_classes(model) -> np.ndarray:
    """The class of each prototype, ``(P,)`` int: ``j // m``."""
    layer = _prototype_layer(model)
    m = layer.num_prototypes // layer.num_classes
    return np.arange(layer.num_prototypes) // m


def last_layer_init(classes: np.ndarray, num_classes: int) -> np.ndarray:
    """Kernel ``(P, K)`` of the paper's initialisation: +1 where a prototype meets its own class, -0.5 elsewhere."""
    own = np.eye(num_classes, dtype=bool)[np.asarray(classes)]
    return np.where(own, OWN_CLASS_WEIGHT, OTHER_CLASS_WEIGHT).astype(np.float32)


def _prototype_layer(model):
    try:
        return model.get_layer(PROTOTYPES)
    except ValueError:
        raise ValueError(f"`model` must be a ProtoPNet from `build_protopnet` (a layer named {PROTOTYPES!r}); "
                         f"got {getattr(model, 'name', model)!r}.") from None


def prototype_vectors(model) -> np.ndarray:
    """The prototypes ``(P, D)`` as a numpy array."""
    return np.asarray(_prototype_layer(model).prototypes)


def parts(model):
    """``keras.Model`` mapping images to ``(latent (N, H', W', D), distances (N, H', W', P), logits (N, K))``."""
    import keras

    _prototype_layer(model)
    return keras.Model(model.input, [model.get_layer(LATENT).output, model.get_layer(PROTOTYPES).output,
                                      model.output])


def trainer_model(model):
    """``keras.Model`` mapping images to ``(logits, min_distances)``: what the loss of every stage reads."""
    import keras

    return keras.Model(model.input, [model.output, model.get_layer(MIN_DISTANCES).output])


def similarity_maps(model, images, *, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Similarity maps ``(N, H', W', P)`` of every prototype on ``images``, and the logits ``(N, K)``."""
    from .._validation import as_images

    images = as_images(images, model=model)
    batch_size = positive_int(batch_size, "batch_size")
    net = parts(model)
    maps, logits = [], []
    for start in range(0, len(images), batch_size):
        _, distances, out = net(images[start:start + batch_size], training=False)
        maps.append(np.asarray(log_similarity(distances)))
        logits.append(np.asarray(out))
    return np.concatenate(maps), np.concatenate(logits)



def prototype_similarities(model, images, *, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """What the last layer reads, the similarities ``(N, P)`` (best over positions), and the logits ``(N, K)``."""
    import keras

    from .._validation import as_images

    images = as_images(images, model=model)
    batch_size = positive_int(batch_size, "batch_size")
    net = keras.Model(model.input, [model.get_layer(SIMILARITY).output, model.output])
    outputs = [net(images[start:start + batch_size], training=False) for start in range(0, len(images), batch_size)]
    return tuple(np.concatenate([np.asarray(out[i]) for out in outputs]) for i in range(2))
