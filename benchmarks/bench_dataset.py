"""explain_dataset: a tf.data stream beside the in-memory call, and its peak memory at 10k vs 40k images.

    python benchmarks/bench_dataset.py [--quick] [--repeats 9] [--sizes 10000 40000] [--skip-memory]

Timings use the shipped Fashion-MNIST CNN (an untrained one, with a note, if its weights are not there)
on test images with their labels as targets. Per method, in the same run, interleaved, best of
``--repeats`` after one warm-up call each:

* ``memory_s``: the method called on the whole array, ``method(model, images, labels)``;
* ``dataset_s``: ``explain_dataset`` over ``tf.data.Dataset.from_tensor_slices((images, labels))``;
* ``file_s``: the same with ``out=`` a ``.npy`` file in a temporary folder;
* ``ratio = dataset_s / memory_s`` and ``file_ratio = file_s / memory_s`` (the goal: at most 1.1), from the
  best times; ``paired``: the median over repeats of the ratio of the two runs made one after the other,
  which a load that comes and goes disturbs less than the best times.

Wall and CPU time (all threads of the process) are both given: on a machine that other jobs share, wall
time moves far more than CPU time. Then the peak resident memory of ``explain_dataset``
(vanilla gradient, ``out=`` a file and, for contrast, in memory) over a stream of ``--sizes``
28x28x1 images, each run in its own process: the stream repeats the 10,000 test images, so the input
array is the same size in every run and any growth comes from the stream. The peak is the process's
high-water mark (``VmHWM``), reset after the model, data and a warm-up call are loaded; ``growth`` is
that peak minus the resident memory at the reset.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_saliency import _rss_bytes, _watchdog, load_model  # noqa: E402

BATCH_SIZE = 64
#: Methods timed, with their parameters and the number of images (full run, quick run).
METHODS = {
    "vanilla_gradient": (dict(), 4096, 512),
    "integrated_gradients": (dict(steps=16), 512, 64),
    "grad_cam": (dict(layer="conv3"), 4096, 512),
}


def paired_times(functions: dict, repeats: int) -> dict:
    """Wall and CPU seconds ``(repeats, 2)`` of each function, after one warm-up call each.

    Each repeat runs every function once, in an order that alternates between repeats, so that the runs
    compared with each other are close in time and none always goes first.
    """
    for function in functions.values():
        function()
    times = {name: [] for name in functions}
    for repeat in range(repeats):
        for name in (list(functions) if repeat % 2 else list(functions)[::-1]):
            wall, cpu = time.perf_counter(), time.process_time()
            functions[name]()
            times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
    return {name: np.array(values) for name, values in times.items()}


def measure_timings(args) -> tuple[str, list[dict]]:
    """A header line and one row per method: ``{method, images, memory_s, dataset_s, file_s, *_cpu_s}``."""
    import tensorflow as tf

    from introspect import saliency
    from introspect.data import load_fashion_mnist

    model, description = load_model()
    _, (x_test, y_test) = load_fashion_mnist()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, (params, full, quick) in METHODS.items():
            n = quick if args.quick else full
            images, labels = x_test[:n], y_test[:n]
            dataset = tf.data.Dataset.from_tensor_slices((images, labels))
            method = saliency.METHODS[name]
            out = Path(folder) / f"{name}.npy"
            times = paired_times({
                "memory": lambda: method(model, images, labels, batch_size=BATCH_SIZE, progress=False, **params),
                "dataset": lambda: saliency.explain_dataset(name, model, dataset, batch_size=BATCH_SIZE,
                                                            progress=False, **params),
                "file": lambda: saliency.explain_dataset(name, model, dataset, batch_size=BATCH_SIZE, out=out,
                                                         progress=False, **params)}, args.repeats)
            label = name + "".join(f" {key}={value}" for key, value in params.items() if key != "layer")
            best = {key: value.min(axis=0) for key, value in times.items()}
            rows.append(dict(method=label, images=n, **{f"{key}_s": value[0] for key, value in best.items()},
                             **{f"{key}_cpu_s": value[1] for key, value in best.items()},
                             paired=float(np.median(times["dataset"][:, 0] / times["memory"][:, 0]))))
    header = (f"{description}, 28x28x1 test images with their labels as targets, batch_size={BATCH_SIZE}, "
              f"best of {args.repeats} after warm-up; {os.cpu_count()} CPU cores, TF {tf.__version__}, "
              f"load average {os.getloadavg()[0]:.1f}")
    return header, rows


def timing_table(args) -> None:
    header, rows = measure_timings(args)
    print(f"\n{header}")
    print(f"{'method':<30} {'images':>6} {'memory_s':>8} {'dataset_s':>9} {'file_s':>7} {'ratio':>6} {'paired':>6} "
          f"{'file_ratio':>10}   |  CPU time: {'memory_s':>8} {'dataset_s':>9} {'file_s':>7} {'ratio':>6} "
          f"{'file_ratio':>10}")
    for row in rows:
        wall, cpu = ([row[f"{key}{kind}"] for key in ("memory", "dataset", "file")] for kind in ("_s", "_cpu_s"))
        print(f"{row['method']:<30} {row['images']:6d} {wall[0]:8.3f} {wall[1]:9.3f} {wall[2]:7.3f} "
              f"{wall[1] / wall[0]:6.2f} {row['paired']:6.2f} {wall[2] / wall[0]:10.2f}   |            "
              f"{cpu[0]:8.3f} {cpu[1]:9.3f} {cpu[2]:7.3f} {cpu[1] / cpu[0]:6.2f} {cpu[2] / cpu[0]:10.2f}", flush=True)
    print("ratio = dataset_s / memory_s, file_ratio = file_s / memory_s (goal: at most 1.1), best times; paired = "
          "median over repeats of dataset / memory run back to back: explain_dataset over "
          "tf.data.Dataset.from_tensor_slices((images, labels)), to memory and to a .npy file, against the "
          "method on the whole array.")


# ---------------------------------------------------------------------------------------------
# Peak memory, one subprocess per size


def _high_water_mark() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def memory_child(args) -> None:
    threading.Thread(target=_watchdog, args=(int(args.memory_cap_gb * 2 ** 30),), daemon=True).start()
    import tensorflow as tf

    from introspect import saliency
    from introspect.data import load_fashion_mnist

    model, _ = load_model()
    _, (x_test, y_test) = load_fashion_mnist()
    stream = tf.data.Dataset.from_tensor_slices((x_test, y_test)).repeat().take(args.memory_child)
    saliency.explain_dataset("vanilla_gradient", model, stream.take(2 * BATCH_SIZE), progress=False)  # warm-up
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "maps.npy" if args.to_file else None
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")  # resets VmHWM to the current resident memory
        before = _rss_bytes()
        start = time.perf_counter()
        maps = saliency.explain_dataset("vanilla_gradient", model, stream, batch_size=BATCH_SIZE, out=out,
                                        progress=False)
        seconds = time.perf_counter() - start
        peak = _high_water_mark()
        assert maps.shape == (args.memory_child, 28, 28, 1)
        del maps
    print(f"RESULT {peak} {before} {seconds}", flush=True)


def memory_table(args) -> None:
    print(f"\nPeak resident memory of explain_dataset(vanilla_gradient) over a tf.data stream of 28x28x1 images "
          f"(batch_size={BATCH_SIZE}; each run in its own process, capped at {args.memory_cap_gb} GiB):")
    print(f"{'images':>7} {'out':<7} {'peak_MiB':>9} {'rss_before_MiB':>15} {'growth_MiB':>11} {'maps_MiB':>9} "
          f"{'seconds':>8} {'images/s':>9}")
    for to_file in (True, False):
        for n in args.sizes:
            command = [sys.executable, __file__, "--memory-child", str(n), "--memory-cap-gb", str(args.memory_cap_gb)]
            completed = subprocess.run(command + (["--to-file"] if to_file else []), capture_output=True, text=True)
            result = [line for line in completed.stdout.splitlines() if line.startswith(("RESULT", "EXCEEDED"))]
            where = "file" if to_file else "memory"
            if result and result[0].startswith("RESULT"):
                peak, before, seconds = (float(v) for v in result[0].split()[1:])
                print(f"{n:7d} {where:<7} {peak / 2 ** 20:9.1f} {before / 2 ** 20:15.1f} "
                      f"{(peak - before) / 2 ** 20:11.1f} {n * 28 * 28 * 4 / 2 ** 20:9.1f} {seconds:8.1f} "
                      f"{n / seconds:9.0f}", flush=True)
            else:
                reason = result[0] if result else completed.stderr.strip().splitlines()[-1:]
                print(f"{n:7d} {where:<7} did not finish: {reason}", flush=True)
    print("growth = peak - resident memory before the call; maps_MiB = size of all maps (float32). With out= the "
          "growth should not depend on the number of images; in memory it grows with the maps.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer images and repeats (a smoke run)")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="stream lengths of the memory runs")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-timings", action="store_true")
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--to-file", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--memory-cap-gb", type=float, default=4.0)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args)
        return
    args.repeats = args.repeats or (3 if args.quick else 9)
    args.sizes = args.sizes or ([2500, 10000] if args.quick else [10000, 40000])
    if not args.skip_timings:
        timing_table(args)
    if not args.skip_memory:
        memory_table(args)


if __name__ == "__main__":
    main()
