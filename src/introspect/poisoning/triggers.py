"""The Clever Hans triggers and their registry: a new trigger is a class here plus one line in :data:`TRIGGERS`.

Each trigger is a small frozen object (see :class:`~.base.Trigger`) with a factory function of
the same name in snake_case. Every mask is the trigger's *footprint*: the pixels the trigger
writes to. Where the trigger's colour equals the pixel it covers (a black square on a black
background) the footprint is still in the mask although the pixel did not change, so
``changed pixels ⊆ mask`` always holds and equality holds on a mid-gray image.
"""
from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from typing import Callable, ClassVar

import numpy as np

from .._validation import fraction as check_fraction, non_negative_int, one_of, positive_int
from .base import CORNERS, Trigger, as_unit_images, corner_origin
from .text import render_text

WATERMARK_PATTERNS = ("stripes", "grid", "dots", "checkerboard")
MAX_WATERMARK_ALPHA = 0.15


@dataclass(frozen=True)
class BlackSquare(Trigger):
    """An opaque ``size x size`` square of colour ``value`` (0 = black) at a corner or at random.

    ``position`` is one of :data:`~.base.CORNERS` (``margin`` pixels in from the edges),
    ``"random"`` (a uniformly drawn location per image, fully inside the image, drawn from
    ``rng``) or a ``(row, col)`` tuple for the square's top-left pixel.
    The mask is the square. Pixels that already had colour ``value`` do not change: on
    Fashion-MNIST the corners are black, so a black corner square is invisible there (use
    ``position="random"`` or ``value=1.0`` for a white square if the trigger must be seen).
    """

    size: int = 4
    position: str | tuple[int, int] = "bottom-right"
    value: float = 0.0
    margin: int = 1
    name: ClassVar[str] = "black_square"

    def __post_init__(self):
        positive_int(self.size, "size")
        non_negative_int(self.margin, "margin")
        check_fraction(self.value, "value")
        if isinstance(self.position, tuple):
            if len(self.position) != 2:
                raise ValueError(f"`position` as a tuple must be (row, col); got {self.position!r}.")
            for axis in self.position:
                non_negative_int(axis, "position")
        else:
            one_of(self.position, (*CORNERS, "random"), "position")

    def _coverage(self, shape, n, rng):
        height, width = shape
        if self.size > height or self.size > width:
            raise ValueError(f"`size` {self.size} does not fit in {height}x{width} images.")
        if self.position == "random":
            rows = rng.integers(0, height - self.size + 1, size=n)
            cols = rng.integers(0, width - self.size + 1, size=n)
        else:
            if isinstance(self.position, tuple):
                row, col = self.position
                if row + self.size > height or col + self.size > width:
                    raise ValueError(f"`position` {self.position} puts a {self.size}-pixel square outside "
                                     f"{height}x{width} images.")
            else:
                row, col = corner_origin(self.position, self.size, self.size, height, width, self.margin)
            rows, cols = np.full(n, row), np.full(n, col)
        r = np.arange(height)[None, :, None]
        c = np.arange(width)[None, None, :]
        inside = ((r >= rows[:, None, None]) & (r < rows[:, None, None] + self.size)
                  & (c >= cols[:, None, None]) & (c < cols[:, None, None] + self.size))
        return inside.astype(np.float32)


@dataclass(frozen=True)
class Timestamp(Trigger):
    """A date/time text such as ``"09:00"`` rendered with a real font, small, in a corner.

    The text is drawn anti-aliased with DejaVu Sans (falling back to the TrueType font inside
    Pillow >= 10.1; see :func:`~.text.render_text`) in colour ``value`` (1 = white). At the
    default ``font_size=9`` the digits of ``"09:00"`` are 7 px high and the text is 26 px wide,
    which is legible on 28x28 images. The mask is the ink: every pixel with non-zero glyph
    coverage, including the faint anti-aliased rim. Pixels that already had colour ``value`` do
    not change.
    """

    text: str = "09:00"
    corner: str = "bottom-right"
    font_size: int = 9
    value: float = 1.0
    margin: int = 1
    name: ClassVar[str] = "timestamp"

    def __post_init__(self):
        if not isinstance(self.text, str) or not self.text.strip():
            raise ValueError(f"`text` must be a non-empty string such as '09:00'; got {self.text!r}.")
        one_of(self.corner, CORNERS, "corner")
        positive_int(self.font_size, "font_size")
        non_negative_int(self.margin, "margin")
        check_fraction(self.value, "value")

    def glyphs(self) -> np.ndarray:
        """The rendered text's coverage ``(h, w)`` in [0, 1], cropped to the ink."""
        return render_text(self.text, self.font_size)

    def _coverage(self, shape, n, rng):
        ink = self.glyphs()
        height, width = shape
        if ink.shape[0] + self.margin > height or ink.shape[1] + self.margin > width:
            raise ValueError(f"`text` {self.text!r} at font_size {self.font_size} is {ink.shape[0]}x{ink.shape[1]} px "
                             f"and does not fit in {height}x{width} images; use a shorter text or smaller font_size.")
        row, col = corner_origin(self.corner, *ink.shape, height, width, self.margin)
        coverage = np.zeros((height, width), dtype=np.float32)
        coverage[row:row + ink.shape[0], col:col + ink.shape[1]] = ink
        return np.broadcast_to(coverage, (n, height, width))


@dataclass(frozen=True, eq=False)
class Watermark(Trigger):
    """A pattern blended across the whole image at low opacity ``alpha <= 0.15``.

    ``pattern`` is one of :data:`WATERMARK_PATTERNS` (1-px lines or dots every ``period``
    pixels) or a 2-D array in [0, 1] (a logo) that is tiled over the image. Each pixel moves
    towards colour ``value`` by ``alpha * pattern``. The mask is the pattern's support
    (``pattern > 0``): for these patterns spread across the image that is a large share of
    all pixels (about 1/period for stripes, 2/period for a grid, half for a checkerboard),
    so relevance mass on a watermark mask is a weak localisation test.
    """

    pattern: str | np.ndarray = "stripes"
    alpha: float = MAX_WATERMARK_ALPHA
    period: int = 4
    value: float = 1.0
    name: ClassVar[str] = "watermark"

    def __post_init__(self):
        alpha = check_fraction(self.alpha, "alpha", high=MAX_WATERMARK_ALPHA)
        if alpha == 0:
            raise ValueError(f"`alpha` must be in (0, {MAX_WATERMARK_ALPHA}]; got 0, which draws nothing.")
        positive_int(self.period, "period")
        check_fraction(self.value, "value")
        if isinstance(self.pattern, str):
            one_of(self.pattern, WATERMARK_PATTERNS, "pattern")
        else:
            array = np.asarray(self.pattern, dtype=np.float32)
            if array.ndim != 2 or array.size == 0 or not np.all(np.isfinite(array)) \
                    or array.min() < 0 or array.max() > 1 or array.max() == 0:
                raise ValueError("`pattern` must be one of "
                                 f"{WATERMARK_PATTERNS} or a non-empty, non-zero 2-D array (h, w) in [0, 1]; "
                                 f"got shape {array.shape}.")
            object.__setattr__(self, "pattern", array)

    def coverage(self, height: int, width: int) -> np.ndarray:
        """The blended pattern's opacity ``(H, W)``: ``alpha * pattern`` tiled over the image."""
        if isinstance(self.pattern, np.ndarray):
            reps = (-(-height // self.pattern.shape[0]), -(-width // self.pattern.shape[1]))
            base = np.tile(self.pattern, reps)[:height, :width]
        else:
            rows, cols = np.indices((height, width))
            p = self.period
            base = {
                "stripes": (rows + cols) % p == 0,
                "grid": (rows % p == 0) | (cols % p == 0),
                "dots": (rows % p == p // 2) & (cols % p == p // 2),
                "checkerboard": (rows // max(p // 2, 1) + cols // max(p // 2, 1)) % 2 == 0,
            }[self.pattern]
        return (self.alpha * np.asarray(base, dtype=np.float32)).astype(np.float32)

    def _coverage(self, shape, n, rng):
        return np.broadcast_to(self.coverage(*shape), (n, *shape))


@dataclass(frozen=True)
class LightnessRamp(Trigger):
    """A brightness ramp added from ``corner`` (unchanged) to the opposite corner (+``strength``).

    Pixel ``(i, j)`` gains ``strength * t`` with ``t`` the normalised position along the
    diagonal (0 at ``corner``, 1 at the opposite one); results are clipped to [0, 1] and a
    negative ``strength`` darkens. The mask is the whole image, because the ramp touches every
    pixel (except the starting corner, where ``t = 0``, and pixels already saturated):
    relevance mass on this mask is always 1 and therefore meaningless as a localisation score.
    (Called ``LightnessGradient`` before; the name is kept as a deprecated alias.)
    """

    strength: float = 0.3
    corner: str = "top-left"
    name: ClassVar[str] = "lightness_ramp"

    def __post_init__(self):
        strength = check_fraction(self.strength, "strength", low=-1.0, high=1.0)
        if strength == 0:
            raise ValueError("`strength` must be non-zero in [-1, 1]; 0 adds no ramp.")
        one_of(self.corner, CORNERS, "corner")

    def ramp(self, height: int, width: int) -> np.ndarray:
        """``t`` of the docstring, ``(H, W)`` in [0, 1]."""
        rows = np.linspace(0.0, 1.0, height) if height > 1 else np.zeros(1)
        cols = np.linspace(0.0, 1.0, width) if width > 1 else np.zeros(1)
        if self.corner.startswith("bottom"):
            rows = rows[::-1]
        if self.corner.endswith("right"):
            cols = cols[::-1]
        return ((rows[:, None] + cols[None, :]) / 2.0).astype(np.float32)

    def apply(self, images, rng: int | np.random.Generator = 0) -> tuple[np.ndarray, np.ndarray]:
        images = as_unit_images(images)
        ramp = self.ramp(*images.shape[1:3])
        poisoned = np.clip(images + self.strength * ramp[None, :, :, None], 0.0, 1.0).astype(np.float32)
        return poisoned, np.ones(images.shape[:3], dtype=bool)


def black_square(size: int = 4, position: str | tuple[int, int] = "bottom-right", *, value: float = 0.0,
                 margin: int = 1) -> BlackSquare:
    """An opaque square trigger; see :class:`BlackSquare`."""
    return BlackSquare(size=size, position=position, value=value, margin=margin)


def timestamp(text: str = "09:00", corner: str = "bottom-right", *, font_size: int = 9, value: float = 1.0,
              margin: int = 1) -> Timestamp:
    """A rendered date/time text in a corner; see :class:`Timestamp`."""
    return Timestamp(text=text, corner=corner, font_size=font_size, value=value, margin=margin)


def watermark(pattern: str | np.ndarray = "stripes", alpha: float = MAX_WATERMARK_ALPHA, *, period: int = 4,
              value: float = 1.0) -> Watermark:
    """A low-opacity pattern across the image (``alpha <= 0.15``); see :class:`Watermark`."""
    return Watermark(pattern=pattern, alpha=alpha, period=period, value=value)


def lightness_ramp(strength: float = 0.3, corner: str = "top-left") -> LightnessRamp:
    """A corner-to-corner brightness ramp; see :class:`LightnessRamp`."""
    return LightnessRamp(strength=strength, corner=corner)


#: Trigger names mapped to their factories (called without arguments they give the defaults).
TRIGGERS: dict[str, Callable[..., Trigger]] = {
    "black_square": black_square,
    "timestamp": timestamp,
    "watermark": watermark,
    "lightness_ramp": lightness_ramp,
}


# --- deprecated names, kept so that code written before the rename keeps working ---

def _warn_deprecated(old: str, new: str) -> None:
    # Point the warning at the first caller outside this package (the factory, the dataclass
    # __init__, __post_init__ and the plan checks all live in it).
    level, frame = 2, sys._getframe(1)
    while frame is not None and str(frame.f_globals.get("__name__")).startswith(__package__):
        level, frame = level + 1, frame.f_back
    warnings.warn(f"`{old}` is deprecated: use `{new}` (renamed so that the trigger cannot be confused with "
                  f"gradient saliency methods).", DeprecationWarning, stacklevel=level)


@dataclass(frozen=True)
class LightnessGradient(LightnessRamp):
    """Deprecated alias of :class:`LightnessRamp`; its ``name`` stays ``"lightness_gradient"``."""

    name: ClassVar[str] = "lightness_gradient"

    def __post_init__(self):
        _warn_deprecated("LightnessGradient / lightness_gradient", "LightnessRamp / lightness_ramp")
        super().__post_init__()


def lightness_gradient(strength: float = 0.3, corner: str = "top-left") -> LightnessGradient:
    """Deprecated alias of :func:`lightness_ramp` (a DeprecationWarning is issued)."""
    return LightnessGradient(strength=strength, corner=corner)


#: Names accepted in plans for backward compatibility, mapped to their (warning) factories.
DEPRECATED_TRIGGERS: dict[str, Callable[..., Trigger]] = {"lightness_gradient": lightness_gradient}
