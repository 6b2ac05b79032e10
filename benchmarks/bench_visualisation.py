"""A visualisation step on EfficientNet-Lite0 beside the bare forward+backward of the same batch.

    python benchmarks/bench_visualisation.py [--batch 8] [--steps 64] [--recipes pixels fourier maco]

One step of :func:`introspect.optimize.run_recipe` (parametrisation -> image -> the recipe's random
transforms -> model -> class logit -> gradient -> Adam update, one compiled call) for a batch of
classes, against the *floor*: a bare compiled forward+backward (the input gradient of the target
logit) of a batch of the same size. The step time is the difference of two runs (``--steps`` + 8 and
8 steps) divided by ``--steps``, so tracing and set-up (a few seconds, which vary) cancel; the floor is
measured half before and half after, so a busy machine slows both alike. Prints seconds per step
and the ratio per recipe (goal <= 1.3).

Measured here (batch 8, 2 cores, load 3-4 from other jobs, so +-0.2): pixels 1.01, fourier 1.61,
maco 1.44. The pixel recipe has no transforms; the other two pay for Lucid's five transforms, one
bilinear resampling and its adjoint per step (0.056 s forward+backward for the batch, about a quarter
of the floor), and for their parametrisation (an inverse FFT, about 0.05 s): the goal holds for the
loop itself, not yet for the transform recipes.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_perturbation import floor_seconds  # noqa: E402


def measure(recipes=("pixels", "fourier", "maco"), batch: int = 8, steps: int = 64, floor_calls: int = 6) -> list:
    """One dict per recipe: ``{recipe, batch, step_s, floor_s, ratio}``."""
    from introspect import imagenet
    from introspect import optimize as opt

    model = imagenet.load_efficientnet_lite0()
    classes = np.arange(0, 1000, 1000 // batch)[:batch]
    images = np.random.default_rng(0).random((batch, 224, 224, 3), dtype=np.float32)
    rows = []
    for recipe in recipes:
        def run(n):
            start = time.perf_counter()
            opt.run_recipe(model, opt.class_logit(classes), recipe=recipe, steps=n)
            return time.perf_counter() - start

        run(2)  # warm-up: the first call builds the feature model
        before = floor_seconds(model, images, classes.astype(np.int32), floor_calls // 2)[0]
        step = (run(steps + 8) - run(8)) / steps
        after = floor_seconds(model, images, classes.astype(np.int32), floor_calls // 2)[0]
        floor = (before + after) / 2
        rows.append(dict(recipe=recipe, batch=batch, step_s=step, floor_s=floor, ratio=step / floor))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--recipes", nargs="+", default=["pixels", "fourier", "maco"])
    args = parser.parse_args()
    print(f"visualisation step on EfficientNet-Lite0, batch {args.batch} at 224 px; {os.cpu_count()} CPU cores, "
          f"load {os.getloadavg()[0]:.1f}")
    for row in measure(args.recipes, args.batch, args.steps):
        print(f"  {row['recipe']:8s} step {row['step_s']:.3f} s, floor {row['floor_s']:.3f} s, "
              f"ratio {row['ratio']:.2f} (goal <= 1.3)")


if __name__ == "__main__":
    main()
