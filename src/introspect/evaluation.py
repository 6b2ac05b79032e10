"""Evaluate a classifier on labelled data: which images it gets wrong and which classes it confuses.

These describe a model, not an explanation; notebooks use them to pick the mistakes that
contrastive maps then explain. Also importable from :mod:`introspect.metrics`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validation import as_class_indices, positive_int
from .numerics import predict


@dataclass
class Mistakes:
    """The misclassified images of a data set.

    ``indices`` (M,) sorted positions in the data; ``predicted``, ``true`` (M,) classes;
    ``confidence`` (M,) softmax probability of the (wrong) prediction; ``p_true`` (M,)
    probability of the true class; ``accuracy`` over all N images.
    """

    indices: np.ndarray
    predicted: np.ndarray
    true: np.ndarray
    confidence: np.ndarray
    p_true: np.ndarray
    accuracy: float

    def __len__(self) -> int:
        return len(self.indices)

    def most_confident(self, k: int = 10) -> np.ndarray:
        """Data indices ``(min(k, M),)`` of the ``k`` mistakes made with the highest confidence."""
        order = np.argsort(-self.confidence, kind="stable")[:positive_int(k, "k")]
        return self.indices[order]


def gather_mistakes(model, images, labels, batch_size: int = 256) -> Mistakes:
    """Run ``model`` on ``(images, labels)`` and collect exactly the misclassified images.

    ``images`` ``(N, H, W, C)``, ``labels`` ``(N,)`` int. ``model`` is a Keras model or a callable
    ``images -> (N, K)``; probabilities are the softmax of its logits (or its outputs if it ends
    in a softmax), see :func:`introspect.numerics.predict`.
    """
    probabilities = predict(model, images, batch_size=batch_size, output="softmax")
    labels = as_class_indices(labels, len(probabilities), probabilities.shape[1], "labels")
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    return Mistakes(indices=wrong, predicted=predicted[wrong], true=labels[wrong],
                    confidence=probabilities[wrong, predicted[wrong]], p_true=probabilities[wrong, labels[wrong]],
                    accuracy=float(np.mean(predicted == labels)))


def confusion_matrix(true, pred, num_classes: int) -> np.ndarray:
    """Counts ``(K, K)`` int64 from classes ``true`` and ``pred`` ``(N,)``: row = true, column = predicted."""
    num_classes = positive_int(num_classes, "num_classes")
    true = as_class_indices(true, np.size(true), num_classes, "true")
    pred = as_class_indices(pred, len(true), num_classes, "pred")
    return np.bincount(true * num_classes + pred, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def top_confusions(true, pred, k: int = 5) -> list[tuple[int, int, int]]:
    """The ``k`` most frequent mistakes in ``(N,)`` class arrays as ``(true, pred, count)``, most frequent first.

    Correct predictions (``true == pred``) are not confusions and never listed; ties are
    ordered by ``(true, pred)``.
    """
    k = positive_int(k, "k")
    true = as_class_indices(true, np.size(true), None, "true")
    pred = as_class_indices(pred, len(true), None, "pred")
    wrong = true != pred
    pairs, counts = np.unique(np.stack([true[wrong], pred[wrong]], axis=1), axis=0, return_counts=True)
    order = np.lexsort((pairs[:, 1], pairs[:, 0], -counts))[:k] if len(pairs) else []
    return [(int(pairs[i, 0]), int(pairs[i, 1]), int(counts[i])) for i in order]
