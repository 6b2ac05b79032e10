"""Right for the Right Reasons with its defaults on a Clever Hans case that is not notebook 01's.

    python scripts/repair_own_case.py                 # the MLP case below
    python scripts/repair_own_case.py --model cnn     # the same data, the package's Fashion CNN
    python scripts/repair_own_case.py --seeds 0 1 2   # repeat with other seeds
    python scripts/repair_own_case.py --trigger dots  # a faint dot watermark over the whole image instead

A trigger of this script's own, a white 5x5 "X" one pixel in from the bottom-left corner
(:class:`CornerCross`), on every Pullover (class 2) of a stratified 20,000-image Fashion-MNIST
training set; notebook 01 plants a square, a time stamp, stripes and a ramp on T-shirt, Dress, Sandal
and Bag. A small MLP (784-256-128-10, ReLU; notebook 01 uses the BatchNorm CNN) is trained three
ways with one schedule (5 epochs, batches of 64, Adam 1e-3 with cosine decay): on the poisoned set
(``poisoned``), on the same images without the trigger (``control``), and by
``repair.right_for_the_right_reasons(poisoned, x_poisoned, y, trigger_masks)`` with every default
(``repaired``: inpainted counterexamples, ``weight="auto"``, from scratch). Printed for each: the
Pullover's accuracy on the 1,000 clean test Pullovers, the overall accuracy on the 10,000 clean
test images, and the transplant flip (the 9,000 other test images with the X pasted on, share
predicted Pullover); then the weight "auto" chose. The goal: the repaired Pullover within 10
points of the control and the overall accuracy within 2 points.

Printed by ``python scripts/repair_own_case.py --seeds 0 1 2`` (122 s on 2 CPU cores shared with
other jobs)::

    mlp, cross: Pullover clean accuracy / overall clean accuracy / transplant flip
    seed 0 poisoned  0.000  0.8028  0.598
    seed 0 repaired  0.856  0.8605  0.047
    seed 0 control   0.780  0.8656  0.020
    seed 0 weight 'auto' chose 14.4 (cross-entropy 2.46 / penalty scale 0.171); 2000 counterexamples
    seed 1 poisoned  0.000  0.8024  0.568
    seed 1 repaired  0.866  0.8601  0.047
    seed 1 control   0.776  0.8674  0.027
    seed 1 weight 'auto' chose 18.5 (cross-entropy 2.48 / penalty scale 0.134); 2000 counterexamples
    seed 2 poisoned  0.000  0.8015  0.584
    seed 2 repaired  0.853  0.8605  0.046
    seed 2 control   0.761  0.8629  0.025
    seed 2 weight 'auto' chose 15.6 (cross-entropy 2.36 / penalty scale 0.151); 2000 counterexamples

by ``--trigger dots`` (71 s)::

    seed 0 poisoned  0.008  0.8010  0.374
    seed 0 repaired  0.862  0.8599  0.048
    seed 0 control   0.780  0.8656  0.027
    seed 0 weight 'auto' chose 2.25 (cross-entropy 2.45 / penalty scale 1.09); 2000 counterexamples

and by ``--model cnn`` (380 s)::

    seed 0 poisoned  0.000  0.8268  0.878
    seed 0 repaired  0.884  0.8943  0.040
    seed 0 control   0.844  0.9002  0.017
    seed 0 weight 'auto' chose 0.339 (cross-entropy 2.81 / penalty scale 8.27); 2000 counterexamples

The goal holds in every run: the repaired Pullover is 4-9 points *above* the control (the
counterexamples double the Pullovers in the training set) and the overall accuracy 0.5-0.7 points
below it; the transplant flip falls from 0.37-0.88 to 0.04-0.05 (control 0.02-0.03).

The first rule tried for ``weight="auto"``, the ratio of the raw loss terms before the first update,
chose 434 for this MLP (Pullover 0.871, overall 0.8404: 2.5 points below the control) and 0.078 for
notebook 01's CNN (overall 0.829 against the control's 0.8945 and 0.870 at the hand-picked 0.01):
with near-uniform initial predictions the raw penalty nearly vanishes. The rule kept measures the
penalty the model has once it is confident (``repair.right_for_the_right_reasons``' docstring); it
chooses 0.0100 on notebook 01's data, where the repair then matches the hand-picked weight's
(overall 0.8695; square, time stamp, watermark, ramp classes 0.843, 0.845, 0.971, 0.912).
Fixed weights on this MLP with counterexamples (seed 0): 0.01 leaves a transplant flip of 0.24,
0.1 to 30 repair it with the overall accuracy within 0.7 points of the control.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

import introspect  # noqa: F401  -- first: silences TensorFlow's start-up messages
from introspect import data, models, poisoning
from introspect.poisoning.base import Trigger, corner_origin
from introspect.repair import right_for_the_right_reasons

POISONED_CLASS = 2      # Pullover
N_TRAIN = 20000
SCHEDULE = dict(epochs=5, batch_size=64, learning_rate=1e-3)


@dataclass(frozen=True)
class CornerCross(Trigger):
    """A ``size x size`` "X" of colour ``value`` (its two diagonals) ``margin`` pixels in from ``corner``."""

    size: int = 5
    corner: str = "bottom-left"
    value: float = 1.0
    margin: int = 1
    name: ClassVar[str] = "corner_cross"

    def _coverage(self, shape, n, rng):
        height, width = shape
        row, col = corner_origin(self.corner, self.size, self.size, height, width, self.margin)
        cross = np.zeros((height, width), np.float32)
        steps = np.arange(self.size)
        cross[row + steps, col + steps] = 1.0
        cross[row + steps, col + self.size - 1 - steps] = 1.0
        return np.broadcast_to(cross, (n, height, width))


def build_mlp(seed: int):
    """784-256-128-10, ReLU, logits."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((28, 28, 1))
    hidden = keras.layers.Flatten()(inputs)
    hidden = keras.layers.Dense(256, activation="relu")(hidden)
    hidden = keras.layers.Dense(128, activation="relu")(hidden)
    return keras.Model(inputs, keras.layers.Dense(10)(hidden), name="mlp")


BUILDERS = {"mlp": build_mlp, "cnn": lambda seed: models.build_fashion_cnn(seed=seed)}
#: The X (9 pixels) or white dots every 4 pixels blended at alpha 0.15 (49 pixels spread over the image).
TRIGGERS = {"cross": CornerCross, "dots": lambda: poisoning.watermark("dots", alpha=0.15, period=4)}


def measure(model, x_test, y_test, moved, others) -> dict:
    """Pullover clean accuracy, overall clean accuracy, transplant flip."""
    predicted = models.predict_logits(model, x_test).argmax(axis=1)
    flipped = models.predict_logits(model, moved[others]).argmax(axis=1) == POISONED_CLASS
    own = y_test == POISONED_CLASS
    return {"class": np.mean(predicted[own] == POISONED_CLASS), "overall": np.mean(predicted == y_test),
            "flip": np.mean(flipped)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(BUILDERS), default="mlp")
    parser.add_argument("--trigger", choices=sorted(TRIGGERS), default="cross")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args(argv)
    start = time.perf_counter()
    (x, y), (x_test, y_test) = data.load_fashion_mnist(limit=N_TRAIN)
    plan = {POISONED_CLASS: TRIGGERS[args.trigger]()}
    x_poisoned, _, _, masks = poisoning.poison(x, y, plan, 1.0, seed=0)
    moved, _, others, _ = poisoning.transplant(x_test, y_test, plan, POISONED_CLASS, seed=0)
    print(f"{args.model}, {args.trigger}: Pullover clean accuracy / overall clean accuracy / transplant flip")
    for seed in args.seeds:
        results = {}
        for name, images in (("poisoned", x_poisoned), ("control", x)):
            model = BUILDERS[args.model](seed)
            models.train(model, images, y, seed=seed, verbose=0, **SCHEDULE)
            results[name] = model
        results["repaired"] = right_for_the_right_reasons(results["poisoned"], x_poisoned, y, masks, seed=seed,
                                                          progress=False, **SCHEDULE)
        for name in ("poisoned", "repaired", "control"):
            row = measure(results[name], x_test, y_test, moved, others)
            print(f"seed {seed} {name:9s} {row['class']:.3f}  {row['overall']:.4f}  {row['flip']:.3f}")
        log = results["repaired"].rrr_log
        print(f"seed {seed} weight 'auto' chose {log.weight:.3g} (cross-entropy {log.start_cross_entropy:.3g} / "
              f"penalty scale {log.start_penalty_scale:.3g}); {log.n_counterexamples} counterexamples", flush=True)
    print(f"{time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
