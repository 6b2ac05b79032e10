"""Minimal and prototype-guided counterfactuals: the analytic optimum of a linear model, smaller than stop-at-flip."""
import numpy as np
import pytest

from helpers import identity_encoder, linear_model
from introspect import models
from introspect import optimize as opt
from introspect.data import load_fashion_mnist


def _two_class_linear(seed: int = 0, shape=(6, 6, 1)):
    weights = np.random.default_rng(seed).normal(size=(*shape, 2)).astype(np.float32)
    return linear_model(weights), weights.reshape(-1, 2)


def test_minimal_change_of_a_linear_model_is_the_analytic_projection():
    model, w = _two_class_linear()
    x = np.full((3, 6, 6, 1), 0.5, np.float32) + np.random.default_rng(1).uniform(-0.05, 0.05, (3, 6, 6, 1)).astype(np.float32)
    logits = models.predict_logits(model, x)
    target = 1 - logits.argmax(axis=1)
    direction = w[:, 1] - w[:, 0]
    signed = np.where(target == 1, 1.0, -1.0)
    needed = 1.0 - signed * (logits[:, 1] - logits[:, 0])  # logits the target still lacks for the margin of 1
    analytic = needed / np.linalg.norm(direction)  # L2 of the projection onto the boundary (no clipping here)
    result = opt.minimal_counterfactuals(model, x, target, margin=1.0, rounds=8, steps=100, learning_rate=0.01)
    assert result.flipped.all()
    np.testing.assert_allclose(result.l2, analytic, rtol=0.03)
    # the change points along w_t - w_other
    cosine = [abs(np.dot(d.ravel(), direction)) / (np.linalg.norm(d) * np.linalg.norm(direction)) for d in result.differences]
    assert min(cosine) > 0.97


def test_minimal_is_smaller_than_stopping_at_the_flip():
    model = models.load_pretrained("fashion_cnn")
    _, (x, y) = load_fashion_mnist(limit=300, seed=0)
    wrong = np.flatnonzero(models.predict_logits(model, x).argmax(axis=1) != y)[:6]
    x, targets = x[wrong], y[wrong]
    first = opt.counterfactuals(model, x, targets, distance="l2", steps=300, progress=False)
    minimal = opt.minimal_counterfactuals(model, x, targets, rounds=4, steps=60)
    both = first.flipped & minimal.flipped
    assert both.sum() >= 5
    assert minimal.l2[both].mean() < 0.9 * first.l2[both].mean()
    np.testing.assert_allclose(minimal.differences, minimal.counterfactuals - x, atol=1e-6)
    logits = models.predict_logits(model, minimal.counterfactuals)
    others = np.where(np.eye(10, dtype=bool)[targets], -np.inf, logits).max(axis=1)
    assert np.all((logits[np.arange(len(targets)), targets] - others)[minimal.flipped] >= 1.0 - 1e-3)


def test_class_prototypes_average_the_k_nearest_members_of_the_target_class():
    encoder = identity_encoder()
    reference = np.stack([np.full((6, 6, 1), v, np.float32) for v in (0.1, 0.2, 0.3, 0.9, 0.5, 0.6)])
    labels = np.array([0, 0, 0, 0, 1, 1])
    image = np.full((1, 6, 6, 1), 0.15, np.float32)
    prototypes = opt.class_prototypes(encoder, image, [0], reference, labels, k=2)
    np.testing.assert_allclose(prototypes.codes[0], 0.15, atol=1e-6)  # mean of 0.1 and 0.2
    with pytest.raises(ValueError, match="`k`"):
        opt.class_prototypes(encoder, image, [1], reference, labels, k=3)


def test_prototype_term_pulls_the_change_towards_the_prototype():
    model, _ = _two_class_linear(seed=2)
    encoder = identity_encoder()
    x = np.full((2, 6, 6, 1), 0.5, np.float32)
    target = 1 - models.predict_logits(model, x).argmax(axis=1)
    codes = np.full((2, 6, 6, 1), 0.8, np.float32)
    plain = opt.minimal_counterfactuals(model, x, target, rounds=4, steps=60)
    guided = opt.minimal_counterfactuals(model, x, target, rounds=4, steps=60,
                                         prior=opt.Prototypes(encoder, codes, weight=1.0))
    assert guided.flipped.all()
    far = np.abs(plain.counterfactuals - 0.8).mean(axis=(1, 2, 3))
    near = np.abs(guided.counterfactuals - 0.8).mean(axis=(1, 2, 3))
    assert np.all(near < far)


def test_minimal_rejects_bad_arguments(tiny, fashion_images):
    x = fashion_images[0][:2]
    with pytest.raises(ValueError, match="`distance`"):
        opt.minimal_counterfactuals(tiny, x, [0, 1], distance="l7")
    with pytest.raises(ValueError, match="`prior`"):
        opt.minimal_counterfactuals(tiny, x, [0, 1], prior="autoencoder")
    with pytest.raises(ValueError, match="`targets`"):
        opt.minimal_counterfactuals(tiny, x, [0, 1, 2])
    with pytest.raises(ValueError, match="`rounds`"):
        opt.minimal_counterfactuals(tiny, x, [0, 1], rounds=0)
