"""Figures of images and attribution maps: arrays in, ``(fig, ax)`` out, never ``plt.show()``.

Signed maps (gradients, Integrated Gradients, contrastive maps) use a diverging colormap centred
on zero with symmetric limits (``TwoSlopeNorm``), so that white always means 0 and the two
colours compare; magnitude maps (CAMs, occlusion, masks, absolute values) use a sequential one
starting at 0. Every function takes an optional ``ax`` to draw into and returns the figure and
the axes it drew on; image axes carry no ticks, colorbars carry a label.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .maps import reduce_channels
from .token_display import TokenHTML, show_tokens  # noqa: F401  (text: tokens coloured by their scores)

SIGNED_CMAP = "RdBu_r"
MAGNITUDE_CMAP = "magma"


def _axes(ax, shape=None, *, size=(3.2, 3.0)):
    """``(fig, ax)`` from a given ``ax`` or a new figure; ``shape`` asks for a grid of axes."""
    import matplotlib.pyplot as plt

    if ax is not None:
        axes = np.empty(len(ax) if isinstance(ax, (list, tuple)) else np.shape(ax), dtype=object)
        axes[...] = ax
        if shape is not None and axes.size != int(np.prod(shape)):
            raise ValueError(f"`ax` must hold {int(np.prod(shape))} axes, {shape[0]} x {shape[1]}; got {axes.size}.")
        if shape is None and axes.size != 1:
            raise ValueError(f"`ax` must be a single matplotlib Axes; got {axes.size} of them.")
        if not all(hasattr(a, "imshow") and hasattr(a, "figure") for a in axes.flat):
            raise ValueError(f"`ax` must be matplotlib Axes; got {type(axes.flat[0]).__name__}.")
        return axes.flat[0].figure, (axes.flat[0] if shape is None else axes.reshape(shape))
    if shape is None:
        fig, ax = plt.subplots(figsize=size, layout="constrained")
        return fig, ax
    fig, axes = plt.subplots(*shape, figsize=(size[0] * shape[1], size[1] * shape[0]), squeeze=False,
                             layout="constrained")
    return fig, axes


def _bare(ax, title=None) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title)


def _as_image(image, name: str = "image") -> np.ndarray:
    """``(H, W)`` or ``(H, W, 3)`` floats in [0, 1] for ``imshow``."""
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[-1] == 3)):
        raise ValueError(f"`{name}` must have shape (H, W), (H, W, 1) or (H, W, 3); got shape {array.shape}.")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"`{name}` contains NaN or inf values.")
    low, high = float(array.min()), float(array.max())
    if low < 0 or high > 1:
        # Shown min-max scaled, e.g. for images in [0, 255] or standardised ones.
        array = (array - low) / (high - low) if high > low else np.zeros_like(array)
    return array


def _as_map(saliency, name: str = "saliency") -> np.ndarray:
    """A single ``(H, W)`` map."""
    array = np.asarray(saliency, dtype=np.float32)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 2:
        raise ValueError(f"`{name}` must be one map of shape (H, W) or (H, W, 1); got shape {array.shape}. "
                         "Collapse colour channels first, e.g. with introspect.maps.reduce_channels.")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"`{name}` contains NaN or inf values.")
    return array


def _limit(values: np.ndarray, percentile: float | None) -> float:
    magnitude = np.abs(values)
    limit = float(magnitude.max() if percentile is None else np.percentile(magnitude, percentile))
    return limit if limit > 0 else 1e-12


def _signed_norm(limit: float):
    from matplotlib.colors import TwoSlopeNorm

    return TwoSlopeNorm(vmin=-limit, vcenter=0.0, vmax=limit)


def signed_colorbar(fig, axes, *, limit: float = 1.0, label: str = "attribution", **options):
    """One colour bar for signed maps drawn with the diverging map from ``-limit`` to ``limit``.

    For a grid of panels that share a scale (e.g. maps divided by their own percentile and
    clipped to [-1, 1]); ``options`` go to ``fig.colorbar`` (``shrink=``, ``location=``...).
    """
    import matplotlib.pyplot as plt

    if not np.isfinite(limit) or limit <= 0:
        raise ValueError(f"`limit` must be a finite number > 0; got {limit!r}.")
    return fig.colorbar(plt.cm.ScalarMappable(_signed_norm(limit), SIGNED_CMAP), ax=axes, label=label, **options)


def show_image(image, *, ax=None, title: str | None = None):
    """Show an ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)`` image (grey for one channel).

    Values outside [0, 1] are min-max scaled for display. Returns ``(fig, ax)``.
    """
    array = _as_image(image)
    fig, ax = _axes(ax)
    ax.imshow(array, cmap="gray" if array.ndim == 2 else None, vmin=0, vmax=1)
    _bare(ax, title)
    return fig, ax


def show_signed_map(saliency, *, ax=None, title: str | None = None, percentile: float | None = None,
                    cmap: str = SIGNED_CMAP, colorbar: bool = True, label: str = "attribution"):
    """Show a signed ``(H, W)`` map with a diverging colormap centred on zero.

    The limits are symmetric, ``+-max|map|`` (or ``+-`` that ``percentile`` of ``|map|``, the
    rest saturating), so equal colours mean equal magnitudes of either sign. Returns ``(fig, ax)``.
    """
    array = _as_map(saliency)
    fig, ax = _axes(ax)
    image = ax.imshow(array, cmap=cmap, norm=_signed_norm(_limit(array, percentile)))
    _bare(ax, title)
    if colorbar:
        fig.colorbar(image, ax=ax, label=label, shrink=0.85)
    return fig, ax


def show_magnitude_map(saliency, *, ax=None, title: str | None = None, percentile: float | None = None,
                       cmap: str = MAGNITUDE_CMAP, colorbar: bool = True, label: str = "attribution magnitude"):
    """Show a non-negative ``(H, W)`` map with a sequential colormap from 0.

    Signed maps are refused: pass ``np.abs(map)`` to show magnitudes, or use
    :func:`show_signed_map`. Returns ``(fig, ax)``.
    """
    array = _as_map(saliency)
    if array.min() < 0:
        raise ValueError("`saliency` has negative values; show it with show_signed_map, or pass np.abs(saliency) "
                         "to show magnitudes.")
    fig, ax = _axes(ax)
    image = ax.imshow(array, cmap=cmap, vmin=0.0, vmax=_limit(array, percentile))
    _bare(ax, title)
    if colorbar:
        fig.colorbar(image, ax=ax, label=label, shrink=0.85)
    return fig, ax


def show_overlay(image, saliency, *, ax=None, title: str | None = None, signed: bool | None = None,
                 alpha: float = 0.55, percentile: float | None = None, colorbar: bool = True,
                 label: str = "attribution"):
    """Draw a map over a greyscale copy of the image.

    ``signed=None`` picks the diverging colormap when the map has negative values, the
    sequential one otherwise. Returns ``(fig, ax)``.
    """
    picture = _as_image(image)
    array = _as_map(saliency)
    if picture.shape[:2] != array.shape:
        raise ValueError(f"`saliency` of shape {array.shape} does not match the image's {picture.shape[:2]}.")
    if not 0 <= alpha <= 1:
        raise ValueError(f"`alpha` must be in [0, 1]; got {alpha!r}.")
    signed = bool(array.min() < 0) if signed is None else signed
    fig, ax = _axes(ax)
    grey = picture if picture.ndim == 2 else picture.mean(axis=-1)
    ax.imshow(grey, cmap="gray", vmin=0, vmax=1)
    if signed:
        layer = ax.imshow(array, cmap=SIGNED_CMAP, norm=_signed_norm(_limit(array, percentile)), alpha=alpha)
    else:
        layer = ax.imshow(array, cmap=MAGNITUDE_CMAP, vmin=min(0.0, float(array.min())),
                          vmax=_limit(array, percentile), alpha=alpha)
    _bare(ax, title)
    if colorbar:
        fig.colorbar(layer, ax=ax, label=label, shrink=0.85)
    return fig, ax


def show_image_and_map(image, saliency, *, ax=None, signed: bool | None = None, titles=("image", "attribution"),
                       percentile: float | None = None, label: str = "attribution"):
    """The image beside its map (signed or magnitude colours, see :func:`show_overlay`).

    ``ax`` is a pair of axes if given. Returns ``(fig, axes)``.
    """
    array = _as_map(saliency)
    fig, axes = _axes(ax, (1, 2))
    axes = np.asarray(axes).reshape(2)
    show_image(image, ax=axes[0], title=titles[0])
    signed = bool(array.min() < 0) if signed is None else signed
    show = show_signed_map if signed else show_magnitude_map
    show(array, ax=axes[1], title=titles[1], percentile=percentile, label=label)
    return fig, axes


def show_method_grid(images, maps: dict, *, ax=None, column_titles=None, signed=None, percentile: float = 99.5,
                     overlay: bool = False, reduce: str | None = None, cell_size: float = 1.7):
    """A grid with one column per example and one row per method, the images on the first row.

    Parameters
    ----------
    images : array (N, H, W, C) or (N, H, W)
    maps : dict name -> array (N, H, W) or (N, H, W, C)
        One entry per method, e.g. the results of ``saliency.METHODS``; row titles are the keys.
    column_titles : sequence of N str, optional
        E.g. the class names.
    signed : bool or dict name -> bool, optional
        Diverging colours for a row; by default for the rows whose maps have negative values.
    percentile : float
        Each map is divided by this percentile of its own ``|values|`` and clipped (so each cell
        uses its full colour range); the row's colorbar says so.
    overlay : bool
        Draw the maps over the images instead of alone.
    reduce : {"abs-max", "sum", "l2"}, optional
        Channel reduction for ``(N, H, W, C)`` maps with C > 1 (otherwise they are refused).

    Returns
    -------
    (fig, axes) with ``axes`` of shape ``(1 + len(maps), N)``.
    """
    pictures = np.asarray(images, dtype=np.float32)
    if pictures.ndim not in (3, 4):
        raise ValueError(f"`images` must have shape (N, H, W) or (N, H, W, C); got shape {pictures.shape}.")
    if not isinstance(maps, dict) or not maps:
        raise ValueError("`maps` must be a non-empty dict mapping method names to (N, H, W) arrays.")
    n = len(pictures)
    if column_titles is not None and len(column_titles) != n:
        raise ValueError(f"`column_titles` must have one title per image ({n}); got {len(column_titles)}.")
    prepared = {}
    for name, values in maps.items():
        array = np.asarray(values, dtype=np.float32)
        if array.ndim == 4 and array.shape[-1] > 1:
            if reduce is None:
                raise ValueError(f"`maps`[{name!r}] has {array.shape[-1]} channels; pass reduce='abs-max', 'sum' "
                                 "or 'l2' to collapse them.")
            array = reduce_channels(array, reduce)
        elif array.ndim == 4:
            array = array[..., 0]
        if array.shape != pictures.shape[:3]:
            raise ValueError(f"`maps`[{name!r}] has shape {array.shape}; expected {pictures.shape[:3]} to match "
                             "the images.")
        prepared[name] = array

    fig, axes = _axes(ax, (1 + len(prepared), n), size=(cell_size, cell_size))
    for column in range(n):
        show_image(pictures[column], ax=axes[0, column],
                   title=None if column_titles is None else str(column_titles[column]))
    axes[0, 0].set_ylabel("image")
    for row, (name, array) in enumerate(prepared.items(), start=1):
        row_signed = signed.get(name) if isinstance(signed, dict) else signed
        row_signed = bool(array.min() < 0) if row_signed is None else bool(row_signed)
        for column in range(n):
            cell = axes[row, column]
            values = array[column]
            limit = _limit(values, percentile)
            if overlay:
                grey = _as_image(pictures[column])
                cell.imshow(grey if grey.ndim == 2 else grey.mean(axis=-1), cmap="gray", vmin=0, vmax=1)
            kwargs = dict(alpha=0.55) if overlay else {}
            if row_signed:
                shown = cell.imshow(np.clip(values / limit, -1, 1), cmap=SIGNED_CMAP, norm=_signed_norm(1.0), **kwargs)
            else:
                shown = cell.imshow(np.clip(values / limit, 0, 1), cmap=MAGNITUDE_CMAP, vmin=0, vmax=1, **kwargs)
            _bare(cell)
        axes[row, 0].set_ylabel(name)
        fig.colorbar(shown, ax=list(axes[row]), label=f"/ p{percentile:g} of |map|", shrink=0.9, pad=0.01)
    return fig, axes


def save_figure(fig, name: str, folder="figures", *, dpi: int = 150) -> Path:
    """Save ``fig`` as ``<folder>/<name>.png``, creating the folder; returns the path.

    ``name`` is a plain file name (``.png`` is added when missing), so that notebooks write
    stable, predictable paths.
    """
    if not isinstance(name, str) or not name or Path(name).name != name or name in (".", ".."):
        raise ValueError(f"`name` must be a plain file name such as 'saliency_grid'; got {name!r}.")
    if not hasattr(fig, "savefig"):
        raise ValueError(f"`fig` must be a matplotlib Figure; got {type(fig).__name__}.")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name if name.endswith(".png") else f"{name}.png")
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


def show_map_rows(rows: dict, *, column_titles=None, image=None, image_title: str = "image", scale: str = "row",
                  percentile: float | None = None, label: str = "attribution", cell_size: float = 1.8):
    """A table of signed maps: one row per entry of ``rows``, one column per map in it.

    Made for comparisons inside a row, such as the maps of the predicted class, of the true
    class, their difference and the contrastive map of one method, or one method's maps as the
    layers of a model are randomised. Every map uses the diverging colormap centred on zero;
    each row gets one labelled colorbar.

    Parameters
    ----------
    rows : dict row title -> sequence of M maps ``(H, W)`` (or an array ``(M, H, W)``)
        Every row holds the same number M of maps; ``(H, W, 1)`` maps are accepted.
    column_titles : sequence of M str, optional
        Titles of the map columns, written above the first row.
    image : array (H, W), (H, W, 1) or (H, W, 3), or dict row title -> image, optional
        Shown in an extra first column: one image for every row, or one per row.
    scale : {"row", "cell"}
        ``"row"``: one symmetric limit per row (``max |map|`` over the row, or its ``percentile``),
        so colours compare across a row in the maps' own units; ``"cell"``: each map divided by its
        own limit, so colours compare only within a map (the colorbar says so).
    percentile : float, optional
        Percentile of ``|values|`` used as the limit (the rest saturates); default the maximum.
    label : str
        Colorbar label (for ``scale="row"``).

    Returns
    -------
    (fig, axes) with ``axes`` of shape ``(len(rows), M + (image is not None))``.
    """
    if not isinstance(rows, dict) or not rows:
        raise ValueError("`rows` must be a non-empty dict mapping row titles to sequences of (H, W) maps.")
    scale = str(scale)
    if scale not in ("row", "cell"):
        raise ValueError(f"`scale` must be 'row' or 'cell'; got {scale!r}.")
    prepared = {}
    for title, maps in rows.items():
        try:
            prepared[title] = [_as_map(m, f"rows[{title!r}]") for m in maps]
        except TypeError:
            raise ValueError(f"`rows`[{title!r}] must be a sequence of (H, W) maps; got {type(maps).__name__}.") \
                from None
    counts = {len(maps) for maps in prepared.values()}
    if len(counts) != 1 or 0 in counts:
        raise ValueError(f"every row of `rows` must hold the same, non-zero number of maps; got {sorted(counts)}.")
    n_maps = counts.pop()
    if column_titles is not None and len(column_titles) != n_maps:
        raise ValueError(f"`column_titles` must have one title per map column ({n_maps}); got {len(column_titles)}.")
    if isinstance(image, dict):
        missing = [title for title in prepared if title not in image]
        if missing:
            raise ValueError(f"`image` is a dict but has no image for the rows {missing}.")
        pictures = {title: _as_image(image[title]) for title in prepared}
    elif image is not None:
        picture = _as_image(image)
        pictures = {title: picture for title in prepared}
    else:
        pictures = None
    offset = 0 if pictures is None else 1

    fig, axes = _axes(None, (len(prepared), n_maps + offset), size=(cell_size, cell_size))
    for row, (title, maps) in enumerate(prepared.items()):
        if pictures is not None:
            show_image(pictures[title], ax=axes[row, 0], title=image_title if row == 0 else None)
        row_limit = _limit(np.concatenate([m.ravel() for m in maps]), percentile)
        for column, values in enumerate(maps):
            cell = axes[row, column + offset]
            if scale == "row":
                shown = cell.imshow(values, cmap=SIGNED_CMAP, norm=_signed_norm(row_limit))
            else:
                shown = cell.imshow(np.clip(values / _limit(values, percentile), -1, 1), cmap=SIGNED_CMAP,
                                    norm=_signed_norm(1.0))
            _bare(cell, None if row or column_titles is None else str(column_titles[column]))
        axes[row, 0].set_ylabel(title)
        bar_label = label if scale == "row" else ("/ max |map|" if percentile is None else
                                                  f"/ p{percentile:g} of |map|")
        fig.colorbar(shown, ax=list(axes[row]), label=bar_label, shrink=0.9, pad=0.01)
    return fig, axes


def show_image_grid(images, *, row_titles=None, column_titles=None, cell_titles=None, ax=None,
                    cell_size: float = 1.1):
    """Images in a grid, one row per entry of the first axis: rows of optimisation results and the like.

    Made for feature visualisations and optimisation paths, e.g. the ten classes along the
    columns and parametrisations, inits or steps down the rows. Every image is shown on the
    same fixed grey scale, 0 black and 1 white, so that brightness compares across cells (values
    outside [0, 1] are min-max scaled per image, as in :func:`show_image`).

    Parameters
    ----------
    images : array (R, M, H, W) or (R, M, H, W, C) with C in {1, 3}
        ``R`` rows of ``M`` images; a single batch ``(M, H, W, C)`` is one row.
    row_titles : sequence of R str, optional
        Written left of each row.
    column_titles : sequence of M str, optional
        Written above the first row.
    cell_titles : nested sequence (R, M) of str, optional
        One title per image (above each cell; overrides ``column_titles``).
    ax : array of axes (R, M), optional
        Axes to draw into.
    cell_size : float
        Inches per image in a new figure.

    Returns
    -------
    (fig, axes) with ``axes`` of shape ``(R, M)``.
    """
    grid = np.asarray(images, dtype=np.float32)
    if grid.ndim == 4 and grid.shape[-1] in (1, 3):
        grid = grid[None]
    if grid.ndim == 4:  # (R, M, H, W)
        grid = grid[..., None]
    if grid.ndim != 5 or grid.shape[-1] not in (1, 3) or 0 in grid.shape:
        raise ValueError(f"`images` must have shape (R, M, H, W), (R, M, H, W, C) with C in (1, 3), or "
                         f"(M, H, W, C) for one row; got shape {np.shape(images)}.")
    rows, columns = grid.shape[:2]
    if row_titles is not None and len(row_titles) != rows:
        raise ValueError(f"`row_titles` must have one title per row ({rows}); got {len(row_titles)}.")
    if column_titles is not None and len(column_titles) != columns:
        raise ValueError(f"`column_titles` must have one title per column ({columns}); got {len(column_titles)}.")
    if cell_titles is not None and (len(cell_titles) != rows or any(len(r) != columns for r in cell_titles)):
        raise ValueError(f"`cell_titles` must be a nested sequence of shape ({rows}, {columns}).")
    fig, axes = _axes(ax, (rows, columns), size=(cell_size, cell_size))
    for row in range(rows):
        for column in range(columns):
            if cell_titles is not None:
                title = cell_titles[row][column]
            elif row == 0 and column_titles is not None:
                title = column_titles[column]
            else:
                title = None
            show_image(grid[row, column], ax=axes[row, column], title=None if title is None else str(title))
        if row_titles is not None:
            axes[row, 0].set_ylabel(str(row_titles[row]))
    return fig, axes
