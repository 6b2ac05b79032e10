"""Integrated Gradients: error of each quadrature rule per step count, with its cost.

    python benchmarks/bench_ig_rules.py [--quick] [--images 64] [--reference-steps 510]

On the shipped Fashion-MNIST CNN, black baseline, target = predicted class, for every rule of
``saliency.integrated_gradients`` and steps 4, 8, 16, 32, 64, prints per cell:

* ``completeness``: median over the images of ``|delta| / |f(x) - f(baseline)|``;
* ``rel_l2``: median relative L2 distance of the attributions to a dense trapezoid reference
  (``--reference-steps`` points; 510 = 509 cells, a prime, so that no rule's points lie on its
  grid and share its errors); completeness alone can be gamed by weights tuned to the ends, this
  cannot;
* ``cost``: gradient evaluations per image in forward+backward equivalents, counting the two
  forward passes per image that ``return_delta`` needs for rules that skip the path ends, each
  worth ``forward_s / forward_backward_s`` measured here.

The ``fitted`` rule is fitted on ``--calibration`` other test images before the measured ones
(its one-off cost is printed), so its numbers are held out.
"""
from __future__ import annotations

import argparse
import importlib
import time

import numpy as np

STEPS = (4, 8, 16, 32, 64)


def forward_share(model, images: np.ndarray, repeats: int = 7) -> float:
    """Time of a bare compiled forward pass over the time of a forward+backward, same 256 inputs."""
    import tensorflow as tf

    x = tf.constant(np.resize(images, (256, *images.shape[1:])))

    @tf.function
    def forward(x):
        return tf.reduce_sum(model(x, training=False)[:, 0])

    @tf.function
    def gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = tf.reduce_sum(model(x, training=False)[:, 0])
        return tape.gradient(score, x)

    def best(function):
        function(x)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            function(x).numpy()
            times.append(time.perf_counter() - start)
        return min(times)

    return best(forward) / best(gradient)


def measure(images: int = 64, reference_steps: int = 510, calibration: int = 16, steps=STEPS,
            repeats: int = 3) -> dict:
    """Rows ``{rule, steps, completeness, rel_l2, cost, seconds}`` and the fit's cost, as a dict.

    ``seconds``: the best of ``repeats`` calls with ``return_delta`` (a busy machine only adds time).
    """
    from introspect import models, saliency
    from introspect.data import load_fashion_mnist
    ig_module = importlib.import_module("introspect.saliency.integrated_gradients")

    model = models.load_pretrained("fashion_cnn")
    _, (x_test, _) = load_fashion_mnist()
    pool = x_test[: calibration + images].astype(np.float32)
    targets = model.predict(pool, verbose=0).argmax(axis=1)
    calibration_x, x = pool[:calibration], pool[calibration:]
    calibration_t, t = targets[:calibration], targets[calibration:]
    share = forward_share(model, x)

    reference = saliency.integrated_gradients(model, x, t, steps=reference_steps, rule="trapezoid", progress=False)
    start = time.perf_counter()
    saliency.integrated_gradients(model, calibration_x, calibration_t, steps=2, rule="fitted", progress=False)
    fit = next(iter(ig_module.fitted_path(model).values()))
    fit_seconds = time.perf_counter() - start
    norm = np.linalg.norm(reference.reshape(len(x), -1), axis=1)
    rows = []
    for rule in ig_module.RULES:
        for n in steps:
            seconds = []
            for _ in range(repeats):
                start = time.perf_counter()
                attributions, delta = saliency.integrated_gradients(model, x, t, steps=n, rule=rule,
                                                                    return_delta=True, progress=False)
                seconds.append(time.perf_counter() - start)
            change = attributions.reshape(len(x), -1).sum(axis=1, dtype=np.float64) - delta
            distance = np.linalg.norm((attributions - reference).reshape(len(x), -1), axis=1) / norm
            rows.append(dict(rule=rule, steps=n, completeness=float(np.median(np.abs(delta) / np.abs(change))),
                             rel_l2=float(np.median(distance)),
                             cost=n + (0 if rule == "trapezoid" else 2 * share), seconds=min(seconds)))
    return dict(rows=rows, forward_share=share, images=len(x), reference_steps=reference_steps,
                fit_forward_passes=fit["forward_passes"], fit_images=fit["images"], fit_seconds=fit_seconds)


def print_table(result: dict) -> None:
    import pandas as pd

    table = pd.DataFrame(result["rows"])
    print(f"\nIG quadrature rules on the shipped fashion_cnn, black baseline, predicted class, "
          f"{result['images']} test images; reference: trapezoid with {result['reference_steps']} points")
    print("completeness: median |delta| / |f(x) - f(0)|; rel_l2: median ||IG - reference|| / ||reference||; "
          f"cost: forward+backward equivalents per image (a forward = {result['forward_share']:.2f} of one)")
    wide = table.pivot(index="rule", columns="steps", values=["completeness", "rel_l2", "cost"])
    with pd.option_context("display.width", 200, "display.float_format", "{:.4f}".format):
        print(wide.to_string())
    print(f"fitted rule: one-off calibration of {result['fit_forward_passes']} forward passes "
          f"({result['fit_forward_passes'] * result['forward_share']:.0f} forward+backward equivalents, "
          f"{result['fit_images']} images, {result['fit_seconds']:.2f} s incl. tracing), cached per model")
    default = table[(table.rule == "riemann_midpoint") & (table.steps == 16)].iloc[0]
    print(f"goal (<= 1% at 16 steps, <= 1.3x the cost of 16 fwd+bwd): riemann_midpoint (default) "
          f"{100 * default.completeness:.2f}% at {default.cost / 16:.2f}x -> "
          f"{'met' if default.completeness <= 0.01 and default.cost <= 1.3 * 16 else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="16 images, 128-point reference, steps 4-32")
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--reference-steps", type=int, default=510)
    args = parser.parse_args()
    if args.quick:
        result = measure(images=16, reference_steps=128, steps=STEPS[:4])
    else:
        result = measure(images=args.images, reference_steps=args.reference_steps)
    print_table(result)


if __name__ == "__main__":
    main()
