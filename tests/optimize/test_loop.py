"""The loop: Adam steps as documented, independent examples, repeatable seeds, early stop, checked arguments."""
import numpy as np
import pytest

from helpers import linear_model
from introspect import optimize as opt

RUN = dict(progress=False)


@pytest.fixture(scope="module")
def linear():
    """Logits w_k . x with a constant gradient w_k: Adam's trajectory is known in closed form."""
    weights = np.random.default_rng(0).normal(size=(4, 4, 1, 3)).astype(np.float32)
    return linear_model(weights), weights


def test_adam_on_a_constant_gradient_moves_every_pixel_by_the_learning_rate(linear):
    # m_t = (1 - b1^t) g and v_t = (1 - b2^t) g^2, so every bias-corrected step is lr * sign(g).
    model, weights = linear
    result = opt.optimize(model, opt.class_logit(1), "gray", steps=10, learning_rate=0.01, **RUN)
    np.testing.assert_allclose(result.images[0], 0.5 + 10 * 0.01 * np.sign(weights[..., 1]), atol=1e-5)
    np.testing.assert_allclose(result.objective[:, 0], [np.sum(image * weights[..., 1]) for image in
                                                        0.5 + np.arange(11)[:, None, None, None] * 0.01
                                                        * np.sign(weights[..., 1])], rtol=1e-4)


def test_per_example_adam_keeps_the_gradient_direction(linear):
    # One second moment per image: every step is lr * g / rms(g), parallel to the gradient.
    model, weights = linear
    result = opt.optimize(model, opt.class_logit(2), "gray", steps=10, learning_rate=0.01, adam_scaling="example",
                          **RUN)
    gradient = weights[..., 2]
    np.testing.assert_allclose(result.images[0], 0.5 + 10 * 0.01 * gradient / np.sqrt(np.mean(gradient ** 2)),
                               atol=1e-5)


def test_plain_gradient_steps_add_the_learning_rate_times_the_gradient(linear):
    # d logit / dx = w, so 10 steps move every pixel by 10 * lr * w (clipped to [0, 1]); sigmoid moves the logit.
    model, weights = linear
    result = opt.optimize(model, opt.class_logit(0), "gray", steps=10, learning_rate=0.01, update="gradient", **RUN)
    np.testing.assert_allclose(result.images[0], np.clip(0.5 + 0.1 * weights[..., 0], 0, 1), atol=1e-5)
    result = opt.optimize(model, opt.class_logit(0), "gray", steps=1, learning_rate=0.5, update="gradient",
                          param="sigmoid", **RUN)
    # d logit / dv = w * s'(v) = w / 4 at v = 0
    np.testing.assert_allclose(result.images[0], 1 / (1 + np.exp(-0.5 * weights[..., 0] / 4)), atol=1e-5)
    with pytest.raises(ValueError, match="update"):
        opt.optimize(model, opt.class_logit(0), "gray", steps=1, update="sgd", **RUN)


def test_batch_examples_do_not_interact(tiny):
    # Inference-mode BN and per-coordinate Adam: image 2 of a batch is the image optimised alone.
    batch = opt.optimize(tiny, opt.class_logit(np.arange(4)), "gray", steps=10, **RUN).images
    alone = opt.optimize(tiny, opt.class_logit(2), "gray", steps=10, **RUN).images
    np.testing.assert_allclose(batch[2], alone[0], atol=1e-5)


def test_same_seed_gives_identical_images_and_another_seed_does_not(tiny):
    def run(seed):
        return opt.optimize(tiny, opt.channel("relu2", [1, 2]), "noise", steps=8, param="fourier", seed=seed,
                            transforms=(opt.jitter(2), opt.random_scale(), opt.random_rotation()), **RUN).images

    first = run(3)
    np.testing.assert_array_equal(first, run(3))
    assert not np.allclose(first, run(4))


def test_the_default_learning_rate_is_the_parametrisation_s(tiny):
    for param, rate in opt.DEFAULT_LEARNING_RATE.items():
        if param == "maco":  # RGB only; the same default, tested in test_photo_recipes.py
            continue
        default = opt.optimize(tiny, opt.class_logit(3), "noise", steps=3, param=param, **RUN).images
        given = opt.optimize(tiny, opt.class_logit(3), "noise", steps=3, param=param, learning_rate=rate, **RUN)
        np.testing.assert_array_equal(default, given.images)


def test_a_run_stops_early_when_every_example_is_done(tiny, fashion_images):
    x = fashion_images[0][:3]
    predicted = tiny(x, training=False).numpy().argmax(axis=1)
    result = opt.optimize(tiny, opt.counterfactual(predicted, x, margin=0.0), x, steps=20, snapshots=(0, 20), **RUN)
    assert result.steps_run == 0 and result.objective.shape == (21, 3)
    np.testing.assert_array_equal(result.snapshots[20], x)


def test_bad_loop_arguments_are_value_errors_naming_the_argument(tiny, fashion_images):
    x = fashion_images[0][:2]
    cases = [
        (lambda: opt.optimize(tiny, opt.class_logit(0), x * 2, steps=1, **RUN), "`init`"),
        (lambda: opt.optimize(tiny, opt.class_logit(0), x[0], steps=1, **RUN), "`init`"),
        (lambda: opt.optimize(tiny, opt.class_logit(0), "zeros", steps=1, **RUN), "`init`"),
        (lambda: opt.optimize(tiny, opt.class_logit([0, 1, 2]), x, steps=1, **RUN), "`init`"),
        (lambda: opt.optimize(tiny, opt.class_logit(0), steps=0, **RUN), "`steps`"),
        (lambda: opt.optimize(tiny, opt.class_logit(0), steps=-3, **RUN), "`steps`"),
        (lambda: opt.optimize(tiny, opt.class_logit(0), steps=2, param="pixels", **RUN), "`param`"),
        (lambda: opt.optimize(tiny, opt.class_logit(0), steps=2, snapshots=(3,), **RUN), "`snapshots`"),
        (lambda: opt.optimize(tiny, opt.class_logit(0), steps=2, snapshots=3, **RUN), "`snapshots`"),
        (lambda: opt.optimize(tiny, opt.class_logit([0, 1]), n=3, steps=1, **RUN), "`n`"),
        (lambda: opt.optimize(tiny, opt.class_logit(0), x, n=3, steps=1, **RUN), "`n`"),
        (lambda: opt.optimize(tiny, opt.class_logit(0), steps=1, learning_rate=0, **RUN), "`learning_rate`"),
        (lambda: opt.optimize(tiny, opt.class_logit(0), steps=1, transforms=[None], **RUN), "`transforms`"),
        (lambda: opt.optimize(tiny, opt.class_logit(0), steps=1, adam_scaling="layer", **RUN), "`adam_scaling`"),
        (lambda: opt.optimize(tiny, opt.class_logit(0), steps=1, seed=-1, **RUN), "`seed`"),
    ]
    for call, name in cases:
        with pytest.raises(ValueError, match=name):
            call()
