"""Tests of introspect.metrics.localisation: relevance mass, pointing game, pattern correlation."""
import numpy as np
import pytest

from introspect import metrics


def test_relevance_mass_of_a_map_inside_the_mask_is_one_and_shuffled_is_lower():
    rng = np.random.default_rng(0)
    masks = np.zeros((5, 10, 10), bool)
    masks[:, 2:5, 3:7] = True
    maps = np.where(masks, rng.random((5, 10, 10)), 0.0)
    np.testing.assert_allclose(metrics.relevance_mass(maps, masks), 1.0)
    shuffled = rng.permuted(maps.reshape(5, -1), axis=1).reshape(maps.shape)
    assert (metrics.relevance_mass(shuffled, masks) < 0.6).all()
    # negative relevance is ignored; channels are summed first
    signed = maps - 5 * (~masks)
    np.testing.assert_allclose(metrics.relevance_mass(signed, masks), 1.0)
    np.testing.assert_allclose(metrics.relevance_mass(np.stack([maps / 2, maps / 2], -1), masks[..., None]), 1.0)


def test_relevance_mass_hand_made_value_and_edge_cases():
    maps = np.array([[[1.0, 3.0], [0.0, -2.0]]])
    mask = np.array([[[True, False], [False, True]]])
    assert metrics.relevance_mass(maps, mask)[0] == pytest.approx(0.25)
    assert np.isnan(metrics.relevance_mass(-np.abs(maps), mask)[0])
    # 0/1 integer masks are read as booleans
    assert metrics.relevance_mass(maps, mask.astype(int))[0] == pytest.approx(0.25)


@pytest.mark.parametrize("maps, masks, message", [
    (np.ones((1, 2, 2)), np.zeros((1, 2, 2), bool), r"`masks`\[0\] is empty"),
    (np.ones((1, 2, 2)), np.ones((1, 2, 1), bool), "`masks` must have shape"),
    (np.ones((1, 2, 2)), np.full((1, 2, 2), 2), "`masks` must be boolean"),
    (np.ones((2, 2)), np.ones((1, 2, 2), bool), "`maps` must have shape"),
    (np.full((1, 2, 2), np.nan), np.ones((1, 2, 2), bool), "`maps` contains NaN"),
])
def test_relevance_mass_rejects_bad_input_naming_the_argument(maps, masks, message):
    with pytest.raises(ValueError, match=message):
        metrics.relevance_mass(maps, masks)


def test_pointing_game_on_hand_made_maps():
    masks = np.zeros((4, 5, 5), bool)
    masks[:, 0:2, 0:2] = True
    maps = np.zeros((4, 5, 5))
    maps[0, 1, 1] = 1.0          # hit
    maps[1, 4, 4] = 1.0          # miss
    maps[2, 2, 2] = 1.0          # miss, but one pixel from the mask
    maps[3] = 0.5                # flat map: its maximum is everywhere, never a hit
    np.testing.assert_array_equal(metrics.pointing_game(maps, masks), [True, False, False, False])
    np.testing.assert_array_equal(metrics.pointing_game(maps, masks, tolerance=1), [True, False, True, False])
    with pytest.raises(ValueError, match="`tolerance`"):
        metrics.pointing_game(maps, masks, tolerance=-1)


def _spot(top, left, size=4, shape=(28, 28)):
    image = np.zeros(shape)
    image[top:top + size, left:left + size] = 1.0
    return image


def test_pattern_correlation_is_one_for_the_pattern_and_minus_one_for_its_negative():
    pattern = _spot(3, 5) + 0.1 * np.random.default_rng(0).random((28, 28))
    maps = np.stack([pattern, -pattern, 2.0 * pattern + 3.0])
    np.testing.assert_allclose(metrics.pattern_correlation(maps, pattern), [1.0, -1.0, 1.0], atol=1e-12)


def test_pattern_correlation_finds_a_shifted_pattern_only_within_max_shift():
    pattern = _spot(10, 10)
    moved = _spot(12, 8)[None]
    assert metrics.pattern_correlation(moved, pattern)[0] < 0.3
    assert metrics.pattern_correlation(moved, pattern, max_shift=1)[0] < 0.9
    np.testing.assert_allclose(metrics.pattern_correlation(moved, pattern, max_shift=2), [1.0], atol=1e-12)


def test_pattern_correlation_of_unrelated_noise_is_near_zero_and_per_map_patterns_pair_up():
    rng = np.random.default_rng(1)
    noise = rng.standard_normal((50, 28, 28))
    assert np.abs(metrics.pattern_correlation(noise, _spot(5, 5))).mean() < 0.1
    patterns = np.stack([_spot(2, 2), _spot(20, 20)])
    scores = metrics.pattern_correlation(patterns[::-1, :, :, None], patterns)
    assert np.all(scores < 0)
    assert np.isnan(metrics.pattern_correlation(np.ones((1, 28, 28)), _spot(2, 2))[0])


def test_pattern_correlation_rejects_bad_input():
    with pytest.raises(ValueError, match="`pattern` must have shape"):
        metrics.pattern_correlation(np.zeros((2, 28, 28)), np.zeros((27, 28)))
    with pytest.raises(ValueError, match="`max_shift`"):
        metrics.pattern_correlation(np.zeros((2, 28, 28)), np.zeros((28, 28)), max_shift=-1)
    with pytest.raises(ValueError, match="`max_shift`"):
        metrics.pattern_correlation(np.zeros((2, 28, 28)), np.zeros((28, 28)), max_shift=28)
    with pytest.raises(ValueError, match="`pattern` contains NaN"):
        metrics.pattern_correlation(np.zeros((2, 28, 28)), np.full((28, 28), np.nan))
