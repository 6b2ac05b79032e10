"""The one input-optimisation loop shared by activation maximisation and counterfactual search.

A step for the whole batch (parametrisation -> image -> transforms -> model -> objective minus
penalties -> gradient -> Adam update) is one compiled ``tf.function``; the model's weights are
never touched. What is maximised, how images are represented, transformed and regularised are
arguments (:mod:`.objectives`, :mod:`.params`, :mod:`.transforms`, :mod:`.regularizers`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from ..numerics import adam_step
from .._validation import (as_images, ensure_built, fraction, model_input_shape, non_negative_int, num_classes,
                           one_of, positive_int)
from .objectives import Objective
from .params import PARAMETRISATIONS
from .regularizers import Regularizer, _PeriodicBlur, _Penalty
from .transforms import Transform, apply_transforms


@dataclass
class OptimizationResult:
    """What :func:`optimize` returns.

    Attributes
    ----------
    images : np.ndarray (N, H, W, C)
        The optimised images after ``steps`` steps, float32 in [0, 1].
    objective : np.ndarray (steps + 1, N)
        Objective per example after 0, 1, ..., ``steps`` steps (on the transformed images when
        transforms are used; regulariser penalties not included).
    predictions : np.ndarray (steps + 1, N)
        The model's class (argmax of the logits) at the same moments.
    snapshots : dict[int, np.ndarray]
        Requested step -> images ``(N, H, W, C)`` after that many steps (0 = the init as the
        parametrisation represents it).
    steps_run : int
        Steps actually computed; fewer than ``steps`` when every example was done early (the
        remaining rows of ``objective`` and ``predictions`` repeat the last one: nothing changes).
    """

    images: np.ndarray
    objective: np.ndarray
    predictions: np.ndarray
    snapshots: dict = field(default_factory=dict)
    steps_run: int = 0


def _init_images(init, n, batch_size, model, seed) -> np.ndarray:
    if not isinstance(init, str):
        images = as_images(init, "init", model=model, value_range=(0, 1))
        if batch_size is not None and batch_size != len(images):
            raise ValueError(f"`init` holds {len(images)} images but the objective is written for {batch_size}.")
        if n is not None and n != len(images):
            raise ValueError(f"`n` is {n} but `init` holds {len(images)} images; leave `n` out with an array init.")
        return images.copy()
    one_of(init, ("noise", "gray"), "init")
    if n is not None:
        n = positive_int(n, "n")
        if batch_size is not None and n != batch_size:
            raise ValueError(f"`n` is {n} but the objective is written for {batch_size} examples.")
    n = n or batch_size or 1
    shape = model_input_shape(model)
    if shape is None or None in shape:
        raise ValueError(f"`init` {init!r} needs a model with a fixed input shape (got {shape}); pass an array "
                         f"(N, H, W, C) instead.")
    if init == "gray":
        return np.full((n, *shape), 0.5, dtype=np.float32)
    return np.random.default_rng(seed).uniform(0.0, 1.0, (n, *shape)).astype(np.float32)


def _as_tuple(items, kind: type, name: str, example: str) -> tuple:
    try:
        items = (items,) if isinstance(items, kind) else tuple(items)
    except TypeError:
        raise ValueError(f"`{name}` must be a sequence of {kind.__name__} objects such as {example}; "
                         f"got {items!r}.") from None
    for item in items:
        if not isinstance(item, kind):
            raise ValueError(f"`{name}` must be a sequence of {kind.__name__} objects such as {example}; got {item!r}.")
    return items


def _feature_model(model, layers: tuple):
    import keras

    outputs = [model.get_layer(name).output for name in layers] + [model.outputs[0]]
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs  # a bare tensor in, as callers pass
    return keras.Model(inputs, outputs, name=f"{model.name}_features")


def optimize(model, objective: Objective, init="gray", *, steps: int = 256, learning_rate: float | None = None,
             param: str = "clip", transforms=(), regularizers=(), snapshots=(), seed: int = 0,
             n: int | None = None, adam_scaling: str = "value", update: str = "adam",
             progress: bool = True) -> OptimizationResult:
    """Optimise a batch of input images to maximise ``objective`` of a frozen ``model``.

    Feature visualisation (Olah et al., Distill 2017) and counterfactual explanations (Wachter et
    al. 2017, arXiv:1711.00399) are both this loop with different objectives. Each step is one
    compiled ``tf.function`` for the whole batch: parametrisation -> image -> random transforms ->
    model (inference mode) -> objective minus regulariser penalties -> gradient -> Adam update
    (Kingma & Ba, arXiv:1412.6980) of the parametrisation's variables. Examples the objective
    declares done (a met :func:`counterfactual` margin) keep their state: their update is masked.

    Parameters
    ----------
    model : keras.Model
        Classifier with logits output ``(N, K)``; its weights never change.
    objective : Objective
        What to maximise, e.g. ``class_logit(np.arange(10))`` or ``0.5 * channel("conv3", 4)``.
    init : {"gray", "noise"} or array-like (N, H, W, C)
        Start: constant 0.5, uniform noise in [0, 1] (seeded), or given images in [0, 1].
    steps : int
        Number of gradient steps (> 0).
    learning_rate : float, optional
        Step size; defaults to :data:`DEFAULT_LEARNING_RATE` of ``param`` (an Adam step size).
    param : {"clip", "sigmoid", "fourier"} or callable
        How images are represented (see :mod:`introspect.optimize.params`); results are in [0, 1].
        A callable ``images -> Parametrisation`` with a ``default_learning_rate`` attribute (such as
        :func:`~introspect.optimize.visualise.decoder_param`) plugs in a learned image prior.
    transforms : sequence of Transform
        Random :func:`jitter`, :func:`random_scale`, :func:`random_rotation`, drawn afresh each step.
    regularizers : sequence of Regularizer
        :func:`l2`, :func:`total_variation` (penalties) and :func:`blur` (every few steps).
    snapshots : sequence of int
        Steps in ``[0, steps]`` after which to keep a copy of the images.
    seed : int
        Seeds the noise init and the transforms: equal seeds give identical results.
    n : int, optional
        Batch size for a string ``init`` when the objective does not fix it (default 1).
    adam_scaling : {"value", "example"}
        ``"value"``: standard Adam, every variable gets its own step size, so all pixels move at
        about ``learning_rate`` per step. ``"example"``: Adam's second moment is averaged over each
        image, so the update keeps the gradient's direction and pixels with small gradients barely
        move (the sparser, smaller changes that counterfactuals need).
    update : {"adam", "gradient"}
        ``"adam"``: the Adam update above. ``"gradient"``: plain gradient ascent, ``variables +=
        learning_rate * d(objective - penalties)/d(variables)`` (the assignment's loop: the gradient
        times a small constant added to the input); ``adam_scaling`` is then unused.
    progress : bool
        Show a plain-text progress bar (:mod:`introspect._progress`) when the call lasts over ~2 s.

    Returns
    -------
    OptimizationResult
    """
    from .._progress import bar as progress_bar

    if not isinstance(objective, Objective):
        raise ValueError(f"`objective` must be an Objective such as class_logit(3) or channel('conv3', 0); "
                         f"got {objective!r}.")
    steps = positive_int(steps, "steps")
    seed = non_negative_int(seed, "seed")
    factory = param if callable(param) else PARAMETRISATIONS[one_of(param, tuple(PARAMETRISATIONS), "param")]
    adam_scaling = one_of(adam_scaling, ("value", "example"), "adam_scaling")
    update = one_of(update, ("adam", "gradient"), "update")
    learning_rate = factory.default_learning_rate if learning_rate is None else learning_rate
    learning_rate = fraction(learning_rate, "learning_rate", low=1e-12, high=math.inf)
    transforms = _as_tuple(transforms, Transform, "transforms", "jitter(2)")
    regularizers = _as_tuple(regularizers, Regularizer, "regularizers", "total_variation(0.1)")
    blurs = [r for r in regularizers if isinstance(r, _PeriodicBlur)]
    penalties = [r for r in regularizers if isinstance(r, _Penalty)]
    if len(blurs) > 1:
        raise ValueError("`regularizers` may hold at most one blur(...).")
    try:
        snapshots = sorted({non_negative_int(s, "snapshots") for s in snapshots})
    except TypeError:
        raise ValueError(f"`snapshots` must be a sequence of steps in [0, {steps}]; got {snapshots!r}.") from None
    if snapshots and snapshots[-1] > steps:
        raise ValueError(f"`snapshots` holds step {snapshots[-1]}, outside [0, {steps}].")

    if not isinstance(init, str):
        init = as_images(init, "init", value_range=(0, 1))
        ensure_built(model, init.shape[1:])
    num_classes(model)
    images = _init_images(init, n, objective.batch_size, model, seed)
    objective.check(model)
    extractor = _feature_model(model, objective.layers)
    parametrisation = factory(images)
    step = _compile_step(extractor, objective, parametrisation, transforms, penalties,
                         blurs[0] if blurs else None, learning_rate, adam_scaling, seed, update)

    scores, predictions, kept = [], [], {}
    can_stop = not transforms
    with progress_bar(steps, f"optimize {param if isinstance(param, str) else 'prior'}", progress,
                      unit="steps") as bar:
        for index in range(steps + 1):
            image, score, prediction, done = step(tf.constant(index, tf.int64), tf.constant(index < steps))
            scores.append(score.numpy())
            predictions.append(prediction.numpy())
            if index in snapshots:
                kept[index] = image.numpy()
            if index < steps:
                bar.update(1)
                bar.set_postfix_str(f"objective {scores[-1].mean():.3g}", refresh=False)
            if can_stop and index < steps and done.numpy().all():
                final = image.numpy()
                kept.update({s: final for s in snapshots if s > index})
                scores += [scores[-1]] * (steps - index)
                predictions += [predictions[-1]] * (steps - index)
                bar.update(steps - index - 1)
                break
        steps_run = index
    return OptimizationResult(images=np.clip(image.numpy(), 0.0, 1.0), objective=np.stack(scores),
                              predictions=np.stack(predictions), snapshots=kept, steps_run=steps_run)


def _compile_step(extractor, objective, parametrisation, transforms, penalties, periodic_blur, learning_rate,
                  adam_scaling, seed, rule="adam"):
    """The compiled ``step(index, update) -> (images, objective, predictions, done)``."""
    variables = parametrisation.variables
    per_example = adam_scaling == "example"
    first_moments = [tf.Variable(tf.zeros_like(v)) for v in variables]
    second_moments = [tf.Variable(tf.zeros([v.shape[0]] + [1] * (v.shape.rank - 1)) if per_example
                                  else tf.zeros_like(v)) for v in variables]
    count = tf.Variable(0.0)
    layer_names = objective.layers

    @tf.function
    def step(index, update):
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(variables)
            image = parametrisation.image()
            seeds = tf.stack([tf.constant(seed, tf.int64), index])
            outputs = extractor(apply_transforms(image, transforms, seeds), training=False)
            outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
            features = {"logits": outputs[-1], "image": image, "layers": dict(zip(layer_names, outputs[:-1]))}
            score = objective(features)
            loss = -tf.reduce_sum(score)
            for penalty in penalties:
                loss += tf.reduce_sum(penalty.penalty(image))
        gradients = tape.gradient(loss, variables)
        active = objective.active(features)
        done = tf.zeros_like(score, tf.bool) if active is None else tf.logical_not(active)
        move = tf.logical_and(tf.logical_not(done), update)
        count.assign_add(tf.cast(update, tf.float32))
        for variable, gradient, first, second in zip(variables, gradients, first_moments, second_moments):
            gradient = tf.zeros_like(variable) if gradient is None else gradient
            if rule == "gradient":
                keep = tf.reshape(move, [-1] + [1] * (variable.shape.rank - 1))
                variable.assign(tf.where(keep, variable - learning_rate * gradient, variable))
                continue
            new_variable, new_first, new_second = adam_step(variable, gradient, first, second, count, learning_rate,
                                                            active=move, per_example=per_example)
            first.assign(new_first)
            second.assign(new_second)
            variable.assign(new_variable)
        if periodic_blur is not None:
            blur_now = tf.logical_and(move, tf.equal(tf.math.floormod(index + 1, periodic_blur.every), 0))
            for variable, blurred in zip(variables, parametrisation.blurred(periodic_blur.sigma)):
                variable.assign(tf.where(tf.reshape(blur_now, [-1] + [1] * (variable.shape.rank - 1)),
                                         blurred, variable))
        parametrisation.project()
        return image, score, tf.argmax(features["logits"], axis=1), done

    return step
