import keras
import numpy as np
import pytest

from introspect import embedding


def _two_layer_model(weights: np.ndarray):
    """``logits = relu(flatten(x) @ weights) @ 1``: the hidden layer's activations are known exactly."""
    inputs = keras.Input(shape=(2, 2, 1))
    hidden = keras.layers.Dense(weights.shape[1], activation="relu", use_bias=False, name="hidden")(
        keras.layers.Flatten()(inputs))
    outputs = keras.layers.Dense(2, use_bias=False, name="logits")(hidden)
    model = keras.Model(inputs, outputs)
    model.get_layer("hidden").set_weights([weights.astype(np.float32)])
    return model


def test_layer_activations_default_to_the_layer_before_the_logits():
    weights = np.array([[1.0, -1.0, 0.5], [0.0, 2.0, 0.0], [1.0, 0.0, -1.0], [0.0, 0.0, 1.0]])
    model = _two_layer_model(weights)
    images = np.random.default_rng(0).normal(size=(5, 2, 2, 1)).astype(np.float32)
    expected = np.maximum(images.reshape(5, 4) @ weights, 0)
    np.testing.assert_allclose(embedding.layer_activations(model, images), expected, atol=1e-5)
    np.testing.assert_allclose(embedding.layer_activations(model, images, layer="hidden", batch_size=2), expected,
                               atol=1e-5)
    with pytest.raises(ValueError, match="`layer`"):
        embedding.layer_activations(model, images, layer="dense")


def test_neighbour_classes_of_separated_clusters_are_pure_and_rows_sum_to_one():
    rng = np.random.default_rng(0)
    features = np.concatenate([rng.normal(0, 0.1, (20, 3)), rng.normal(10, 0.1, (20, 3))])
    labels = np.repeat([0, 1], 20)
    shares = embedding.neighbour_classes(features, labels, k=5, num_classes=3)
    assert shares.shape == (40, 3)
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    np.testing.assert_allclose(shares[:20], [[1, 0, 0]] * 20)
    mixing = embedding.class_mixing(shares, labels, ["a", "b", "c"]).set_index("class")
    assert mixing.loc["b", "b"] == 1.0 and mixing.loc["a", "b"] == 0.0
    labels[0] = 1  # one point of class 1 inside cluster 0: all its neighbours are class 0
    assert embedding.neighbour_classes(features, labels, k=5)[0, 0] == 1.0
    with pytest.raises(ValueError, match="`k`"):
        embedding.neighbour_classes(features, labels, k=40)
    with pytest.raises(ValueError, match="`labels`"):
        embedding.neighbour_classes(features, labels[:5])


def test_embed_2d_keeps_a_line_on_one_axis_and_is_seeded():
    t = np.linspace(-1, 1, 30)[:, None]
    features = t * np.array([[1.0, 2.0, -1.0, 0.5]])
    planes = embedding.embed_2d(features, seed=0, perplexity=5)
    assert planes["PCA"].shape == planes["t-SNE"].shape == (30, 2)
    np.testing.assert_allclose(planes["PCA"][:, 1], 0.0, atol=1e-9)
    np.testing.assert_allclose(np.abs(planes["PCA"][:, 0]), np.abs(t[:, 0]) * np.linalg.norm([1, 2, -1, 0.5]),
                               atol=1e-9)
    again = embedding.embed_2d(features, methods=("t-SNE",), seed=0, perplexity=5)
    np.testing.assert_allclose(again["t-SNE"], planes["t-SNE"])
    with pytest.raises(ValueError, match="`methods`"):
        embedding.embed_2d(features, methods=("UMAP",))
    with pytest.raises(ValueError, match="`features`"):
        embedding.embed_2d(features[:, 0])
