"""Saliency timings and memory: introspect.saliency beside tf-explain and a bare TF floor.

    python benchmarks/bench_saliency.py [--quick] [--repeats 3] [--skip-memory]

Timings use the shipped Fashion-MNIST CNN (an untrained one, with a note, if its weights are
not there yet) on a batch of test images, the same settings for both libraries, one warm-up
call each, and the best of ``--repeats`` runs, interleaved so that a busy machine slows all
three alike. Columns:

* ``ours_s``: the introspect method; ``tfexplain_s``: tf-explain's core function for the same
  quantity; ``ratio``: ``tfexplain_s / ours_s`` (how many times faster we are);
* ``floor_ratio``: ``ours_s / floor_s``, where the floor is a bare compiled forward+backward
  (forward only for occlusion) over the same number of inputs in chunks of the same size.

Then the time of ``meaningful_perturbation`` (no tf-explain equivalent), and the peak resident
memory of SmoothGrad (n=50) on 224x224 RGB images with a small CNN, each library measured in its
own subprocess so that the peaks are separate. Numbers depend on the machine and on whatever
else runs on it: quote them with both.
"""
from __future__ import annotations

import argparse
import warnings
import os
import subprocess
import sys
import threading
import time

import numpy as np

BATCH_SIZE = 64


def best_times(functions: dict, repeats: int) -> dict:
    """Best wall and CPU time ``(wall_s, cpu_s)`` of each function, after one warm-up call.

    Runs are interleaved so that a busy machine slows all functions alike. CPU time (all threads
    of this process) moves far less than wall time when other jobs share the cores.
    """
    for function in functions.values():
        function()
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            wall, cpu = time.perf_counter(), time.process_time()
            function()
            times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
    return {name: tuple(min(column) for column in zip(*values)) for name, values in times.items()}


def load_model():
    from introspect import models

    try:
        return models.load_pretrained("fashion_cnn"), "shipped fashion_cnn"
    except FileNotFoundError:
        print("NOTE: src/introspect/weights/fashion_cnn.weights.h5 is not there yet; timing an untrained build_fashion_cnn().")
        return models.build_fashion_cnn(), "untrained fashion_cnn"


def floors(model, class_index: int):
    """Bare compiled forward+backward and forward of ``model`` over chunks of BATCH_SIZE."""
    import tensorflow as tf

    spec = [tf.TensorSpec((None, *model.inputs[0].shape[1:]), tf.float32)]

    @tf.function(input_signature=spec)
    def gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = model(x, training=False)[:, class_index]
        return tape.gradient(score, x)

    @tf.function(input_signature=spec)
    def forward(x):
        return model(x, training=False)[:, class_index]

    def run(function, inputs):
        return lambda: [function(tf.constant(inputs[i:i + BATCH_SIZE])).numpy() for i in range(0, len(inputs), BATCH_SIZE)]

    return (lambda inputs: run(gradient, inputs)), (lambda inputs: run(forward, inputs))


def measure_timings(args) -> tuple[str, list[dict]]:
    """A header line and one row per method: ``{method, ours_s, tfexplain_s, floor_s, ours_cpu_s, ...}``."""
    import keras
    import tensorflow as tf
    from tf_explain.core.grad_cam import GradCAM
    from tf_explain.core.integrated_gradients import IntegratedGradients
    from tf_explain.core.occlusion_sensitivity import OcclusionSensitivity
    from tf_explain.core.smoothgrad import SmoothGrad
    from tf_explain.core.vanilla_gradients import VanillaGradients

    from introspect import saliency
    from introspect.data import load_fashion_mnist

    keras.config.disable_interactive_logging()  # tf-explain's model.predict progress bars
    warnings.filterwarnings("ignore", message="The structure of `inputs`")  # tf-explain GradCAM under Keras 3
    model, description = load_model()
    _, (x_test, _) = load_fashion_mnist()
    images = x_test[:args.images]
    class_index = 0
    n_samples, steps, patch = args.samples, args.steps, 4
    noise = 0.15  # tf-explain's noise is an absolute std; our images span [0, 1], so 0.15 of the range.
    gradient_floor, forward_floor = floors(model, class_index)
    rng = np.random.default_rng(0)
    noisy = np.repeat(images, n_samples, axis=0) + rng.normal(0, noise, (len(images) * n_samples, *images.shape[1:]))
    paths = np.repeat(images, steps, axis=0) * np.tile(np.linspace(0, 1, steps), len(images))[:, None, None, None]
    positions = int(np.ceil(images.shape[1] / patch) * np.ceil(images.shape[2] / patch))
    occluded = np.repeat(images, positions, axis=0)
    occlusion_explainer = OcclusionSensitivity(batch_size=BATCH_SIZE)

    rows = {
        "vanilla_gradient": dict(
            ours=lambda: saliency.vanilla_gradient(model, images, class_index, progress=False),
            tfexplain=lambda: VanillaGradients.compute_gradients(images, model, class_index).numpy(),
            floor=gradient_floor(images)),
        f"smoothgrad n={n_samples}": dict(
            ours=lambda: saliency.smoothgrad(model, images, class_index, n_samples=n_samples, noise_level=noise,
                                             progress=False),
            tfexplain=lambda: SmoothGrad.get_averaged_gradients(
                SmoothGrad.generate_noisy_images(images, n_samples, noise), model, class_index, n_samples).numpy(),
            floor=gradient_floor(noisy.astype(np.float32))),
        f"integrated_gradients steps={steps}": dict(
            ours=lambda: saliency.integrated_gradients(model, images, class_index, steps=steps, progress=False),
            tfexplain=lambda: IntegratedGradients.get_integrated_gradients(
                IntegratedGradients.generate_interpolations(images, steps), model, class_index, steps).numpy(),
            floor=gradient_floor(paths.astype(np.float32))),
        f"smoothgrad n={n_samples} bs=256": dict(
            ours=lambda: saliency.smoothgrad(model, images, class_index, n_samples=n_samples, noise_level=noise,
                                             batch_size=256, progress=False),
            tfexplain=lambda: SmoothGrad.get_averaged_gradients(
                SmoothGrad.generate_noisy_images(images, n_samples, noise), model, class_index, n_samples).numpy(),
            floor=gradient_floor(noisy.astype(np.float32))),
        f"integrated_gradients steps={steps} bs=256": dict(
            ours=lambda: saliency.integrated_gradients(model, images, class_index, steps=steps, batch_size=256,
                                                       progress=False),
            tfexplain=lambda: IntegratedGradients.get_integrated_gradients(
                IntegratedGradients.generate_interpolations(images, steps), model, class_index, steps).numpy(),
            floor=gradient_floor(paths.astype(np.float32))),
        f"occlusion patch={patch}": dict(
            ours=lambda: saliency.occlusion(model, images, class_index, patch=patch, baseline=0.5, progress=False),
            tfexplain=lambda: [occlusion_explainer.get_sensitivity_map(model, image, class_index, patch)
                               for image in images],
            floor=forward_floor(occluded)),
        "grad_cam": dict(
            ours=lambda: saliency.grad_cam(model, images, class_index, layer="conv3", progress=False),
            tfexplain=lambda: GradCAM.generate_ponderated_output(*GradCAM.get_gradients_and_filters(
                model, images, "conv3", class_index, use_guided_grads=False)),
            floor=gradient_floor(images)),
    }
    header = (f"{description}, {len(images)} test images 28x28x1, batch_size={BATCH_SIZE}, "
              f"best of {args.repeats} after warm-up; {os.cpu_count()} CPU cores, TF {tf.__version__}, "
              f"load average {os.getloadavg()[0]:.1f}")
    perturbation_images = images[:args.mp_images]
    rows[f"meaningful_perturbation {len(perturbation_images)}x{args.mp_steps}"] = dict(
        ours=lambda: saliency.meaningful_perturbation(model, perturbation_images, class_index, steps=args.mp_steps,
                                                      progress=False),
        floor=gradient_floor(np.repeat(perturbation_images, args.mp_steps, axis=0)))
    results = []
    for name, functions in rows.items():
        times = best_times(functions, max(1, args.repeats - 1) if name.startswith("meaningful") else args.repeats)
        missing = (float("nan"), float("nan"))
        results.append(dict(method=name, ours_s=times["ours"][0], tfexplain_s=times.get("tfexplain", missing)[0],
                            floor_s=times["floor"][0], ours_cpu_s=times["ours"][1],
                            tfexplain_cpu_s=times.get("tfexplain", missing)[1], floor_cpu_s=times["floor"][1]))
    return header, results


def timing_table(args) -> None:
    header, results = measure_timings(args)
    print(f"\n{header}")
    print(f"{'method':<34} {'ours_s':>7} {'tfexplain_s':>11} {'ratio':>6} {'floor_ratio':>11}   |  CPU time: "
          f"{'ours_s':>7} {'tfexplain_s':>11} {'ratio':>6} {'floor_ratio':>11}")
    for row in results:
        print(f"{row['method']:<34}" + "   |           ".join(
            f" {row['ours' + k]:7.3f} {row['tfexplain' + k]:11.3f} {row['tfexplain' + k] / row['ours' + k]:6.2f} "
            f"{row['ours' + k] / row['floor' + k]:11.2f}" for k in ("_s", "_cpu_s")), flush=True)
    print("ratio = tfexplain_s / ours_s (times faster); floor_ratio = ours_s / bare compiled forward+backward of the "
          f"model (forward only for occlusion) over the same inputs in chunks of {BATCH_SIZE}. Ours folds each "
          "BatchNorm into its convolution, so it can beat the floor.")


# ---------------------------------------------------------------------------------------------
# Peak memory, one subprocess per library


def _rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _watchdog(cap_bytes: int) -> None:
    """Stop this process before it takes the machine's memory from everyone else."""
    while True:
        if _rss_bytes() > cap_bytes:
            print(f"EXCEEDED {cap_bytes / 2 ** 30:.1f} GiB", flush=True)
            os._exit(3)
        time.sleep(0.05)


def memory_child(args) -> None:
    import resource

    threading.Thread(target=_watchdog, args=(int(args.memory_cap_gb * 2 ** 30),), daemon=True).start()
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((224, 224, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(inputs)
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu")(x)
    model = keras.Model(inputs, keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(x)))
    images = np.random.default_rng(0).uniform(size=(args.images, 224, 224, 3)).astype(np.float32)
    model(images[:1])
    before = _rss_bytes()
    start = time.perf_counter()
    if args.memory_child == "ours":
        from introspect import saliency

        saliency.smoothgrad(model, images, 0, n_samples=args.samples, noise_level=0.15, batch_size=BATCH_SIZE,
                            progress=False)
    else:
        from tf_explain.core.smoothgrad import SmoothGrad

        noisy = SmoothGrad.generate_noisy_images(images, args.samples, 0.15)
        SmoothGrad.get_averaged_gradients(noisy, model, 0, args.samples).numpy()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"RESULT {peak} {before} {seconds}", flush=True)


def memory_table(args) -> None:
    print(f"\nPeak RSS, SmoothGrad n={args.samples} on {args.images} RGB 224x224 images, small CNN "
          f"(batch_size={BATCH_SIZE} for ours; each in its own process, capped at {args.memory_cap_gb} GiB):")
    print(f"{'library':<12} {'peak_GiB':>9} {'rss_before_GiB':>15} {'seconds':>8}")
    for library in ("ours", "tf-explain"):
        command = [sys.executable, __file__, "--memory-child", library, "--images", str(args.images),
                   "--samples", str(args.samples), "--memory-cap-gb", str(args.memory_cap_gb)]
        completed = subprocess.run(command, capture_output=True, text=True)
        result = [line for line in completed.stdout.splitlines() if line.startswith(("RESULT", "EXCEEDED"))]
        if result and result[0].startswith("RESULT"):
            peak, before, seconds = (float(v) for v in result[0].split()[1:])
            print(f"{library:<12} {peak / 2 ** 30:9.2f} {before / 2 ** 30:15.2f} {seconds:8.1f}", flush=True)
        else:
            reason = result[0] if result else completed.stderr.strip().splitlines()[-1:]
            print(f"{library:<12} did not finish: {reason}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer images, samples and repeats (a smoke run)")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--memory-child", choices=("ours", "tf-explain"), help=argparse.SUPPRESS)
    parser.add_argument("--images", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--samples", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--memory-cap-gb", type=float, default=10.0)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args)
        return
    quick = args.quick
    args.repeats = args.repeats or (2 if quick else 3)
    args.images = args.images or (16 if quick else 64)
    args.samples = args.samples or (10 if quick else 50)
    args.steps = 16 if quick else 64
    args.mp_images, args.mp_steps = (16, 50) if quick else (64, 300)
    timing_table(args)
    if not args.skip_memory:
        memory_table(args)


if __name__ == "__main__":
    main()
