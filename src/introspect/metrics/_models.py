"""The models the sanity checks and ROAR make: fresh untrained copies, retrained models, randomised clones.

Kept apart so that the metric families read as measurements; the user's model is never changed.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ._checks import is_keras


def fresh_model(model, builder=None):
    """A new, untrained model: ``builder()`` or, by default, ``keras.models.clone_model(model)``."""
    import keras

    if builder is None:
        if not is_keras(model):
            raise ValueError("`builder` is needed when `model` is not a Keras model.")
        return keras.models.clone_model(model)
    if not callable(builder):
        raise ValueError(f"`builder` must be a callable returning a new, untrained model; got {builder!r}.")
    return builder()


def retrain(model, builder, x, y, *, epochs: int, seed: int, verbose: int, train_params: Mapping | None):
    """A fresh model (:func:`fresh_model`) built after ``set_seed(seed)`` and trained on ``(x, y)``.

    Seeding before building makes the initial weights, and so the whole training, repeatable.
    """
    from .. import models

    models.set_seed(seed)
    trained = fresh_model(model, builder)
    models.train(trained, x, y, epochs=epochs, seed=seed, verbose=verbose, **dict(train_params or {}))
    return trained


def clone(model):
    """A copy of a Keras ``model`` with the same weights, made by ``keras.models.clone_model``."""
    import keras

    if not is_keras(model):
        raise ValueError(f"`model` must be a Keras model that keras.models.clone_model can copy; got {type(model)}.")
    try:
        copy = keras.models.clone_model(model)
    except Exception as error:  # subclassed models cannot be cloned from their config
        raise ValueError(f"`model` could not be cloned (keras.models.clone_model: {error}); use a functional or "
                         f"Sequential model.") from error
    copy.set_weights(model.get_weights())
    return copy


def randomize_layer(layer, seed: int, index: int) -> None:
    """Re-draw every weight of ``layer`` in place, reproducibly from ``(seed, index)``.

    Weights with a Keras initializer attribute (``kernel`` -> ``kernel_initializer``) are drawn
    from it with a fixed seed, so constant initializers reset biases and BatchNorm statistics
    to their initial values; other weights get a seeded normal with the original's std.
    """
    import keras

    for position, variable in enumerate(layer.weights):
        values = np.asarray(variable)
        child_seed = int(np.random.default_rng([seed, index, position]).integers(2 ** 31 - 1))
        short_name = variable.name.split("/")[-1].split(":")[0]
        initializer = getattr(layer, f"{short_name}_initializer", None)
        if isinstance(initializer, keras.initializers.Initializer):
            config = initializer.get_config()
            if "seed" in config:
                initializer = initializer.__class__.from_config({**config, "seed": child_seed})
            new = np.asarray(initializer(values.shape, dtype=variable.dtype))
        else:
            new = np.random.default_rng(child_seed).normal(0.0, values.std(), values.shape)
        variable.assign(new.astype(values.dtype))
