import keras
import numpy as np
import pytest
import tensorflow as tf

from introspect import models
from introspect import optimize as opt
from introspect.data import load_fashion_mnist

WEIGHTS = models.MODELS_DIR / models.PRETRAINED["fashion_cnn"]
RUN = dict(progress=False)


@pytest.fixture(scope="module")
def tiny():
    """An untrained, narrow copy of the shipped architecture: same layer names, a fraction of the cost."""
    keras.utils.set_random_seed(0)
    return models.build_fashion_cnn(width=4)


@pytest.fixture(scope="module")
def tiny_rgb():
    keras.utils.set_random_seed(1)
    return models.build_fashion_cnn(input_shape=(15, 17, 3), width=4)


@pytest.fixture(scope="module")
def fashion_images():
    (x, y), _ = load_fashion_mnist(limit=20, seed=0)
    return x, y


# ------------------------------------------------------------------------------------------- the objective rises
@pytest.mark.parametrize("objective", [opt.class_logit(np.arange(4)), opt.class_probability(3),
                                       opt.channel("conv3", np.array([0, 5, 9, 15]))], ids=repr)
def test_objective_rises_within_twenty_steps(tiny, objective):
    result = opt.optimize(tiny, objective, "noise", n=4, steps=20, **RUN)
    assert result.objective.shape == (21, 4)
    assert np.all(result.objective[-1] > result.objective[0])


def test_neuron_objective_rises_on_a_conv_map_and_on_a_dense_layer(tiny):
    objective = opt.neuron("bn2", 3) + opt.neuron("logits", 7)
    result = opt.optimize(tiny, objective, "noise", steps=20, **RUN)
    assert result.objective[-1, 0] > result.objective[0, 0]


def test_objective_algebra_matches_the_terms(tiny, fashion_images):
    x = fashion_images[0][:3]
    extractor = opt._feature_model(tiny, ("relu3",))
    activations, logits = extractor(x, training=False)
    features = {"logits": logits, "image": tf.constant(x), "layers": {"relu3": activations}}
    a, b = opt.class_logit(2), opt.channel("relu3", 1)
    combined = 0.5 * a + b - 2 * opt.class_probability(np.array([0, 1, 2])) + (-a)
    expected = (0.5 * logits.numpy()[:, 2] + activations.numpy()[..., 1].mean(axis=(1, 2))
                - 2 * tf.nn.softmax(logits).numpy()[np.arange(3), [0, 1, 2]] - logits.numpy()[:, 2])
    np.testing.assert_allclose(combined(features).numpy(), expected, rtol=1e-5, atol=1e-6)
    assert combined.batch_size == 3 and combined.layers == ("relu3",)
    assert sum([a, b]).batch_size is None
    with pytest.raises(ValueError, match="`objective`"):
        opt.class_logit([1, 2]) + opt.class_logit([1, 2, 3])


def test_batch_examples_do_not_interact(tiny):
    # Inference-mode BN and per-coordinate Adam: image 2 of a batch is the image optimised alone.
    batch = opt.optimize(tiny, opt.class_logit(np.arange(4)), "gray", steps=10, **RUN).images
    alone = opt.optimize(tiny, opt.class_logit(2), "gray", steps=10, **RUN).images
    np.testing.assert_allclose(batch[2], alone[0], atol=1e-5)


# ------------------------------------------------------------------------------------------- parametrisations
@pytest.mark.parametrize("param", opt.PARAMS)
def test_outputs_stay_in_the_unit_interval(tiny, param):
    transforms = (opt.jitter(2), opt.random_scale((0.8, 1.2)), opt.random_rotation(20))
    result = opt.optimize(tiny, opt.class_logit(np.arange(3)), "noise", steps=15, learning_rate=1.0, param=param,
                          transforms=transforms, regularizers=(opt.blur(1.0, every=3),), snapshots=(0, 7, 15), **RUN)
    for images in (result.images, *result.snapshots.values()):
        assert images.dtype == np.float32 and images.min() >= 0.0 and images.max() <= 1.0
    assert sorted(result.snapshots) == [0, 7, 15]
    np.testing.assert_array_equal(result.snapshots[15], result.images)


@pytest.mark.parametrize("param", ["sigmoid", "fourier"])
def test_init_image_round_trips_through_the_parametrisation(tiny, tiny_rgb, fashion_images, param):
    gray = fashion_images[0][:4]  # real Fashion-MNIST: many pixels exactly 0
    rgb = np.random.default_rng(0).uniform(size=(2, 15, 17, 3)).astype(np.float32)  # odd height and width
    for model, images in ((tiny, gray), (tiny_rgb, rgb)):
        result = opt.optimize(model, opt.class_logit(0), images, steps=1, param=param, snapshots=(0,), **RUN)
        # Saturated pixels are represented at eps = 1e-3 from 0 or 1: below half an 8-bit grey level.
        np.testing.assert_allclose(result.snapshots[0], images, atol=1.01e-3)
        assert not np.allclose(result.images, images, atol=1e-3)  # and then the step does move it


def test_fourier_scale_gives_unit_pixel_variance_for_a_white_spectrum():
    rng = np.random.default_rng(0)
    scale = opt.fourier_scale(28, 28)
    spectrum = rng.normal(size=(500, 28, 15)) + 1j * rng.normal(size=(500, 28, 15))
    pixels = np.fft.irfft2(spectrum * scale, s=(28, 28))
    assert pixels.std() == pytest.approx(1.0, rel=0.05)
    assert scale[0, 0] == scale.max() and scale[14, 14] == scale.min()  # 1/f: lowest frequency largest


def test_color_basis_is_invertible_and_luminance_first():
    basis = opt.color_basis(3)
    np.testing.assert_allclose(basis[:, 0], basis[0, 0])  # first decorrelated channel moves R, G, B together
    np.testing.assert_allclose(np.linalg.norm(basis, axis=0), np.sqrt([1, 0.0188 / 0.2175, 0.0045 / 0.2175]),
                               rtol=1e-5)
    np.testing.assert_array_equal(opt.color_basis(1), np.eye(1))


# ------------------------------------------------------------------------------------ transforms and regularisers
def test_resample_identity_integer_shift_and_quarter_turn_are_exact():
    images = np.random.default_rng(0).random((2, 6, 6, 2), dtype=np.float32)
    identity = tf.eye(3, batch_shape=[2])
    np.testing.assert_array_equal(opt._resample(tf.constant(images), identity).numpy(), images)
    # output(y, x) = input(y - 2, x + 1) with reflection at the borders.
    shift = np.tile(np.array([[1, 0, 1], [0, 1, -2], [0, 0, 1]], np.float32), (2, 1, 1))
    padded = np.pad(images, [(0, 0), (2, 2), (1, 1), (0, 0)], mode="reflect")
    np.testing.assert_allclose(opt._resample(tf.constant(images), shift).numpy(), padded[:, :6, 2:8], atol=1e-6)
    # out(y, x) = in(x, W - 1 - y): a quarter turn counter-clockwise.
    quarter = np.tile(np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1]], np.float32), (2, 1, 1))
    np.testing.assert_allclose(opt._resample(tf.constant(images), quarter).numpy(),
                               np.rot90(images, k=1, axes=(1, 2)), atol=1e-5)


def test_blur_and_penalties_smooth_the_result(tiny):
    def roughness(images):
        return np.abs(np.diff(images, axis=1)).mean() + np.abs(np.diff(images, axis=2)).mean()

    common = dict(init="noise", n=2, steps=12, **RUN)
    plain = opt.optimize(tiny, opt.class_logit(1), **common).images
    blurred = opt.optimize(tiny, opt.class_logit(1), regularizers=[opt.blur(1.0, every=2)], **common).images
    smooth = opt.optimize(tiny, opt.class_logit(1), regularizers=[opt.total_variation(50.0)], **common).images
    pulled = opt.optimize(tiny, opt.class_logit(1), regularizers=[opt.l2(100.0)], **common).images
    assert roughness(blurred) < 0.5 * roughness(plain)
    assert roughness(smooth) < roughness(plain)
    assert np.abs(pulled - 0.5).mean() < np.abs(plain - 0.5).mean()


# ------------------------------------------------------------------------------------------------ determinism
def test_same_seed_gives_identical_images_and_another_seed_does_not(tiny):
    def run(seed):
        return opt.optimize(tiny, opt.channel("relu2", [1, 2]), "noise", steps=8, param="fourier", seed=seed,
                            transforms=(opt.jitter(2), opt.random_scale(), opt.random_rotation()), **RUN).images

    first = run(3)
    np.testing.assert_array_equal(first, run(3))
    assert not np.allclose(first, run(4))


# ---------------------------------------------------------------------------------------------- counterfactuals
def test_counterfactual_freezes_examples_that_meet_the_margin(tiny, fashion_images):
    x = fashion_images[0][:6]
    predicted = models.predict_logits(tiny, x).argmax(axis=1)
    targets = predicted.copy()
    targets[3:] = (predicted[3:] + 1) % 10  # examples 0-2 already win (margin 0), examples 3-5 must change
    result = opt.counterfactuals(tiny, x, targets, steps=10, margin=0.0, learning_rate=0.05, **RUN)
    np.testing.assert_array_equal(result.counterfactuals[:3], x[:3])
    np.testing.assert_array_equal(result.flip_step[:3], 0)
    assert np.all(result.l1[3:] > 0)
    assert np.all(result.optimization.objective[:, :3] == 0)


def test_counterfactual_flip_step_and_sizes_agree_with_the_record(tiny, fashion_images):
    x = fashion_images[0][:8]
    targets = (models.predict_logits(tiny, x).argmax(axis=1) + 3) % 10
    result = opt.counterfactuals(tiny, x, targets, steps=40, learning_rate=0.05, **RUN)
    predictions = result.optimization.predictions
    for i, step in enumerate(result.flip_step):
        if step >= 0:
            assert predictions[step, i] == targets[i] and np.all(predictions[:step, i] != targets[i])
        else:
            assert np.all(predictions[:, i] != targets[i])
    np.testing.assert_array_equal(result.flipped, predictions[-1] == targets)
    np.testing.assert_allclose(result.differences, result.counterfactuals - x)
    np.testing.assert_allclose(result.l2, np.sqrt((result.differences ** 2).sum(axis=(1, 2, 3))), rtol=1e-5)
    np.testing.assert_array_equal(models.predict_logits(tiny, result.counterfactuals).argmax(1) == targets,
                                  result.flipped)


@pytest.mark.skipif(not WEIGHTS.is_file(), reason=f"shipped weights {WEIGHTS.name} not trained yet "
                                                    "(python scripts/train_fashion_cnn.py)")
def test_counterfactuals_flip_misclassified_images_on_the_shipped_model():
    model = models.load_pretrained("fashion_cnn")
    _, (x_test, y_test) = load_fashion_mnist()
    x_test, y_test = x_test[:1500], y_test[:1500]
    wrong = np.flatnonzero(models.predict_logits(model, x_test).argmax(axis=1) != y_test)[:32]
    assert len(wrong) == 32
    default = opt.counterfactuals(model, x_test[wrong], y_test[wrong], **RUN)
    assert default.flipped.mean() >= 0.95
    assert np.all(default.flip_step[default.flipped] >= 1)  # they were misclassified at the start
    cheap = opt.counterfactuals(model, x_test[wrong], y_test[wrong], weight=0.01, steps=100, **RUN)
    dear = opt.counterfactuals(model, x_test[wrong], y_test[wrong], weight=1.0, steps=100, **RUN)
    assert dear.l1.mean() < 0.8 * cheap.l1.mean()  # the penalised distance (L1 by default) shrinks


# ------------------------------------------------------------------------------------------------- bad input
def test_bad_input_is_a_value_error_naming_the_argument(tiny, fashion_images):
    x = fashion_images[0][:2]
    cases = [
        (lambda: opt.optimize(tiny, opt.channel("conv9", 0), steps=1, **RUN), "`layer`"),
        (lambda: opt.optimize(tiny, opt.channel("relu3", 16), steps=1, **RUN), "`k`"),
        (lambda: opt.optimize(tiny, opt.neuron("relu3", 0, 7, 0), steps=1, **RUN), "`y`"),
        (lambda: opt.optimize(tiny, opt.class_logit(10), steps=1, **RUN), "`target`"),
        (lambda: opt.class_probability(-1), "`target`"),
        (lambda: opt.counterfactuals(tiny, x, [0, 12], **RUN), "`true_labels`"),
        (lambda: opt.optimize(tiny, opt.class_logit(0), x * 2, steps=1, **RUN), "`init`"),
        (lambda: opt.optimize(tiny, opt.class_logit(0), x[0], steps=1, **RUN), "`init`"),
        (lambda: opt.optimize(tiny, opt.class_logit(0), "zeros", steps=1, **RUN), "`init`"),
        (lambda: opt.optimize(tiny, opt.class_logit(0), steps=0, **RUN), "`steps`"),
        (lambda: opt.optimize(tiny, opt.class_logit(0), steps=-3, **RUN), "`steps`"),
        (lambda: opt.optimize(tiny, opt.class_logit(0), steps=2, param="pixels", **RUN), "`param`"),
        (lambda: opt.optimize(tiny, opt.class_logit(0), steps=2, snapshots=(3,), **RUN), "`snapshots`"),
        (lambda: opt.optimize(tiny, opt.class_logit([0, 1]), n=3, steps=1, **RUN), "`n`"),
        (lambda: opt.optimize(tiny, opt.class_logit(0), steps=1, learning_rate=0, **RUN), "`learning_rate`"),
        (lambda: opt.optimize(tiny, opt.class_logit(0), steps=1, transforms=[None], **RUN), "`transforms`"),
        (lambda: opt.optimize(tiny, "logit", steps=1, **RUN), "`objective`"),
        (lambda: opt.counterfactual(0, x, distance="linf"), "`distance`"),
        (lambda: opt.counterfactual(0, x, weight=-1), "`weight`"),
        (lambda: opt.jitter(0), "`pixels`"),
        (lambda: opt.blur(sigma=0), "`sigma`"),
    ]
    for call, name in cases:
        with pytest.raises(ValueError, match=name):
            call()
    softmax = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                                keras.layers.Dense(10, activation="softmax")])
    with pytest.raises(ValueError, match="`model`"):
        opt.optimize(softmax, opt.class_logit(0), steps=1, **RUN)
