"""Text rendered with a real font, for triggers that write on images (:class:`~.triggers.Timestamp`)."""
from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=32)
def render_text(text: str, font_size: int) -> np.ndarray:
    """Glyph coverage ``(h, w)`` of ``text`` in [0, 1], cropped to its ink, rendered by FreeType via Pillow.

    The font is DejaVu Sans; where it is not installed, the TrueType font inside Pillow >= 10.1
    (whose glyphs differ slightly). Results are cached; ``render_text.cache_clear()`` empties
    the cache (e.g. after the installed fonts change).

    Raises ``ValueError`` naming ``text`` when nothing visible is drawn.
    """
    from PIL import Image, ImageDraw, ImageFont

    try:
        font = ImageFont.truetype("DejaVuSans.ttf", font_size)
    except OSError:
        font = ImageFont.load_default(size=font_size)
    left, top, right, bottom = font.getbbox(text)
    canvas = Image.new("L", (right - left + 2, bottom - top + 2))
    ImageDraw.Draw(canvas).text((1 - left, 1 - top), text, fill=255, font=font)
    ink = np.asarray(canvas, dtype=np.float32) / 255.0
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if len(rows) == 0:
        raise ValueError(f"`text` {text!r} renders no visible glyphs at font_size {font_size}.")
    return ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
