"""Meaningful perturbation at ImageNet scale: throughput on EfficientNet-Lite0 beside the forward+backward floor.

    python benchmarks/bench_perturbation.py [--quick] [--steps 300] [--batch 8]

The paper's setting (Fong & Vedaldi, arXiv:1704.03296): Adam steps on a 28x28 mask upsampled to
224x224, every image of the batch in one compiled call per block of steps
(``saliency.perturbation.BLOCK_STEPS``). Prints images x steps per second and the ratio of our
time to the *floor*: a bare compiled forward+backward (the input gradient of the target logit)
of the same batch, once per step, measured in the same run, half before and half after ours, so
that a busy machine slows both alike, in wall time and in CPU time (all threads of this process;
it moves far less than wall time when other jobs share the cores). The ratio counts the mask's
upsampling, blending, total variation and Adam update, plus the set-up's two forward passes and
the final score.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np


def floor_seconds(model, batch: np.ndarray, targets: np.ndarray, calls: int) -> np.ndarray:
    """Median wall and CPU seconds ``(2,)`` of one bare compiled forward+backward of ``batch`` over ``calls``."""
    import tensorflow as tf

    @tf.function
    def gradient(x, targets):
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = tf.reduce_sum(tf.gather(model(x, training=False), targets, batch_dims=1))
        return tape.gradient(score, x)

    x, t = tf.constant(batch), tf.constant(targets)
    gradient(x, t).numpy()
    times = []
    for _ in range(calls):
        start, cpu = time.perf_counter(), time.process_time()
        gradient(x, t).numpy()
        times.append((time.perf_counter() - start, time.process_time() - cpu))
    return np.median(times, axis=0)


def measure(steps: int = 300, batch: int = 8, floor_calls: int = 10) -> dict:
    """``{images, steps, seconds, images_steps_per_s, floor_step_s, floor_ratio, cpu_floor_ratio}`` of one run."""
    from introspect import imagenet, saliency
    from introspect.saliency import perturbation

    model = imagenet.load_efficientnet_lite0()
    photos, _, _ = imagenet.load_photos()
    images = np.resize(photos, (batch, *photos.shape[1:])).astype(np.float32)
    targets = model.predict(images, verbose=0).argmax(axis=1).astype(np.int32)

    def ours(n_steps):
        return saliency.meaningful_perturbation(model, images, targets, steps=n_steps, mask_size=28,
                                                batch_size=batch, progress=False)

    ours(perturbation.BLOCK_STEPS)  # trace once
    before = floor_seconds(model, images, targets, floor_calls)
    start, cpu = time.perf_counter(), time.process_time()
    ours(steps)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    after = floor_seconds(model, images, targets, floor_calls)
    floor, cpu_floor = (before + after) / 2 * steps
    return dict(images=batch, steps=steps, seconds=seconds, images_steps_per_s=batch * steps / seconds,
                floor_step_s=floor / steps, floor_ratio=seconds / floor, cpu_floor_ratio=cpu_seconds / cpu_floor)


def print_result(result: dict) -> None:
    print(f"\nmeaningful perturbation on EfficientNet-Lite0, {result['images']} photos 224x224, 28x28 mask, "
          f"{result['steps']} Adam steps, one batch; {os.cpu_count()} CPU cores, load {os.getloadavg()[0]:.1f}")
    print(f"  ours: {result['seconds']:.1f} s = {result['images_steps_per_s']:.2f} images x steps / s; "
          f"floor (bare forward+backward of the batch): {result['floor_step_s']:.3f} s per step; "
          f"ratio to the floor {result['floor_ratio']:.2f} in wall time, {result['cpu_floor_ratio']:.2f} in CPU time "
          f"(goal <= 1.2)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 images, 20 steps")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    print_result(measure(steps=20, batch=4, floor_calls=4) if args.quick else measure(args.steps, args.batch))


if __name__ == "__main__":
    main()
