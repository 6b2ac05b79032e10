"""Tests of introspect.metrics.concepts (TCAV) on a model whose hidden layer is linear, so derivatives are known."""
import keras
import numpy as np
import pytest

from introspect import metrics


def linear_hidden_model():
    """4x4 images -> hidden (3 units, linear: the first three pixels) -> logits ``hidden @ W2``."""
    inputs = keras.Input((4, 4, 1))
    hidden = keras.layers.Dense(3, use_bias=False, name="hidden")(keras.layers.Flatten()(inputs))
    logits = keras.layers.Dense(2, use_bias=False, name="logits")(hidden)
    model = keras.Model(inputs, logits)
    w1 = np.zeros((16, 3), np.float32)
    w1[0, 0] = w1[1, 1] = w1[2, 2] = 1.0
    model.get_layer("hidden").set_weights([w1])
    model.get_layer("logits").set_weights([np.array([[2.0, -1.0], [0.0, 1.0], [1.0, 0.0]], np.float32)])
    return model


def test_directional_derivative_is_the_logit_weights_along_the_direction():
    model = linear_hidden_model()
    images = np.random.default_rng(0).random((5, 4, 4, 1)).astype(np.float32)
    v = np.array([0.6, 0.8, 0.0])
    for k, expected in ((0, 2.0 * 0.6), (1, -0.6 + 0.8)):
        got = metrics.directional_derivatives(model, "hidden", images, np.full(5, k), v)
        np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_tcav_finds_the_class_that_rises_with_the_concept():
    model = linear_hidden_model()
    rng = np.random.default_rng(1)
    reference = rng.random((20, 4, 4, 1)).astype(np.float32) * 0.5
    concept = reference.copy()
    concept[:, 0, 0, 0] += 0.5            # the concept: a bright first pixel -> hidden unit 0
    images = rng.random((10, 4, 4, 1)).astype(np.float32)
    result = metrics.tcav(model, "hidden", concept, reference, images, np.r_[np.zeros(5), np.ones(5)].astype(int),
                          n_random=4, seed=0)
    np.testing.assert_allclose(result.direction, [1, 0, 0], atol=1e-6)
    assert result.score[0] == 1.0 and result.score[1] == 0.0     # logit 0 rises (w=2), logit 1 falls (w=-1)
    np.testing.assert_allclose(result.sensitivity, [2.0, -1.0], rtol=1e-5)
    assert result.random_score.shape == (4, 2) and result.random_sensitivity.shape == (4, 2)
    assert result.stands_out(statistic="sensitivity").shape == (2,)


def test_direction_of_the_wrong_size_is_refused():
    model = linear_hidden_model()
    with pytest.raises(ValueError, match="direction"):
        metrics.directional_derivatives(model, "hidden", np.zeros((2, 4, 4, 1)), [0, 1], np.ones(5))


def test_tcav_test_flags_the_class_that_rises_and_only_after_bonferroni():
    model = linear_hidden_model()
    rng = np.random.default_rng(2)
    pool = rng.random((80, 4, 4, 1)).astype(np.float32) * 0.5
    concept = pool[:40].copy()
    concept[:, 0, 0, 0] += 0.5            # the concept moves hidden unit 0 only: logit 0 rises (w=2), logit 1 falls
    images = rng.random((10, 4, 4, 1)).astype(np.float32)
    targets = np.r_[np.zeros(5), np.ones(5)].astype(int)
    result = metrics.tcav_test(model, "hidden", concept, pool, images, targets, n_runs=12, set_size=20, seed=0)
    assert result.concept_score.shape == result.random_score.shape == (12, 2)
    np.testing.assert_array_equal(result.concept_score, [[1.0, 0.0]] * 12)
    assert 0.0 < result.random_score[:, 0].mean() < 1.0          # random directions point anywhere
    assert result.significant.tolist() == [True, True]           # 0 rises, 1 falls: both differ from random
    assert np.all(result.p_value < result.alpha / 2)
    sensitivity = metrics.tcav_test(model, "hidden", concept, pool, images, targets, n_runs=12, set_size=20, seed=0,
                                    statistic="sensitivity")
    np.testing.assert_array_equal(np.sign(sensitivity.concept_score), [[1.0, -1.0]] * 12)   # rises / falls every time
    assert sensitivity.concept_score[:, 0].mean() > 1.0                                      # mostly unit 0, weight 2
    strict = metrics.tcav_test(model, "hidden", concept, pool, images, targets, n_runs=12, set_size=20, seed=0,
                               alpha=1e-12)
    assert not strict.significant.any()


def test_tcav_test_holds_its_level_without_a_concept():
    """Concept and random sets from one pool: the permutation test flags about alpha of the classes, not more."""
    model = linear_hidden_model()
    images = np.random.default_rng(3).random((10, 4, 4, 1)).astype(np.float32)
    targets = np.r_[np.zeros(5), np.ones(5)].astype(int)
    flagged = []
    for seed in range(20):
        pool = np.random.default_rng(100 + seed).random((120, 4, 4, 1)).astype(np.float32)
        flagged.append(metrics.tcav_test(model, "hidden", pool, pool, images, targets, n_runs=10, set_size=25,
                                         alpha=0.1, seed=seed).significant)
    assert np.mean(flagged) <= 0.1            # level 0.1 / 2 classes = 0.05 per class; 40 tests


@pytest.mark.parametrize("kwargs, name", [({"n_runs": 1}, "n_runs"), ({"set_size": 50}, "set_size"),
                                          ({"alpha": 2.0}, "alpha"), ({"test": "z"}, "test"),
                                          ({"statistic": "mean"}, "statistic")])
def test_tcav_test_bad_arguments_name_themselves(kwargs, name):
    model = linear_hidden_model()
    pool = np.zeros((60, 4, 4, 1), np.float32)
    with pytest.raises(ValueError, match=name):
        metrics.tcav_test(model, "hidden", pool[:40], pool, pool[:4], [0, 1, 0, 1], **{"set_size": 20, **kwargs})
