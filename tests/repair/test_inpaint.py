"""inpaint: masked pixels take the mean of their known neighbours, channel by channel; the input is never changed."""
import numpy as np
import pytest

from introspect.clever_hans import repairs
from introspect.repair import inpaint


def test_a_masked_centre_takes_the_mean_of_its_eight_neighbours():
    image = np.random.default_rng(0).random((1, 3, 3, 1)).astype(np.float32)
    mask = np.zeros((1, 3, 3), bool)
    mask[0, 1, 1] = True
    before = image.copy()
    filled = inpaint(image, mask)
    neighbours = np.delete(image[0, :, :, 0].ravel(), 4)
    np.testing.assert_allclose(filled[0, 1, 1, 0], neighbours.mean(), rtol=1e-6)
    np.testing.assert_array_equal(filled[~mask], image[~mask])       # pixels outside the mask are kept exactly
    np.testing.assert_array_equal(image, before)                      # the input is not modified


def test_a_gap_fills_inwards_round_by_round():
    row = np.array([1, 0, 0, 0, 9], np.float32).reshape(1, 1, 5, 1)
    mask = np.array([0, 1, 1, 1, 0], bool).reshape(1, 1, 5)
    # Round 1: each end of the gap copies its one known neighbour; round 2: the middle takes their mean.
    np.testing.assert_allclose(inpaint(row, mask)[0, 0, :, 0], [1, 1, 5, 9, 9], rtol=1e-6)
    once = inpaint(row, mask, max_iterations=1)[0, 0, :, 0]
    np.testing.assert_allclose(once, [1, 1, 0, 9, 9], rtol=1e-6)     # not reached yet: keeps its value


def test_channels_are_filled_separately_and_per_channel_masks_spare_the_others():
    rng = np.random.default_rng(1)
    image = rng.random((2, 4, 4, 3)).astype(np.float32)
    pixel_mask = np.zeros((2, 4, 4), bool)
    pixel_mask[:, 1, 2] = True
    filled = inpaint(image, pixel_mask)
    for channel in range(3):
        np.testing.assert_allclose(filled[..., channel], inpaint(image[..., channel:channel + 1], pixel_mask)[..., 0])
    assert not np.allclose(filled[:, 1, 2], image[:, 1, 2])
    channel_mask = np.zeros((2, 4, 4, 3), bool)
    channel_mask[:, 1, 2, 1] = True
    only_green = inpaint(image, channel_mask)
    np.testing.assert_array_equal(only_green[..., [0, 2]], image[..., [0, 2]])
    np.testing.assert_allclose(only_green[..., 1], filled[..., 1])


def test_notebook_01_uses_the_same_function():
    assert repairs.inpaint is inpaint


@pytest.mark.parametrize("kwargs, match", [({"masks": np.zeros((2, 4, 5), bool)}, "`masks`"),
                                           ({"masks": np.zeros((2, 4, 4, 2), bool)}, "`masks`"),
                                           ({"masks": np.full((2, 4, 4), 0.5)}, "`masks`"),
                                           ({"images": np.zeros((4, 4, 3))}, "`images`"),
                                           ({"max_iterations": 0}, "`max_iterations`")])
def test_bad_arguments(kwargs, match):
    arguments = dict(images=np.zeros((2, 4, 4, 3), np.float32), masks=np.zeros((2, 4, 4), bool)) | kwargs
    with pytest.raises(ValueError, match=match):
        inpaint(**arguments)
