"""Tests of introspect.metrics.spray on synthetic maps with planted spots."""
import numpy as np
import pytest

from introspect import metrics


def blob(center, sigma, size=28):
    rows, cols = np.indices((size, size))
    return np.exp(-((rows - center[0]) ** 2 + (cols - center[1]) ** 2) / (2 * sigma ** 2))


def synthetic_spray_maps(n=40, seed=0):
    rng = np.random.default_rng(seed)
    spot = np.zeros((28, 28))
    spot[23:27, 23:27] = 1.0

    def diffuse():
        return sum(blob(rng.uniform(4, 24, 2), rng.uniform(2, 5)) for _ in range(3)) + 0.2 * rng.random((28, 28))

    maps, labels = [], []
    for _ in range(n):
        maps.append(spot + 0.1 * rng.random((28, 28)) * diffuse()); labels.append(0)           # Clever Hans
        maps.append(spot[::-1, ::-1] + 0.05 * rng.random((28, 28)) if rng.random() < 0.5 else diffuse())
        labels.append(1)                                                                          # half of it
        maps.append(diffuse()); labels.append(2)                                                  # honest
        maps.append(diffuse()); labels.append(3)
        maps.append(blob((14, 14), 6) + 0.3 * rng.random((28, 28))); labels.append(4)           # consistent object
    order = rng.permutation(len(labels))
    return np.array(maps)[order] * rng.choice([-1, 1], (len(maps), 1, 1))[order], np.array(labels)[order]


def test_spray_flags_classes_whose_maps_sit_on_one_spot():
    maps, labels = synthetic_spray_maps()
    result = metrics.spray(maps, labels, seed=0)
    suspicion = dict(zip(result.classes.tolist(), result.suspicion))
    assert min(suspicion[0], suspicion[1]) > max(suspicion[2], suspicion[3], suspicion[4])
    assert suspicion[0] > 2 * suspicion[4]
    assert set(result.ranking()[:2].tolist()) == {0, 1}
    # the mixture splits into (at least) two groups, one of about half the class
    assert result.n_clusters[1] >= 2 and 0.35 <= result.largest_cluster_share[1] <= 0.65
    assert result.eigengap[1] > result.eigengap[2]
    # seeded and order-independent up to the subsample
    again = metrics.spray(maps, labels, seed=0)
    np.testing.assert_array_equal(result.suspicion, again.suspicion)
    table = result.as_table()
    assert [row["class"] for row in table] == [0, 1, 2, 3, 4]
    assert table[0]["suspicion"] == pytest.approx(suspicion[0])


def test_spray_concentration_is_one_for_a_single_cell_and_zero_for_uniform_maps():
    spot = np.zeros((6, 8, 8))
    spot[:, 3, 5] = 1.0
    flat = np.ones((6, 8, 8))
    result = metrics.spray(np.concatenate([spot, flat]), np.repeat([0, 1], 6), size=8, top_share=1 / 64)
    np.testing.assert_allclose(result.image_concentration, [1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(result.suspicion, [1.0, 0.0], atol=1e-12)


def test_spray_validates_input_and_skips_tiny_classes():
    maps, labels = synthetic_spray_maps(5)
    labels = labels.copy()
    labels[0] = 9
    result = metrics.spray(maps, labels)
    assert np.isnan(result.suspicion[result.classes.tolist().index(9)])
    with pytest.raises(ValueError, match="`part`"):
        metrics.spray(maps, labels, part="negative")
    for bad in (0, 2.5, (8,), "8"):
        with pytest.raises(ValueError, match="`size`"):
            metrics.spray(maps, labels, size=bad)
    with pytest.raises(ValueError, match="`labels`"):
        metrics.spray(maps, labels[:-1])
    with pytest.raises(ValueError, match="`top_share`"):
        metrics.spray(maps, labels, top_share=1.5)
