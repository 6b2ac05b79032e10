"""The model-free prototype walk: the requested size, towards the prototype, no classifier."""
import numpy as np
import pytest

from helpers import identity_encoder
from introspect import optimize as opt


def test_latent_move_walks_towards_the_prototype_by_the_requested_size():
    coder = identity_encoder()
    images = np.full((2, 6, 6, 1), 0.2, np.float32)
    prototypes = opt.Prototypes(coder, np.full((2, 6, 6, 1), 0.8, np.float32))
    # with an identity coder the walk is x + a (p - x): L2 = a * 0.6 * 6, so size 1.8 is half way
    moved = opt.latent_move(coder, images, prototypes, [1.8, 100.0])
    np.testing.assert_allclose(moved[0], 0.5, atol=1e-4)
    np.testing.assert_allclose(moved[1], 0.8, atol=1e-6)          # too far: the whole way, no further
    with pytest.raises(ValueError, match="`prototypes`"):
        opt.latent_move(coder, images, prototypes.codes, 1.0)
