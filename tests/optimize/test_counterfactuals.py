"""Counterfactual search: finished examples freeze, the record agrees with the summary, misclassified images flip."""
import numpy as np
import pytest

from introspect import models
from introspect import optimize as opt
from introspect.data import load_fashion_mnist

WEIGHTS = models.MODELS_DIR / models.PRETRAINED["fashion_cnn"]
RUN = dict(progress=False)


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


def test_bad_counterfactual_arguments_are_value_errors_naming_the_argument(tiny, fashion_images):
    x = fashion_images[0][:2]
    cases = [
        (lambda: opt.counterfactuals(tiny, x, [0, 12], **RUN), "`true_labels`"),
        (lambda: opt.counterfactuals(tiny, x, [0, 1, 2], **RUN), "`true_labels`"),
        (lambda: opt.counterfactuals(tiny, x * 2, [0, 1], **RUN), "`images`"),
        (lambda: opt.counterfactuals(tiny, x, [0, 1], distance="cosine", **RUN), "`distance`"),
    ]
    for call, name in cases:
        with pytest.raises(ValueError, match=name):
            call()
