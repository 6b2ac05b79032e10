"""Right for the Right Reasons: train with a penalty on input gradients inside "should not matter" masks.

Ross, Hughes & Doshi-Velez 2017, "Right for the right reasons: training differentiable models by
constraining their explanations", arXiv:1703.03717.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import tensorflow as tf

from .. import _keras, _progress
from .._validation import as_class_indices, as_images, fraction, non_negative_int, num_classes, positive_int, \
    positive_number


def right_for_the_right_reasons(model, images, labels, masks, *, weight: float = 10.0, epochs: int = 5,
                                batch_size: int = 64, learning_rate: float = 1e-3, from_scratch: bool = True,
                                builder: Callable | None = None, seed: int = 0, progress: bool = True):
    """Train a copy of ``model`` whose input gradients vanish where ``masks`` say the pixels should not matter.

    The loss per batch is the cross-entropy plus ``weight`` times the mean over examples of
    ``sum over masked pixels and channels of (d sum_k log p_k / d x)^2``, the "right reasons" term of
    Ross et al. 2017 (arXiv:1703.03717): the gradient of the summed log-probabilities says which pixels
    move *any* prediction, so it is penalised in the regions the annotator marks as irrelevant
    (a trigger, a watermark, a background). Adam with a cosine decay of the learning rate to 0, as
    :func:`introspect.models.train`.

    Parameters
    ----------
    model : keras.Model
        Classifier that outputs logits ``(N, K)``; it is copied, never changed.
    images : array-like, (N, H, W, C)
        Training images.
    labels : (N,) ints
        Their classes.
    masks : bool array, (N, H, W) or (N, H, W, C)
        True where the pixel should *not* matter (penalised); all False for an image leaves it to
        the cross-entropy alone.
    weight : float
        Weight of the gradient penalty (>= 0; 0 is plain training). The penalty's scale depends on
        the model and the mask size; Ross et al. pick it so that both terms are of the same order.
    epochs, batch_size, learning_rate :
        Training schedule.
    from_scratch : bool
        True (as in the paper): train the same architecture from new initial weights. False:
        fine-tune from ``model``'s weights (quick, but a fine-tuned cheater can collapse the class
        instead of learning the real signal; measure both).
    builder : callable, optional
        ``builder() -> keras.Model`` making the architecture (for models ``keras.models.clone_model``
        cannot copy); by default the model is cloned.
    seed : int
        Seeds the initial weights, the shuffling and dropout: the same seed gives the same model
        on the same machine (TensorFlow's op determinism is switched on, as by :func:`models.set_seed`).
    progress : bool
        Show a plain-text progress bar with the two loss terms when the call lasts over ~2 s.

    Returns
    -------
    keras.Model
        The repaired copy (not compiled).
    """
    import keras

    from ..models import set_seed

    if not isinstance(model, keras.Model):
        raise ValueError(f"`model` must be a keras.Model; got {type(model).__name__}.")
    images = as_images(images, model=model)
    labels = as_class_indices(labels, len(images), num_classes(model), "labels").astype(np.int32)
    masks = _as_masks(masks, images.shape)
    if _keras.ends_in_softmax(model):
        raise ValueError(f"`model` {model.name!r} ends in a softmax; right_for_the_right_reasons needs logits.")
    weight = positive_number(weight, "weight", allow_zero=True)
    epochs = positive_int(epochs, "epochs")
    batch_size = positive_int(batch_size, "batch_size")
    learning_rate = fraction(learning_rate, "learning_rate", low=1e-12, high=10.0)
    seed = non_negative_int(seed, "seed")
    if not isinstance(from_scratch, (bool, np.bool_)):
        raise ValueError(f"`from_scratch` must be True or False; got {from_scratch!r}.")
    if builder is not None and not callable(builder):
        raise ValueError(f"`builder` must be a callable returning a keras.Model; got {builder!r:.60}.")

    set_seed(seed)
    repaired = _copy(model, builder, from_scratch)
    steps_per_epoch = -(-len(images) // batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=epochs * steps_per_epoch)
    optimizer = keras.optimizers.Adam(schedule)
    optimizer.build(repaired.trainable_variables)
    step = _train_step(repaired, optimizer, weight)
    rng = np.random.default_rng(seed)
    with _progress.bar(epochs * steps_per_epoch, "right for the right reasons", progress, unit="batches") as bar:
        for _ in range(epochs):
            order = rng.permutation(len(images))
            for start in range(0, len(images), batch_size):
                chosen = order[start:start + batch_size]
                cross_entropy, penalty = step(tf.constant(images[chosen]), tf.constant(labels[chosen]),
                                              tf.constant(masks[chosen]))
                bar.update(1)
                bar.set_postfix_str(f"xent {float(cross_entropy):.3g} grad {float(penalty):.3g}", refresh=False)
    return repaired


def _as_masks(masks, shape: tuple) -> np.ndarray:
    """``(N, H, W, 1 or C)`` float32 0/1 masks from boolean ``(N, H, W)`` or ``(N, H, W, C)``."""
    array = np.asarray(masks)
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4 or array.shape[:3] != shape[:3] or array.shape[3] not in (1, shape[3]):
        raise ValueError(f"`masks` must have shape (N, H, W) or (N, H, W, C) = {shape[:3]} or {shape}; "
                         f"got {np.shape(masks)}.")
    if array.dtype != bool and not np.all((array == 0) | (array == 1)):
        raise ValueError("`masks` must be boolean (True where the pixel should not matter) or 0/1.")
    return array.astype(np.float32)


def _copy(model, builder, from_scratch: bool):
    import keras

    copy = builder() if builder is not None else keras.models.clone_model(model)
    if not isinstance(copy, keras.Model):
        raise ValueError(f"`builder` must return a keras.Model; got {type(copy).__name__}.")
    if not copy.built:
        copy.build(model.input_shape)
    if not from_scratch:
        try:
            copy.set_weights(model.get_weights())
        except ValueError as error:
            raise ValueError(f"`builder` made a model whose weights do not match `model`'s: {error}") from None
    return copy


def _train_step(model, optimizer, weight: float):
    """One compiled step: cross-entropy plus the weighted input-gradient penalty, Adam on the weights."""
    variables = model.trainable_variables

    @tf.function(reduce_retracing=True)
    def step(x, y, masks):
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                inner.watch(x)
                logits = model(x, training=True)
                summed_log_probs = tf.reduce_sum(tf.nn.log_softmax(logits))
            input_gradient = inner.gradient(summed_log_probs, x)
            penalty = tf.reduce_mean(tf.reduce_sum(tf.square(input_gradient * masks), axis=[1, 2, 3]))
            cross_entropy = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
            loss = cross_entropy + weight * penalty
        optimizer.apply_gradients(zip(outer.gradient(loss, variables), variables))
        return cross_entropy, penalty

    return step
