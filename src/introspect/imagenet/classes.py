"""The 1000 ImageNet classes in logit order, and naming a model's most probable ones."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .._validation import positive_int

NUM_CLASSES = 1000
_CLASSES = json.loads((Path(__file__).resolve().parent / "imagenet_classes.json").read_text(encoding="utf-8"))
#: WordNet ids of the 1000 classes, in logit order.
WNIDS: tuple[str, ...] = tuple(_CLASSES["wnids"])
#: Class names in logit order: the WordNet lemmas, e.g. ``"tabby, tabby cat"``.
CLASS_NAMES: tuple[str, ...] = tuple(_CLASSES["names"])
#: The first lemma of each class, for plot titles: ``"tabby"``.
SHORT_NAMES: tuple[str, ...] = tuple(name.split(",")[0] for name in CLASS_NAMES)


def decode(probs, top: int = 5) -> list[list[tuple[int, str, float]]]:
    """The ``top`` most probable classes of each image.

    Parameters
    ----------
    probs : array-like, ``(N, 1000)``
        Softmax probabilities (e.g. ``models.predict_proba``); each row in ``[0, 1]``, summing to 1.
    top : int
        How many classes per image, at most 1000.

    Returns
    -------
    list
        For each image, ``top`` tuples ``(class index, class name, probability)``, most probable first.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != NUM_CLASSES:
        raise ValueError(f"`probs` must have shape (N, {NUM_CLASSES}); got {probs.shape}.")
    if not np.all(np.isfinite(probs)) or probs.min() < 0 or probs.max() > 1 + 1e-6 \
            or np.abs(probs.sum(axis=1) - 1).max() > 1e-3:
        raise ValueError("`probs` must be probabilities: rows in [0, 1] summing to 1. For logits, take "
                         "a softmax first (models.predict_proba).")
    top = positive_int(top, "top")
    if top > NUM_CLASSES:
        raise ValueError(f"`top` must be at most {NUM_CLASSES}; got {top}.")
    order = np.argsort(-probs, axis=1, kind="stable")[:, :top]
    return [[(int(k), CLASS_NAMES[k], float(row[k])) for k in ranks] for row, ranks in zip(probs, order)]
