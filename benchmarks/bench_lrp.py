"""LRP timings: introspect.saliency.lrp beside zennit 1.0.0 (PyTorch, CPU) on the same CNN, same rules.

    python benchmarks/bench_lrp.py [--images 256] [--batch 64] [--repeats 3]

The Fashion-MNIST CNN of ``bench_saliency.py`` (the shipped one, or an untrained copy with a note)
and its PyTorch twin with the weights copied; both explain the same ``--images`` 28x28 images
(Fashion-MNIST test images when they are there, uniform noise otherwise) in chunks of ``--batch``
with the composite of Kohlbrenner et al. 2020 (arXiv:1910.09840): zB on the first convolution
(pixels in [0, 1]), z+ on the other convolutions, epsilon = 0.25 on the dense layers, every
BatchNorm folded into its convolution (zennit: ``SequentialMergeBatchNorm``). Columns: wall and
CPU seconds, best of ``--repeats`` after a warm-up call each, interleaved so that a busy machine
slows both alike; ``ratio = zennit_s / ours_s`` (times faster). The maps are compared too (per
image, the largest difference over the largest relevance: median and worst). Without torch or
zennit (``requirements-dev.txt``) it says so and stops.
Numbers depend on the machine and on whatever else runs on it: quote them with both.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1] / "tests"))

from bench_saliency import best_times, load_model  # noqa: E402
from helpers import import_zennit  # noqa: E402  -- shared with the tests' zennit cross-checks

EPSILON = 0.25


def torch_twin(model):
    """The fashion CNN (conv-BN-ReLU blocks with max pooling, flatten, dense-ReLU, dropout, logits) in torch."""
    import torch
    from torch import nn

    class ChannelsLast(nn.Module):  # so that Flatten orders features as Keras does
        def forward(self, x):
            return x.permute(0, 2, 3, 1)

    modules = []
    for layer in model.layers:
        weights = [torch.tensor(w) for w in layer.get_weights()]
        kind = type(layer).__name__
        if kind == "Conv2D":
            conv = nn.Conv2d(weights[0].shape[2], weights[0].shape[3], weights[0].shape[0], padding="same",
                             bias=layer.use_bias)
            conv.weight.data = weights[0].permute(3, 2, 0, 1).contiguous()
            if layer.use_bias:
                conv.bias.data = weights[1]
            modules.append(conv)
        elif kind == "BatchNormalization":
            norm = nn.BatchNorm2d(weights[0].shape[0], eps=layer.epsilon)
            norm.weight.data, norm.bias.data, norm.running_mean.data, norm.running_var.data = weights
            modules.append(norm)
        elif kind == "ReLU" or getattr(getattr(layer, "activation", None), "__name__", "") == "relu":
            if kind == "Dense":
                modules.append(_linear(weights))
            modules.append(nn.ReLU())
        elif kind == "MaxPooling2D":
            modules.append(nn.MaxPool2d(2))
        elif kind == "Flatten":
            modules += [ChannelsLast(), nn.Flatten()]
        elif kind == "Dense":
            modules.append(_linear(weights))
        elif kind not in ("InputLayer", "Dropout"):
            raise ValueError(f"no torch twin for layer {layer.name!r} ({kind})")
    return nn.Sequential(*modules).eval()


def _linear(weights):
    import torch

    linear = torch.nn.Linear(weights[0].shape[0], weights[0].shape[1])
    linear.weight.data, linear.bias.data = weights[0].T.contiguous(), weights[1]
    return linear


def load_images(n: int) -> tuple[np.ndarray, str]:
    try:
        from introspect.data import load_fashion_mnist

        return load_fashion_mnist()[1][0][:n].astype(np.float32), f"{n} Fashion-MNIST test images"
    except (FileNotFoundError, OSError, RuntimeError, ValueError):
        images = np.random.default_rng(0).uniform(0, 1, size=(n, 28, 28, 1)).astype(np.float32)
        return images, f"{n} uniform-noise images (Fashion-MNIST not found)"


def measure(images_n: int = 256, batch: int = 64, repeats: int = 3) -> dict | None:
    """``{ours_s, zennit_s, ours_cpu_s, zennit_cpu_s, median_difference, max_difference, header}`` (None without
    zennit); the differences are per image, the largest |ours - zennit| over the largest |zennit|."""
    zennit = import_zennit()
    if zennit is None:
        return None
    import tensorflow as tf
    import torch
    from zennit.attribution import Gradient
    from zennit.canonizers import SequentialMergeBatchNorm
    from zennit.composites import SpecialFirstLayerMapComposite, layer_map_base
    from zennit.rules import Epsilon, ZBox, ZPlus
    from zennit.types import Convolution

    from introspect import saliency

    model, description = load_model()
    twin = torch_twin(model)
    images, image_description = load_images(images_n)
    targets = model.predict(images, batch_size=batch, verbose=0).argmax(axis=1)
    composite = SpecialFirstLayerMapComposite(
        layer_map_base() + [(Convolution, ZPlus()), (torch.nn.Linear, Epsilon(EPSILON))],
        [(Convolution, ZBox(0.0, 1.0))], canonizers=[SequentialMergeBatchNorm()])
    x = torch.tensor(images.transpose(0, 3, 1, 2).copy())
    eye, torch_targets = torch.eye(10), torch.as_tensor(targets)

    def zennit_maps():
        parts = []
        with Gradient(model=twin, composite=composite) as attributor:
            for start in range(0, len(x), batch):
                chunk = x[start:start + batch]
                with torch.no_grad():
                    logits = twin(chunk)
                _, relevance = attributor(chunk, eye[torch_targets[start:start + batch]] * logits)
                parts.append(relevance.numpy())
        return np.concatenate(parts).transpose(0, 2, 3, 1)

    def ours():
        return saliency.lrp(model, images, targets, rule="composite", epsilon=EPSILON, batch_size=batch,
                            progress=False)

    ours_maps, reference = ours(), zennit_maps()
    per_image = (np.abs(ours_maps - reference).reshape(len(images), -1).max(axis=1)
                 / np.abs(reference).reshape(len(images), -1).max(axis=1))
    times = best_times({"ours": ours, "zennit": zennit_maps}, repeats)
    header = (f"{description}, {image_description} 28x28x1, batch {batch}, composite zB / z+ / epsilon={EPSILON}, "
              f"best of {repeats} after warm-up; {os.cpu_count()} CPU cores (torch {torch.get_num_threads()} "
              f"threads), TF {tf.__version__}, torch {torch.__version__}, zennit {_version('zennit')}, "
              f"load average {os.getloadavg()[0]:.1f}")
    return dict(ours_s=times["ours"][0], zennit_s=times["zennit"][0], ours_cpu_s=times["ours"][1],
                zennit_cpu_s=times["zennit"][1], median_difference=float(np.median(per_image)),
                max_difference=float(per_image.max()), header=header)


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    result = measure(args.images, args.batch, args.repeats)
    if result is None:
        print("bench_lrp: skipped, torch and zennit are not installed (see requirements-dev.txt).")
        return
    print(f"\n{result['header']}")
    print(f"{'':<10} {'ours_s':>8} {'zennit_s':>9} {'ratio':>6}")
    for label, suffix in (("wall", "_s"), ("CPU", "_cpu_s")):
        ours, zennit = result["ours" + suffix], result["zennit" + suffix]
        print(f"{label:<10} {ours:8.3f} {zennit:9.3f} {zennit / ours:6.2f}")
    print(f"ratio = zennit_s / ours_s (times faster). Maps: largest |ours - zennit| per image over its largest "
          f"|relevance|, median {result['median_difference']:.1e}, worst image {result['max_difference']:.1e}.")


if __name__ == "__main__":
    main()
