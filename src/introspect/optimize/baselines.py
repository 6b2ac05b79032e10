"""A model-free baseline for plausible counterfactuals: walk towards the class prototype, no classifier.

Prototype guidance (:func:`~introspect.optimize.class_prototypes`, Van Looveren & Klaise,
arXiv:1907.02584) pulls a counterfactual towards real images of the target class, so "nearer to
real data" and "convinces another model" are partly built in. :func:`latent_move` makes the change
the prototype alone would make, of the same size, without asking the classifier: what the
classifier adds is the difference between its flip rates and those of the guided search.
"""
from __future__ import annotations

import numpy as np

from .._validation import as_images, positive_int
from .minimal import Prototypes


def _decode(decoder, codes: np.ndarray, batch_size: int = 512) -> np.ndarray:
    return np.concatenate([np.asarray(decoder(codes[i:i + batch_size], training=False), np.float64)
                           for i in range(0, len(codes), batch_size)])


def latent_move(decoder, images, prototypes: Prototypes, sizes, *, iterations: int = 20) -> np.ndarray:
    """Images ``(N, H, W, C)`` changed towards their prototypes in latent space, each by L2 ``sizes``.

    ``x' = clip(x + D(z + a (p - z)) - D(z), 0, 1)`` with ``z`` the image's code, ``p`` its
    prototype's code and ``a`` in [0, 1] found by bisection so that ``|x' - x|_2`` equals the
    image's entry of ``sizes`` (``a = 1`` where even the whole way is smaller). Adding the decoded
    *difference* keeps the image's own details that the autoencoder would blur.

    Parameters
    ----------
    decoder : keras.Model
        Latent codes -> images, the partner of ``prototypes.encoder``.
    images : array-like (N, H, W, C)
        Images in [0, 1].
    prototypes : Prototypes
        From :func:`~introspect.optimize.class_prototypes`, one code per image.
    sizes : float or array-like (N,)
        The L2 norm each change should have (e.g. that of the guided counterfactual).
    iterations : int
        Bisection steps on ``a``.
    """
    from ..companions import encode

    images = as_images(images, "images", value_range=(0, 1)).astype(np.float64)
    if not isinstance(prototypes, Prototypes) or len(prototypes.codes) != len(images):
        raise ValueError("`prototypes` must be Prototypes from class_prototypes(...) with one code per image.")
    sizes = np.broadcast_to(np.asarray(sizes, np.float64), (len(images),))
    iterations = positive_int(iterations, "iterations")
    shape = prototypes.codes.shape[1:]
    codes = encode(prototypes.encoder, images.astype(np.float32)).reshape(len(images), *shape)
    target = prototypes.codes.astype(np.float64)
    start = _decode(decoder, codes.astype(np.float32))

    def moved(a):
        a = a.reshape(-1, *([1] * len(shape)))
        decoded = _decode(decoder, (codes + a * (target - codes)).astype(np.float32))
        return np.clip(images + decoded - start, 0, 1)

    def size(a):
        return np.sqrt(np.square(moved(a) - images).sum(axis=(1, 2, 3)))

    low, high = np.zeros(len(images)), np.ones(len(images))
    reach = size(high) <= sizes
    for _ in range(iterations):
        middle = (low + high) / 2
        short = size(middle) < sizes
        low, high = np.where(short, middle, low), np.where(short, high, middle)
    return moved(np.where(reach, 1.0, (low + high) / 2)).astype(np.float32)
