"""Clever Hans triggers: pure, seeded functions that return poisoned copies and trigger masks.

A trigger is a small frozen object with an ``apply(images, rng) -> (poisoned_copy, mask)``
method (:mod:`.triggers`, over the base class of :mod:`.base`); a plan maps classes to
triggers (:mod:`.plans`), so that poisoning reads like a sentence::

    plan = {0: black_square(size=4, position="bottom-right"), 3: timestamp("09:00")}
    x_poisoned, y, poisoned, masks = poison(x, y, plan, fraction=0.5, seed=0)

Images are ``(N, H, W, C)`` float32 in ``[0, 1]`` (0 is black, 1 is white); nothing here
modifies its input. Every mask is ``(N, H, W)`` bool and is the trigger's *footprint*: the
pixels the trigger writes to, so ``changed pixels ⊆ mask`` always holds and equality holds on a
mid-gray image. The idea of planting such shortcuts to test explanation methods follows
Lapuschkin et al. 2019, "Unmasking Clever Hans predictors" (arXiv:1902.10178). Triggers know
nothing of explanations.
"""
from .base import CORNERS, Trigger
from .plans import n_poisoned, poison, transplant
from .text import render_text
from .triggers import (MAX_WATERMARK_ALPHA, TRIGGERS, WATERMARK_PATTERNS, BlackSquare, LightnessGradient,
                       LightnessRamp, Timestamp, Watermark, black_square, lightness_gradient, lightness_ramp,
                       timestamp, watermark)

__all__ = [
    "CORNERS", "MAX_WATERMARK_ALPHA", "TRIGGERS", "WATERMARK_PATTERNS",
    "Trigger", "BlackSquare", "Timestamp", "Watermark", "LightnessRamp",
    "black_square", "timestamp", "watermark", "lightness_ramp",
    "poison", "transplant", "n_poisoned", "render_text",
    # deprecated aliases of LightnessRamp / lightness_ramp
    "LightnessGradient", "lightness_gradient",
]
