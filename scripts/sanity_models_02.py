"""Train notebook 02's two reference models for Adebayo et al.'s sanity checks (arXiv:1810.03292).

    python scripts/sanity_models_02.py                    # both models into data/results/ (~21 min on 2 cores)
    python scripts/sanity_models_02.py --which twin       # only one of them (twin, random_labels)
    python scripts/sanity_models_02.py --quick --out-dir /tmp/x   # 600 images, 1 epoch: a check of this script

Writes into ``data/results/`` (or ``--out-dir``), each with a JSON record made by
:func:`introspect.models.training_record` (builder call, data, epochs, seed, accuracies, seconds, machine, versions):

* ``02_fashion_cnn_seed1.weights.h5``: an independently trained twin of the shipped model, the recipe of
  ``scripts/train_fashion_cnn.py`` (all 60,000 training images, 6 epochs, Adam with cosine decay, batch 128)
  with seed 1 instead of 0. Map similarity between it and the shipped model is the level that "similar
  maps" is measured against.
* ``02_random_labels.weights.h5``: the data-randomisation model: the same architecture and initial weights as
  the shipped model, trained on a stratified subset of the training images whose labels are permuted by a
  seeded RNG, until it memorises them (accuracy on its own random labels, in inference mode, >= 90%)
  or a maximum number of epochs is spent. Training runs in rounds of cosine decay (warm restarts), so that
  every round ends with a settled model whose accuracy can be measured.

Both files hold layer weights only (no optimizer state) and load into the shipped model's builder
(dropout does not act at inference)::

    model = models.build_fashion_cnn(**models.FASHION_CNN_ARGS)
    model.load_weights("data/results/02_fashion_cnn_seed1.weights.h5")   # or 02_random_labels.weights.h5

Budget of the random-label model, chosen by a measurement on 5,000 images with dropout 0.3 (one cosine
run of 40 epochs reaches 22% on the random labels; one of 150 epochs 87%; dropout 0 reaches 92% in
100): rounds of 150 epochs, at most 300. Real labels take 6 epochs of 60,000 images.

Measured on 2 CPU cores shared with another training job (load average 6-12): the twin 229 s (6 epochs,
test accuracy 0.9192 against the shipped model's 0.9204), the random-label model 1,034 s (300 epochs,
0.9974 on its random labels, 0.0888 on the true test labels); ``--quick`` about 25 s.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from introspect import data, models

RESULTS = Path(__file__).resolve().parents[1] / "data" / "results"
TWIN = "02_fashion_cnn_seed1"
RANDOM_LABELS = "02_random_labels"
REPRODUCE = "python scripts/sanity_models_02.py"


def _builder(seed: int, **args) -> str:
    arguments = ", ".join(f"{key}={value}" for key, value in {"seed": seed, **args}.items())
    return f"introspect.models.build_fashion_cnn({arguments})"


def _save_weights_only(model, path: Path, **builder_args) -> None:
    """Write only the layer weights (a compiled model's file also holds Adam's moments, 3x larger)."""
    fresh = models.build_fashion_cnn(seed=None, **builder_args)
    fresh.set_weights(model.get_weights())
    fresh.save_weights(path)


def _write(record: dict, out_dir: Path) -> dict:
    (out_dir / f"{record['name']}.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def train_twin(out_dir: Path = RESULTS, *, seed: int = 1, epochs: int = 6, limit: int | None = None) -> dict:
    """The shipped model's recipe with another seed; writes ``02_fashion_cnn_seed1.{weights.h5,json}``.

    ``limit`` trains and tests on stratified subsets of at most ``limit`` images (quick check only).
    Returns the record.
    """
    (x_train, y_train), (x_test, y_test) = data.load_fashion_mnist(limit, seed=seed)
    model = models.build_fashion_cnn(seed=seed, **models.FASHION_CNN_ARGS)
    start = time.perf_counter()
    models.train(model, x_train, y_train, epochs=epochs, seed=seed, verbose=0)
    seconds = time.perf_counter() - start
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _save_weights_only(model, out_dir / f"{TWIN}.weights.h5", **models.FASHION_CNN_ARGS)
    images = (f"a stratified subset of {len(x_train):,} training images (limit={limit})" if limit is not None
              else f"all {len(x_train):,} training images")
    return _write(models.training_record(
        TWIN, _builder(seed, **models.FASHION_CNN_ARGS),
        f"Fashion-MNIST, {images}, pixels / 255, no augmentation; the recipe of scripts/train_fashion_cnn.py",
        epochs=epochs, seed=seed, seconds=seconds,
        scores={"test_accuracy": round(models.accuracy(model, x_test, y_test), 4)},
        reproduce=f"{REPRODUCE} --which twin"), out_dir)


def random_labels(labels: np.ndarray, subset: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a stratified subset of ``subset`` training images and their labels permuted by a seeded RNG.

    Returns ``(indices, permuted_labels)``, both ``(subset,)``; the permutation keeps the class counts.
    """
    indices = data.stratified_indices(labels, subset, seed=seed)
    return indices, np.random.default_rng(seed).permutation(labels[indices])


def train_random_labels(out_dir: Path = RESULTS, *, subset: int = 5000, seed: int = 0, dropout: float = 0.3,
                        epochs_per_round: int = 150, max_epochs: int = 300, target: float = 0.9,
                        test_limit: int | None = None) -> dict:
    """Adebayo et al.'s data-randomisation model; writes ``02_random_labels.{weights.h5,json}``.

    Rounds of :func:`introspect.models.train` (``epochs_per_round`` epochs of cosine decay each; round
    ``r`` shuffles with seed ``seed + r``) until the accuracy on the model's own random labels, in
    inference mode, reaches ``target`` or ``max_epochs`` are spent. ``seed`` fixes the subset, the
    permutation and the initial weights (seed 0: those of the shipped model). ``test_limit`` tests on a
    stratified subset of the test images (quick check only). Returns the record.
    """
    (x_train, y_train), (x_test, y_test) = data.load_fashion_mnist()
    if test_limit is not None:
        keep = data.stratified_indices(y_test, test_limit, seed=seed)
        x_test, y_test = x_test[keep], y_test[keep]
    indices, labels = random_labels(y_train, subset, seed)
    images = x_train[indices]
    builder_args = {**models.FASHION_CNN_ARGS, "dropout": dropout}
    model = models.build_fashion_cnn(seed=seed, **builder_args)
    rounds, epochs, seconds = [], 0, 0.0
    while not rounds or (rounds[-1]["train_accuracy_random_labels"] < target and epochs < max_epochs):
        round_epochs = min(epochs_per_round, max_epochs - epochs)
        start = time.perf_counter()
        models.train(model, images, labels, epochs=round_epochs, seed=seed + len(rounds), verbose=0)
        seconds += time.perf_counter() - start
        epochs += round_epochs
        memorised = round(models.accuracy(model, images, labels), 4)
        rounds.append({"epochs": epochs, "train_accuracy_random_labels": memorised, "seconds": round(seconds, 1)})
        print(f"{RANDOM_LABELS}: {rounds[-1]}", flush=True)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _save_weights_only(model, out_dir / f"{RANDOM_LABELS}.weights.h5", **builder_args)
    train_accuracy = rounds[-1]["train_accuracy_random_labels"]
    return _write(models.training_record(
        RANDOM_LABELS, _builder(seed, **builder_args),
        f"Fashion-MNIST, a stratified subset of {subset:,} training images (data.stratified_indices, seed {seed}) "
        f"with their labels permuted by numpy.random.default_rng({seed}), pixels / 255, no augmentation",
        epochs=epochs, seed=seed, seconds=seconds,
        optimizer=f"Adam, cosine decay from 1e-3 to 0 in each round of {epochs_per_round} epochs (warm restarts)",
        scores={"subset": subset, "dropout": dropout, "target_train_accuracy": target, "max_epochs": max_epochs,
                "memorised": train_accuracy >= target, "train_accuracy_random_labels": train_accuracy,
                "test_accuracy": round(models.accuracy(model, x_test, y_test), 4),
                "test_images": len(x_test), "rounds": rounds},
        reproduce=f"{REPRODUCE} --which random_labels"), out_dir)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--which", nargs="+", default=["twin", "random_labels"], choices=["twin", "random_labels"])
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    parser.add_argument("--quick", action="store_true", help="600 images, 1 epoch (a check of this script)")
    parser.add_argument("--subset", type=int, default=5000, help="random-label model: training images")
    parser.add_argument("--dropout", type=float, default=0.3, help="random-label model: dropout rate")
    parser.add_argument("--epochs-per-round", type=int, default=150, help="random-label model")
    parser.add_argument("--max-epochs", type=int, default=300, help="random-label model")
    args = parser.parse_args(argv)
    records = []
    for which in args.which:
        if which == "twin":
            record = train_twin(args.out_dir, epochs=1, limit=600) if args.quick else train_twin(args.out_dir)
        else:
            record = (train_random_labels(args.out_dir, subset=600, epochs_per_round=1, max_epochs=1, test_limit=600)
                      if args.quick else train_random_labels(args.out_dir, subset=args.subset, dropout=args.dropout,
                                                             epochs_per_round=args.epochs_per_round,
                                                             max_epochs=args.max_epochs))
        print(json.dumps(record, indent=2), flush=True)
        records.append(record)
    return records


if __name__ == "__main__":
    main()
