"""The model-free prototype walk: the requested size, towards the prototype, no classifier."""
import keras
import numpy as np
import pytest

from introspect import optimize as opt


def _identity(shape=(6, 6, 1)):
    inputs = keras.Input(shape=shape)
    conv = keras.layers.Conv2D(1, 1, use_bias=False)
    model = keras.Model(inputs, conv(inputs))
    conv.set_weights([np.ones((1, 1, 1, 1), np.float32)])
    return model


def test_latent_move_walks_towards_the_prototype_by_the_requested_size():
    coder = _identity()
    images = np.full((2, 6, 6, 1), 0.2, np.float32)
    prototypes = opt.Prototypes(coder, np.full((2, 6, 6, 1), 0.8, np.float32))
    # with an identity coder the walk is x + a (p - x): L2 = a * 0.6 * 6, so size 1.8 is half way
    moved = opt.latent_move(coder, images, prototypes, [1.8, 100.0])
    np.testing.assert_allclose(moved[0], 0.5, atol=1e-4)
    np.testing.assert_allclose(moved[1], 0.8, atol=1e-6)          # too far: the whole way, no further
    with pytest.raises(ValueError, match="`prototypes`"):
        opt.latent_move(coder, images, prototypes.codes, 1.0)
