"""Tests of introspect.saliency: analytic models, cross-checks with tf-explain, invariances, bad input."""
import numpy as np
import pytest
import tensorflow as tf

import keras
from introspect import saliency as S

SHAPE = (6, 5, 2)
CLASSES = 3


# ---------------------------------------------------------------------------------------------
# Small models and data


@pytest.fixture(scope="module")
def linear():
    """f(x) = W^T vec(x) + b with known W (60, 3) and b."""
    inputs = keras.Input(SHAPE)
    outputs = keras.layers.Dense(CLASSES, name="scores")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, outputs, name="linear")
    weights = np.random.default_rng(1).normal(size=(int(np.prod(SHAPE)), CLASSES)).astype(np.float32)
    bias = np.array([0.1, -0.2, 0.3], np.float32)
    model.get_layer("scores").set_weights([weights, bias])
    return model, weights, bias


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(2).uniform(0, 1, size=(5, *SHAPE)).astype(np.float32)


def _cnn(name="cnn", shape=(12, 12, 1)):
    """A small non-linear CNN with BatchNorm whose statistics are not the identity."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input(shape, name="image")
    x = keras.layers.Conv2D(6, 3, padding="same", name="conv1")(inputs)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.ReLU(name="relu1")(x)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(16, activation="relu", name="dense")(x)
    outputs = keras.layers.Dense(CLASSES, name="logits")(x)
    model = keras.Model(inputs, outputs, name=name)
    rng = np.random.default_rng(4)
    bn = model.get_layer("bn1")
    bn.set_weights([rng.uniform(0.5, 1.5, 6), rng.normal(0, 0.2, 6), rng.normal(0, 0.3, 6), rng.uniform(0.5, 2, 6)])
    return model


@pytest.fixture(scope="module")
def cnn():
    return _cnn()


@pytest.fixture(scope="module")
def cnn_images():
    return np.random.default_rng(5).uniform(0, 1, size=(6, 12, 12, 1)).astype(np.float32)


def _flat_weights(weights, target):
    return weights[:, target].reshape(SHAPE)


# ---------------------------------------------------------------------------------------------
# Analytic: f(x) = w.x + b


@pytest.mark.parametrize("target", [0, 2])
def test_linear_gradient_and_gradient_x_input(linear, images, target):
    model, weights, _ = linear
    w = _flat_weights(weights, target)
    np.testing.assert_allclose(S.vanilla_gradient(model, images, target), np.broadcast_to(w, images.shape), atol=1e-5)
    np.testing.assert_allclose(S.gradient_x_input(model, images, target), w * images, atol=1e-5)


@pytest.mark.parametrize("baseline", ["black", "blur", "uniform", 0.25, "array"])
def test_linear_integrated_gradients(linear, images, baseline):
    model, weights, bias = linear
    if baseline == "array":
        baseline = np.random.default_rng(6).uniform(size=images.shape).astype(np.float32)
    reference = S._baseline(baseline, images, "baseline", blur_sigma=max(SHAPE[:2]) / 10)
    attributions, delta = S.integrated_gradients(model, images, 1, baseline=baseline, steps=7, return_delta=True)
    np.testing.assert_allclose(attributions, _flat_weights(weights, 1) * (images - reference), atol=1e-5)
    np.testing.assert_allclose(delta, 0.0, atol=1e-4)


def test_linear_occlusion_is_patch_sum(linear, images):
    model, weights, _ = linear
    w = _flat_weights(weights, 0)
    maps = S.occlusion(model, images, 0, patch=(3, 5), baseline="zero")
    # Two non-overlapping 3x5 patches: each pixel gets the score its patch removes.
    contribution = (w * images).sum(axis=-1)
    for rows in (slice(0, 3), slice(3, 6)):
        expected = contribution[:, rows].sum(axis=(1, 2))
        np.testing.assert_allclose(maps[:, rows], np.broadcast_to(expected[:, None, None], maps[:, rows].shape),
                                   atol=1e-5)


def test_smoothgrad_without_noise_is_the_gradient(cnn, cnn_images):
    gradient = S.vanilla_gradient(cnn, cnn_images, 1)
    kwargs = dict(n_samples=3, noise_level=0.0)
    np.testing.assert_allclose(S.smoothgrad(cnn, cnn_images, 1, **kwargs), gradient, atol=1e-6)
    np.testing.assert_allclose(S.smoothgrad(cnn, cnn_images, 1, variant="squared", **kwargs), gradient ** 2, atol=1e-7)
    np.testing.assert_allclose(S.smoothgrad(cnn, cnn_images, 1, variant="var", **kwargs), 0.0, atol=1e-7)


def test_smoothgrad_variants_are_consistent(cnn, cnn_images):
    kwargs = dict(n_samples=9, noise_level=0.2, seed=4)
    mean = S.smoothgrad(cnn, cnn_images, 0, **kwargs)
    squared = S.smoothgrad(cnn, cnn_images, 0, variant="squared", **kwargs)
    var = S.smoothgrad(cnn, cnn_images, 0, variant="var", **kwargs)
    np.testing.assert_allclose(var, squared - mean ** 2, atol=1e-6)
    assert var.max() > 0
    assert not np.allclose(mean, S.smoothgrad(cnn, cnn_images, 0, **{**kwargs, "seed": 5}))


def test_guided_backprop_on_one_hidden_layer(images):
    # guided(x) = W1 @ ((z > 0) * relu(W2[:, c])) for y = W2^T relu(W1^T x), written once with
    # an activation inside Dense and once with a separate ReLU layer.
    rng = np.random.default_rng(7)
    w1 = rng.normal(size=(int(np.prod(SHAPE)), 8)).astype(np.float32)
    w2 = rng.normal(size=(8, CLASSES)).astype(np.float32)
    flat = images.reshape(len(images), -1)
    z = flat @ w1
    expected = ((z > 0) * np.maximum(w2[:, 2], 0)) @ w1.T
    for separate_relu in (False, True):
        inputs = keras.Input(SHAPE)
        x = keras.layers.Flatten()(inputs)
        if separate_relu:
            x = keras.layers.ReLU()(keras.layers.Dense(8, use_bias=False, name="hidden")(x))
        else:
            x = keras.layers.Dense(8, activation="relu", use_bias=False, name="hidden")(x)
        model = keras.Model(inputs, keras.layers.Dense(CLASSES, use_bias=False, name="out")(x))
        model.get_layer("hidden").set_weights([w1])
        model.get_layer("out").set_weights([w2])
        before = S.vanilla_gradient(model, images, 2)
        guided = S.guided_backprop(model, images, 2)
        np.testing.assert_allclose(guided.reshape(len(images), -1), expected, atol=1e-4)
        # The user's model is untouched: same activation objects, same plain gradient afterwards.
        assert model.get_layer("hidden").activation is (keras.activations.linear if separate_relu
                                                        else keras.activations.relu)
        np.testing.assert_array_equal(S.vanilla_gradient(model, images, 2), before)
        assert not np.allclose(guided, before, atol=1e-3)


def test_grad_cam_equals_class_activation_map():
    # conv -> global average pooling -> dense: Grad-CAM is relu(sum_k W[k, c] A_k) / (h w), the CAM.
    keras.utils.set_random_seed(8)
    inputs = keras.Input((8, 8, 2))
    features = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="features")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(features)
    model = keras.Model(inputs, keras.layers.Dense(CLASSES, name="head")(pooled))
    x = np.random.default_rng(9).uniform(size=(3, 8, 8, 2)).astype(np.float32)
    activations = keras.Model(inputs, features)(x).numpy()
    head = model.get_layer("head").get_weights()[0]
    expected = np.maximum(np.einsum("nhwk,k->nhw", activations, head[:, 1]) / 64, 0)
    np.testing.assert_allclose(S.grad_cam(model, x, 1), expected, atol=1e-6)
    np.testing.assert_allclose(S.grad_cam(model, x, 1, layer="features", relu=False),
                               np.einsum("nhwk,k->nhw", activations, head[:, 1]) / 64, atol=1e-6)
    assert S.last_conv_layer(model) == "features"


def test_default_cam_layer_is_the_rectified_last_conv(cnn):
    from introspect.models import build_fashion_cnn

    assert S.last_conv_layer(build_fashion_cnn()) == "relu3"       # conv3 -> bn3 -> relu3
    assert S.last_conv_layer(cnn) == "conv2"                        # activation inside the conv
    inputs = keras.Input((12, 12, 1))
    branch = keras.layers.Conv2D(2, 3, name="late_conv")(inputs)
    mixed = keras.layers.ReLU(name="other_relu")(keras.layers.Conv2D(2, 3, name="other")(inputs))
    model = keras.Model(inputs, keras.layers.Add()([branch, mixed]))
    # Layer order is other, late_conv, other_relu: the ReLU after late_conv does not consume it.
    assert [layer.name for layer in model.layers[1:4]] == ["other", "late_conv", "other_relu"]
    assert S.last_conv_layer(model) == "late_conv"
    with pytest.raises(ValueError, match="`layer`"):
        S.last_conv_layer(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]))


def test_grad_cam_plus_plus_weights_closed_form():
    # One location per channel: alpha = g^2 / (2 g^2 + A g^3); weight = alpha * relu(g).
    activations = np.array([[[[2.0, 1.0]]]])
    gradients = np.array([[[[0.5, -1.0]]]])
    alpha = 0.25 / (2 * 0.25 + 2.0 * 0.125)
    np.testing.assert_allclose(S.grad_cam_plus_plus_weights(activations, gradients), [[alpha * 0.5, 0.0]])
    np.testing.assert_allclose(S.grad_cam_weights(activations, gradients), [[0.5, -1.0]])


# ---------------------------------------------------------------------------------------------
# Integrated gradients completeness on a non-linear model


def _blobs(n, seed):
    """Three classes: a bright 4x4 blob near the top-left, the centre or the bottom-right."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, n)
    x = rng.uniform(0, 0.3, size=(n, 12, 12, 1)).astype(np.float32)
    for image, label in zip(x, labels):
        row, col = np.array([(1, 1), (4, 4), (7, 7)][label]) + rng.integers(-1, 2, size=2)
        image[row:row + 4, col:col + 4] += 0.7
    return x, labels


@pytest.fixture(scope="module")
def trained_cnn():
    # Completeness is judged relative to f(x) - f(baseline), which is tiny for random weights;
    # a briefly trained model has the score changes of a real classifier.
    model = _cnn("trained")
    x, labels = _blobs(320, 0)
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, labels, epochs=2, batch_size=32, verbose=0)
    return model


@pytest.mark.parametrize("baseline", ["black", "blur"])
def test_integrated_gradients_completeness(trained_cnn, baseline):
    x, labels = _blobs(6, 1)
    attributions, delta = S.integrated_gradients(trained_cnn, x, labels, baseline=baseline, steps=64,
                                                 return_delta=True)
    reference = S._baseline(baseline, x, "baseline", blur_sigma=1.2)
    rows = np.arange(len(x))
    change = trained_cnn(x).numpy()[rows, labels] - trained_cnn(reference).numpy()[rows, labels]
    total = attributions.reshape(len(x), -1).sum(axis=1)
    np.testing.assert_allclose(total - change, delta, atol=1e-4)
    assert np.all(np.abs(change) > 0.05)
    assert np.all(np.abs(total - change) <= 0.01 * np.abs(change))


# ---------------------------------------------------------------------------------------------
# Cross-checks with tf-explain's core functions


def test_vanilla_gradient_matches_tf_explain(cnn, cnn_images):
    from tf_explain.core.vanilla_gradients import VanillaGradients

    theirs = VanillaGradients.compute_gradients(cnn_images, cnn, 1).numpy()
    np.testing.assert_allclose(S.vanilla_gradient(cnn, cnn_images, 1), theirs, atol=1e-5)


def test_smoothgrad_matches_tf_explain(cnn, cnn_images):
    # tf-explain differentiates the cross-entropy -log p[c] of a softmax model; we explain
    # log p[c] of the logit model, with the same noise.
    from tf_explain.core.smoothgrad import SmoothGrad

    n_samples = 4
    probabilities = keras.Model(cnn.inputs, keras.layers.Softmax()(cnn.outputs[0]))
    np.random.seed(11)
    noisy = SmoothGrad.generate_noisy_images(cnn_images, n_samples, 0.1)
    theirs = SmoothGrad.get_averaged_gradients(noisy, probabilities, 0, n_samples).numpy()
    noise = noisy.reshape(len(cnn_images), n_samples, *cnn_images.shape[1:]) - cnn_images[:, None]
    ours = S.smoothgrad(cnn, cnn_images, 0, output="log_softmax", n_samples=n_samples, noise=noise)
    np.testing.assert_allclose(ours, -theirs, atol=1e-5)


def test_integrated_gradients_matches_tf_explain(cnn, cnn_images):
    # tf-explain returns the plain mean of the gradients at steps points 0, 1/(n-1), ..., 1 from a
    # black baseline; the trapezoid rule counts both ends half, so with g0, g1 the end gradients:
    # ours = x * (n * theirs - (g0 + g1) / 2) / (n - 1).
    from tf_explain.core.integrated_gradients import IntegratedGradients

    steps = 16
    paths = IntegratedGradients.generate_interpolations(cnn_images, steps)
    theirs = IntegratedGradients.get_integrated_gradients(paths, cnn, 2, steps).numpy()
    ends = S.vanilla_gradient(cnn, np.zeros_like(cnn_images), 2) + S.vanilla_gradient(cnn, cnn_images, 2)
    expected = cnn_images * (steps * theirs - ends / 2) / (steps - 1)
    np.testing.assert_allclose(S.integrated_gradients(cnn, cnn_images, 2, steps=steps), expected, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# Invariances


FAST_PARAMS = {
    "smoothgrad": dict(n_samples=5),
    "integrated_gradients": dict(steps=6),
    "occlusion": dict(patch=4, stride=3),
    "meaningful_perturbation": dict(steps=5),
}


@pytest.mark.parametrize("name", sorted(S.METHODS))
def test_batch_size_and_tensor_input_do_not_change_results(cnn, cnn_images, name):
    method = S.METHODS[name]
    params = FAST_PARAMS.get(name, {})
    targets = np.array([0, 1, 2, 0, 1, 2])
    reference = method(cnn, cnn_images, targets, batch_size=64, **params)
    for batch_size in (1, 7):
        np.testing.assert_allclose(method(cnn, cnn_images, targets, batch_size=batch_size, **params), reference,
                                   rtol=1e-4, atol=1e-6, err_msg=f"batch_size={batch_size}")
    np.testing.assert_allclose(method(cnn, tf.constant(cnn_images), tf.constant(targets), **params), reference,
                               rtol=1e-5, atol=1e-7)


def test_repeated_calls_do_not_retrace():
    model = _cnn("retrace")
    x = np.random.default_rng(12).uniform(size=(9, 12, 12, 1)).astype(np.float32)
    for name, method in S.METHODS.items():
        method(model, x, 1, batch_size=4, **FAST_PARAMS.get(name, {}))
    traces = S._trace_count(model)
    for name, method in S.METHODS.items():
        params = FAST_PARAMS.get(name, {})
        method(model, x[:5], [0, 1, 2, 0, 1], batch_size=4, **params)   # other N, other targets
        method(model, x, 2, batch_size=3, **params)                      # other chunk size
    assert S._trace_count(model) == traces


def test_never_called_sequential_works(cnn_images):
    keras.utils.set_random_seed(13)
    model = keras.Sequential([keras.layers.Conv2D(4, 3, activation="relu", name="c1"),
                              keras.layers.Conv2D(4, 3, activation="relu", name="c2"),
                              keras.layers.Flatten(), keras.layers.Dense(CLASSES)])
    for name, method in S.METHODS.items():
        result = method(model, cnn_images, 0, **FAST_PARAMS.get(name, {}))
        assert result.shape[:3] == cnn_images.shape[:3] and np.all(np.isfinite(result)), name
    assert S.last_conv_layer(model) == "c2"


def test_nested_model_gives_the_same_results(cnn, cnn_images):
    inputs = keras.Input((12, 12, 1))
    outer = keras.Model(inputs, keras.layers.Identity()(cnn(inputs)), name="outer")
    sequential = keras.Sequential([keras.Input((12, 12, 1)), cnn], name="outer_seq")
    assert S.last_conv_layer(outer) == "conv2"
    for name, method in S.METHODS.items():
        params = FAST_PARAMS.get(name, {})
        reference = method(cnn, cnn_images, 1, **params)
        # Every method through a functional wrapper; the layer-walking ones also through a Sequential.
        wrappers = (outer, sequential) if name in ("guided_backprop", "grad_cam", "vanilla_gradient") else (outer,)
        for wrapper in wrappers:
            np.testing.assert_allclose(method(wrapper, cnn_images, 1, **params), reference, rtol=1e-5, atol=1e-6,
                                       err_msg=f"{name} on {wrapper.name}")
    np.testing.assert_allclose(S.grad_cam(outer, cnn_images, 1, layer="conv1"),
                               S.grad_cam(cnn, cnn_images, 1, layer="conv1"), atol=1e-6)


def test_batchnorm_folding_gives_the_model_s_function():
    # conv -> bn folds; a conv whose output also feeds another layer, and a conv with its own
    # activation, must not.
    keras.utils.set_random_seed(15)
    inputs = keras.Input((10, 10, 2))
    a = keras.layers.Conv2D(4, 3, padding="same", name="a")(inputs)
    a = keras.layers.BatchNormalization(name="bn_a")(a)
    b = keras.layers.Conv2D(4, 3, padding="same", name="b")(a)
    b_norm = keras.layers.BatchNormalization(name="bn_b")(b)
    c = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c")(keras.layers.Add()([b, b_norm]))
    c = keras.layers.BatchNormalization(name="bn_c")(c)
    model = keras.Model(inputs, keras.layers.Dense(CLASSES)(keras.layers.Flatten()(c)))
    rng = np.random.default_rng(16)
    for name in ("bn_a", "bn_b", "bn_c"):
        model.get_layer(name).set_weights([rng.uniform(0.5, 2, 4), rng.normal(0, 0.5, 4), rng.normal(0, 0.5, 4),
                                           rng.uniform(0.2, 3, 4)])
    assert sorted(norm.name for norm, _ in S._batchnorm_folds(model).values()) == ["bn_a"]
    x = tf.constant(rng.uniform(size=(4, 10, 10, 2)).astype(np.float32))
    before = model(x).numpy()
    np.testing.assert_allclose(S._engine(model).outputs(x).numpy(), before, rtol=1e-5, atol=1e-5)
    with tf.GradientTape() as tape:
        tape.watch(x)
        score = model(x)[:, 1]
    np.testing.assert_allclose(S.vanilla_gradient(model, x, 1), tape.gradient(score, x).numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(model(x).numpy(), before)  # the user's layers are untouched


# ---------------------------------------------------------------------------------------------
# Localisation on a model that only sees a bright patch


@pytest.fixture(scope="module")
def patch_detector():
    """Class 0 scores the mean of relu(local 3x3 mean - 0.6): only a bright patch activates it."""
    inputs = keras.Input((16, 16, 1))
    detector = keras.layers.Conv2D(1, 3, padding="same", activation="relu", name="detector")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(detector)
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(pooled))
    model.get_layer("detector").set_weights([np.full((3, 3, 1, 1), 1 / 9, np.float32), np.array([-0.6], np.float32)])
    model.get_layer("head").set_weights([np.array([[10.0, -10.0]], np.float32), np.zeros(2, np.float32)])
    x = np.random.default_rng(14).uniform(0, 0.3, size=(3, 16, 16, 1)).astype(np.float32)
    corners = [(8, 4), (2, 10), (10, 10)]
    for image, (row, col) in zip(x, corners):
        image[row:row + 4, col:col + 4] = 1.0
    return model, x, corners


@pytest.mark.parametrize("name, params", [
    ("grad_cam", {}), ("grad_cam_plus_plus", {}), ("occlusion", dict(patch=4, stride=2)),
    ("meaningful_perturbation", dict(steps=150, mask_size=8)),
])
def test_maps_peak_inside_the_bright_patch(patch_detector, name, params):
    model, x, corners = patch_detector
    maps = S.METHODS[name](model, x, 0, **params)
    assert maps.shape == x.shape[:3]
    for saliency, (row, col) in zip(maps, corners):
        peak = np.unravel_index(np.argmax(saliency), saliency.shape)
        assert row <= peak[0] < row + 4 and col <= peak[1] < col + 4, (name, peak, (row, col))


def test_meaningful_perturbation_deletes_little_and_removes_the_score(patch_detector):
    model, x, _ = patch_detector
    maps, scores = S.meaningful_perturbation(model, x, 0, steps=150, return_scores=True)
    full = model(x).numpy()[:, 0]
    assert np.all(scores < 0.2 * full)
    assert np.all(maps.mean(axis=(1, 2)) < 0.35)


# ---------------------------------------------------------------------------------------------
# foil, softmax models


@pytest.mark.parametrize("name, params", [("vanilla_gradient", {}), ("gradient_x_input", {}),
                                          ("integrated_gradients", dict(steps=8, baseline="blur")),
                                          ("smoothgrad", dict(n_samples=4))])
def test_foil_is_the_difference_of_maps(cnn, cnn_images, name, params):
    method = S.METHODS[name]
    targets, foils = np.array([0, 1, 2, 0, 1, 2]), np.array([1, 2, 0, 2, 0, 1])
    contrast = method(cnn, cnn_images, targets, foil=foils, **params)
    np.testing.assert_allclose(contrast, method(cnn, cnn_images, targets, **params)
                               - method(cnn, cnn_images, foils, **params), atol=1e-5)


def test_foil_on_linear_model_is_weight_difference(linear, images):
    model, weights, _ = linear
    np.testing.assert_allclose(S.vanilla_gradient(model, images, 0, foil=2),
                               np.broadcast_to(_flat_weights(weights, 0) - _flat_weights(weights, 2), images.shape),
                               atol=1e-5)


def test_softmax_model_asked_for_logits_says_how_to_get_them(cnn, cnn_images):
    functional = keras.Model(cnn.inputs, keras.layers.Softmax()(cnn.outputs[0]))
    inputs = keras.Input((12, 12, 1))
    dense = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(inputs)))
    for model in (functional, dense):
        with pytest.raises(ValueError, match=r"output.*softmax.*keras\.Model\(model\.inputs, model\.layers\[-1\]\.input\)"):
            S.vanilla_gradient(model, cnn_images, 0)
    # Asking the softmax model for probabilities applies no second softmax.
    for output in ("softmax", "log_softmax"):
        np.testing.assert_allclose(S.vanilla_gradient(functional, cnn_images, 0, output=output),
                                   S.vanilla_gradient(cnn, cnn_images, 0, output=output), atol=1e-6)


def test_softmax_score_gradient(cnn, cnn_images):
    # d p_c / dx = p_c * (d z_c/dx - sum_k p_k d z_k/dx)
    p = tf.nn.softmax(cnn(cnn_images)).numpy()
    grads = np.stack([S.vanilla_gradient(cnn, cnn_images, k) for k in range(CLASSES)], axis=1)
    weighted = np.einsum("nk,nk...->n...", p, grads)
    expected = p[:, 1, None, None, None] * (grads[:, 1] - weighted)
    np.testing.assert_allclose(S.vanilla_gradient(cnn, cnn_images, 1, output="softmax"), expected, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize("name", sorted(S.METHODS))
def test_bad_input_raises_value_error_naming_the_argument(cnn, cnn_images, name):
    method = S.METHODS[name]
    params = FAST_PARAMS.get(name, {})
    nan, inf = cnn_images.copy(), cnn_images.copy()
    nan[0, 3, 3, 0], inf[1, 0, 0, 0] = np.nan, np.inf
    cases = [
        (dict(images=cnn_images[0]), "images"),                                  # rank 3
        (dict(images=np.repeat(cnn_images, 3, axis=-1)), "images"),              # 3 channels, model wants 1
        (dict(images=nan), "images"), (dict(images=inf), "images"),
        (dict(targets=CLASSES), "targets"), (dict(targets=-1), "targets"),
        (dict(targets=[0, 1]), "targets"), (dict(targets=0.5), "targets"),
        (dict(foil=CLASSES), "foil"), (dict(output="probability"), "output"),
        (dict(batch_size=0), "batch_size"),
    ]
    for change, argument in cases:
        args = dict(images=cnn_images, targets=0, **params)
        args.update(change)
        with pytest.raises(ValueError, match=f"`{argument}`"):
            method(cnn, args.pop("images"), args.pop("targets"), **args)


@pytest.mark.parametrize("call, argument", [
    (lambda m, x: S.grad_cam(m, x, 0, layer="no_such_layer"), "layer"),
    (lambda m, x: S.grad_cam_plus_plus(m, x, 0, layer="flatten"), "layer"),
    (lambda m, x: S.integrated_gradients(m, x, 0, steps=0), "steps"),
    (lambda m, x: S.integrated_gradients(m, x, 0, steps=1), "steps"),
    (lambda m, x: S.integrated_gradients(m, x, 0, steps=-3), "steps"),
    (lambda m, x: S.integrated_gradients(m, x, 0, baseline="grey"), "baseline"),
    (lambda m, x: S.integrated_gradients(m, x, 0, baseline=np.zeros((2, 2))), "baseline"),
    (lambda m, x: S.meaningful_perturbation(m, x, 0, steps=0), "steps"),
    (lambda m, x: S.smoothgrad(m, x, 0, n_samples=0), "n_samples"),
    (lambda m, x: S.smoothgrad(m, x, 0, n_samples=-2), "n_samples"),
    (lambda m, x: S.smoothgrad(m, x, 0, noise_level=-0.1), "noise_level"),
    (lambda m, x: S.smoothgrad(m, x, 0, variant="median"), "variant"),
    (lambda m, x: S.smoothgrad(m, x, 0, n_samples=2, noise=np.zeros((1, 2, 12, 12, 1))), "noise"),
    (lambda m, x: S.occlusion(m, x, 0, patch=0), "patch"),
    (lambda m, x: S.occlusion(m, x, 0, patch=13), "patch"),
    (lambda m, x: S.occlusion(m, x, 0, baseline="black"), "baseline"),
    (lambda m, x: S.occlusion(m, x, 0, stride=(2, 0)), "stride"),
    (lambda m, x: S.vanilla_gradient("not a model", x, 0), "model"),
])
def test_bad_parameters(cnn, cnn_images, call, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        call(cnn, cnn_images)


# ---------------------------------------------------------------------------------------------
# Post-processing helpers


def test_reduce_channels():
    maps = np.array([[[[1.0, -3.0, 2.0]]]])
    assert S.reduce_channels(maps).item() == 3.0
    assert S.reduce_channels(maps, "sum").item() == 0.0
    np.testing.assert_allclose(S.reduce_channels(maps, "l2").item(), np.sqrt(14.0), rtol=1e-6)
    with pytest.raises(ValueError, match="`maps`"):
        S.reduce_channels(maps[0])
    with pytest.raises(ValueError, match="`method`"):
        S.reduce_channels(maps, "max")


def test_normalize_percentile():
    maps = np.stack([np.linspace(-2, 1, 31), np.linspace(0, 10, 31)]).reshape(2, 31, 1)
    signed = S.normalize_percentile(maps, upper=100)
    np.testing.assert_allclose(signed[0, [0, 30, 20]].ravel(), [-1.0, 0.5, 0.0], atol=1e-6)
    assert signed[1].max() == 1.0
    magnitude = S.normalize_percentile(maps, upper=90, lower=10)
    assert magnitude.min() == 0.0 and magnitude.max() == 1.0
    np.testing.assert_allclose(magnitude[1, 15, 0], 0.5, atol=1e-6)
    with pytest.raises(ValueError, match="`upper`"):
        S.normalize_percentile(maps, upper=150)


def test_gaussian_smooth_keeps_sum_and_spreads_a_point():
    maps = np.zeros((2, 15, 15), np.float32)
    maps[:, 7, 7] = 1.0
    smooth = S.gaussian_smooth(maps, 1.5)
    np.testing.assert_allclose(smooth.sum(axis=(1, 2)), 1.0, atol=1e-5)
    assert smooth[0, 7, 7] < 0.1 and smooth[0, 7, 8] > 0
    assert S.gaussian_smooth(maps[..., None], 1.5).shape == (2, 15, 15, 1)
    with pytest.raises(ValueError, match="`sigma`"):
        S.gaussian_smooth(maps, 0)
