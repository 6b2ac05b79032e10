"""Right for the Right Reasons: train with a penalty on input gradients inside "should not matter" masks.

Ross, Hughes & Doshi-Velez 2017, "Right for the right reasons: training differentiable models by
constraining their explanations", arXiv:1703.03717.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import tensorflow as tf

from .. import _keras, _progress
from .._validation import as_class_indices, as_images, fraction, non_negative_int, num_classes, positive_int, \
    positive_number
from .inpaint import as_masks, inpaint

#: ``weight="auto"`` makes the weighted penalty scale this many times the cross-entropy at the start.
AUTO_FACTOR = 1.0
#: Images of the first epoch (and masked images) on which ``weight="auto"`` measures the two terms.
AUTO_IMAGES = 512


@dataclass(frozen=True)
class RightReasonsLog:
    """What :func:`right_for_the_right_reasons` did; the returned model's ``rrr_log``.

    Attributes
    ----------
    weight : float
        The penalty weight used: the one ``weight="auto"`` chose, or the number given.
    rule : str
        ``"auto"`` or ``"given"``.
    start_cross_entropy, start_penalty_scale : float
        ``"auto"`` only (NaN otherwise): the mean cross-entropy and the penalty scale (the raw
        penalty with confident predictions) of the trained model before its first update;
        ``weight = AUTO_FACTOR * start_cross_entropy / start_penalty_scale``.
    n_counterexamples : int
        Images added to the training set.
    cross_entropy, penalty : (epochs,) arrays
        Mean of each raw (unweighted) loss term over each epoch.
    """

    weight: float
    rule: str
    start_cross_entropy: float
    start_penalty_scale: float
    n_counterexamples: int
    cross_entropy: np.ndarray
    penalty: np.ndarray


def right_for_the_right_reasons(model, images, labels, masks, *, counterexamples: str | Callable | None = "inpaint",
                                weight: float | str = "auto", epochs: int = 5, batch_size: int = 64,
                                learning_rate: float = 1e-3, from_scratch: bool = True,
                                builder: Callable | None = None, seed: int = 0, progress: bool = True):
    """Train a copy of ``model`` whose input gradients vanish where ``masks`` say the pixels should not matter.

    The loss per batch is the cross-entropy plus ``weight`` times the mean over examples of
    ``sum over masked pixels and channels of (d sum_k log p_k / d x)^2``, the "right reasons" term of
    Ross et al. 2017 (arXiv:1703.03717): the gradient of the summed log-probabilities says which pixels
    move *any* prediction, so it is penalised in the regions the annotator marks as irrelevant
    (a trigger, a watermark, a background). Adam with a cosine decay of the learning rate to 0, as
    :func:`introspect.models.train`.

    By default each masked image is also added once more with its masked pixels filled from their
    neighbours (:func:`~.inpaint.inpaint`), same label and mask: a counterexample that shows the
    class without the artifact. The penalty alone only flattens the model's gradient at the
    artifact; the counterexamples take away what the artifact predicts, and they carry the repair.
    On notebook 01's poisoned classes (weight 0.01) the penalty alone leaves the square's and the
    time stamp's classes at 0.3% and 8% clean accuracy; with the counterexamples all four poisoned
    classes come within 1-7 points of the clean control.

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
    counterexamples : "inpaint", "transplant", callable, a list or tuple of these, or None
        Images added to the training set, one per masked image (an image whose mask has a True
        pixel) and kind:

        * ``"inpaint"`` (default): the image, its masked pixels filled by :func:`~.inpaint.inpaint`,
          same label and mask: the class without the artifact.
        * ``"transplant"``: the masked pixels pasted into a random image of another class, with that
          image's label and the mask: the artifact without the class. This is the augmentation of
          A-ClArC (Anders et al. 2022, arXiv:1912.11425) with the annotated region as the artifact;
          it is what stops a pasted trigger from still swaying other classes. Seeded by ``seed``.
        * A callable ``fill(images, masks) -> images`` (``(M, H, W, C)`` images and ``(M, H, W)`` or
          ``(M, H, W, C)`` bool masks, as given) fills the masked pixels another way.
        * ``None``: the training set as given.
    weight : "auto" or float
        Weight of the gradient penalty. ``"auto"`` (default): Ross et al. choose it so that the two
        terms are of the same order; here ``weight = AUTO_FACTOR * CE / P`` with ``AUTO_FACTOR = 1``,
        both measured on the model that is trained (after the re-initialisation of ``from_scratch``),
        in training mode, before its first update, on the first epoch's first :data:`AUTO_IMAGES`
        images (counterexamples included). ``CE`` is the mean cross-entropy; ``P`` is the penalty
        the model has once its predictions are confident: for ``p`` one-hot at the label,
        ``d sum_k log p_k / dx = K (mean_k dz_k/dx - dz_y/dx)``, so ``P = K^2 |(dz_y/dx - mean_k
        dz_k/dx) * mask|^2``, averaged over masked images and times their share. (The raw penalty
        itself is no measure at the start: with near-uniform initial predictions its gradient
        nearly cancels, and the ratio swings with how uniform they happen to be, e.g. 290-1000 for
        one small MLP over three seeds.) ``P`` grows with the mask's area, the input's scale and
        the model's gradients, so one number does not carry over: "auto" chooses 0.0100 for the
        package's BatchNorm CNN on notebook 01's data (the weight picked there by hand; 0.001 leaves
        more transplant flips, 0.08 costs 4 points of clean accuracy) and 14-19 for a small MLP on
        another trigger (``scripts/repair_own_case.py``; 0.1 to 30 repair it within a point of the
        control's clean accuracy). The weight
        chosen is the returned model's ``rrr_log.weight``; when no mask has a True pixel it is 0.
        A float >= 0 is used as given (0 is plain training).
    epochs, batch_size, learning_rate :
        Training schedule (``epochs`` over the training set with its counterexamples).
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
        The repaired copy (not compiled), with ``rrr_log`` (:class:`RightReasonsLog`): the weight
        used and how it was chosen, the number of counterexamples, the two loss terms per epoch.
    """
    import keras

    from ..models import set_seed

    if not isinstance(model, keras.Model):
        raise ValueError(f"`model` must be a keras.Model; got {type(model).__name__}.")
    images = as_images(images, model=model)
    labels = as_class_indices(labels, len(images), num_classes(model), "labels").astype(np.int32)
    given_masks, masks = masks, as_masks(masks, images.shape)
    if _keras.ends_in_softmax(model):
        raise ValueError(f"`model` {model.name!r} ends in a softmax; right_for_the_right_reasons needs logits.")
    kinds = _as_kinds(counterexamples)
    auto = isinstance(weight, str)
    if auto and weight != "auto":
        raise ValueError(f"`weight` must be 'auto' or a finite number >= 0; got {weight!r}.")
    if not auto:
        weight = positive_number(weight, "weight", allow_zero=True)
    epochs = positive_int(epochs, "epochs")
    batch_size = positive_int(batch_size, "batch_size")
    learning_rate = fraction(learning_rate, "learning_rate", low=1e-12, high=10.0)
    seed = non_negative_int(seed, "seed")
    if not isinstance(from_scratch, (bool, np.bool_)):
        raise ValueError(f"`from_scratch` must be True or False; got {from_scratch!r}.")
    if builder is not None and not callable(builder):
        raise ValueError(f"`builder` must be a callable returning a keras.Model; got {builder!r:.60}.")

    n_given = len(images)
    additions = [_add_counterexamples(images, labels, given_masks, masks, kind, seed) for kind in kinds]
    if additions:
        images, labels, masks = (np.concatenate([part, *(added[i] for added in additions)])
                                 for i, part in enumerate((images, labels, masks)))

    set_seed(seed)
    repaired = _copy(model, builder, from_scratch)
    steps_per_epoch = -(-len(images) // batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=epochs * steps_per_epoch)
    optimizer = keras.optimizers.Adam(schedule)
    optimizer.build(repaired.trainable_variables)
    weight_variable = tf.Variable(0.0 if auto else weight, dtype=tf.float32, trainable=False)
    step = _train_step(repaired, optimizer, weight_variable)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(images))
    start_terms = (np.nan, np.nan)
    if auto:
        weight, start_terms = _auto_weight(repaired, images, labels, masks, order, batch_size)
        weight_variable.assign(weight)
    history = np.zeros((epochs, 2))
    with _progress.bar(epochs * steps_per_epoch, "right for the right reasons", progress, unit="batches") as bar:
        for epoch in range(epochs):
            if epoch > 0:
                order = rng.permutation(len(images))
            for start in range(0, len(images), batch_size):
                chosen = order[start:start + batch_size]
                cross_entropy, penalty = (float(t) for t in step(tf.constant(images[chosen]),
                                                                 tf.constant(labels[chosen]),
                                                                 tf.constant(masks[chosen])))
                history[epoch] += np.array([cross_entropy, penalty]) * len(chosen) / len(images)
                bar.update(1)
                bar.set_postfix_str(f"xent {cross_entropy:.3g} grad {penalty:.3g}", refresh=False)
    repaired.rrr_log = RightReasonsLog(float(weight), "auto" if auto else "given", *map(float, start_terms),
                                       len(images) - n_given, history[:, 0], history[:, 1])
    return repaired


def _add_counterexamples(images, labels, given_masks, masks, kind, seed: int):
    """The counterexamples of one ``kind`` for the masked images: ``(images, labels, masks)`` to append."""
    chosen = np.flatnonzero(masks.reshape(len(masks), -1).any(axis=1))
    if len(chosen) == 0:
        return images[:0], labels[:0], masks[:0]
    if kind == "transplant":
        if np.all(labels == labels[0]):
            raise ValueError("`counterexamples`='transplant' needs images of at least two classes in `labels`.")
        rng = np.random.default_rng([seed, 1])
        hosts = rng.integers(len(images), size=len(chosen))
        same = labels[hosts] == labels[chosen]
        while same.any():                        # each host is an image of another class
            hosts[same] = rng.integers(len(images), size=int(same.sum()))
            same = labels[hosts] == labels[chosen]
        return np.where(masks[chosen], images[chosen], images[hosts]), labels[hosts], masks[chosen]
    filled = kind(images[chosen].copy(), np.asarray(given_masks)[chosen].astype(bool))
    try:
        filled = as_images(filled, "counterexamples")
    except ValueError as error:
        raise ValueError(f"`counterexamples`' fill returned unusable images: {error}") from None
    if filled.shape != images[chosen].shape:
        raise ValueError(f"`counterexamples`' fill returned images of shape {filled.shape}; expected "
                         f"{images[chosen].shape}, one for each masked image.")
    return filled, labels[chosen], masks[chosen]


#: Counterexamples by name: ``"inpaint"`` fills the masked pixels; ``"transplant"`` pastes them into another class's image.
COUNTEREXAMPLES = ("inpaint", "transplant")


def _as_kinds(counterexamples) -> list:
    """``counterexamples`` as a list of kinds: ``"transplant"`` or a fill callable (``"inpaint"`` is :func:`inpaint`)."""
    if counterexamples is None:
        return []
    single = isinstance(counterexamples, str) or callable(counterexamples)
    given = [counterexamples] if single else list(counterexamples) if isinstance(counterexamples, (list, tuple)) else None
    kinds = []
    for kind in given or [None]:
        if callable(kind):
            kinds.append(kind)
        elif isinstance(kind, str) and kind in COUNTEREXAMPLES:
            kinds.append(inpaint if kind == "inpaint" else kind)
        else:
            raise ValueError(f"`counterexamples` must be 'inpaint', 'transplant', a callable fill(images, masks) -> "
                             f"images, a list or tuple of these, or None; got {counterexamples!r:.60}.")
    return kinds


def _auto_weight(model, images, labels, masks, order, batch_size: int) -> tuple[float, tuple[float, float]]:
    """``AUTO_FACTOR * cross-entropy / penalty scale`` of the model before its first update, the model left as it was.

    Both terms in training mode (as in the loss) on the first epoch's order: the cross-entropy on its
    first :data:`AUTO_IMAGES` images, the penalty scale on its first :data:`AUTO_IMAGES` masked images
    times the share of masked images in the training set.
    """
    masked = masks.reshape(len(masks), -1).any(axis=1)
    if not masked.any():
        return 0.0, (np.nan, 0.0)
    measure = _start_terms(model)
    saved = [v.numpy() for v in model.non_trainable_variables]   # training-mode BatchNorm moves its statistics
    means = []
    for part in (order[:AUTO_IMAGES], order[masked[order]][:AUTO_IMAGES]):
        total = np.zeros(2)
        for start in range(0, len(part), batch_size):
            chosen = part[start:start + batch_size]
            terms = measure(tf.constant(images[chosen]), tf.constant(labels[chosen]), tf.constant(masks[chosen]))
            total += np.array([float(t) for t in terms]) * len(chosen)
        means.append(total / len(part))
    for variable, value in zip(model.non_trainable_variables, saved):
        variable.assign(value)
    cross_entropy, scale = means[0][0], means[1][1] * masked.mean()
    if not scale > 0:
        raise ValueError("`weight`='auto' cannot measure the penalty: the model's input gradients are zero inside "
                         "every mask; pass a number.")
    return AUTO_FACTOR * cross_entropy / scale, (cross_entropy, scale)


def _start_terms(model):
    """Per batch: mean cross-entropy and mean penalty as if the model were confident in the label."""
    k = float(num_classes(model))

    @tf.function(reduce_retracing=True)
    def terms(x, y, masks):
        with tf.GradientTape() as tape:
            tape.watch(x)
            logits = model(x, training=True)
            # With p one-hot at y, d sum_k log p_k / dx = K (mean_k dz_k/dx - dz_y/dx): one backward pass.
            margin = tf.reduce_sum(tf.gather(logits, y, batch_dims=1) - tf.reduce_mean(logits, axis=1))
        gradient = tape.gradient(margin, x)
        penalty = k * k * tf.reduce_mean(tf.reduce_sum(tf.square(gradient * masks), axis=[1, 2, 3]))
        cross_entropy = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
        return cross_entropy, penalty

    return terms


def _loss_terms(model, x, y, masks):
    """Mean cross-entropy and mean raw penalty of a batch, in training mode."""
    with tf.GradientTape() as inner:
        inner.watch(x)
        logits = model(x, training=True)
        summed_log_probs = tf.reduce_sum(tf.nn.log_softmax(logits))
    input_gradient = inner.gradient(summed_log_probs, x)
    penalty = tf.reduce_mean(tf.reduce_sum(tf.square(input_gradient * masks), axis=[1, 2, 3]))
    cross_entropy = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
    return cross_entropy, penalty


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


def _train_step(model, optimizer, weight: tf.Variable):
    """One compiled step: cross-entropy plus the weighted input-gradient penalty, Adam on the weights."""
    variables = model.trainable_variables

    @tf.function(reduce_retracing=True)
    def step(x, y, masks):
        with tf.GradientTape() as outer:
            cross_entropy, penalty = _loss_terms(model, x, y, masks)
            loss = cross_entropy + weight * penalty
        optimizer.apply_gradients(zip(outer.gradient(loss, variables), variables))
        return cross_entropy, penalty

    return step
