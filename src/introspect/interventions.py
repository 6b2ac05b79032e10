"""Edit images where an explanation points, to test whether the model uses what the map shows.

A contrastive map "explains" a mistake only if acting on what it highlights changes the
decision. These numpy functions make the edits: paint a garment's centre placket (a vertical row
of button dots), erase a vertical strip by interpolating across it, or paint the same dots
elsewhere as a control of equal size. Inputs are never modified; every function returns a copy
``(N, H, W, C)`` float32 and a boolean mask ``(N, H, W)`` of the pixels it changed.
"""
from __future__ import annotations

import numpy as np

from ._validation import as_images, fraction, non_negative_int, positive_int


def placket_dots(top: int = 6, bottom: int = 22, spacing: int = 3, column: int = 13, width: int = 2
                 ) -> list[tuple[int, int]]:
    """Pixel positions ``(row, col)`` of a vertical row of button dots.

    One dot every ``spacing`` rows from ``top`` to ``bottom`` (inclusive), each ``width`` pixels
    wide starting at ``column`` (columns 13-14 are the centre of a 28-pixel image).
    """
    top, bottom = non_negative_int(top, "top"), non_negative_int(bottom, "bottom")
    if bottom < top:
        raise ValueError(f"`bottom` must be >= `top` ({top}); got {bottom}.")
    spacing, width = positive_int(spacing, "spacing"), positive_int(width, "width")
    column = non_negative_int(column, "column")
    return [(row, col) for row in range(top, bottom + 1, spacing) for col in range(column, column + width)]


def transpose_dots(dots, row: int, column: int) -> list[tuple[int, int]]:
    """The same dots laid out horizontally: a control of the same size and spacing elsewhere.

    Dot ``(r, c)`` goes to ``(row + (c - c0), column + (r - r0))`` with ``(r0, c0)`` the first dot,
    so a vertical row becomes a horizontal row starting at ``(row, column)``.
    """
    dots = list(dots)
    if not dots:
        raise ValueError("`dots` must hold at least one (row, col) position; got none.")
    r0, c0 = dots[0]
    return [(row + (c - c0), column + (r - r0)) for r, c in dots]


def _positions(dots, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.asarray(dots, dtype=int).reshape(-1, 2).T
    if len(rows) == 0 or rows.min() < 0 or cols.min() < 0 or rows.max() >= shape[0] or cols.max() >= shape[1]:
        raise ValueError(f"`dots` must be (row, col) positions inside {shape[0]}x{shape[1]} images; got "
                         f"rows {rows.min() if len(rows) else None}..{rows.max() if len(rows) else None}, "
                         f"cols {cols.min() if len(cols) else None}..{cols.max() if len(cols) else None}.")
    return rows, cols


def paint_dots(images, dots, *, contrast: float = 0.7) -> tuple[np.ndarray, np.ndarray]:
    """Paint button dots: each dot pixel becomes ``(1 - contrast)`` times its value (darker).

    A multiplicative edit: on the garment the dots are visible, on the black background they
    change nothing (as a real button would not float in the air).

    Parameters
    ----------
    images : (N, H, W, C) floats in [0, 1]
    dots : sequence of (row, col)
        E.g. :func:`placket_dots` or :func:`transpose_dots`.
    contrast : float in [0, 1]
        1 paints black dots, 0 changes nothing.
    """
    images = as_images(images)
    contrast = fraction(contrast, "contrast")
    rows, cols = _positions(dots, images.shape[1:3])
    out = images.copy()
    out[:, rows, cols, :] *= 1.0 - contrast
    mask = np.zeros(images.shape[:3], dtype=bool)
    mask[:, rows, cols] = images[:, rows, cols, :].max(axis=-1) > 0
    return out.astype(np.float32), mask


def erase_strip(images, column: int, width: int = 2, *, top: int = 0, bottom: int | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Erase a vertical strip (e.g. a placket) by interpolating linearly between its neighbours.

    Columns ``column .. column + width - 1`` of rows ``top .. bottom`` are replaced, row by row,
    by the straight line between the pixel just left and the pixel just right of the strip.

    Parameters
    ----------
    images : (N, H, W, C) floats in [0, 1]
    column, width : int
        The strip's first column and its width; the strip must leave one column on each side.
    top, bottom : int
        Rows erased (inclusive); default all.
    """
    images = as_images(images)
    height, image_width = images.shape[1:3]
    column, width = non_negative_int(column, "column"), positive_int(width, "width")
    if column < 1 or column + width > image_width - 1:
        raise ValueError(f"`column` and `width` must leave a neighbour column on each side of the strip in "
                         f"{image_width}-pixel-wide images; got column={column}, width={width}.")
    top = non_negative_int(top, "top")
    bottom = height - 1 if bottom is None else non_negative_int(bottom, "bottom")
    if not top <= bottom < height:
        raise ValueError(f"`bottom` must lie in [top, {height - 1}]; got top={top}, bottom={bottom}.")
    left, right = images[:, top:bottom + 1, column - 1], images[:, top:bottom + 1, column + width]
    out = images.copy()
    for k in range(width):
        weight = (k + 1) / (width + 1)
        out[:, top:bottom + 1, column + k] = (1 - weight) * left + weight * right
    mask = np.zeros(images.shape[:3], dtype=bool)
    mask[:, top:bottom + 1, column:column + width] = np.abs(out - images)[:, top:bottom + 1,
                                                                          column:column + width].max(-1) > 0
    return out.astype(np.float32), mask


def paint_box(images, box, value, *, blend: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Paint a rectangle ``(top, left, bottom, right)`` (exclusive ends) with a colour ``(C,)``.

    ``blend`` mixes the colour in (1 = opaque). Used for ImageNet interventions: cover what a
    map points at, or an equal area elsewhere as the control.
    """
    images = as_images(images)
    top, left, bottom, right = (int(v) for v in box)
    height, width = images.shape[1:3]
    if not (0 <= top < bottom <= height and 0 <= left < right <= width):
        raise ValueError(f"`box` must be (top, left, bottom, right) inside {height}x{width} images; got {box!r}.")
    value = np.broadcast_to(np.asarray(value, dtype=np.float32), (images.shape[-1],))
    blend = fraction(blend, "blend")
    out = images.copy()
    region = out[:, top:bottom, left:right]
    out[:, top:bottom, left:right] = (1 - blend) * region + blend * value
    mask = np.zeros(images.shape[:3], dtype=bool)
    mask[:, top:bottom, left:right] = True
    return out.astype(np.float32), mask


def cover_patches(images, fill, centres, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Replace a ``size x size`` square around each image's centre ``(row, col)`` by the same square of ``fill``.

    ``fill`` is ``(N, H, W, C)`` (e.g. a blurred copy: the patch loses its detail, keeps its
    colours); squares are shifted to lie inside the image.
    """
    images = as_images(images)
    fill = as_images(fill, "fill")
    if fill.shape != images.shape:
        raise ValueError(f"`fill` must have the images' shape {images.shape}; got {fill.shape}.")
    size = positive_int(size, "size")
    height, width = images.shape[1:3]
    centres = np.asarray(centres, dtype=int).reshape(-1, 2)
    if len(centres) != len(images) or size > min(height, width):
        raise ValueError(f"`centres` must be one (row, col) per image ({len(images)}) and `size` at most "
                         f"{min(height, width)}; got {len(centres)} centres and size {size}.")
    out, mask = images.copy(), np.zeros(images.shape[:3], dtype=bool)
    for i, (row, col) in enumerate(centres):
        top = int(np.clip(row - size // 2, 0, height - size))
        left = int(np.clip(col - size // 2, 0, width - size))
        out[i, top:top + size, left:left + size] = fill[i, top:top + size, left:left + size]
        mask[i, top:top + size, left:left + size] = True
    return out.astype(np.float32), mask


def densest_squares(maps, size: int, *, lowest: bool = False) -> np.ndarray:
    """The centre ``(row, col)`` of each map's ``size x size`` square with the largest sum (smallest with ``lowest``).

    Where a map points, as a place to act on: unlike the single largest pixel, the sum over a
    square does not follow one stray value of a speckled or saturated map (a meaningful
    perturbation mask is 1 over whole regions). ``maps`` ``(N, H, W)``; squares lie inside the
    image, so centres are at least ``size // 2`` from the border; ties go to the first square in
    reading order. Pass the result to :func:`cover_patches`.
    """
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 3 or not np.isfinite(maps).all():
        raise ValueError(f"`maps` must be finite (N, H, W) maps; got shape {maps.shape}"
                         + ("" if maps.ndim != 3 else " with NaN or infinite values") + ".")
    size = positive_int(size, "size")
    if size > min(maps.shape[1:]):
        raise ValueError(f"`size` must be at most {min(maps.shape[1:])} (the maps' shorter side); got {size}.")
    padded = np.pad(maps, ((0, 0), (1, 0), (1, 0))).cumsum(axis=1).cumsum(axis=2)
    sums = (padded[:, size:, size:] - padded[:, :-size, size:] - padded[:, size:, :-size]
            + padded[:, :-size, :-size])
    flat = sums.reshape(len(maps), -1)
    best = flat.argmin(axis=1) if lowest else flat.argmax(axis=1)
    top, left = np.unravel_index(best, sums.shape[1:])
    return np.stack([top + size // 2, left + size // 2], axis=1)
