"""Throughput of the input-optimisation loop on the shipped Fashion-MNIST model.

    python benchmarks/bench_optimize.py [--vis-steps 256] [--cf-steps 300] [--cf-batch 64]

Prints images x steps per second for

* class visualisation: one image per class (batch of 10), ``param="fourier"`` with jitter,
  random scale and random rotation, 256 steps;
* counterfactuals: a batch of 64 misclassified test images, 300 steps, timed twice: with every
  example kept moving for all steps (an unreachable margin; the throughput of the compiled
  step) and as :func:`introspect.optimize.counterfactuals` runs it (examples stop at their
  margin and the loop ends when all have);
* for context, the same counterfactual step written eagerly (no ``tf.function``) for a few steps;
* minimal counterfactuals (:func:`introspect.optimize.minimal_counterfactuals`, ``distance="l2"``)
  against a strong Carlini–Wagner L2 search (``benchmarks/cw_reference.py``, 9 rounds x 1000 steps)
  on the same mistakes: the ratio of mean L2 changes, flip rates and times, also written to
  ``data/results/minimal_vs_cw.json`` (``--only-minimal`` runs this part alone).

Tracing the compiled step is part of every wall time (it happens once per call). Falls back to
an untrained model, with a note, when src/introspect/weights/fashion_cnn.weights.h5 does not exist yet.
Numbers depend on the machine and on whatever else runs on it: quote them with both.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vis-steps", type=int, default=256)
    parser.add_argument("--cf-steps", type=int, default=300)
    parser.add_argument("--cf-batch", type=int, default=64)
    parser.add_argument("--eager-steps", type=int, default=10)
    parser.add_argument("--minimal-batch", type=int, default=64)
    parser.add_argument("--cw-rounds", type=int, default=9)
    parser.add_argument("--cw-steps", type=int, default=1000)
    parser.add_argument("--only-minimal", action="store_true")
    args = parser.parse_args()
    if args.only_minimal:
        return minimal_vs_reference(args)

    import keras
    import tensorflow as tf

    from introspect import models
    from introspect import optimize as opt
    from introspect.data import load_fashion_mnist

    try:
        model, name = models.load_pretrained("fashion_cnn"), "shipped fashion_cnn"
    except FileNotFoundError:
        model, name = models.build_fashion_cnn(), "UNTRAINED build_fashion_cnn() (shipped weights not there yet)"
    print(f"model: {name}; {os.cpu_count()} CPU cores; TensorFlow {tf.__version__}")

    transforms = (opt.jitter(2), opt.random_scale((0.9, 1.1)), opt.random_rotation(10))
    start = time.perf_counter()
    opt.optimize(model, opt.class_logit(np.arange(10)), "gray", steps=args.vis_steps, param="fourier",
                 transforms=transforms, progress=False)
    seconds = time.perf_counter() - start
    print(f"class visualisation  10 images x {args.vis_steps} steps, fourier + 3 transforms: {seconds:6.1f} s  "
          f"{10 * args.vis_steps / seconds:8.0f} images*steps/s")

    _, (x_test, y_test) = load_fashion_mnist()
    wrong = np.flatnonzero(models.predict_logits(model, x_test).argmax(axis=1) != y_test)[:args.cf_batch]
    images, labels = x_test[wrong], y_test[wrong]
    n = len(images)

    start = time.perf_counter()
    opt.optimize(model, opt.counterfactual(labels, images, margin=1e9), images, steps=args.cf_steps,
                 learning_rate=0.002, adam_scaling="example", progress=False)
    seconds = time.perf_counter() - start
    print(f"counterfactual step  {n} images x {args.cf_steps} steps, all kept moving:        {seconds:6.1f} s  "
          f"{n * args.cf_steps / seconds:8.0f} images*steps/s")

    start = time.perf_counter()
    result = opt.counterfactuals(model, images, labels, steps=args.cf_steps, progress=False)
    seconds = time.perf_counter() - start
    print(f"counterfactuals()    {n} images, budget {args.cf_steps} steps, stop at margin:     {seconds:6.1f} s  "
          f"(ran {result.optimization.steps_run} steps; {result.flipped.mean():.0%} flipped, "
          f"median flip step {np.median(result.flip_step[result.flipped]):.0f}, "
          f"mean L2 change {result.l2.mean():.2f})")

    # The eager baseline: the same objective, gradient and Adam update, without tf.function.
    objective = opt.counterfactual(labels, images)
    variable = tf.Variable(images)
    adam = keras.optimizers.Adam(0.002)

    def eager_step():
        with tf.GradientTape() as tape:
            logits = model(variable, training=False)
            loss = -tf.reduce_sum(objective({"logits": logits, "image": variable, "layers": {}}))
        adam.apply_gradients([(tape.gradient(loss, variable), variable)])
        variable.assign(tf.clip_by_value(variable, 0, 1))

    eager_step()  # warm-up: builds the optimizer's slots
    start = time.perf_counter()
    for _ in range(args.eager_steps):
        eager_step()
    seconds = time.perf_counter() - start
    print(f"eager baseline       {n} images x {args.eager_steps} steps:                          {seconds:6.1f} s  "
          f"{n * args.eager_steps / seconds:8.0f} images*steps/s")
    minimal_vs_reference(args)


def minimal_vs_reference(args) -> dict:
    """Mean L2 of minimal counterfactuals over that of the C&W reference, on the same mistakes."""
    import json
    import sys
    from pathlib import Path

    from introspect import models
    from introspect import optimize as opt
    from introspect.data import load_fashion_mnist

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from cw_reference import carlini_wagner_l2

    model = models.load_pretrained("fashion_cnn")
    _, (x_test, y_test) = load_fashion_mnist()
    wrong = np.flatnonzero(models.predict_logits(model, x_test).argmax(axis=1) != y_test)[:args.minimal_batch]
    images, labels = x_test[wrong], y_test[wrong]
    start = time.perf_counter()
    minimal = opt.minimal_counterfactuals(model, images, labels, distance="l2")
    minimal_seconds = time.perf_counter() - start
    start = time.perf_counter()
    reference = carlini_wagner_l2(model, images, labels, rounds=args.cw_rounds, steps=args.cw_steps)
    reference_seconds = time.perf_counter() - start
    gap = models.predict_logits(model, reference)
    others = np.where(np.eye(gap.shape[1], dtype=bool)[labels], -np.inf, gap).max(axis=1)
    reference_flipped = gap[np.arange(len(labels)), labels] - others >= 1.0 - 1e-4
    reference_l2 = np.sqrt(np.square(reference - np.clip(images, 1e-6, 1 - 1e-6)).sum(axis=(1, 2, 3)))
    both = minimal.flipped & reference_flipped
    result = {
        "images": int(len(images)), "margin": 1.0,
        "minimal": {"flipped": float(minimal.flipped.mean()), "mean_l2": float(minimal.l2[both].mean()),
                    "seconds": round(minimal_seconds, 1), "settings": "defaults: rounds=8, steps=100, learning_rate=0.01, decay=0.7"},
        "cw_reference": {"flipped": float(reference_flipped.mean()), "mean_l2": float(reference_l2[both].mean()),
                         "seconds": round(reference_seconds, 1),
                         "settings": f"rounds={args.cw_rounds}, steps={args.cw_steps}, learning_rate=0.01, tanh space"},
        "ratio_mean_l2": float(minimal.l2[both].mean() / reference_l2[both].mean()),
        "per_image_ratio_median": float(np.median(minimal.l2[both] / reference_l2[both])),
        "machine": f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}",
        "reproduce": "python benchmarks/bench_optimize.py --only-minimal",
    }
    print(json.dumps(result, indent=2))
    out = Path(__file__).resolve().parents[1] / "data" / "results" / "minimal_vs_cw.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
