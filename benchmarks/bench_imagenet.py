"""Timings of the offline EfficientNet-Lite0: conversion, forward pass and vanilla gradient.

    python benchmarks/bench_imagenet.py [--repeats 5] [--batch 8]

Prints the conversion time (reading the PyTorch checkpoint, building the Keras model, loading
the weights), then the forward time and the vanilla-gradient time for a batch of 224x224
images, as the median of ``--repeats`` runs after one warm-up. Where the PyTorch reference is
installed (``requirements-dev.txt``) it is timed on the same batch, side by side. Numbers depend
on the machine and on whatever else runs on it: quote them with both.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np


def timed(function, repeats: int) -> float:
    """Median wall time of ``function()`` over ``repeats`` runs, after one warm-up run."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()

    start = time.perf_counter()
    import tensorflow as tf

    from introspect import imagenet
    import_seconds = time.perf_counter() - start

    path = imagenet.checkpoint_path()
    read = timed(lambda: imagenet.read_torch_checkpoint(path), args.repeats)
    state = imagenet.read_torch_checkpoint(path)
    start = time.perf_counter()
    model = imagenet.build_efficientnet_lite0()
    build = time.perf_counter() - start
    load = timed(lambda: imagenet.load_torch_weights(model, state), args.repeats)
    start = time.perf_counter()
    imagenet.load_efficientnet_lite0()
    total = time.perf_counter() - start

    images, _, _ = imagenet.load_photos()
    batch = np.resize(images, (args.batch, *images.shape[1:])).astype(np.float32)
    targets = tf.constant(np.arange(args.batch) % 1000)

    @tf.function(reduce_retracing=True)
    def forward(x):
        return model(x, training=False)

    @tf.function(reduce_retracing=True)
    def gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            logits = model(x, training=False)
            score = tf.reduce_sum(tf.gather(logits, targets, axis=1, batch_dims=1))
        return tape.gradient(score, x)

    x = tf.constant(batch)
    rows = [
        ("keras forward, eager", timed(lambda: model(x, training=False).numpy(), args.repeats)),
        ("keras forward, tf.function", timed(lambda: forward(x).numpy(), args.repeats)),
        ("keras vanilla gradient, tf.function", timed(lambda: gradient(x).numpy(), args.repeats)),
    ]
    try:
        from introspect import saliency

        rows.append(("introspect.saliency.vanilla_gradient",
                     timed(lambda: saliency.vanilla_gradient(model, batch, np.arange(args.batch)), args.repeats)))
    except (ImportError, AttributeError):
        pass
    rows.extend(_torch_rows(imagenet, batch, args.repeats))

    print(f"machine: {os.cpu_count()} CPU cores, TensorFlow {tf.__version__} "
          f"(shared machine: other jobs may be running)")
    print(f"import TensorFlow + introspect.imagenet: {import_seconds:7.2f} s")
    print(f"conversion: read checkpoint {read:.3f} s, build Keras model {build:.2f} s, "
          f"load weights {load:.3f} s; load_efficientnet_lite0() total {total:.2f} s")
    print(f"batch of {args.batch} images at 224x224, median of {args.repeats}:")
    for name, seconds in rows:
        print(f"  {name:42s} {seconds * 1000:8.1f} ms  ({seconds * 1000 / args.batch:6.1f} ms/image)")


def _torch_rows(imagenet, batch: np.ndarray, repeats: int) -> list:
    try:
        import torch
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        return []
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    reference = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(imagenet.checkpoint_path()))
    reference.eval()
    x = torch.from_numpy(imagenet.preprocess(batch).transpose(0, 3, 1, 2).copy())
    targets = torch.arange(len(batch)) % 1000

    def forward():
        with torch.no_grad():
            return reference(x).numpy()

    def gradient():
        inputs = x.clone().requires_grad_(True)
        reference(inputs).gather(1, targets[:, None]).sum().backward()
        return inputs.grad.numpy()

    return [("pytorch reference forward", timed(forward, repeats)),
            ("pytorch reference vanilla gradient", timed(gradient, repeats))]


if __name__ == "__main__":
    main()
