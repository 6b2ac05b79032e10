"""Objectives: each rises under the loop, the algebra adds the terms, bad arguments are named."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import softmax_model
from introspect import optimize as opt

RUN = dict(progress=False)


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
    extractor = keras.Model(tiny.inputs[0], [tiny.get_layer("relu3").output, tiny.outputs[0]])
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


def test_counterfactual_objective_is_minus_hinge_minus_weighted_distance():
    original = np.random.default_rng(0).random((2, 5, 5, 1), dtype=np.float32)
    image = np.clip(original + np.random.default_rng(1).normal(0, 0.1, original.shape), 0, 1).astype(np.float32)
    logits = np.array([[3.0, 1.0, 0.5], [0.0, 2.0, 1.0]], np.float32)
    features = {"logits": tf.constant(logits), "image": tf.constant(image), "layers": {}}
    difference = (image - original).astype(np.float64)
    sizes = {"l1": np.abs(difference).sum(axis=(1, 2, 3)), "l2": np.square(difference).sum(axis=(1, 2, 3)),
             "tv": (np.abs(np.diff(difference, axis=1)).sum(axis=(1, 2, 3))
                    + np.abs(np.diff(difference, axis=2)).sum(axis=(1, 2, 3)))}
    # target 0 already wins by 2 logits (hinge 0 with margin 1); target 0 of example 1 trails by 2 (hinge 3)
    hinge = np.array([0.0, 3.0])
    for distance, size in sizes.items():
        objective = opt.counterfactual([0, 0], original, distance=distance, weight=0.5, margin=1.0)
        np.testing.assert_allclose(objective(features).numpy(), -(hinge + 0.5 * size), rtol=1e-5)
        np.testing.assert_array_equal(objective.active(features).numpy(), [False, True])


def test_bad_objectives_are_value_errors_naming_the_argument(tiny, fashion_images):
    x = fashion_images[0][:2]
    cases = [
        (lambda: opt.optimize(tiny, opt.channel("conv9", 0), steps=1, **RUN), "`layer`"),
        (lambda: opt.optimize(tiny, opt.channel("relu3", 16), steps=1, **RUN), "`k`"),
        (lambda: opt.optimize(tiny, opt.neuron("relu3", 0, 7, 0), steps=1, **RUN), "`y`"),
        (lambda: opt.optimize(tiny, opt.class_logit(10), steps=1, **RUN), "`target`"),
        (lambda: opt.class_probability(-1), "`target`"),
        (lambda: opt.channel(3, 0), "`layer`"),
        (lambda: opt.optimize(tiny, "logit", steps=1, **RUN), "`objective`"),
        (lambda: opt.counterfactual(0, x, distance="linf"), "`distance`"),
        (lambda: opt.counterfactual(0, x, weight=-1), "`weight`"),
        (lambda: opt.counterfactual(0, x, margin=-1), "`margin`"),
        (lambda: opt.counterfactual(0, x * 2), "`original`"),
    ]
    for call, name in cases:
        with pytest.raises(ValueError, match=name):
            call()


@pytest.mark.parametrize("objective", [opt.class_logit(0), opt.class_probability(0)], ids=repr)
def test_a_model_ending_in_softmax_is_refused(objective):
    with pytest.raises(ValueError, match="`model` ends in a softmax"):
        opt.optimize(softmax_model(), objective, steps=1, **RUN)
