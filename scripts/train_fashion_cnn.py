"""Re-create the shipped Fashion-MNIST model: src/introspect/weights/fashion_cnn.weights.h5 and its JSON record.

    python scripts/train_fashion_cnn.py [--epochs 6] [--seed 0] [--out-dir src/introspect/weights] [--limit N]

Trains :func:`introspect.models.build_fashion_cnn` (with the shipped model's builder arguments,
``models.FASHION_CNN_ARGS``) on all 60,000 training images with :func:`introspect.models.train`,
measures its test accuracy, and writes the weights and a record of how they were made (data,
epochs, seed, accuracy, time, machine, library versions) where ``models.load_pretrained`` and
``models.pretrained_record`` read them. ``--limit`` trains on a small stratified subset instead
(for a quick check of this script; never for the shipped weights).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from introspect import models
from introspect.data import load_fashion_mnist

RECORD_NAME = "fashion_cnn.json"


def train_fashion_cnn(epochs: int = 6, seed: int = 0, out_dir: Path | str = models.MODELS_DIR, *,
                      limit: int | None = None, verbose: int = 2) -> dict:
    """Train the shipped Fashion-MNIST model from scratch; write its weights and record into ``out_dir``.

    Parameters
    ----------
    epochs, seed : int
        Passed to :func:`introspect.models.train`; ``seed`` also fixes the initial weights.
    out_dir : str or Path
        Where ``fashion_cnn.weights.h5`` and ``fashion_cnn.json`` are written (created if needed).
    limit : int, optional
        Train and test on a stratified subset of at most ``limit`` images per split.
    verbose : int
        Keras' progress display (2: one line per epoch, 0: silent).

    Returns
    -------
    dict
        The record written to ``fashion_cnn.json``.
    """
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist(limit, seed=seed)
    model = models.build_fashion_cnn(seed=seed, **models.FASHION_CNN_ARGS)
    start = time.perf_counter()
    models.train(model, x_train, y_train, epochs=epochs, seed=seed, validation_data=None, verbose=verbose)
    seconds = time.perf_counter() - start
    test_accuracy = models.accuracy(model, x_test, y_test)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_weights(out_dir / models.PRETRAINED["fashion_cnn"])
    data = (f"Fashion-MNIST, a stratified subset of {len(x_train):,} training images (limit={limit})"
            if limit is not None else f"Fashion-MNIST, all {len(x_train):,} training images")
    record = models.training_record(
        "fashion_cnn", f"introspect.models.build_fashion_cnn(seed={seed}, "
                       f"bn_momentum={models.FASHION_CNN_ARGS['bn_momentum']})",
        f"{data}, pixels / 255, no augmentation", epochs=epochs, seed=seed, seconds=seconds,
        scores={"test_accuracy": round(test_accuracy, 4)}, reproduce="python scripts/train_fashion_cnn.py")
    (out_dir / RECORD_NAME).write_text(json.dumps(record, indent=2) + "\n")
    return record


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", type=Path, default=models.MODELS_DIR)
    parser.add_argument("--limit", type=int, default=None, help="images per split (quick check only)")
    args = parser.parse_args(argv)
    record = train_fashion_cnn(args.epochs, args.seed, args.out_dir, limit=args.limit)
    print(json.dumps(record, indent=2))
    return record


if __name__ == "__main__":
    main()
