"""Precompute notebook 02's meaningful-perturbation maps at the paper's settings (300 Adam steps).

    python scripts/meaningful_perturbation_02.py      # writes data/results/02_meaningful_perturbation.npz
    python scripts/meaningful_perturbation_02.py --imagenet-only   # recomputes the ImageNet maps, keeps the rest

Meaningful perturbation (Fong & Vedaldi, arXiv:1704.03296) optimises one mask per image and
target: 300 steps on 160 Fashion-MNIST mistakes (predicted-class and contrastive maps) and, on
EfficientNet-Lite0, a 28 x 28 mask for the contrastive score of ImageNet top-1 mistakes of
``introspect.imagenet.views``. At the 16 image-steps per second measured on two shared cores, all 117
mistakes (12 photos) would take about 40 minutes, so the ImageNet part keeps **one mistake per (photo,
predicted class) pair**, the closest call (highest ``p_true / p_predicted``; :func:`imagenet_sample`):
45 views of 12 photos, 933 s. That is more than a notebook run may take, so notebook 02 loads these maps (and recomputes a few with 10 steps in
quick mode). The Fashion-MNIST mistakes are a seeded random sample (seed 0) of the shipped model's
test mistakes, with the method's defaults. For the ImageNet views the contrastive logit margin has
no lower bound, so the score counts only down to the fully blurred view's (``floor=0``), and the
total-variation weight is raised so that the mask forms regions rather than scattered cells on a
28 x 28 grid (see ``IMAGENET``). Maps are stored as float16. With ``--imagenet-only`` the Fashion-MNIST
arrays of the existing file are kept as they are (same sample, same maps) and only the ImageNet maps are
recomputed, for a changed ImageNet error set.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import introspect  # noqa: F401  (silences TensorFlow's start-up lines)
from introspect import data, evaluation, models, saliency
from introspect.imagenet import views

ROOT = Path(__file__).resolve().parents[1]
N_EVAL = 160
FASHION = dict(steps=300)
#: The paper's TV weight in this method's units (1e-2 summed over the 2 x 28 x 27 neighbour pairs of a
#: 28 x 28 mask is about 15 on their mean); with the default 0.2 the mask deletes scattered cells.
TV_COEFF_IMAGENET = 15.0
IMAGENET = dict(steps=300, mask_size=28, batch_size=4, floor=0.0, tv_coeff=TV_COEFF_IMAGENET)


def eval_sample(mistakes, n: int = N_EVAL, seed: int = 0) -> np.ndarray:
    """Positions (into ``mistakes``) of the seeded random sample of mistakes the methods are measured on."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(len(mistakes), size=min(n, len(mistakes)), replace=False))


OUT = ROOT / "data" / "results" / "02_meaningful_perturbation.npz"
FASHION_KEYS = ("fashion_test_indices", "fashion_pred", "fashion_contrast")


def imagenet_sample(table) -> "pd.DataFrame":
    """The mistakes of :func:`views.mistakes_table` that get a mask: per (photo, predicted class) pair, the
    closest call (highest ``ratio``; ties to the first view), in the table's order."""
    wrong = table[table["mistake"]]
    best = wrong.sort_values("ratio", ascending=False, kind="stable").drop_duplicates(["photo", "predicted"])
    return wrong.loc[sorted(best.index)]


def fashion_maps() -> dict:
    """The Fashion-MNIST part: the sampled test mistakes and their two kinds of masks."""
    model = models.load_pretrained("fashion_cnn")
    _, (x_test, y_test) = data.load_fashion_mnist()
    mistakes = evaluation.gather_mistakes(model, x_test, y_test)
    chosen = eval_sample(mistakes)
    x = x_test[mistakes.indices[chosen]]
    predicted, true = mistakes.predicted[chosen], mistakes.true[chosen]
    fashion_pred = saliency.meaningful_perturbation(model, x, predicted, **FASHION)
    fashion_contrast = saliency.meaningful_perturbation(model, x, predicted, foil=true, **FASHION)
    return dict(fashion_test_indices=mistakes.indices[chosen], fashion_pred=fashion_pred.astype(np.float16),
                fashion_contrast=fashion_contrast.astype(np.float16))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imagenet-only", action="store_true",
                        help=f"keep the Fashion-MNIST arrays of {OUT.name}; recompute only the ImageNet maps")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    if args.imagenet_only:
        with np.load(OUT) as previous:
            fashion = {key: previous[key] for key in FASHION_KEYS}
    else:
        fashion = fashion_maps()
    imagenet_start = time.perf_counter()
    net = models.load_pretrained("efficientnet_lite0")
    images, label_sets, names = views.load_views()
    table = views.mistakes_table(models.predict_proba(net, images, batch_size=16), label_sets, names)
    wrong = imagenet_sample(table)
    positions = [names.index(v) for v in wrong["view"]]
    imagenet_contrast = saliency.meaningful_perturbation(net, images[positions], wrong["predicted"].to_numpy(),
                                                         foil=wrong["true"].to_numpy(), **IMAGENET)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **fashion, imagenet_views=wrong["view"].to_numpy(dtype=str),
                        imagenet_contrast=imagenet_contrast.astype(np.float16),
                        seconds=np.float32(time.perf_counter() - start),
                        imagenet_seconds=np.float32(time.perf_counter() - imagenet_start))
    print(f"wrote {OUT} in {time.perf_counter() - start:.0f} s "
          f"(ImageNet part {time.perf_counter() - imagenet_start:.0f} s, {len(wrong)} views)")


if __name__ == "__main__":
    main()
