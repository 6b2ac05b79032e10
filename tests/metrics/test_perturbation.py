"""Tests of introspect.metrics.perturbation: deletion, insertion and contrastive curves, AUC."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import halves_model, rng_images, sum_model
from introspect import metrics


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


@pytest.mark.parametrize("baseline", ["zero", "black", "mean", "blur", "uniform", 0.5])
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
    if baseline in ("zero", "black"):  # everything deleted: the sum of a black image
        np.testing.assert_allclose(deletion.scores[:, -1], 0.0, atol=1e-6)


def test_the_blur_baseline_is_the_images_blurred_with_the_default_sigma():
    from scipy.ndimage import gaussian_filter

    images = rng_images(3, (20, 20, 1))
    model = sum_model((20, 20, 1))
    curve = metrics.deletion_curve(model, images, rng_images(3, (20, 20)), 0, steps=2, output="logits")
    # max(1, max(H, W) / 10) = 2 pixels; borders repeat the edge pixel
    blurred = gaussian_filter(images.astype(np.float64), (0, 2.0, 2.0, 0), mode="nearest")
    np.testing.assert_allclose(curve.scores[:, -1], blurred.sum(axis=(1, 2, 3)), rtol=1e-4)
    wider = metrics.deletion_curve(model, images, rng_images(3, (20, 20)), 0, steps=2, output="logits",
                                   blur_sigma=5.0)
    blurred = gaussian_filter(images.astype(np.float64), (0, 5.0, 5.0, 0), mode="nearest")
    np.testing.assert_allclose(wider.scores[:, -1], blurred.sum(axis=(1, 2, 3)), rtol=1e-4)


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
    # the default target is the model's prediction: class 0 (positive sum) here, for both curves
    assert (reference.targets == 0).all()
    assert (metrics.insertion_curve(model, images, maps, steps=5).targets == 0).all()
    assert (metrics.deletion_curve(model, -images, maps, steps=5, baseline="zero").targets == 1).all()
    # probabilities by default: the softmax of the logits (sum, -sum)
    assert reference.output == "softmax"
    np.testing.assert_allclose(reference.scores[:, 0], 1 / (1 + np.exp(-2 * images.sum(axis=(1, 2, 3)))),
                               rtol=1e-5)


def test_a_model_ending_in_softmax_gives_probabilities_and_refuses_logits():
    ones = np.ones((6, 6, 1))
    inputs = keras.Input((6, 6, 1))
    outputs = keras.layers.Dense(2, use_bias=False, activation="softmax")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, outputs)
    model.set_weights([np.stack([ones, -ones], axis=-1).reshape(36, 2).astype(np.float32)])
    images, maps = rng_images(3), rng_images(3, seed=1)
    curve = metrics.deletion_curve(model, images, maps, 0, steps=3)
    reference = metrics.deletion_curve(sum_model(), images, maps, 0, steps=3)
    np.testing.assert_allclose(curve.scores, reference.scores, rtol=1e-5)  # not a softmax of probabilities
    with pytest.raises(ValueError, match="`output`='logits' needs a model that outputs logits"):
        metrics.deletion_curve(model, images, maps, 0, output="logits")


def test_random_reference_is_seeded():
    images, maps = rng_images(4), rng_images(4, seed=1)
    a = metrics.deletion_curve(sum_model(), images, maps, 0, steps=4, seed=3)
    b = metrics.deletion_curve(sum_model(), images, maps, 0, steps=4, seed=3)
    c = metrics.deletion_curve(sum_model(), images, maps, 0, steps=4, seed=4)
    np.testing.assert_array_equal(a.random_scores, b.random_scores)
    assert not np.array_equal(a.random_scores, c.random_scores)
    without = metrics.deletion_curve(sum_model(), images, maps, 0, random_reference=False)
    assert without.random_scores is None and without.random_auc is None


@pytest.mark.parametrize("bad, message", [
    (lambda images, maps: {"baseline": "noise"}, "`baseline` must be one of"),
    (lambda images, maps: {"baseline": np.zeros((2, 3, 3, 1))}, "`baseline` must be one of"),
    (lambda images, maps: {"baseline": np.full_like(images, np.nan)}, "`baseline` contains NaN"),
    (lambda images, maps: {"blur_sigma": 0.0}, "`blur_sigma`"),
    (lambda images, maps: {"maps": maps[:1]}, "`maps` holds 1 maps"),
    (lambda images, maps: {"maps": rng_images(2, (5, 5, 1))}, "`maps` has spatial shape"),
    (lambda images, maps: {"maps": np.full_like(maps, np.inf)}, "`maps` contains NaN or inf"),
    (lambda images, maps: {"targets": 2}, "`targets` holds class index 2"),
    (lambda images, maps: {"steps": 0}, "`steps`"),
    (lambda images, maps: {"output": "probability"}, "`output`"),
    (lambda images, maps: {"batch_size": 0}, "`batch_size`"),
    (lambda images, maps: {"seed": -1}, "`seed`"),
    (lambda images, maps: {"images": rng_images(2, (5, 5, 1))}, "`images` has shape"),
    (lambda images, maps: {"images": images[0]}, "`images` must be a batch"),
])
@pytest.mark.parametrize("curve", ["deletion_curve", "insertion_curve"])
def test_curve_arguments_are_validated(curve, bad, message):
    images, maps = rng_images(2), rng_images(2)
    arguments = {"model": sum_model(), "images": images, "maps": maps, **bad(images, maps)}
    with pytest.raises(ValueError, match=message):
        getattr(metrics, curve)(**arguments)


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
    assert curve.random_flip_fraction[0] == pytest.approx(curve.random_flip_step[0] / 16)
    np.testing.assert_allclose(curve.auc, metrics.curve_auc(curve.margin, curve.fractions))
    # an order that deletes the true class's evidence first never flips
    never = metrics.contrastive_deletion_curve(model, image, -contrast, [0], steps=16, baseline="zero")
    assert never.flip_step.tolist() == [-1] and np.isnan(never.flip_fraction[0])
    with pytest.raises(ValueError, match="`true_labels`"):
        metrics.contrastive_deletion_curve(model, image, contrast, [2])
    with pytest.raises(ValueError, match="`predicted`"):
        metrics.contrastive_deletion_curve(model, image, contrast, [0], predicted=[5])


def test_curve_auc_is_the_trapezoid_and_checks_its_input():
    assert metrics.curve_auc([1.0, 0.0], [0.0, 1.0]) == pytest.approx(0.5)
    np.testing.assert_allclose(metrics.curve_auc(np.ones((3, 5)), np.linspace(0, 1, 5)), 1.0)
    with pytest.raises(ValueError, match="`fractions`"):
        metrics.curve_auc([1.0, 0.0], [1.0, 0.0])
    with pytest.raises(ValueError, match="`scores`"):
        metrics.curve_auc([1.0, 0.0, 1.0], [0.0, 1.0])
    with pytest.raises(ValueError, match="`scores`"):
        metrics.curve_auc([1.0, np.nan], [0.0, 1.0])
