"""The push step of ProtoPNet (arXiv:1806.10574, Sec. 2.2): each prototype becomes its nearest training patch.

Prototype ``j`` of class ``k`` is replaced by the latent patch ``z[n, r, c]`` closest to it among
the training images of class ``k``; :class:`PushRecord` keeps which image and which position, so a
prototype can be drawn as a box on a training image (:func:`patch_boxes`) without pushing again.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from .. import _progress
from .._validation import as_class_indices, as_images, positive_int
from .protopnet import LATENT, PROTOTYPES, prototype_classes, prototype_vectors, squared_distances

#: Layers that move or widen the receptive field; every other layer (activations, BatchNorm) keeps it.
_SPATIAL = ("Conv2D", "MaxPooling2D", "AveragePooling2D")


@dataclass
class PushRecord:
    """Where each prototype came from, all arrays ``(P,)`` (``boxes`` ``(P, 4)``).

    ``image_index`` indexes the training images given to :func:`push`; ``row, col`` are the latent
    position; ``distance`` the squared distance between the prototype *before* the push and that
    patch; ``prototype_class`` its class; ``boxes`` the patch's receptive field in pixels as
    ``(top, left, bottom, right)``, bottom and right exclusive (``image[top:bottom, left:right]``).
    """

    image_index: np.ndarray
    row: np.ndarray
    col: np.ndarray
    distance: np.ndarray
    prototype_class: np.ndarray
    boxes: np.ndarray = field(repr=False)

    def to_dict(self) -> dict:
        """JSON-ready lists (:meth:`from_dict` reads them back)."""
        return {name: np.asarray(value).tolist() for name, value in vars(self).items()}

    @classmethod
    def from_dict(cls, record: dict) -> "PushRecord":
        """The record written by :meth:`to_dict` (e.g. read from JSON)."""
        kinds = {"distance": np.float64, "boxes": np.int64}
        return cls(**{name: np.asarray(record[name], dtype=kinds.get(name, np.int64))
                      for name in cls.__dataclass_fields__})

    def save(self, path) -> None:
        """Write the record as JSON."""
        with open(path, "w") as handle:
            json.dump(self.to_dict(), handle)


def receptive_field(model) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(size, jump, offset)``, each ``(2,)`` for (rows, cols): latent position ``i`` sees input pixels
    ``[i * jump + offset, i * jump + offset + size)`` (before clipping to the image).

    Read from the model's convolution and pooling layers up to the latent layer (kernel, stride and
    padding; ``"same"`` padding as TensorFlow pads it, the extra pixel at the end).
    """
    size, jump, offset = np.ones(2, int), np.ones(2, int), np.zeros(2, int)
    for layer in model.layers:
        if type(layer).__name__ in _SPATIAL:
            kernel = np.array(getattr(layer, "kernel_size", None) or layer.pool_size)
            kernel = (kernel - 1) * np.array(getattr(layer, "dilation_rate", 1)) + 1
            stride = np.array(layer.strides)
            extent = np.array(layer.input.shape[1:3])
            pad_before = np.zeros(2, int)
            if layer.padding == "same":
                out = -(-extent // stride)
                pad_before = np.maximum((out - 1) * stride + kernel - extent, 0) // 2
            offset = offset - pad_before * jump
            size = size + (kernel - 1) * jump
            jump = jump * stride
        if layer.name == LATENT:
            return size, jump, offset
    raise ValueError(f"`model` has no layer named {LATENT!r}; expected a ProtoPNet from `build_protopnet`.")


def patch_boxes(model, rows, cols) -> np.ndarray:
    """Pixel boxes ``(n, 4)`` ``(top, left, bottom, right)`` (exclusive ends, clipped) of latent positions."""
    size, jump, offset = receptive_field(model)
    height, width = model.inputs[0].shape[1:3]
    rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
    top, left = rows * jump[0] + offset[0], cols * jump[1] + offset[1]
    boxes = np.stack([top, left, top + size[0], left + size[1]], axis=-1)
    return np.clip(boxes, 0, [height, width, height, width])


def latent_model(model):
    """``keras.Model`` from images to the latent map ``(N, H', W', D)``."""
    import keras

    return keras.Model(model.input, model.get_layer(LATENT).output)


def push(model, x, y, *, batch_size: int = 256, progress: bool = True) -> PushRecord:
    """Project every prototype onto its nearest latent patch among the training images of its class, in place.

    Parameters
    ----------
    model : keras.Model
        A ProtoPNet from :func:`~.protopnet.build_protopnet`; its prototypes are overwritten.
    x : (N, H, W, C) float array
        Training images.
    y : (N,) int array
        Their labels; every class that owns prototypes needs at least one image.

    Returns
    -------
    PushRecord
        Image index into ``x``, latent position, the distance moved, and the pixel box of each prototype.
    """
    x = as_images(x, "x", model=model)
    classes = prototype_classes(model)
    num_classes = int(model.output.shape[-1])
    y = as_class_indices(y, len(x), num_classes, "y")
    batch_size = positive_int(batch_size, "batch_size")
    missing = np.setdiff1d(np.unique(classes), y)
    if missing.size:
        raise ValueError(f"`y` has no image of class {int(missing[0])}, whose prototypes must be pushed onto one.")
    prototypes = prototype_vectors(model)
    best = np.full(len(prototypes), np.inf)
    found = np.zeros((len(prototypes), 3), dtype=np.int64)
    new = prototypes.copy()
    encoder = latent_model(model)
    with _progress.bar(len(x), "push", progress, unit="img") as shown:
        for start in range(0, len(x), batch_size):
            z = np.asarray(encoder(x[start:start + batch_size], training=False))
            d = np.asarray(squared_distances(z, prototypes))
            # Only images of the prototype's own class are candidates (the paper's class-specific push).
            d = np.where(y[start:start + len(z), None, None, None] == classes, d, np.inf)
            flat = d.reshape(-1, len(prototypes))
            arg = flat.argmin(axis=0)
            closer = flat[arg, np.arange(len(prototypes))] < best
            for j in np.flatnonzero(closer):
                n, r, c = np.unravel_index(arg[j], d.shape[:3])
                best[j], found[j] = flat[arg[j], j], (start + n, r, c)
                new[j] = z[n, r, c]
            shown.update(len(z))
    model.get_layer(PROTOTYPES).prototypes.assign(new)
    return PushRecord(found[:, 0], found[:, 1], found[:, 2], best, classes,
                      patch_boxes(model, found[:, 1], found[:, 2]))
