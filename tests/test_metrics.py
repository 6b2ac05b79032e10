import keras
import numpy as np
import pytest
import tensorflow as tf

from introspect import metrics, models
from introspect.data import load_fashion_mnist


# ----------------------------------------------------------------------------- tiny models and methods

def linear_model(weights: np.ndarray, name="linear"):
    """Logits ``x.flatten() @ weights`` for images of shape ``weights.shape[:-1]``."""
    shape = weights.shape[:-1]
    inputs = keras.Input(shape=shape)
    outputs = keras.layers.Dense(weights.shape[-1], use_bias=False, name="logits")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, outputs, name=name)
    model.get_layer("logits").set_weights([weights.reshape(-1, weights.shape[-1]).astype(np.float32)])
    return model


def sum_model(shape=(6, 6, 1)):
    """Class 0 scores f(x) = sum(x), class 1 scores -sum(x)."""
    ones = np.ones(shape)
    return linear_model(np.stack([ones, -ones], axis=-1))


def halves_model(size=4):
    """Class 0 = sum of the left half, class 1 = sum of the right half."""
    left = np.zeros((size, size, 1))
    left[:, : size // 2] = 1
    return linear_model(np.stack([left, 1 - left], axis=-1))


def gradient(model, images, targets, *, batch_size=64, output="logits", foil=None):
    """Vanilla gradient of the target logit, the method the sanity checks are built for."""
    images = np.asarray(images, np.float32)
    targets = np.broadcast_to(np.asarray(targets), (len(images),))
    grads = []
    for start in range(0, len(images), batch_size):
        x = tf.convert_to_tensor(images[start:start + batch_size])
        t = tf.convert_to_tensor(targets[start:start + batch_size])
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = tf.gather(model(x, training=False), t, batch_dims=1)
        grads.append(tape.gradient(score, x).numpy())
    return np.concatenate(grads)


def input_map(model, images, targets, *, batch_size=64, **_):
    """An explanation that ignores the model: the image itself (an 'edge detector')."""
    return np.asarray(images, np.float32).copy()


def rng_images(n, shape=(6, 6, 1), seed=0):
    return np.random.default_rng(seed).random((n, *shape)).astype(np.float32)


# ----------------------------------------------------------------------------- relevance mass, pointing game

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
    with pytest.raises(ValueError, match="masks"):
        metrics.relevance_mass(maps, np.zeros_like(mask))
    with pytest.raises(ValueError, match="masks"):
        metrics.relevance_mass(maps, mask[:, :1])
    with pytest.raises(ValueError, match="maps"):
        metrics.relevance_mass(maps[0], mask)
    with pytest.raises(ValueError, match="maps"):
        metrics.relevance_mass(maps * np.nan, mask)


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
    with pytest.raises(ValueError, match="tolerance"):
        metrics.pointing_game(maps, masks, tolerance=-1)


# ----------------------------------------------------------------------------- deletion / insertion

def test_deletion_with_explanation_equal_to_input_is_the_perfect_order_for_a_sum():
    images = rng_images(8)
    model = sum_model()
    curve = metrics.deletion_curve(model, images, images, 0, steps=36, baseline="zero", output="logits")
    # analytic: after k pixels the score is the sum minus the k largest pixels
    top_first = -np.sort(-images.reshape(8, -1), axis=1)
    expected = images.reshape(8, -1).sum(1, keepdims=True) - np.concatenate(
        [np.zeros((8, 1)), np.cumsum(top_first, axis=1)], axis=1)
    np.testing.assert_allclose(curve.scores, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(curve.fractions, np.linspace(0, 1, 37))
    # no order deletes faster: random and shuffled maps have larger areas
    shuffled = np.random.default_rng(1).permuted(images.reshape(8, -1), axis=1).reshape(images.shape)
    worse = metrics.deletion_curve(model, images, shuffled, 0, steps=36, baseline="zero", output="logits")
    assert (curve.auc <= worse.auc + 1e-6).all() and curve.auc.mean() < worse.auc.mean() - 0.5
    assert (curve.auc < curve.random_auc).all()
    np.testing.assert_allclose(curve.auc, metrics.curve_auc(expected, np.linspace(0, 1, 37)), rtol=1e-5)


def test_insertion_with_explanation_equal_to_input_beats_random():
    images = rng_images(8)
    curve = metrics.insertion_curve(sum_model(), images, images, 0, steps=12, baseline="zero", output="logits")
    assert (curve.auc > curve.random_auc).all()
    assert curve.scores[:, 0] == pytest.approx(0) and np.all(np.diff(curve.scores, axis=1) >= -1e-6)


@pytest.mark.parametrize("baseline", ["zero", "mean", "blur", 0.5])
def test_deletion_and_insertion_meet_at_their_ends(baseline):
    images = rng_images(4)
    model = sum_model()
    maps = rng_images(4, seed=3)
    deletion = metrics.deletion_curve(model, images, maps, 0, steps=6, baseline=baseline, output="logits")
    insertion = metrics.insertion_curve(model, images, maps, 0, steps=6, baseline=baseline, output="logits")
    np.testing.assert_allclose(deletion.scores[:, 0], insertion.scores[:, -1], rtol=1e-6)
    np.testing.assert_allclose(deletion.scores[:, -1], insertion.scores[:, 0], rtol=1e-6)
    if baseline == "mean":  # replacing every pixel by the mean keeps the sum
        np.testing.assert_allclose(deletion.scores[:, -1], deletion.scores[:, 0], rtol=1e-5)


def test_curves_do_not_depend_on_batch_size_input_type_or_model_wrapper():
    images = rng_images(10)
    maps = rng_images(10, seed=5)
    model = sum_model()
    reference = metrics.deletion_curve(model, images, maps, steps=5, batch_size=256)
    small = metrics.deletion_curve(model, tf.constant(images), tf.constant(maps), steps=5, batch_size=3)
    np.testing.assert_allclose(reference.scores, small.scores, rtol=1e-6)
    np.testing.assert_allclose(reference.random_scores, small.random_scores, rtol=1e-6)

    def plain(x):
        total = np.asarray(x).sum(axis=(1, 2, 3))
        return np.stack([total, -total], axis=1)

    wrapped = metrics.deletion_curve(plain, images, maps, steps=5)
    np.testing.assert_allclose(reference.scores, wrapped.scores, rtol=1e-5)
    # the default target is the model's prediction: class 0 (positive sum) here
    assert (reference.targets == 0).all()
    # probabilities by default
    assert reference.output == "softmax" and (reference.scores <= 1).all()


def test_random_reference_is_seeded():
    images, maps = rng_images(4), rng_images(4, seed=1)
    a = metrics.deletion_curve(sum_model(), images, maps, 0, steps=4, seed=3)
    b = metrics.deletion_curve(sum_model(), images, maps, 0, steps=4, seed=3)
    c = metrics.deletion_curve(sum_model(), images, maps, 0, steps=4, seed=4)
    np.testing.assert_array_equal(a.random_scores, b.random_scores)
    assert not np.array_equal(a.random_scores, c.random_scores)
    assert metrics.deletion_curve(sum_model(), images, maps, 0, random_reference=False).random_scores is None


def test_curve_arguments_are_validated():
    images, maps = rng_images(2), rng_images(2)
    model = sum_model()
    with pytest.raises(ValueError, match="baseline"):
        metrics.deletion_curve(model, images, maps, baseline="noise")
    with pytest.raises(ValueError, match="baseline"):
        metrics.deletion_curve(model, images, maps, baseline=np.zeros((2, 3, 3, 1)))
    with pytest.raises(ValueError, match="maps"):
        metrics.deletion_curve(model, images, maps[:1])
    with pytest.raises(ValueError, match="maps"):
        metrics.deletion_curve(model, images, rng_images(2, (5, 5, 1)))
    with pytest.raises(ValueError, match="targets"):
        metrics.deletion_curve(model, images, maps, targets=2)
    with pytest.raises(ValueError, match="steps"):
        metrics.insertion_curve(model, images, maps, steps=0)
    with pytest.raises(ValueError, match="output"):
        metrics.insertion_curve(model, images, maps, output="probability")
    with pytest.raises(ValueError, match="images"):
        metrics.deletion_curve(model, rng_images(2, (5, 5, 1)), maps)


def test_contrastive_deletion_flips_the_decision_at_the_analytic_step():
    image = np.zeros((1, 4, 4, 1), np.float32)
    image[0, :, :2, 0] = 0.3                                   # left half: class 0, sum 2.4
    image[0, :, 2:, 0] = np.arange(2, 10).reshape(4, 2) / 10   # right half: class 1, sum 4.4
    model = halves_model()
    # the contrastive gradient of logit1 - logit0 times the input: +x right, -x left
    contrast = np.where(np.arange(4)[None, None, :, None] >= 2, image, -image)
    curve = metrics.contrastive_deletion_curve(model, image, contrast, true_labels=[0], steps=16, baseline="zero")
    assert curve.predicted.tolist() == [1] and curve.true.tolist() == [0]
    # right pixels go 0.9, 0.8, 0.7: the right sum drops below 2.4 after the third
    assert curve.flip_step.tolist() == [3] and curve.flip_fraction[0] == pytest.approx(3 / 16)
    # then the eight left pixels (relevance -0.3) go; margin = p0 - p1 = tanh((logit0 - logit1) / 2)
    deleted = np.arange(17)
    logit1 = 4.4 - np.concatenate([[0], np.cumsum(np.arange(9, 1, -1) / 10), np.full(8, 4.4)])
    logit0 = 2.4 - 0.3 * np.maximum(deleted - 8, 0)
    np.testing.assert_allclose(curve.margin[0], np.tanh((logit0 - logit1) / 2), atol=1e-5)
    assert curve.random_flip_step[0] >= 3
    # an order that deletes the true class's evidence first never flips
    never = metrics.contrastive_deletion_curve(model, image, -contrast, [0], steps=16, baseline="zero")
    assert never.flip_step.tolist() == [-1] and np.isnan(never.flip_fraction[0])


def test_similarity_measures_match_scipy_and_are_one_for_identical_maps():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(4)
    a = rng.normal(size=(5, 9, 9))
    b = a + rng.normal(scale=0.7, size=a.shape)
    b[0, :3] = 0.0  # ties
    expected = [spearmanr(x.ravel(), y.ravel())[0] for x, y in zip(a, b)]
    np.testing.assert_allclose(metrics.spearman(a, b), expected, rtol=1e-6)
    np.testing.assert_allclose(metrics.spearman(a, a), 1.0)
    np.testing.assert_allclose(metrics.ssim(a, a), 1.0)
    assert (metrics.ssim(a, rng.normal(size=a.shape)) < 0.5).all()
    assert np.isnan(metrics.spearman(np.ones((1, 4, 4)), a[:1, :4, :4])[0])
    with pytest.raises(ValueError, match="maps_b"):
        metrics.spearman(a, b[:2])


def test_curve_auc_is_the_trapezoid_and_checks_its_input():
    assert metrics.curve_auc([1.0, 0.0], [0.0, 1.0]) == pytest.approx(0.5)
    np.testing.assert_allclose(metrics.curve_auc(np.ones((3, 5)), np.linspace(0, 1, 5)), 1.0)
    with pytest.raises(ValueError, match="fractions"):
        metrics.curve_auc([1.0, 0.0], [1.0, 0.0])
    with pytest.raises(ValueError, match="scores"):
        metrics.curve_auc([1.0, 0.0, 1.0], [0.0, 1.0])


# ----------------------------------------------------------------------------- mistakes and confusions

def test_gather_mistakes_returns_exactly_the_misclassified_images():
    images = rng_images(50, (4, 4, 1), seed=2)
    labels = np.random.default_rng(3).integers(0, 2, 50)
    model = halves_model()
    mistakes = metrics.gather_mistakes(model, images, labels, batch_size=7)
    logits = models.predict_logits(model, images)
    expected = np.flatnonzero(logits.argmax(1) != labels)
    np.testing.assert_array_equal(mistakes.indices, expected)
    np.testing.assert_array_equal(mistakes.true, labels[expected])
    np.testing.assert_array_equal(mistakes.predicted, logits.argmax(1)[expected])
    proba = models.predict_proba(model, images)
    np.testing.assert_allclose(mistakes.confidence, proba[expected, logits.argmax(1)[expected]], rtol=1e-5)
    np.testing.assert_allclose(mistakes.p_true, proba[expected, labels[expected]], rtol=1e-5)
    assert (mistakes.confidence >= 0.5).all() and mistakes.accuracy == pytest.approx(1 - len(expected) / 50)
    assert len(mistakes.most_confident(3)) == 3
    with pytest.raises(ValueError, match="labels"):
        metrics.gather_mistakes(model, images, labels[:-1])


def test_confusion_matrix_and_top_confusions():
    true = np.array([0, 0, 1, 1, 1, 2, 2, 2, 2, 0])
    pred = np.array([0, 1, 1, 2, 2, 0, 0, 1, 2, 1])
    from sklearn.metrics import confusion_matrix as sklearn_confusion

    matrix = metrics.confusion_matrix(true, pred, 3)
    np.testing.assert_array_equal(matrix, sklearn_confusion(true, pred, labels=[0, 1, 2]))
    assert metrics.top_confusions(true, pred, 3) == [(0, 1, 2), (1, 2, 2), (2, 0, 2)]
    assert metrics.top_confusions(true, pred, 10)[-1] == (2, 1, 1)
    assert metrics.top_confusions(true, true, 3) == []
    with pytest.raises(ValueError, match="pred"):
        metrics.confusion_matrix(true, pred + 1, 3)


# ----------------------------------------------------------------------------- SpRAy

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
    assert len(result.as_table()) == 5


def test_spray_validates_input_and_skips_tiny_classes():
    maps, labels = synthetic_spray_maps(5)
    labels = labels.copy()
    labels[0] = 9
    result = metrics.spray(maps, labels)
    assert np.isnan(result.suspicion[result.classes.tolist().index(9)])
    with pytest.raises(ValueError, match="part"):
        metrics.spray(maps, labels, part="negative")
    for bad in (0, 2.5, (8,), "8"):
        with pytest.raises(ValueError, match="size"):
            metrics.spray(maps, labels, size=bad)
    with pytest.raises(ValueError, match="labels"):
        metrics.spray(maps, labels[:-1])


# ----------------------------------------------------------------------------- sanity checks

@pytest.fixture(scope="module")
def fashion():
    (x, y), (x_test, y_test) = load_fashion_mnist(limit=400, seed=0)
    return x, y, x_test[:100], y_test[:100]


def tiny_cnn():
    return models.build_fashion_cnn(width=4)


@pytest.fixture(scope="module")
def trained(fashion):
    x, y, _, _ = fashion
    models.set_seed(0)
    model = tiny_cnn()
    models.train(model, x, y, epochs=2, seed=0, verbose=0)
    return model


@pytest.mark.slow
def test_model_randomization_self_similarity_is_one_and_gradients_decorrelate(trained, fashion):
    _, _, x_test, y_test = fashion
    before = [w.copy() for w in trained.get_weights()]
    result = metrics.model_randomization(trained, gradient, x_test[:12], y_test[:12], seed=0, batch_size=5)
    for weights, original in zip(trained.get_weights(), before):
        np.testing.assert_array_equal(weights, original)
    assert result.layers[0] == "original" and result.layers[1] == "logits" and result.layers[-1] == "conv1"
    similarity = result.similarity
    for metric in metrics.SIMILARITIES:
        assert similarity["original"][metric] == pytest.approx(1.0, abs=1e-6)
    # Adebayo et al.: after randomising everything, gradients no longer resemble the trained ones
    assert abs(similarity["conv1"]["spearman"]) < 0.3
    assert similarity["conv1"]["spearman_abs"] < 0.6 and similarity["conv1"]["ssim"] < 0.5
    assert result.per_example["ssim"].shape == (len(result.layers), 12)
    # the same seed gives the same random weights
    again = metrics.model_randomization(trained, gradient, x_test[:12], y_test[:12], seed=0, layers=["logits"])
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
def test_model_randomization_validates_arguments(trained, fashion):
    _, _, x_test, y_test = fashion
    with pytest.raises(ValueError, match="method"):
        metrics.model_randomization(trained, "gradient", x_test[:2], y_test[:2])
    with pytest.raises(ValueError, match="targets"):
        metrics.model_randomization(trained, gradient, x_test[:2], 10)
    with pytest.raises(ValueError, match="layer"):
        metrics.model_randomization(trained, gradient, x_test[:2], y_test[:2], layers=["conv9"])
    with pytest.raises(ValueError, match="weights"):
        metrics.model_randomization(trained, gradient, x_test[:2], y_test[:2], layers=["relu1"])


@pytest.mark.slow
def test_label_randomization_trains_on_shuffled_labels_and_leaves_the_model_alone(trained, fashion):
    x, y, x_test, y_test = fashion
    before = [w.copy() for w in trained.get_weights()]
    result = metrics.label_randomization(trained, gradient, x_test[:8], y_test[:8], x[:200], y[:200], epochs=1,
                                         builder=tiny_cnn, seed=1)
    for weights, original in zip(trained.get_weights(), before):
        np.testing.assert_array_equal(weights, original)
    assert result.random_model is not trained
    assert result.similarity["spearman"] < 0.5
    np.testing.assert_allclose(result.maps, gradient(trained, x_test[:8], y_test[:8]).sum(-1), rtol=1e-5, atol=1e-7)
    assert 0 <= result.shuffled_accuracy <= 1


def test_remove_pixels_replaces_exactly_the_top_fraction_by_the_image_mean():
    images = rng_images(3, (5, 4, 2))
    maps = rng_images(3, (5, 4), seed=9) - 0.5
    before = images.copy()
    out = metrics.remove_pixels(images, maps, 0.25)
    np.testing.assert_array_equal(images, before)
    changed = (out != images).any(-1)
    assert changed.sum(axis=(1, 2)).tolist() == [5, 5, 5]
    top = np.argsort(-np.abs(maps).reshape(3, -1), axis=1)[:, :5]
    for i in range(3):
        assert set(np.flatnonzero(changed[i])) == set(top[i])
        np.testing.assert_allclose(out[i][changed[i]], np.broadcast_to(images[i].mean((0, 1)), (5, 2)), rtol=1e-6)
    np.testing.assert_array_equal(metrics.remove_pixels(images, maps, 0.0), images)


@pytest.mark.slow
def test_roar_with_nothing_removed_equals_a_normally_trained_model(trained, fashion):
    x, y, x_test, y_test = fashion
    # the `trained` fixture is the normally trained model: set_seed(0), tiny_cnn(), train(seed=0, epochs=2)
    result = metrics.roar(trained, {"gradient": gradient}, x, y, x_test, y_test, fractions=(0.0, 1.0),
                          builder=tiny_cnn, epochs=2, seed=0)
    np.testing.assert_array_equal(result.train_indices, np.arange(len(x)))
    np.testing.assert_allclose(result.fractions, [0.0, 1.0])
    assert set(result.accuracy) == {"gradient", "random"}
    expected = models.accuracy(trained, x_test, y_test)
    for accuracy in result.accuracy.values():
        assert accuracy[0] == expected
    # with every pixel removed the order no longer matters: identical data, identical training
    assert result.accuracy["gradient"][-1] == result.accuracy["random"][-1]
    assert len(result.as_table()) == 4


@pytest.mark.slow
def test_roar_validates_arguments(trained, fashion):
    x, y, x_test, y_test = fashion
    with pytest.raises(ValueError, match="fractions"):
        metrics.roar(trained, gradient, x, y, x_test, y_test, fractions=(0.5, 1.5))
    with pytest.raises(ValueError, match="methods"):
        metrics.roar(trained, {"random": gradient}, x, y, x_test, y_test)
    with pytest.raises(ValueError, match="y_train"):
        metrics.roar(trained, gradient, x, y[:-1], x_test, y_test)


# ----------------------------------------------------------------------------- image statistics

def test_total_variation_counts_every_step_between_neighbours():
    step = np.zeros((1, 4, 5, 1), np.float32)
    step[:, :, 3:] = 2.0  # one vertical edge of height 2, four rows long
    np.testing.assert_allclose(metrics.total_variation(step), [8.0])
    np.testing.assert_allclose(metrics.total_variation(step[..., 0]), [8.0])  # (N, H, W) works too
    np.testing.assert_allclose(metrics.total_variation(-step), [8.0])  # signed changes
    rgb = np.concatenate([step, 0.5 * step, np.zeros_like(step)], axis=-1)
    np.testing.assert_allclose(metrics.total_variation(rgb), [12.0])  # summed over channels


def test_roughness_separates_noise_from_smooth_changes_and_ignores_scale():
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(64, 28, 28)).astype(np.float32)
    expected = (2 * 28 * 28 - 56) * (2 / np.sqrt(np.pi)) / 28
    np.testing.assert_allclose(metrics.roughness(noise).mean(), expected, rtol=0.03)
    y, x = np.mgrid[:28, :28]
    blob = np.exp(-((y - 14) ** 2 + (x - 12) ** 2) / 30.0)[None].astype(np.float32)
    assert metrics.roughness(blob)[0] < 10 < expected
    np.testing.assert_allclose(metrics.roughness(-3 * noise[:4]), metrics.roughness(noise[:4]), rtol=1e-5)
    assert np.isnan(metrics.roughness(np.zeros((1, 5, 5))))[0]


@pytest.mark.parametrize("images", [np.zeros((5, 5)), np.zeros((2, 1, 5)), np.full((1, 4, 4), np.nan)])
def test_image_statistics_reject_bad_input(images):
    for function in (metrics.total_variation, metrics.roughness):
        with pytest.raises(ValueError, match="`images`"):
            function(images)


# ----------------------------------------------------------------------------- pattern correlation

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
    with pytest.raises(ValueError, match="pattern"):
        metrics.pattern_correlation(np.zeros((2, 28, 28)), np.zeros((27, 28)))
    with pytest.raises(ValueError, match="max_shift"):
        metrics.pattern_correlation(np.zeros((2, 28, 28)), np.zeros((28, 28)), max_shift=-1)
    with pytest.raises(ValueError, match="max_shift"):
        metrics.pattern_correlation(np.zeros((2, 28, 28)), np.zeros((28, 28)), max_shift=28)
    with pytest.raises(ValueError, match="pattern"):
        metrics.pattern_correlation(np.zeros((2, 28, 28)), np.full((28, 28), np.nan))
