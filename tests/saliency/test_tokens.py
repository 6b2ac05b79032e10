"""Token saliency on text classifiers: exact on a linear bag of embeddings, complete IG, padding, bad input."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from introspect.plotting import TokenHTML, show_tokens
from introspect.saliency import METHODS, token_saliency, trace_count

VOCABULARY, DIM, LENGTH, CLASSES = 12, 4, 6, 3
PAD = 0


def token_ids():
    """Five texts of six tokens, the last ones padded with 0 (one text unpadded)."""
    ids = np.random.default_rng(3).integers(1, VOCABULARY, size=(5, LENGTH))
    for row, length in enumerate([6, 4, 2, 5, 1]):
        ids[row, length:] = PAD
    return ids


def bag_of_embeddings(functional: bool, mask_zero: bool):
    """``(model, table (V, D), w (D, K), b (K,))``: logits = mean of the token embeddings @ w + b."""
    rng = np.random.default_rng(4)
    table = rng.normal(size=(VOCABULARY, DIM)).astype(np.float32)
    weights = rng.normal(size=(DIM, CLASSES)).astype(np.float32)
    bias = np.array([0.5, -0.25, 0.0], np.float32)
    embed = keras.layers.Embedding(VOCABULARY, DIM, mask_zero=mask_zero, name="words")
    layers = [embed, keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(CLASSES, name="logits")]
    if functional:
        inputs = keras.Input((LENGTH,), dtype="int32")
        x = inputs
        for layer in layers:
            x = layer(x)
        model = keras.Model(inputs, x)
    else:
        model = keras.Sequential([keras.Input((LENGTH,), dtype="int32"), *layers])
    embed.set_weights([table])
    model.get_layer("logits").set_weights([weights, bias])
    return model, table, weights, bias


@pytest.fixture(scope="module")
def nonlinear():
    """``(model, embed, head)``: Embedding -> a nested head (Conv1D tanh, mean, softplus Dense, Dense); head takes embeddings."""
    keras.utils.set_random_seed(7)
    large = keras.initializers.RandomNormal(stddev=1.0)
    head = keras.Sequential([keras.Input((LENGTH, DIM)),
                             keras.layers.Conv1D(5, 3, padding="same", activation="tanh", kernel_initializer=large),
                             keras.layers.GlobalAveragePooling1D(),
                             keras.layers.Dense(8, activation="softplus", kernel_initializer=large),
                             keras.layers.Dense(CLASSES, kernel_initializer=large)], name="head")
    embed = keras.layers.Embedding(VOCABULARY, DIM, name="words",
                                   embeddings_initializer=large)
    inputs = keras.Input((LENGTH,), dtype="int32")
    model = keras.Model(inputs, head(embed(inputs)))
    return model, embed, head


@pytest.mark.parametrize("functional", [True, False])
@pytest.mark.parametrize("mask_zero", [False, True])
def test_gradient_x_input_is_each_tokens_exact_contribution(functional, mask_zero):
    model, table, weights, bias = bag_of_embeddings(functional, mask_zero)
    ids = token_ids()
    targets = np.array([0, 1, 2, 0, 1])
    counts = (ids != PAD).sum(axis=1, keepdims=True) if mask_zero else np.full((len(ids), 1), LENGTH)
    contributions = table[ids] @ weights / counts[..., None]                      # (N, T, K), by hand
    expected = np.take_along_axis(contributions, targets[:, None, None], axis=2)[..., 0]
    expected[ids == PAD] = 0
    result = token_saliency(model, ids, targets, progress=False)
    assert result.shape == ids.shape and result.dtype == np.float32
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-6)
    # The contributions and the bias add up to the logit (exactly so where nothing is padded).
    logits = model.predict(ids, verbose=0)[np.arange(len(ids)), targets]
    np.testing.assert_allclose(result[0].sum() + bias[targets[0]], logits[0], rtol=1e-5)


def test_integrated_gradients_equal_gradient_x_input_on_a_linear_model():
    model, *_ = bag_of_embeddings(True, False)
    ids = token_ids()
    np.testing.assert_allclose(token_saliency(model, ids, 1, method="integrated_gradients", steps=4, progress=False),
                               token_saliency(model, ids, 1, progress=False), rtol=1e-5, atol=1e-6)


def test_gradient_is_the_l2_norm_of_the_embedding_gradient():
    model, _, weights, _ = bag_of_embeddings(False, True)
    ids = token_ids()
    counts = (ids != PAD).sum(axis=1, keepdims=True)
    expected = np.linalg.norm(weights[:, 2]) / counts * (ids != PAD)
    np.testing.assert_allclose(token_saliency(model, ids, 2, method="gradient", progress=False), expected, rtol=1e-5)


def reference_gradient(embed, head, ids, target):
    """``d logit[target] / d embeddings`` ``(N, T, D)`` straight from the head, by a GradientTape."""
    embedded = tf.constant(embed(ids))
    with tf.GradientTape() as tape:
        tape.watch(embedded)
        score = head(embedded)[:, target]
    return tape.gradient(score, embedded).numpy(), embedded.numpy()


def test_gradients_match_a_tape_on_the_models_head(nonlinear):
    model, embed, head = nonlinear
    ids = token_ids()
    grads, embedded = reference_gradient(embed, head, ids, 1)
    keep = ids != PAD
    np.testing.assert_allclose(token_saliency(model, ids, 1, method="gradient", progress=False),
                               np.linalg.norm(grads, axis=-1) * keep, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(token_saliency(model, ids, 1, progress=False),
                               (grads * embedded).sum(axis=-1) * keep, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("baseline", ["zero", "pad"])
def test_integrated_gradients_are_complete_within_one_percent(nonlinear, baseline):
    model, embed, head = nonlinear
    ids = token_ids()
    embedded = np.asarray(embed(ids))
    base = np.zeros_like(embedded) if baseline == "zero" else np.broadcast_to(
        np.asarray(embed(np.array([[PAD]])))[0, 0], embedded.shape).copy()
    base[ids == PAD] = embedded[ids == PAD]
    changes = head(embedded).numpy() - head(base).numpy()
    # Per text the class whose logit moves most along the path: a completeness test needs a change to explain.
    targets = np.abs(changes).argmax(axis=1)
    change = changes[np.arange(len(ids)), targets]
    result = token_saliency(model, ids, targets, method="integrated_gradients", steps=64, baseline=baseline,
                            progress=False)
    assert np.all(np.abs(change) > 0.05)
    np.testing.assert_array_less(np.abs(result.sum(axis=1) - change), 0.01 * np.abs(change))


@pytest.mark.parametrize("method", ["gradient", "gradient_x_input", "integrated_gradients"])
def test_padding_tokens_get_zero_and_the_others_do_not(nonlinear, method):
    model, *_ = nonlinear
    ids = token_ids()
    result = token_saliency(model, ids, 0, method=method, steps=8, progress=False)
    assert np.all(result[ids == PAD] == 0)
    assert np.all(result[ids != PAD] != 0)
    unpadded = token_saliency(model, ids, 0, method=method, steps=8, pad_token=None, progress=False)
    assert np.all(unpadded[ids == PAD] != 0)


@pytest.mark.parametrize("method", ["gradient_x_input", "integrated_gradients"])
def test_results_do_not_depend_on_batch_size(nonlinear, method):
    model, *_ = nonlinear
    ids = token_ids()
    results = [token_saliency(model, ids, 2, method=method, steps=8, batch_size=size, progress=False)
               for size in (1, 3, 64)]
    np.testing.assert_allclose(results[0], results[1], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(results[0], results[2], rtol=1e-5, atol=1e-7)


def test_other_texts_and_lengths_reuse_the_compiled_function():
    model, *_ = bag_of_embeddings(True, False)
    token_saliency(model, token_ids(), 0, progress=False)
    traces = trace_count(model)
    token_saliency(model, token_ids()[:2], np.array([1, 2]), batch_size=1, progress=False)
    assert trace_count(model) == traces


def test_contrastive_score_is_the_difference_of_two_targets(nonlinear):
    model, *_ = nonlinear
    ids = token_ids()
    np.testing.assert_allclose(token_saliency(model, ids, 2, foil=0, progress=False),
                               token_saliency(model, ids, 2, progress=False) - token_saliency(model, ids, 0, progress=False),
                               rtol=1e-4, atol=1e-6)


def test_token_saliency_is_not_an_image_method():
    assert token_saliency not in METHODS.values()


@pytest.mark.parametrize("bad, argument", [
    (dict(token_ids=np.full((2, LENGTH), 1.5)), "token_ids"),
    (dict(token_ids=np.array([["a"] * LENGTH])), "token_ids"),
    (dict(token_ids=np.array([[1, 2, -1, 0, 0, 0]])), "token_ids"),
    (dict(token_ids=np.array([[1, 2, VOCABULARY, 0, 0, 0]])), "token_ids"),
    (dict(token_ids=np.ones(LENGTH, int)), "token_ids"),
    (dict(embedding_layer="nope"), "embedding_layer"),
    (dict(embedding_layer="logits"), "embedding_layer"),
    (dict(targets=CLASSES), "targets"),
    (dict(method="saliency"), "method"),
    (dict(baseline="mean"), "baseline"),
    (dict(pad_token=-1), "pad_token"),
    (dict(batch_size=0), "batch_size"),
])
def test_bad_arguments_raise_value_errors_naming_them(bad, argument):
    model, *_ = bag_of_embeddings(True, False)
    call = {"token_ids": token_ids(), "targets": 0, **bad}
    options = {k: v for k, v in bad.items() if k not in ("token_ids", "targets")}
    with pytest.raises(ValueError, match=f"`{argument}`"):
        token_saliency(model, call["token_ids"], call["targets"], progress=False, **options)


def test_models_without_embedding_or_that_cannot_be_split_raise():
    dense = keras.Sequential([keras.Input((LENGTH,)), keras.layers.Dense(CLASSES)])
    with pytest.raises(ValueError, match="`model`.*Embedding"):
        token_saliency(dense, token_ids(), 0, progress=False)

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.embed = keras.layers.Embedding(VOCABULARY, DIM)
            self.out = keras.layers.Dense(CLASSES)

        def call(self, ids):
            return self.out(keras.ops.mean(self.embed(ids), axis=1))

    model = Subclassed()
    model(token_ids())
    with pytest.raises(ValueError, match="`model`"):
        token_saliency(model, token_ids(), 0, progress=False)


def test_show_tokens_colours_each_token_on_a_diverging_scale():
    page = show_tokens(["good", "<b>", "bad"], [2.0, 0.0, -1.0], title="review & score")
    assert isinstance(page, TokenHTML) and isinstance(page, str) and page._repr_html_() == page
    assert "&lt;b&gt;" in page and "<b>" not in page and "review &amp; score" in page
    assert page.count("background-color:") == 3 + 3      # three tokens, three legend swatches
    colours = [part.split(";")[0] for part in page.split("background-color:")[1:4]]
    red, white, blue = (tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in colours)
    assert red[0] > red[2] + 50 and blue[2] > blue[0] + 50 and min(white) > 240
    assert "<style" not in page and "<script" not in page


def test_show_tokens_rejects_mismatched_scores():
    with pytest.raises(ValueError, match="`scores`"):
        show_tokens(["a", "b"], [1.0])
    with pytest.raises(ValueError, match="`scores`"):
        show_tokens(["a"], [np.nan])
    with pytest.raises(ValueError, match="`tokens`"):
        show_tokens("ab", [1.0, 2.0])
