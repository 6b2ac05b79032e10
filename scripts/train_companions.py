"""Train notebook 03's two companion models and write their weights and JSON records.

    python scripts/train_companions.py [--which judge autoencoder] [--epochs-judge 4] [--epochs-ae 6]

* ``src/introspect/weights/fashion_judge.weights.h5``: :func:`introspect.companions.build_judge_cnn` (seed 1),
  trained with :func:`introspect.models.train` on all 60,000 training images; the independent
  model that judges counterfactuals and class visualisations made for the shipped CNN.
* ``src/introspect/weights/fashion_autoencoder.weights.h5``: :func:`introspect.companions.build_autoencoder`
  (seed 0), trained with Adam on the pixel-wise binary cross-entropy of the reconstruction.

Each gets a record ``<name>.json`` (data, epochs, seed, test score, time, machine, versions).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from introspect import companions, models
from introspect.data import load_fashion_mnist


def _record(name: str, builder: str, epochs: int, seed: int, seconds: float, scores: dict) -> dict:
    return models.training_record(name, builder, "Fashion-MNIST, all 60,000 training images, pixels / 255, "
                                  "no augmentation", epochs=epochs, seed=seed, seconds=seconds, scores=scores,
                                  reproduce="python scripts/train_companions.py")


def _save_without_optimizer(trained, fresh, path: Path) -> None:
    """Write only the layer weights (a compiled model's file would also hold Adam's moments, 3x larger)."""
    fresh.set_weights(trained.get_weights())
    fresh.save_weights(path)


def train_judge(epochs: int, out_dir: Path, seed: int = 1) -> dict:
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist()
    model = companions.build_judge_cnn(seed=seed)
    start = time.perf_counter()
    models.train(model, x_train, y_train, epochs=epochs, seed=seed, verbose=2)
    seconds = time.perf_counter() - start
    _save_without_optimizer(model, companions.build_judge_cnn(seed=seed), out_dir / companions.JUDGE_WEIGHTS)
    return _record("fashion_judge", f"introspect.companions.build_judge_cnn(seed={seed})", epochs, seed, seconds,
                   {"test_accuracy": round(models.accuracy(model, x_test, y_test), 4)})


def train_autoencoder(epochs: int, out_dir: Path, seed: int = 0) -> dict:
    import keras
    import numpy as np

    (x_train, _), (x_test, _) = load_fashion_mnist()
    autoencoder, _, _ = companions.build_autoencoder(seed=seed)
    models.set_seed(seed)
    schedule = keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=epochs * -(-len(x_train) // 128))
    autoencoder.compile(optimizer=keras.optimizers.Adam(schedule), loss="binary_crossentropy")
    start = time.perf_counter()
    autoencoder.fit(x_train, x_train, epochs=epochs, batch_size=128, shuffle=True, verbose=2)
    seconds = time.perf_counter() - start
    _save_without_optimizer(autoencoder, companions.build_autoencoder(seed=seed)[0],
                            out_dir / companions.AUTOENCODER_WEIGHTS)
    error = float(np.mean(np.square(autoencoder.predict(x_test, verbose=0) - x_test)))
    return _record("fashion_autoencoder", f"introspect.companions.build_autoencoder(seed={seed})", epochs, seed,
                   seconds, {"test_mean_squared_error": round(error, 5)})


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--which", nargs="+", default=["judge", "autoencoder"], choices=["judge", "autoencoder"])
    parser.add_argument("--epochs-judge", type=int, default=4)
    parser.add_argument("--epochs-ae", type=int, default=6)
    parser.add_argument("--out-dir", type=Path, default=models.MODELS_DIR)
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    records = []
    for which in args.which:
        record = (train_judge(args.epochs_judge, args.out_dir) if which == "judge"
                  else train_autoencoder(args.epochs_ae, args.out_dir))
        (args.out_dir / f"{record['name']}.json").write_text(json.dumps(record, indent=2) + "\n")
        print(json.dumps(record, indent=2))
        records.append(record)
    return records


if __name__ == "__main__":
    main()
