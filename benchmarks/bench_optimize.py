"""Throughput of the input-optimisation loop on the shipped Fashion-MNIST model.

    python benchmarks/bench_optimize.py [--vis-steps 256] [--cf-steps 300] [--cf-batch 64]

Prints images x steps per second for

* class visualisation: one image per class (batch of 10), ``param="fourier"`` with jitter,
  random scale and random rotation, 256 steps;
* counterfactuals: a batch of 64 misclassified test images, 300 steps, timed twice: with every
  example kept moving for all steps (an unreachable margin; the throughput of the compiled
  step) and as :func:`introspect.optimize.counterfactuals` runs it (examples stop at their
  margin and the loop ends when all have);
* for context, the same counterfactual step written eagerly (no ``tf.function``) for a few steps.

Tracing the compiled step is part of every wall time (it happens once per call). Falls back to
an untrained model, with a note, when data/models/fashion_cnn.weights.h5 does not exist yet.
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
    args = parser.parse_args()

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


if __name__ == "__main__":
    main()
