"""Ground truth for counterfactuals: the share of a change inside a footprint, and a linear shortcut model."""
import numpy as np
import pytest

from helpers import linear_model
from introspect import optimize as opt


def test_change_in_region_and_pattern_measures_in_the_analytic_cases():
    differences = np.zeros((2, 4, 4, 1))
    differences[0, :2, :2] = 1.0          # all inside the 2x2 footprint
    differences[1, :2, :2] = 1.0
    differences[1, 2:, 2:] = 3.0          # a quarter inside
    masks = np.zeros((2, 4, 4), bool)
    masks[:, :2, :2] = True
    table = opt.change_in_region(differences, masks)
    np.testing.assert_allclose(table["inside"], [1.0, 0.25])
    np.testing.assert_allclose(table["area"], [0.25, 0.25])
    patterns = np.zeros_like(differences)
    patterns[:, :2, :2] = 2.0             # the trigger adds 2 on its footprint
    np.testing.assert_allclose(opt.pattern_cosine(differences, patterns, masks), [1.0, 1.0])
    np.testing.assert_allclose(opt.pattern_drawn(differences, patterns, masks), [0.5, 0.5])
    np.testing.assert_allclose(opt.pattern_cosine(-differences, patterns, masks), [-1.0, -1.0])
    assert np.isnan(opt.change_in_region(np.zeros((1, 4, 4, 1)), masks[:1])["inside"][0])
    with pytest.raises(ValueError, match="`masks`"):
        opt.change_in_region(differences, masks[:, :3])


def test_a_model_that_reads_only_the_trigger_is_fixed_inside_the_trigger():
    # class 0 is read from the top-left 2x2 corner (the trigger) only, class 1 weakly from a 4x4 block elsewhere.
    # The minimal L2 change follows w0 - w1, so |change| inside the footprint is 4 * 1 / (4 + 16 * 0.1).
    weights = np.zeros((6, 6, 1, 2), np.float32)
    weights[:2, :2, 0, 0] = 1.0
    weights[2:, 2:, 0, 1] = 0.1
    model = linear_model(weights)
    images = np.zeros((3, 6, 6, 1), np.float32)
    images[:, 2:, 2:] = 0.5                            # class 1 wins by 0.8: a clean image of class 0 is a mistake
    labels = np.zeros(3, int)
    masks = np.zeros((3, 6, 6), bool)
    masks[:, :2, :2] = True
    patterns = masks[..., None] * 1.0
    table, result = opt.trigger_counterfactuals(model, images, labels, masks, patterns, (0,), n_per_class=2, rounds=4)
    assert len(table) == 2 and result.flipped.all()
    np.testing.assert_allclose(table["inside"], 4 / 5.6, atol=0.03)
    assert (table["area"] == 4 / 36).all()
    assert (table["cosine"] > 0.95).all()
    np.testing.assert_allclose(table["drawn"], 1.8 / 4.16, atol=0.02)  # margin 1 + gap 0.8 along w0 - w1
    with pytest.raises(ValueError, match="no mistake"):
        opt.trigger_counterfactuals(model, images, np.ones(3, int), masks, patterns, (1,))
