"""Tests of introspect.metrics.sanity: model- and label-randomisation tests on a tiny Fashion CNN."""
import numpy as np
import pytest

from helpers import input_map, tape_gradient
from introspect import metrics, models


def _weights_unchanged(model, before):
    for weights, original in zip(model.get_weights(), before):
        np.testing.assert_array_equal(weights, original)


@pytest.mark.slow
def test_model_randomization_self_similarity_is_one_and_gradients_decorrelate(trained, fashion):
    _, _, x_test, y_test = fashion
    before = [w.copy() for w in trained.get_weights()]
    result = metrics.model_randomization(trained, tape_gradient, x_test[:12], y_test[:12], seed=0, batch_size=5)
    _weights_unchanged(trained, before)
    assert result.layers[0] == "original" and result.layers[1] == "logits" and result.layers[-1] == "conv1"
    similarity = result.similarity
    for metric in metrics.SIMILARITIES:
        assert similarity["original"][metric] == pytest.approx(1.0, abs=1e-6)
    # Adebayo et al.: after randomising everything, gradients no longer resemble the trained ones
    assert abs(similarity["conv1"]["spearman"]) < 0.3
    assert similarity["conv1"]["spearman_abs"] < 0.6 and similarity["conv1"]["ssim"] < 0.5
    assert result.per_example["ssim"].shape == (len(result.layers), 12)
    np.testing.assert_allclose(result.maps["reference"], tape_gradient(trained, x_test[:12], y_test[:12]).sum(-1),
                               rtol=1e-5, atol=1e-7)
    assert [row["layer"] for row in result.as_table()] == result.layers
    # the same seed gives the same random weights
    again = metrics.model_randomization(trained, tape_gradient, x_test[:12], y_test[:12], seed=0, layers=["logits"])
    np.testing.assert_allclose(again.maps["logits"], result.maps["logits"], rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_model_randomization_cannot_fool_an_input_only_explanation(trained, fashion):
    _, _, x_test, y_test = fashion
    result = metrics.model_randomization(trained, input_map, x_test[:6], y_test[:6], cascading=False,
                                         layers=["logits", "conv1"])
    assert result.mode == "independent" and result.layers == ["original", "logits", "conv1"]
    for row in result.similarity.values():
        assert row["spearman"] == pytest.approx(1.0)


@pytest.mark.slow
def test_independent_randomization_changes_one_layer_at_a_time(trained, fashion):
    _, _, x_test, y_test = fashion
    images, targets = x_test[:6], y_test[:6]
    independent = metrics.model_randomization(trained, tape_gradient, images, targets, cascading=False,
                                              layers=["logits", "conv1"], seed=2)
    cascading = metrics.model_randomization(trained, tape_gradient, images, targets, layers=["logits", "conv1"],
                                            seed=2)
    # the first row is the same either way; the second differs: conv1 alone versus conv1 on top of logits
    np.testing.assert_allclose(independent.maps["logits"], cascading.maps["logits"], rtol=1e-5, atol=1e-7)
    assert not np.allclose(independent.maps["conv1"], cascading.maps["conv1"], rtol=1e-3, atol=1e-6)


@pytest.mark.slow
def test_model_randomization_validates_arguments(trained, fashion):
    _, _, x_test, y_test = fashion
    with pytest.raises(ValueError, match="`method` must be a callable"):
        metrics.model_randomization(trained, "gradient", x_test[:2], y_test[:2])
    with pytest.raises(ValueError, match="`targets` holds class index 10"):
        metrics.model_randomization(trained, tape_gradient, x_test[:2], 10)
    with pytest.raises(ValueError, match="`layers`: 'conv9' is not a layer"):
        metrics.model_randomization(trained, tape_gradient, x_test[:2], y_test[:2], layers=["conv9"])
    with pytest.raises(ValueError, match="`layers`: layer 'relu1' has no weights"):
        metrics.model_randomization(trained, tape_gradient, x_test[:2], y_test[:2], layers=["relu1"])
    with pytest.raises(ValueError, match="`model` must be a Keras model"):
        metrics.model_randomization(lambda x: x.reshape(len(x), -1)[:, :10], tape_gradient, x_test[:2], 0)


@pytest.mark.slow
def test_label_randomization_trains_on_shuffled_labels_and_leaves_the_model_alone(trained, fashion, tiny_cnn):
    x, y, x_test, y_test = fashion
    before = [w.copy() for w in trained.get_weights()]
    result = metrics.label_randomization(trained, tape_gradient, x_test[:8], y_test[:8], x[:200], y[:200],
                                         epochs=1, builder=tiny_cnn, seed=1)
    _weights_unchanged(trained, before)
    assert result.similarity["spearman"] < 0.5
    np.testing.assert_allclose(result.maps, tape_gradient(trained, x_test[:8], y_test[:8]).sum(-1),
                               rtol=1e-5, atol=1e-7)
    # the random maps are the method's maps of the returned model, trained on labels shuffled with the seed
    np.testing.assert_allclose(result.random_maps,
                               tape_gradient(result.random_model, x_test[:8], y_test[:8]).sum(-1),
                               rtol=1e-5, atol=1e-7)
    shuffled = np.random.default_rng(1).permutation(y[:200])
    assert result.shuffled_accuracy == models.accuracy(result.random_model, x[:200], shuffled)
    assert not any(np.allclose(a, b) for a, b in zip(result.random_model.get_weights(), before) if a.size > 1)


@pytest.mark.slow
def test_label_randomization_validates_arguments(trained, fashion):
    x, y, x_test, y_test = fashion
    with pytest.raises(ValueError, match="`y_train`"):
        metrics.label_randomization(trained, tape_gradient, x_test[:2], y_test[:2], x[:20], y[:19])
    with pytest.raises(ValueError, match="`builder` must be a callable"):
        metrics.label_randomization(trained, tape_gradient, x_test[:2], y_test[:2], x[:20], y[:20], builder="cnn")
    with pytest.raises(ValueError, match="`epochs`"):
        metrics.label_randomization(trained, tape_gradient, x_test[:2], y_test[:2], x[:20], y[:20], epochs=0)
