"""Precompute notebook 02's meaningful-perturbation maps at the paper's settings (300 Adam steps).

    python scripts/meaningful_perturbation_02.py      # writes data/results/02_meaningful_perturbation.npz

Meaningful perturbation (Fong & Vedaldi, arXiv:1704.03296) optimises one mask per image and
target: 300 steps on 160 Fashion-MNIST mistakes (predicted-class and contrastive maps) and, on
EfficientNet-Lite0, a 28 x 28 mask for the contrastive score of three ImageNet mistakes. That is
several minutes on two cores, more than a notebook run may take, so notebook 02 loads these maps
(and recomputes a few with 10 steps in quick mode). The Fashion-MNIST mistakes are a seeded random
sample (seed 0) of the shipped model's test mistakes; the ImageNet ones follow
``introspect.imagenet.views.closest_calls``. Maps are stored as float16.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import introspect  # noqa: F401  (silences TensorFlow's start-up lines)
from introspect import data, evaluation, models, saliency
from introspect.imagenet import views

ROOT = Path(__file__).resolve().parents[1]
N_EVAL = 160
FASHION = dict(steps=300)
IMAGENET = dict(steps=300, mask_size=28, batch_size=4)


def eval_sample(mistakes, n: int = N_EVAL, seed: int = 0) -> np.ndarray:
    """Positions (into ``mistakes``) of the seeded random sample of mistakes the methods are measured on."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(len(mistakes), size=min(n, len(mistakes)), replace=False))


def main() -> None:
    start = time.perf_counter()
    model = models.load_pretrained("fashion_cnn")
    _, (x_test, y_test) = data.load_fashion_mnist()
    mistakes = evaluation.gather_mistakes(model, x_test, y_test)
    chosen = eval_sample(mistakes)
    x = x_test[mistakes.indices[chosen]]
    predicted, true = mistakes.predicted[chosen], mistakes.true[chosen]
    fashion_pred = saliency.meaningful_perturbation(model, x, predicted, **FASHION)
    fashion_contrast = saliency.meaningful_perturbation(model, x, predicted, foil=true, **FASHION)

    net = models.load_pretrained("efficientnet_lite0")
    images, label_sets, names = views.load_views()
    table = views.mistakes_table(models.predict_proba(net, images, batch_size=16), label_sets, names)
    shown = views.closest_calls(table)
    rows = table.set_index("view").loc[shown]
    positions = [names.index(v) for v in shown]
    imagenet_contrast = saliency.meaningful_perturbation(net, images[positions], rows["predicted"].to_numpy(),
                                                         foil=rows["true"].to_numpy(), **IMAGENET)
    out = ROOT / "data" / "results" / "02_meaningful_perturbation.npz"
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, fashion_test_indices=mistakes.indices[chosen],
                        fashion_pred=fashion_pred.astype(np.float16),
                        fashion_contrast=fashion_contrast.astype(np.float16),
                        imagenet_views=np.array(shown), imagenet_contrast=imagenet_contrast.astype(np.float16),
                        seconds=np.float32(time.perf_counter() - start))
    print(f"wrote {out} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
