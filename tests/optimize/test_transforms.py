"""Transforms: exact resampling for shifts and quarter turns, jitter draws whole-pixel shifts, seeds repeat."""
import numpy as np
import pytest
import tensorflow as tf

from introspect import optimize as opt
from introspect.optimize.transforms import apply_transforms


class _Fixed(opt.Transform):
    """The same ``(3, 3)`` output -> input map for every image."""

    def __init__(self, matrix):
        self.matrix = np.asarray(matrix, np.float32)

    def matrices(self, n, seed):
        return tf.constant(np.tile(self.matrix, (n, 1, 1)))


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).random((2, 6, 6, 2), dtype=np.float32)


def test_identity_is_exact(images):
    np.testing.assert_array_equal(_Fixed(np.eye(3))(images).numpy(), images)


def test_integer_shift_reflects_at_the_borders(images):
    # output(y, x) = input(y - 2, x + 1) with reflection at the borders.
    shifted = _Fixed([[1, 0, 1], [0, 1, -2], [0, 0, 1]])(images).numpy()
    padded = np.pad(images, [(0, 0), (2, 2), (1, 1), (0, 0)], mode="reflect")
    np.testing.assert_allclose(shifted, padded[:, :6, 2:8], atol=1e-6)


def test_quarter_turn_is_exact(images):
    # out(y, x) = in(x, W - 1 - y): a quarter turn counter-clockwise.
    turned = _Fixed([[0, -1, 0], [1, 0, 0], [0, 0, 1]])(images).numpy()
    np.testing.assert_allclose(turned, np.rot90(images, k=1, axes=(1, 2)), atol=1e-5)


def test_a_chain_of_transforms_is_one_resampling_of_the_composed_map(images):
    quarter, shift = _Fixed([[0, -1, 0], [1, 0, 0], [0, 0, 1]]), _Fixed([[1, 0, 1], [0, 1, 0], [0, 0, 1]])
    chained = apply_transforms(tf.constant(images), (quarter, quarter), tf.constant([0, 0], tf.int64)).numpy()
    np.testing.assert_allclose(chained, np.rot90(images, k=2, axes=(1, 2)), atol=1e-5)
    # transforms apply in the order given: the turn first, then the shift of the turned image
    both = apply_transforms(tf.constant(images), (quarter, shift), tf.constant([0, 0], tf.int64)).numpy()
    np.testing.assert_allclose(both, shift(quarter(images)).numpy(), atol=1e-5)
    assert not np.allclose(both, quarter(shift(images)).numpy(), atol=1e-3)
    np.testing.assert_array_equal(apply_transforms(images, (), None), images)


def test_jitter_shifts_each_image_by_whole_pixels_within_range(images):
    pixels = 2
    for seed in range(5):
        jittered = opt.jitter(pixels)(images, seed=(seed, 1)).numpy()
        for i in range(len(images)):
            padded = np.pad(images[i], [(pixels, pixels), (pixels, pixels), (0, 0)], mode="reflect")
            windows = [padded[pixels + dy:pixels + dy + 6, pixels + dx:pixels + dx + 6]
                       for dy in range(-pixels, pixels + 1) for dx in range(-pixels, pixels + 1)]
            assert min(np.abs(jittered[i] - w).max() for w in windows) < 1e-6


@pytest.mark.parametrize("transform", [opt.jitter(2), opt.random_scale((0.8, 1.2)), opt.random_rotation(30)],
                         ids=repr)
def test_equal_seeds_give_equal_draws_and_other_seeds_differ(images, transform):
    first = transform(images, seed=(3, 0)).numpy()
    np.testing.assert_array_equal(first, transform(images, seed=(3, 0)).numpy())
    assert not np.array_equal(first, transform(images, seed=(4, 0)).numpy())


def test_bad_transforms_are_value_errors_naming_the_argument():
    cases = [(lambda: opt.jitter(0), "`pixels`"), (lambda: opt.random_scale((1.2, 0.8)), "`scales`"),
             (lambda: opt.random_scale(1.1), "`scales`"), (lambda: opt.random_rotation(200), "`degrees`")]
    for call, name in cases:
        with pytest.raises(ValueError, match=name):
            call()
