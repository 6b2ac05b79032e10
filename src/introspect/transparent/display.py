"""ProtoPNet's explanations drawn: each prototype as its training patch, and "this looks like that" for one input.

Arrays in, ``(fig, axes)`` out, as in :mod:`introspect.plotting`. A prototype is shown as the
training image it was pushed onto (:class:`~.push.PushRecord`) with the receptive-field box of its
patch; an input's similarity map to a prototype (``(H', W')`` latent positions) is upsampled
bilinearly to the image.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .._validation import as_images, positive_int
from ..data import CLASS_NAMES
from ..plotting import _axes, _bare, show_overlay
from .protopnet import LOGITS, prototype_classes, similarity_maps
from .push import PushRecord, patch_boxes

BOX_COLOUR = "#ffd400"


def _draw_box(ax, box, colour: str = BOX_COLOUR) -> None:
    from matplotlib.patches import Rectangle

    top, left, bottom, right = (int(v) for v in box)
    # Pixel i spans [i - 0.5, i + 0.5] in imshow's coordinates.
    ax.add_patch(Rectangle((left - 0.5, top - 0.5), right - left, bottom - top, fill=False, edgecolor=colour,
                           linewidth=1.5))


def _class_name(k: int) -> str:
    return CLASS_NAMES[k] if k < len(CLASS_NAMES) else str(k)


def show_prototypes(record: PushRecord, train_images, *, prototypes=None, ax=None, columns: int | None = None,
                    titles=None, cell_size: float = 1.3):
    """Each prototype as the training image it was pushed onto, its patch boxed.

    Parameters
    ----------
    record : PushRecord
        From :func:`~.push.push` (or :meth:`PushRecord.from_dict`); indexes ``train_images``.
    train_images : (N, H, W, C) array
        The images the push step ran on.
    prototypes : sequence of int, optional
        Which prototypes (default all), e.g. ``np.flatnonzero(record.prototype_class == 0)``.
    ax : array of axes, optional
    columns : int, optional
        Images per row (default: all in one row, at most 10).
    titles : sequence of str, optional
        One per prototype (default ``"p<j>"``).

    Returns
    -------
    (fig, axes)
    """
    train_images = as_images(train_images, "train_images")
    chosen = np.arange(len(record.image_index)) if prototypes is None else np.asarray(prototypes, dtype=np.int64)
    if chosen.ndim != 1 or chosen.size == 0 or chosen.min() < 0 or chosen.max() >= len(record.image_index):
        raise ValueError(f"`prototypes` must be a non-empty 1-D sequence of indices in [0, {len(record.image_index)}).")
    if record.image_index.max() >= len(train_images):
        raise ValueError(f"`train_images` holds {len(train_images)} images but the record points at image "
                         f"{int(record.image_index.max())}: pass the images the push ran on.")
    columns = min(len(chosen), 10) if columns is None else positive_int(columns, "columns")
    titles = [f"p{j}" for j in chosen] if titles is None else list(titles)
    rows = -(-len(chosen) // columns)
    fig, axes = _axes(ax, (rows, columns), size=(cell_size, cell_size))
    for cell, a in enumerate(axes.flat):
        if cell >= len(chosen):
            a.axis("off")
            continue
        j = chosen[cell]
        a.imshow(train_images[record.image_index[j], ..., 0], cmap="gray", vmin=0, vmax=1)
        _draw_box(a, record.boxes[j])
        _bare(a, titles[cell])
        a.title.set_fontsize(8)
    return fig, axes


def top_prototypes(model, image, *, k: int = 3) -> pd.DataFrame:
    """The ``k`` prototypes most similar to ``image`` ``(H, W, C)``: one row each, most similar first.

    Columns: ``prototype``, ``class``, ``similarity`` (the max over positions, what the last layer
    reads), ``weight`` (its last-layer connection to the predicted class), ``contribution``
    (similarity x weight), ``row``, ``col`` (the most similar latent position), ``predicted``.
    """
    maps, logits = similarity_maps(model, as_images(np.asarray(image)[None], "image", model=model))
    k = positive_int(k, "k")
    maps, predicted = maps[0], int(logits[0].argmax())
    flat = maps.reshape(-1, maps.shape[-1])
    best = flat.max(axis=0)
    kernel = np.asarray(model.get_layer(LOGITS).kernel)
    classes = prototype_classes(model)
    rows = []
    for j in np.argsort(-best, kind="stable")[:k]:
        r, c = np.unravel_index(flat[:, j].argmax(), maps.shape[:2])
        rows.append({"prototype": int(j), "class": int(classes[j]), "similarity": float(best[j]),
                     "weight": float(kernel[j, predicted]), "contribution": float(best[j] * kernel[j, predicted]),
                     "row": int(r), "col": int(c), "predicted": predicted})
    return pd.DataFrame(rows)


def upsampled_map(similarity_map, shape: tuple) -> np.ndarray:
    """A latent ``(H', W')`` map resized bilinearly to the image's ``(H, W)``."""
    import tensorflow as tf

    resized = tf.image.resize(np.asarray(similarity_map, dtype=np.float32)[..., None], shape, method="bilinear")
    return np.asarray(resized)[..., 0]


def show_explanation(model, image, record: PushRecord, train_images, *, k: int = 3, ax=None,
                     cell_size: float = 1.9):
    """"This looks like that" for one image: its ``k`` most similar prototypes, two rows.

    Top row: the image, then its similarity map to each top prototype over it, the most similar
    patch boxed. Bottom row: each prototype as its training patch (:func:`show_prototypes`). Titles
    give the prototype's class, the similarity and the last-layer weight to the predicted class.

    Returns
    -------
    (fig, axes, table) with ``axes`` of shape ``(2, k + 1)`` and ``table`` from :func:`top_prototypes`.
    """
    image = as_images(np.asarray(image)[None], "image", model=model)[0]
    table = top_prototypes(model, image, k=k)
    maps, _ = similarity_maps(model, image[None])
    fig, axes = _axes(ax, (2, len(table) + 1), size=(cell_size, cell_size))
    axes[0, 0].imshow(image[..., 0], cmap="gray", vmin=0, vmax=1)
    _bare(axes[0, 0], f"input: predicted\n{_class_name(int(table['predicted'][0]))}")
    axes[1, 0].axis("off")
    for column, row in enumerate(table.to_dict("records"), start=1):
        j = row["prototype"]
        show_overlay(image, upsampled_map(maps[0, ..., j], image.shape[:2]), ax=axes[0, column], signed=False,
                     colorbar=False, title=f"p{j} ({_class_name(row['class'])})\n"
                                           f"sim {row['similarity']:.2f}, w {row['weight']:+.2f}")
        _draw_box(axes[0, column], patch_boxes(model, [row["row"]], [row["col"]])[0])
        show_prototypes(record, train_images, prototypes=[j], ax=axes[1, column:column + 1][None],
                        titles=[f"p{j}: training patch"])
    for a in axes.flat:
        a.title.set_fontsize(8)
    return fig, axes, table
