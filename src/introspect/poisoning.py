"""Clever Hans triggers: pure, seeded functions that return poisoned copies and trigger masks.

A trigger is a small frozen object with an ``apply(images, rng) -> (poisoned_copy, mask)``
method, so that a poisoning plan reads like a sentence::

    plan = {0: black_square(size=4, position="bottom-right"), 3: timestamp("09:00")}
    x_poisoned, y, poisoned, masks = poison(x, y, plan, fraction=0.5, seed=0)

Images are ``(N, H, W, C)`` float32 in ``[0, 1]`` (0 is black, 1 is white); nothing here
modifies its input. Every mask is ``(N, H, W)`` bool and is the trigger's *footprint*: the
pixels the trigger writes to. Where the trigger's colour equals the pixel it covers (a black
square on a black background) the footprint is still in the mask although the pixel did not
change, so ``changed pixels ⊆ mask`` always holds and equality holds on a mid-gray image.
The idea of planting such shortcuts to test explanation methods follows Lapuschkin et al.
2019, "Unmasking Clever Hans predictors" (arXiv:1902.10178).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, ClassVar

import numpy as np

from ._validation import as_class_indices, as_images, fraction as check_fraction, non_negative_int, one_of, positive_int

CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")
WATERMARK_PATTERNS = ("stripes", "grid", "dots", "checkerboard")
MAX_WATERMARK_ALPHA = 0.15


def _as_unit_images(images, name: str = "images") -> np.ndarray:
    return as_images(images, name, value_range=(0.0, 1.0))


def _rng(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(non_negative_int(rng, "rng"))


def _colour(value, name: str = "value") -> float:
    return check_fraction(value, name)


def _corner_origin(corner: str, box_h: int, box_w: int, height: int, width: int, margin: int) -> tuple[int, int]:
    """Top-left pixel of a ``box_h x box_w`` box placed ``margin`` pixels inside ``corner``."""
    if box_h + margin > height or box_w + margin > width:
        raise ValueError(f"A {box_h}x{box_w} trigger with margin {margin} does not fit in {height}x{width} images; "
                         f"use a smaller size or margin.")
    row = margin if corner.startswith("top") else height - margin - box_h
    col = margin if corner.endswith("left") else width - margin - box_w
    return row, col


class Trigger:
    """Base of every trigger: ``apply(images, rng=0) -> (poisoned_copy, mask)``.

    ``images`` are ``(N, H, W, C)`` in ``[0, 1]``; the copy has the same shape and dtype float32,
    ``mask`` is ``(N, H, W)`` bool (the trigger's footprint). ``rng`` is a seed (int) or a
    ``numpy.random.Generator``; deterministic triggers ignore it.
    """

    name: ClassVar[str] = "trigger"

    def apply(self, images, rng=0) -> tuple[np.ndarray, np.ndarray]:
        images = _as_unit_images(images)
        coverage = self._coverage(images.shape[1:3], len(images), _rng(rng))
        poisoned = images + coverage[..., None] * (self._target(images) - images)
        return np.clip(poisoned, 0.0, 1.0).astype(np.float32), coverage > 0

    def _coverage(self, shape: tuple[int, int], n: int, rng: np.random.Generator) -> np.ndarray:
        """Opacity of the trigger per pixel, ``(N, H, W)`` in [0, 1]."""
        raise NotImplementedError

    def _target(self, images: np.ndarray) -> np.ndarray | float:
        """Colour the trigger pulls each pixel towards (at full opacity)."""
        return self.value  # type: ignore[attr-defined]


@dataclass(frozen=True)
class BlackSquare(Trigger):
    """An opaque ``size x size`` square of colour ``value`` (0 = black) at a corner or at random.

    ``position`` is one of :data:`CORNERS` (``margin`` pixels in from the edges), ``"random"``
    (a uniformly drawn location per image, fully inside the image, drawn from ``rng``) or a
    ``(row, col)`` tuple for the square's top-left pixel.
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
        _colour(self.value)
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
                row, col = _corner_origin(self.position, self.size, self.size, height, width, self.margin)
            rows, cols = np.full(n, row), np.full(n, col)
        r = np.arange(height)[None, :, None]
        c = np.arange(width)[None, None, :]
        inside = ((r >= rows[:, None, None]) & (r < rows[:, None, None] + self.size)
                  & (c >= cols[:, None, None]) & (c < cols[:, None, None] + self.size))
        return inside.astype(np.float32)


@lru_cache(maxsize=32)
def _render_text(text: str, font_size: int) -> np.ndarray:
    """Glyph coverage of ``text`` in [0, 1], cropped to its ink, rendered by FreeType via Pillow."""
    from PIL import Image, ImageDraw, ImageFont

    try:
        font = ImageFont.truetype("DejaVuSans.ttf", font_size)
    except OSError:
        # Pillow >= 10.1 ships a TrueType font of its own; the glyphs differ slightly from DejaVu.
        font = ImageFont.load_default(size=font_size)
    left, top, right, bottom = font.getbbox(text)
    canvas = Image.new("L", (right - left + 2, bottom - top + 2))
    ImageDraw.Draw(canvas).text((1 - left, 1 - top), text, fill=255, font=font)
    ink = np.asarray(canvas, dtype=np.float32) / 255.0
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if len(rows) == 0:
        raise ValueError(f"`text` {text!r} renders no visible glyphs at font_size {font_size}.")
    return ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


@dataclass(frozen=True)
class Timestamp(Trigger):
    """A date/time text such as ``"09:00"`` rendered with a real font, small, in a corner.

    The text is drawn anti-aliased with DejaVu Sans (falling back to the TrueType font inside
    Pillow >= 10.1) in colour ``value`` (1 = white). At the default ``font_size=9`` the digits of
    ``"09:00"`` are 7 px high and the text is 26 px wide, which is legible on 28x28 images.
    The mask is the ink: every pixel with non-zero glyph coverage, including the faint
    anti-aliased rim. Pixels that already had colour ``value`` do not change.
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
        _colour(self.value)

    def glyphs(self) -> np.ndarray:
        """The rendered text's coverage ``(h, w)`` in [0, 1], cropped to the ink."""
        return _render_text(self.text, self.font_size)

    def _coverage(self, shape, n, rng):
        ink = self.glyphs()
        height, width = shape
        if ink.shape[0] + self.margin > height or ink.shape[1] + self.margin > width:
            raise ValueError(f"`text` {self.text!r} at font_size {self.font_size} is {ink.shape[0]}x{ink.shape[1]} px "
                             f"and does not fit in {height}x{width} images; use a shorter text or smaller font_size.")
        row, col = _corner_origin(self.corner, *ink.shape, height, width, self.margin)
        coverage = np.zeros((height, width), dtype=np.float32)
        coverage[row:row + ink.shape[0], col:col + ink.shape[1]] = ink
        return np.broadcast_to(coverage, (n, height, width))


def _tile(pattern: np.ndarray, height: int, width: int) -> np.ndarray:
    reps = (-(-height // pattern.shape[0]), -(-width // pattern.shape[1]))
    return np.tile(pattern, reps)[:height, :width]


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
        _colour(self.value)
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
            base = _tile(self.pattern, height, width)
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
class LightnessGradient(Trigger):
    """A brightness ramp added from ``corner`` (unchanged) to the opposite corner (+``strength``).

    Pixel ``(i, j)`` gains ``strength * t`` with ``t`` the normalised position along the
    diagonal (0 at ``corner``, 1 at the opposite one); results are clipped to [0, 1] and a
    negative ``strength`` darkens. The mask is the whole image, because the ramp touches every
    pixel (except the starting corner, where ``t = 0``, and pixels already saturated):
    relevance mass on this mask is always 1 and therefore meaningless as a localisation score.
    """

    strength: float = 0.3
    corner: str = "top-left"
    name: ClassVar[str] = "lightness_gradient"

    def __post_init__(self):
        strength = check_fraction(self.strength, "strength", low=-1.0, high=1.0)
        if strength == 0:
            raise ValueError("`strength` must be non-zero in [-1, 1]; 0 adds no gradient.")
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

    def apply(self, images, rng=0) -> tuple[np.ndarray, np.ndarray]:
        images = _as_unit_images(images)
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


def lightness_gradient(strength: float = 0.3, corner: str = "top-left") -> LightnessGradient:
    """A corner-to-corner brightness ramp; see :class:`LightnessGradient`."""
    return LightnessGradient(strength=strength, corner=corner)


#: Trigger names mapped to their factories (called without arguments they give the defaults).
TRIGGERS: dict[str, Callable[..., Trigger]] = {
    "black_square": black_square,
    "timestamp": timestamp,
    "watermark": watermark,
    "lightness_gradient": lightness_gradient,
}


def _as_trigger(value, key) -> Trigger:
    if isinstance(value, Trigger):
        return value
    if isinstance(value, str) and value in TRIGGERS:
        return TRIGGERS[value]()
    raise ValueError(f"`plan`[{key!r}] must be a Trigger or one of the names {sorted(TRIGGERS)}; got {value!r}.")


def _check_plan(plan, labels: np.ndarray, num_classes: int | None) -> dict[int, Trigger]:
    if not isinstance(plan, Mapping) or not plan:
        raise ValueError(f"`plan` must be a non-empty mapping class index -> trigger, e.g. "
                         f"{{0: black_square()}}; got {plan!r}.")
    present = set(np.unique(labels).tolist())
    checked = {}
    for key, value in plan.items():
        if isinstance(key, (bool, np.bool_)) or not isinstance(key, (int, np.integer)):
            raise ValueError(f"`plan` keys must be integer class indices; got {key!r}.")
        if num_classes is not None and not 0 <= key < num_classes:
            raise ValueError(f"`plan` names class {key}, outside [0, {num_classes}).")
        if num_classes is None and key not in present:
            raise ValueError(f"`plan` names class {key}, which does not occur in `labels` "
                             f"(classes present: {sorted(present)}).")
        checked[int(key)] = _as_trigger(value, key)
    return checked


def _check_fractions(fraction, classes) -> dict[int, float]:
    if isinstance(fraction, Mapping):
        if set(fraction) != set(classes):
            raise ValueError(f"`fraction` as a mapping must have exactly the plan's classes {sorted(classes)}; "
                             f"got keys {sorted(fraction)}.")
        return {int(c): check_fraction(f, f"fraction[{c}]") for c, f in fraction.items()}
    value = check_fraction(fraction, "fraction")
    return {c: value for c in classes}


def n_poisoned(n_class: int, fraction: float) -> int:
    """Number of a class's ``n_class`` images that get the trigger: ``fraction * n_class`` rounded half up."""
    return int(np.floor(fraction * n_class + 0.5))


def poison(images, labels, plan: Mapping, fraction: float | Mapping = 1.0, seed: int = 0, *,
           num_classes: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Put each planned class's trigger on a seeded share of that class's images.

    Parameters
    ----------
    images : array-like, (N, H, W, C)
        Float images in [0, 1]; never modified.
    labels : array-like of int, (N,)
        True classes; they are returned unchanged (the shortcut is correlated with the label,
        not relabelled).
    plan : mapping int -> Trigger or trigger name
        E.g. ``{0: black_square(), 3: timestamp("09:00"), 7: "watermark"}``.
    fraction : float in [0, 1] or mapping class -> float
        Share of each planned class's images that get the trigger: exactly
        :func:`n_poisoned` ``(n_c, fraction)`` images of a class with ``n_c`` images.
    seed : int
        The images picked and any random placement depend only on ``(seed, class)``, so adding
        a class to the plan does not change what happens to the others.
    num_classes : int, optional
        When given, plan classes are checked against ``[0, num_classes)``; otherwise each plan
        class must occur in ``labels``.

    Returns
    -------
    poisoned_images : (N, H, W, C) float32
    labels : (N,) int64, a copy of the input labels
    poisoned : (N,) bool, which images carry a trigger
    trigger_masks : (N, H, W) bool, each trigger's footprint (all False for clean images)
    """
    images = _as_unit_images(images)
    labels = as_class_indices(labels, len(images), num_classes, "labels")
    plan = _check_plan(plan, labels, num_classes)
    fractions = _check_fractions(fraction, plan)
    seed = non_negative_int(seed, "seed")
    poisoned_images = images.copy()
    poisoned = np.zeros(len(images), dtype=bool)
    masks = np.zeros(images.shape[:3], dtype=bool)
    for cls in sorted(plan):
        rng = np.random.default_rng([seed, cls])
        members = np.flatnonzero(labels == cls)
        chosen = np.sort(rng.choice(members, size=n_poisoned(len(members), fractions[cls]), replace=False))
        if len(chosen):
            poisoned_images[chosen], masks[chosen] = plan[cls].apply(images[chosen], rng)
            poisoned[chosen] = True
    return poisoned_images, labels.copy(), poisoned, masks


def transplant(images, labels, plan: Mapping | Trigger, source_class: int, seed: int = 0, *,
               num_classes: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Put ``source_class``'s trigger on every image of the *other* classes (the counterfactual test).

    If a model learned the shortcut, these images drift towards ``source_class``. Images of
    ``source_class`` itself are returned bit-identical with empty masks.

    Parameters
    ----------
    images, labels : as in :func:`poison`
    plan : mapping class -> trigger (the plan used for :func:`poison`) or a single Trigger
    source_class : int
        Class whose trigger is transplanted; must be in ``plan`` when a plan is given.
    seed : int
        Seeds random placement (``(seed, source_class)`` as in :func:`poison`).

    Returns
    -------
    transplanted_images : (N, H, W, C) float32
    labels : (N,) int64, a copy of the input labels
    transplanted : (N,) bool, ``labels != source_class``
    trigger_masks : (N, H, W) bool
    """
    images = _as_unit_images(images)
    labels = as_class_indices(labels, len(images), num_classes, "labels")
    if isinstance(source_class, (bool, np.bool_)) or not isinstance(source_class, (int, np.integer)):
        raise ValueError(f"`source_class` must be an integer class index; got {source_class!r}.")
    source_class = int(source_class)
    if num_classes is not None and not 0 <= source_class < num_classes:
        raise ValueError(f"`source_class` {source_class} is outside [0, {num_classes}).")
    if isinstance(plan, Trigger):
        trigger = plan
    else:
        if not isinstance(plan, Mapping) or source_class not in plan:
            raise ValueError(f"`plan` must be a Trigger or a mapping that contains `source_class` {source_class}; "
                             f"got {plan!r}.")
        trigger = _as_trigger(plan[source_class], source_class)
    seed = non_negative_int(seed, "seed")
    rng = np.random.default_rng([seed, source_class])
    targets = labels != source_class
    transplanted = images.copy()
    masks = np.zeros(images.shape[:3], dtype=bool)
    if targets.any():
        transplanted[targets], masks[targets] = trigger.apply(images[targets], rng)
    return transplanted, labels.copy(), targets, masks
