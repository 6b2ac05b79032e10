"""TensorFlow numerics shared by saliency, metrics and optimisation: written once, used everywhere.

* :func:`predict`: a model's outputs for a batch, in chunks, as logits, probabilities or raw;
* :func:`softmax`: a numerically stable softmax of numpy logits;
* :func:`gaussian_blur`: a separable Gaussian blur inside compiled functions (the numpy twin is
  :func:`introspect.maps.gaussian_smooth`);
* :func:`total_variation`: per-example total variation of a tensor, its normalisation an argument
  (the numpy twin is :func:`introspect.maps.total_variation`);
* :func:`adam_step`: one Adam update (Kingma & Ba, arXiv:1412.6980), per example and masked, for
  the optimisation loops of meaningful perturbation, feature visualisation and counterfactuals.
"""
from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from ._keras import ends_in_softmax
from ._validation import as_images, one_of, positive_int, positive_number

PREDICT_OUTPUTS = ("raw", "logits", "softmax")


def _is_keras(model) -> bool:
    import keras

    return isinstance(model, keras.Model)


def softmax(logits) -> np.ndarray:
    """Softmax over the last axis of numpy logits ``(N, K)``, shifted by the maximum for stability."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def predict(model, images, *, batch_size: int = 256, output: str = "raw") -> np.ndarray:
    """A classifier's outputs ``(N, K)`` (float64) for ``images`` ``(N, H, W, C)``, in chunks.

    Parameters
    ----------
    model : keras.Model or callable
        A Keras model (run with ``training=False``, without Keras' progress output) or any callable
        mapping a batch to ``(B, K)`` scores.
    output : {"raw", "logits", "softmax"}
        ``"raw"``: whatever the model returns; ``"logits"``: the same, but a Keras model that ends
        in a softmax is refused (its outputs are not logits); ``"softmax"``: class probabilities
        (the softmax of the outputs unless the Keras model applies one itself).
    """
    output = one_of(output, PREDICT_OUTPUTS, "output")
    batch_size = positive_int(batch_size, "batch_size")
    keras_model = _is_keras(model)
    images = as_images(images, model=model if keras_model else None)
    applies_softmax = keras_model and ends_in_softmax(model)
    if output == "logits" and applies_softmax:
        raise ValueError(f"`output`='logits' needs a model that outputs logits; model {model.name!r} ends in a "
                         "softmax. Use output='softmax'.")
    call = (lambda x: model(x, training=False)) if keras_model else model
    outputs = np.concatenate([np.asarray(call(images[i:i + batch_size]), dtype=np.float64)
                              for i in range(0, len(images), batch_size)])
    if outputs.ndim != 2 or len(outputs) != len(images):
        raise ValueError(f"`model` must return class scores of shape (N, K); got {outputs.shape} "
                         f"for {len(images)} images.")
    return softmax(outputs) if output == "softmax" and not applies_softmax else outputs


def gaussian_blur(images: tf.Tensor, sigma: float) -> tf.Tensor:
    """Separable Gaussian blur of ``(N, H, W, C)`` tensors with reflected borders (differentiable).

    The kernel's radius is ``ceil(3 sigma)``, capped at ``min(H, W) - 1`` as reflection requires.
    """
    sigma = positive_number(sigma, "sigma")
    radius = min(max(1, math.ceil(3 * sigma)), images.shape[1] - 1, images.shape[2] - 1)
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps = (taps / taps.sum()).astype(np.float32)
    rows = tf.constant(np.tile(taps[:, None, None, None], (1, 1, images.shape[-1], 1)))
    padded = tf.pad(images, [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="REFLECT")
    padded = tf.nn.depthwise_conv2d(padded, rows, [1, 1, 1, 1], "VALID")
    return tf.nn.depthwise_conv2d(padded, tf.transpose(rows, [1, 0, 2, 3]), [1, 1, 1, 1], "VALID")


def total_variation(images: tf.Tensor, *, reduction: str = "mean", beta: float = 1.0) -> tf.Tensor:
    """Per-example anisotropic total variation ``(N,)`` of ``(N, H, W, C)`` tensors.

    ``reduce |x[i+1, j] - x[i, j]|^beta + reduce |x[i, j+1] - x[i, j]|^beta`` with ``reduce`` a
    mean (``reduction="mean"``: independent of the image size, as regularisers want) or a sum
    (``"sum"``: the textbook quantity, as distances want). ``beta`` may be a tensor.
    """
    reduce = {"sum": tf.reduce_sum, "mean": tf.reduce_mean}[one_of(reduction, ("sum", "mean"), "reduction")]
    vertical = tf.abs(images[:, 1:] - images[:, :-1])
    horizontal = tf.abs(images[:, :, 1:] - images[:, :, :-1])
    if not (isinstance(beta, (int, float)) and beta == 1):
        vertical, horizontal = vertical ** beta, horizontal ** beta
    return reduce(vertical, axis=[1, 2, 3]) + reduce(horizontal, axis=[1, 2, 3])


def adam_step(params: tf.Tensor, gradient: tf.Tensor, first: tf.Tensor, second: tf.Tensor, count,
              learning_rate, *, active: tf.Tensor | None = None, per_example: bool = False,
              beta1: float = 0.9, beta2: float = 0.999, epsilon: float = 1e-8):
    """One Adam update of a batch of parameters ``(N, ...)``; returns ``(params, first, second)``.

    Parameters
    ----------
    params, gradient : (N, ...) tensors
        The variables and the gradient of the loss to *minimise* with respect to them.
    first, second : tensors
        Running first and second moments; ``second`` is ``(N, 1, ..., 1)`` with ``per_example``.
    count : scalar tensor
        The number of this update, starting at 1 (for the bias correction).
    active : (N,) bool tensor, optional
        Examples to update; the others keep their parameters and moments (e.g. finished searches).
    per_example : bool
        One step size per example (the mean squared gradient of the whole example), so that the
        update keeps the gradient's direction instead of rescaling each coordinate.
    """
    rank = params.shape.rank
    new_first = beta1 * first + (1 - beta1) * gradient
    squared = tf.square(gradient)
    if per_example:
        squared = tf.reduce_mean(squared, axis=list(range(1, rank)), keepdims=True)
    new_second = beta2 * second + (1 - beta2) * squared
    correction = tf.sqrt(1 - beta2 ** count) / (1 - beta1 ** count)
    new_params = params - learning_rate * correction * new_first / (tf.sqrt(new_second) + epsilon)
    if active is None:
        return new_params, new_first, new_second
    keep = tf.reshape(active, [-1] + [1] * (rank - 1))
    return tf.where(keep, new_params, params), tf.where(keep, new_first, first), tf.where(keep, new_second, second)
