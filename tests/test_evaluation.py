"""Tests of introspect.evaluation: mistakes and confusions of a classifier, checked against sklearn."""
import numpy as np
import pytest

from helpers import halves_model, rng_images
from introspect import evaluation, metrics


def test_gather_mistakes_returns_exactly_the_misclassified_images():
    images = rng_images(50, (4, 4, 1), seed=2)
    labels = np.random.default_rng(3).integers(0, 2, 50)
    model = halves_model()
    mistakes = evaluation.gather_mistakes(model, images, labels, batch_size=7)
    # the halves model's logits written out: class 0 sums the left half, class 1 the right half
    logits = np.stack([images[:, :, :2].sum(axis=(1, 2, 3)), images[:, :, 2:].sum(axis=(1, 2, 3))], axis=1)
    predicted = logits.argmax(1)
    expected = np.flatnonzero(predicted != labels)
    assert 0 < len(expected) < 50
    np.testing.assert_array_equal(mistakes.indices, expected)
    np.testing.assert_array_equal(mistakes.true, labels[expected])
    np.testing.assert_array_equal(mistakes.predicted, predicted[expected])
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(mistakes.confidence, proba[expected, predicted[expected]], rtol=1e-5)
    np.testing.assert_allclose(mistakes.p_true, proba[expected, labels[expected]], rtol=1e-5)
    assert (mistakes.confidence >= 0.5).all() and mistakes.accuracy == pytest.approx(1 - len(expected) / 50)
    assert len(mistakes) == len(expected)
    # the k most confident mistakes, most confident first
    top = mistakes.most_confident(3)
    assert top.tolist() == expected[np.argsort(-proba[expected, predicted[expected]])[:3]].tolist()


def test_gather_mistakes_is_the_same_for_any_batch_size_and_from_metrics():
    images = rng_images(20, (4, 4, 1), seed=4)
    labels = np.zeros(20, int)
    a = evaluation.gather_mistakes(halves_model(), images, labels, batch_size=3)
    b = metrics.gather_mistakes(halves_model(), images, labels)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_allclose(a.confidence, b.confidence, rtol=1e-6)
    assert metrics.Mistakes is evaluation.Mistakes


def test_gather_mistakes_rejects_bad_input():
    images, labels = rng_images(5, (4, 4, 1)), np.zeros(5, int)
    model = halves_model()
    with pytest.raises(ValueError, match="`labels` must be an int or have shape"):
        evaluation.gather_mistakes(model, images, labels[:-1])
    with pytest.raises(ValueError, match="`labels` holds class index 2"):
        evaluation.gather_mistakes(model, images, labels + 2)
    with pytest.raises(ValueError, match="`images` has shape"):
        evaluation.gather_mistakes(model, rng_images(5, (5, 5, 1)), labels)
    with pytest.raises(ValueError, match="`batch_size`"):
        evaluation.gather_mistakes(model, images, labels, batch_size=0)
    with pytest.raises(ValueError, match="`k`"):
        evaluation.gather_mistakes(model, images, labels).most_confident(0)


def test_confusion_matrix_and_top_confusions():
    true = np.array([0, 0, 1, 1, 1, 2, 2, 2, 2, 0])
    pred = np.array([0, 1, 1, 2, 2, 0, 0, 1, 2, 1])
    from sklearn.metrics import confusion_matrix as sklearn_confusion

    matrix = evaluation.confusion_matrix(true, pred, 3)
    np.testing.assert_array_equal(matrix, sklearn_confusion(true, pred, labels=[0, 1, 2]))
    assert evaluation.top_confusions(true, pred, 3) == [(0, 1, 2), (1, 2, 2), (2, 0, 2)]
    assert evaluation.top_confusions(true, pred, 10)[-1] == (2, 1, 1)
    assert evaluation.top_confusions(true, true, 3) == []
    with pytest.raises(ValueError, match="`pred` holds class index 3"):
        evaluation.confusion_matrix(true, pred + 1, 3)
    with pytest.raises(ValueError, match="`num_classes`"):
        evaluation.confusion_matrix(true, pred, 0)
    with pytest.raises(ValueError, match="`pred` must be an int or have shape"):
        evaluation.top_confusions(true, pred[:-1])
    with pytest.raises(ValueError, match="`k`"):
        evaluation.top_confusions(true, pred, 0)
