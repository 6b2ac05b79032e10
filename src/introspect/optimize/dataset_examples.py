"""Dataset examples: the real images that excite a hidden channel most, and where.

A feature visualisation is readable beside the dataset examples that drive the same channel
(Olah et al., Distill 2017, "Feature Visualization"). :func:`dataset_examples` ranks images by a
channel's mean activation; :func:`receptive_field_crops` cuts out, for each example, the input
region that the channel's most active position can see (the support of its input gradient).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from .._validation import as_images, positive_int
from .loop import _feature_model
from .objectives import _layer_shape


@dataclass
class DatasetExamples:
    """What :func:`dataset_examples` returns, one row per channel.

    Attributes
    ----------
    channels : np.ndarray (C,)
        The channels, in the order asked for.
    indices : np.ndarray (C, k)
        Indices into ``images`` of the ``k`` most exciting images, strongest first.
    activations : np.ndarray (C, k)
        Their mean activation of the channel.
    positions : np.ndarray (C, k, 2)
        ``(row, column)`` of the channel's strongest position in each example's activation map.
    """

    channels: np.ndarray
    indices: np.ndarray
    activations: np.ndarray
    positions: np.ndarray


def _activations(extractor, images: np.ndarray, batch_size: int) -> np.ndarray:
    return np.concatenate([np.asarray(extractor(images[i:i + batch_size], training=False)[0])
                           for i in range(0, len(images), batch_size)])


def dataset_examples(model, layer: str, channels, images, k: int = 9, *, batch_size: int = 256) -> DatasetExamples:
    """The ``k`` images of ``images`` with the highest mean activation of each channel of ``layer``.

    Parameters
    ----------
    model : keras.Model
        The network; ``layer`` names one of its layers with output ``(N, H', W', C')``.
    layer : str
        Layer name, e.g. ``"relu2"``.
    channels : array-like (C,) int
        Channels of ``layer``.
    images : array-like (N, H, W, C)
        Candidate images in [0, 1] (e.g. test images).
    k : int
        Examples per channel (at most ``N``).

    Returns
    -------
    DatasetExamples
    """
    images = as_images(images, "images", model=model, value_range=(0, 1))
    k = positive_int(k, "k")
    if k > len(images):
        raise ValueError(f"`k` = {k} exceeds the {len(images)} images given.")
    shape = _layer_shape(model, layer)
    if len(shape) != 4:
        raise ValueError(f"`layer` {layer!r} has output shape {shape}; dataset examples need an (N, H, W, C) map.")
    channels = np.atleast_1d(np.asarray(channels))
    if channels.ndim != 1 or not np.issubdtype(channels.dtype, np.integer) or channels.min() < 0 \
            or channels.max() >= shape[-1]:
        raise ValueError(f"`channels` must be a 1-D int array of channels in [0, {shape[-1]}) of {layer!r}; "
                         f"got {channels!r}.")
    maps = _activations(_feature_model(model, (layer,)), images, positive_int(batch_size, "batch_size"))
    maps = maps[..., channels]  # (N, H', W', C)
    mean = maps.mean(axis=(1, 2))
    order = np.argsort(-mean, axis=0, kind="stable")[:k].T  # (C, k)
    flat = maps.reshape(len(maps), -1, len(channels))
    peak = np.stack([flat[order[c], :, c].argmax(axis=1) for c in range(len(channels))])
    positions = np.stack(np.unravel_index(peak, maps.shape[1:3]), axis=-1)
    return DatasetExamples(channels, order, np.take_along_axis(mean.T, order, axis=1), positions)


def receptive_field_crops(model, layer: str, examples: DatasetExamples, images, *, pad: int = 0) -> np.ndarray:
    """Crops ``(C, k, h, w, channels)`` of each example around its strongest position's receptive field.

    The field is the bounding box of the non-zero input gradient of that one activation, so it is
    exact for this network (padding and pooling included); every crop is resized to the largest
    field found (by zero padding), ``pad`` pixels of context added.
    """
    images = as_images(images, "images", model=model, value_range=(0, 1))
    extractor = _feature_model(model, (layer,))
    c_count, k = examples.indices.shape
    flat_index = examples.indices.reshape(-1)
    batch = tf.constant(images[flat_index])
    rows, cols = examples.positions[..., 0].reshape(-1), examples.positions[..., 1].reshape(-1)
    chans = np.repeat(examples.channels, k)
    with tf.GradientTape() as tape:
        tape.watch(batch)
        activation = extractor(batch, training=False)[0]
        picked = tf.gather_nd(activation, np.stack([np.arange(len(flat_index)), rows, cols, chans], axis=1))
        total = tf.reduce_sum(picked)
    support = np.abs(tape.gradient(total, batch).numpy()).sum(axis=-1) > 0  # (B, H, W)
    boxes = []
    for s, row, col in zip(support, rows, cols):
        if not s.any():  # a dead unit: fall back to the strongest position's own pixel
            ys, xs = [row], [col]
        else:
            ys, xs = np.nonzero(s)
        boxes.append((max(min(ys) - pad, 0), min(max(ys) + pad + 1, s.shape[0]),
                      max(min(xs) - pad, 0), min(max(xs) + pad + 1, s.shape[1])))
    height = max(b[1] - b[0] for b in boxes)
    width = max(b[3] - b[2] for b in boxes)
    crops = np.zeros((len(boxes), height, width, images.shape[-1]), np.float32)
    for i, (y0, y1, x0, x1) in enumerate(boxes):
        crops[i, :y1 - y0, :x1 - x0] = images[flat_index[i], y0:y1, x0:x1]
    return crops.reshape(c_count, k, height, width, images.shape[-1])
