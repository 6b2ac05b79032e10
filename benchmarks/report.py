"""The benchmark report of ``make benchmarks``: one table of times, tf-explain beside us, the floor, IG's errors.

    python benchmarks/report.py [--quick]

Rows, all measured in this run (numbers depend on the machine and its load: quote them with both):

* every saliency method of ``bench_saliency.py`` on the shipped Fashion-MNIST CNN, with
  tf-explain's core function for the same quantity, and meaningful perturbation on it;
* Integrated Gradients per quadrature rule and step count (``bench_ig_rules.py``): the time of
  one call with ``return_delta`` on the same images, tf-explain's IG at the same step count, the
  median completeness error and the median relative L2 distance to a dense reference;
* meaningful perturbation at ImageNet scale on EfficientNet-Lite0 (``bench_perturbation.py``);
* one step of each visualisation recipe on EfficientNet-Lite0 (``bench_visualisation.py``; goal <= 1.3x the floor).

Columns: ``ours_s`` and ``tfexplain_s`` (wall seconds, best of a few runs after a warm-up; one
run for ImageNet), ``ratio = tfexplain_s / ours_s`` (times faster),
``floor_ratio = ours_s / floor_s`` (the floor: a bare compiled forward+backward of the model over
the same inputs; forward only for occlusion), ``completeness`` and ``rel_l2`` (IG only), and
``cost`` (IG only: forward+backward equivalents per image). ``--quick`` is a smoke run (fewer
images, steps and repeats; minutes instead of a quarter of an hour).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_ig_rules  # noqa: E402
import bench_perturbation  # noqa: E402
import bench_saliency  # noqa: E402
import bench_visualisation  # noqa: E402


def saliency_rows(quick: bool) -> list[dict]:
    args = SimpleNamespace(repeats=2 if quick else 3, images=16 if quick else 64, samples=10 if quick else 50,
                           steps=16 if quick else 64, mp_images=16 if quick else 64, mp_steps=50 if quick else 300)
    _, rows = bench_saliency.measure_timings(args)
    return [dict(method=row["method"], ours_s=row["ours_s"], tfexplain_s=row["tfexplain_s"],
                 floor_s=row["floor_s"]) for row in rows]


def ig_rows(quick: bool) -> tuple[list[dict], dict]:
    """One row per rule and step count (tf-explain's IG and the floor timed on the same images), and the raw result."""
    from tf_explain.core.integrated_gradients import IntegratedGradients

    from introspect import models
    from introspect.data import load_fashion_mnist

    steps = bench_ig_rules.STEPS[:4] if quick else bench_ig_rules.STEPS
    images = 16 if quick else 64
    result = bench_ig_rules.measure(images=images, reference_steps=128 if quick else 510, steps=steps,
                                    repeats=2 if quick else 3)
    model = models.load_pretrained("fashion_cnn")
    x = load_fashion_mnist()[1][0][16:16 + images].astype(np.float32)  # the measured images (after calibration)
    gradient_floor, _ = bench_saliency.floors(model, 0)
    baselines = {}
    for n in steps:
        paths = (np.repeat(x, n, axis=0) * np.tile(np.linspace(0, 1, n), len(x))[:, None, None, None])
        times = bench_saliency.best_times({
            "tfexplain": lambda: IntegratedGradients.get_integrated_gradients(
                IntegratedGradients.generate_interpolations(x, n), model, 0, n).numpy(),
            "floor": gradient_floor(paths.astype(np.float32))}, 2 if quick else 3)
        baselines[n] = {key: value[0] for key, value in times.items()}
    return [dict(method=f"IG {row['rule']} steps={row['steps']} (+delta)", ours_s=row["seconds"],
                 tfexplain_s=baselines[row["steps"]]["tfexplain"], floor_s=baselines[row["steps"]]["floor"],
                 completeness=row["completeness"], rel_l2=row["rel_l2"], cost=row["cost"])
            for row in result["rows"]], result


def imagenet_row(quick: bool) -> tuple[dict, dict]:
    result = (bench_perturbation.measure(steps=20, batch=4, floor_calls=4) if quick
              else bench_perturbation.measure(steps=300, batch=8))
    return dict(method=f"meaningful_perturbation EfficientNet-Lite0 {result['images']}x{result['steps']}",
                ours_s=result["seconds"], floor_s=result["floor_step_s"] * result["steps"]), result


def visualisation_rows(quick: bool) -> list[dict]:
    """One row per recipe: one optimisation step of a batch on EfficientNet-Lite0 against its forward+backward."""
    rows = bench_visualisation.measure(batch=4 if quick else 8, steps=16 if quick else 64)
    return [dict(method=f"visualisation step {row['recipe']} EfficientNet-Lite0 batch {row['batch']}",
                 ours_s=row["step_s"], floor_s=row["floor_s"]) for row in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer images, steps and repeats")
    args = parser.parse_args()
    import pandas as pd

    start = time.perf_counter()
    ig, ig_result = ig_rows(args.quick)
    imagenet, imagenet_result = imagenet_row(args.quick)
    rows = saliency_rows(args.quick) + ig + [imagenet] + visualisation_rows(args.quick)
    table = pd.DataFrame(rows).set_index("method")
    table.insert(2, "ratio", table.tfexplain_s / table.ours_s)
    table.insert(3, "floor_ratio", table.ours_s / table.floor_s)
    table = table.drop(columns="floor_s")
    print(f"\nintrospect benchmarks{' (--quick)' if args.quick else ''}: {os.cpu_count()} CPU cores, "
          f"load average {os.getloadavg()[0]:.1f}, {time.perf_counter() - start:.0f} s in all")
    formats = {"ours_s": "{:.3f}", "tfexplain_s": "{:.3f}", "ratio": "{:.2f}", "floor_ratio": "{:.2f}",
               "completeness": "{:.2%}", "rel_l2": "{:.2%}", "cost": "{:.1f}"}
    shown = table.apply(lambda column: column.map(
        lambda v: "-" if pd.isna(v) else formats[column.name].format(v)))
    with pd.option_context("display.width", 220, "display.max_rows", 200):
        print(shown.to_string())
    print(f"ratio = tfexplain_s / ours_s (times faster); floor_ratio = ours_s / bare compiled forward+backward over "
          f"the same inputs (forward only for occlusion); IG rows time one call with return_delta (rules without "
          f"the path ends add 2 forward passes per image, a forward = {ig_result['forward_share']:.2f} of a "
          f"forward+backward here: see cost) against tf-explain's equal-weight IG at the same step count; "
          f"completeness = median |delta| / |f(x) - f(0)|, rel_l2 = median distance to a "
          f"{ig_result['reference_steps']}-point trapezoid reference, over {ig_result['images']} test images; "
          f"the fitted rule's one-off calibration: {ig_result['fit_forward_passes']} forward passes. "
          f"ImageNet meaningful perturbation: {imagenet_result['images_steps_per_s']:.2f} images x steps / s, "
          f"{imagenet_result['cpu_floor_ratio']:.2f}x the floor in CPU time.")


if __name__ == "__main__":
    main()
