"""A strong Carlini–Wagner L2 search, the reference that minimal counterfactuals are measured against.

Carlini & Wagner, "Towards evaluating the robustness of neural networks" (arXiv:1608.04644), L2
attack as published: the image is ``(tanh(w) + 1) / 2`` (always in [0, 1]), each binary-search
round restarts from the original image with fresh Adam moments and minimises
``||x - x0||^2 + c * max(max_{j != t} z_j - z_t, -margin)``; the best image meeting the margin over
all rounds and steps is kept. Many rounds and steps (default 9 x 1000, as in the paper) make it
slow and strong; it is deliberately written apart from :mod:`introspect.optimize.minimal` (other
parametrisation, cold restarts, no final shrink) so that the two do not share their mistakes.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from introspect.numerics import adam_step


def carlini_wagner_l2(model, images, targets, *, margin: float = 1.0, rounds: int = 9, steps: int = 1000,
                      learning_rate: float = 0.01, initial_constant: float = 1.0) -> np.ndarray:
    """Smallest-L2 images ``(N, H, W, C)`` found where class ``targets`` wins by ``margin`` (else the original)."""
    x0 = np.clip(np.asarray(images, np.float32), 1e-6, 1 - 1e-6)
    n = len(x0)
    w0 = tf.constant(np.arctanh(2 * x0 - 1), tf.float32)
    x0_t, targets_t = tf.constant(x0), tf.constant(np.asarray(targets, np.int64))

    @tf.function
    def step(w, first, second, count, constants):
        with tf.GradientTape() as tape:
            tape.watch(w)
            x = (tf.tanh(w) + 1) / 2
            logits = model(x, training=False)
            is_target = tf.one_hot(targets_t, tf.shape(logits)[1], on_value=True, off_value=False)
            other = tf.reduce_max(tf.where(is_target, logits.dtype.min, logits), axis=1)
            gap = tf.gather(logits, targets_t, axis=1, batch_dims=1) - other
            size = tf.reduce_sum(tf.square(x - x0_t), axis=[1, 2, 3])
            loss = tf.reduce_sum(size + constants * tf.maximum(-gap, -margin))
        new_w, first, second = adam_step(w, tape.gradient(loss, w), first, second, count, learning_rate)
        return new_w, first, second, x, gap >= margin, size

    lower, upper, constant = np.zeros(n), np.full(n, np.inf), np.full(n, initial_constant)
    best, best_size = x0.copy(), np.full(n, np.inf)
    for _ in range(rounds):
        w, first, second = w0, tf.zeros_like(w0), tf.zeros_like(w0)
        found = np.zeros(n, bool)
        for index in range(steps):
            w, first, second, x, met, size = step(w, first, second, tf.constant(index + 1.0),
                                                  tf.constant(constant, tf.float32))
            better = met.numpy() & (size.numpy() < best_size)
            if better.any():
                best[better], best_size[better] = x.numpy()[better], size.numpy()[better]
                found |= better
        upper[found] = np.minimum(upper[found], constant[found])
        lower[~found] = np.maximum(lower[~found], constant[~found])
        constant = np.where(np.isfinite(upper), (lower + upper) / 2, constant * 10)
    return best
