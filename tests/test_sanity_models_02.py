"""scripts/sanity_models_02.py: notebook 02's seed-1 twin and random-label model, at a tiny budget."""
import json
from pathlib import Path

import numpy as np
import pytest

from helpers import load_script
from introspect import data, models

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "sanity_models_02.py"
RECORD_FIELDS = {"name", "builder", "data", "epochs", "batch_size", "optimizer", "seed", "test_accuracy",
                 "training_seconds", "machine", "load_average_1min_at_end", "tensorflow", "keras", "reproduce"}


@pytest.fixture(scope="module")
def script():
    return load_script(SCRIPT, "sanity_models_02_script")


@pytest.fixture(scope="module")
def quick_run(script, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("sanity_models_02")
    return out_dir, script.main(["--quick", "--out-dir", str(out_dir)])


def test_random_labels_are_a_seeded_permutation_of_a_stratified_subset(script):
    labels = np.repeat(np.arange(10), 50)
    indices, permuted = script.random_labels(labels, 200, seed=3)
    again, permuted_again = script.random_labels(labels, 200, seed=3)
    np.testing.assert_array_equal(indices, again)
    np.testing.assert_array_equal(permuted, permuted_again)
    np.testing.assert_array_equal(np.bincount(permuted, minlength=10), np.full(10, 20))
    assert np.mean(permuted == labels[indices]) < 0.5


def test_quick_run_writes_both_records_with_their_fields(script, quick_run):
    out_dir, records = quick_run
    assert [r["name"] for r in records] == [script.TWIN, script.RANDOM_LABELS]
    for record in records:
        assert json.loads((out_dir / f"{record['name']}.json").read_text()) == record
        assert RECORD_FIELDS <= set(record)
        assert record["builder"].startswith("introspect.models.build_fashion_cnn(")
    twin, random = records
    assert twin["seed"] == 1 and twin["epochs"] == 1 and "bn_momentum=0.99" in twin["builder"]
    assert {"subset", "dropout", "max_epochs", "memorised", "train_accuracy_random_labels", "rounds"} <= set(random)
    assert random["subset"] == 600 and random["epochs"] == random["rounds"][-1]["epochs"] == 1
    assert random["memorised"] == (random["train_accuracy_random_labels"] >= random["target_train_accuracy"])


def test_saved_weights_reload_into_the_recorded_builder_and_give_the_recorded_accuracies(script, quick_run):
    out_dir, (twin, random) = quick_run
    model = models.build_fashion_cnn(**models.FASHION_CNN_ARGS)
    model.load_weights(out_dir / f"{script.TWIN}.weights.h5")
    _, (x_test, y_test) = data.load_fashion_mnist(limit=600, seed=1)
    assert models.accuracy(model, x_test, y_test) == pytest.approx(twin["test_accuracy"], abs=5e-4)

    model = models.build_fashion_cnn(**models.FASHION_CNN_ARGS, dropout=random["dropout"])
    model.load_weights(out_dir / f"{script.RANDOM_LABELS}.weights.h5")
    (x_train, y_train), _ = data.load_fashion_mnist()
    indices, labels = script.random_labels(y_train, random["subset"], random["seed"])
    assert models.accuracy(model, x_train[indices], labels) == pytest.approx(
        random["train_accuracy_random_labels"], abs=5e-4)
