import json

import numpy as np
import pytest

from introspect import models
from introspect.data import load_fashion_mnist


def test_builder_outputs_logits_with_stable_layer_names():
    model = models.build_fashion_cnn()
    assert model.output_shape == (None, 10)
    names = [layer.name for layer in model.layers]
    for name in ("conv1", "conv2", "conv3", "relu3", "dense", "logits"):
        assert name in names
    assert model.get_layer("logits").activation.__name__ == "linear"
    assert [n for n in names if n.startswith("conv")][-1] == "conv3"


def test_two_seeded_trainings_give_identical_weights():
    (x, y), _ = load_fashion_mnist(limit=2000, seed=0)
    weights = []
    for _ in range(2):
        model = models.build_fashion_cnn(seed=7)
        models.train(model, x, y, epochs=1, seed=7, verbose=0)
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_builder_seed_fixes_the_initial_weights():
    first, second, other = (models.build_fashion_cnn(seed=s).get_weights() for s in (1, 1, 2))
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])


def test_train_rejects_labels_that_do_not_match_images():
    model = models.build_fashion_cnn()
    with pytest.raises(ValueError, match="`y`"):
        models.train(model, np.zeros((4, 28, 28, 1), np.float32), np.zeros(3, int), epochs=1)
    with pytest.raises(ValueError, match="`x`"):
        models.train(model, np.zeros((4, 32, 32, 1), np.float32), np.zeros(4, int), epochs=1)


def test_shipped_model_loads_and_reaches_the_target_accuracy():
    model = models.load_pretrained("fashion_cnn")
    _, (x_test, y_test) = load_fashion_mnist()
    acc = models.accuracy(model, x_test, y_test)
    record = models.pretrained_record("fashion_cnn")
    assert acc >= 0.91
    assert acc == pytest.approx(record["test_accuracy"], abs=5e-4)


def test_predict_proba_is_the_softmax_of_the_logits():
    model = models.build_fashion_cnn()
    x = np.random.default_rng(0).random((5, 28, 28, 1), dtype=np.float32)
    logits = models.predict_logits(model, x)
    proba = models.predict_proba(model, x)
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-6)
    np.testing.assert_array_equal(proba.argmax(1), logits.argmax(1))
    np.testing.assert_allclose(np.log(proba[:, 0] / proba[:, 1]), logits[:, 0] - logits[:, 1], atol=1e-4)


def test_unknown_pretrained_name_is_a_clear_error():
    with pytest.raises(ValueError, match="`name` must be one of"):
        models.load_pretrained("resnet")


def test_accuracy_counts_argmax_hits_and_checks_labels():
    model = models.build_fashion_cnn()
    x = np.random.default_rng(1).random((6, 28, 28, 1), dtype=np.float32)
    predicted = models.predict_logits(model, x).argmax(1)
    wrong = (predicted + 1) % 10
    labels = np.where(np.arange(6) < 4, predicted, wrong)
    assert models.accuracy(model, x, labels, batch_size=4) == pytest.approx(4 / 6)
    with pytest.raises(ValueError, match="`labels`"):
        models.accuracy(model, x, labels[:5])


def test_predictions_do_not_depend_on_batch_size():
    model = models.build_fashion_cnn()
    x = np.random.default_rng(2).random((7, 28, 28, 1), dtype=np.float32)
    np.testing.assert_allclose(models.predict_logits(model, x, batch_size=3), models.predict_logits(model, x),
                               rtol=1e-5, atol=1e-6)


def test_training_script_writes_loadable_weights_and_an_honest_record(tmp_path):
    from pathlib import Path

    from helpers import load_script

    script = load_script(Path(__file__).resolve().parents[1] / "scripts" / "train_fashion_cnn.py",
                         "train_fashion_cnn_script")
    record = script.main(["--epochs", "1", "--limit", "300", "--seed", "3", "--out-dir", str(tmp_path)])
    written = json.loads((tmp_path / "fashion_cnn.json").read_text())
    assert written == record and record["epochs"] == 1 and record["seed"] == 3
    assert "300 training images (limit=300)" in record["data"]
    model = models.build_fashion_cnn(**models.FASHION_CNN_ARGS)
    model.load_weights(tmp_path / models.PRETRAINED["fashion_cnn"])
    _, (x_test, y_test) = load_fashion_mnist(limit=300, seed=3)
    assert models.accuracy(model, x_test, y_test) == pytest.approx(record["test_accuracy"], abs=5e-4)


def test_training_record_has_the_keys_of_the_shipped_record_in_their_order():
    shipped = models.pretrained_record()
    record = models.training_record("fashion_cnn", shipped["builder"], shipped["data"], epochs=6, seed=0,
                                    seconds=1.0, scores={"test_accuracy": 0.9}, reproduce=shipped["reproduce"])
    assert list(record) == list(shipped)
    assert record["training_seconds"] == 1.0 and record["test_accuracy"] == 0.9
