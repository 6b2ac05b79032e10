"""Named visualisation recipes, a grid of settings, and what each run does to the logits over the steps.

A :class:`Recipe` is a parametrisation, a start and a transform set for
:func:`~introspect.optimize.optimize`; :data:`RECIPES` holds ``"pixels"`` (the assignment's loop:
pixels clipped to [0, 1], no transforms), ``"fourier"`` (Lucid: decorrelated Fourier from a near-grey
start, pad, jitter, scale, rotate, jitter; Olah et al., Distill 2017) and ``"maco"`` (the phase of a
natural-image spectrum with Lucid's transforms; Fel et al. 2023, arXiv:2306.06805), and
:func:`run_recipe` runs one on any objective.

The assignment's questions (does a start from noise or from a real image matter, does optimising
a logit differ from a softmax probability) are answered by running :func:`~introspect.optimize.optimize`
once per combination with everything else equal (:func:`run_grid`) and reading the logits of
its snapshots (:func:`logit_paths`): the target's logit and the largest other logit per step.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from typing import Callable

import numpy as np
import pandas as pd

from .._validation import model_input_shape, non_negative_int, positive_int
from ..numerics import predict, softmax
from .loop import OptimizationResult, optimize
from .objectives import Objective, class_logit, class_probability
from .params import fourier_start
from .transforms import jitter, pad, random_rotation, random_scale

OBJECTIVES = {"logit": class_logit, "probability": class_probability}


def lucid_transforms(size: int = 224) -> tuple:
    """Lucid's ``standard_transforms`` for ``size`` x ``size`` images: pad 12, jitter 8, scale 0.9-1.1, rotate +-10, jitter 4.

    Pixel amounts are Lucid's at 224 px scaled by ``size / 224`` (at least 1), so a 28 px image gets
    pad 2, jitter 1, ..., jitter 1.
    """
    def pixels(amount):
        return max(1, round(amount * size / 224))

    return (pad(pixels(12), 0.5, size), jitter(pixels(8)), random_scale((0.9, 1.1)), random_rotation(10),
            jitter(pixels(4)))


def pixel_start(n: int, shape: tuple, *, seed: int = 0) -> np.ndarray:
    """Images ``(n, H, W, C)``: grey plus uniform noise in [-0.1, 0.1] (the pixel recipe's start)."""
    return (0.5 + np.random.default_rng(seed).uniform(-0.1, 0.1, (n, *shape))).astype(np.float32)


def noise_start(n: int, shape: tuple, *, seed: int = 0) -> np.ndarray:
    """Uniform noise in [0, 1] ``(n, H, W, C)``; under ``"maco"`` only its phase counts: a random phase."""
    return np.random.default_rng(seed).uniform(0.0, 1.0, (n, *shape)).astype(np.float32)


@dataclass(frozen=True)
class Recipe:
    """How to visualise: a parametrisation, a start and a transform set; everything else is :func:`optimize`'s.

    Attributes
    ----------
    param : str
        A key of :data:`~introspect.optimize.params.PARAMETRISATIONS`.
    start : callable
        ``start(n, (H, W, C), seed=...) -> (n, H, W, C)`` images in [0, 1].
    transforms : callable
        ``transforms(size) -> tuple of Transform`` for ``size`` x ``size`` images.
    learning_rate : float
        Adam's step size.
    """

    param: str
    start: Callable
    transforms: Callable
    learning_rate: float


#: The recipes of :func:`run_recipe`; the steps and step sizes are those measured in notebook 03
#: (``scripts/imagenet_visualisation_03.py``).
RECIPES = {
    "pixels": Recipe("clip", pixel_start, lambda size: (), 0.01),
    "fourier": Recipe("fourier", fourier_start, lucid_transforms, 0.05),
    "maco": Recipe("maco", noise_start, lucid_transforms, 0.05),
}
#: The recipe of :func:`run_recipe` and :func:`~introspect.optimize.visualise_classes` for RGB models unless one
#: is named: measured in notebook 03 on EfficientNet-Lite0 (20 classes, 256 steps), ``"maco"`` is the recipe whose
#: pictures the independent EfficientNet-Lite2 puts in its top five for >= 90% of the classes *and* that are
#: photo-like (pixel std, saturation and spectrum slope near the packaged photos'); ``"fourier"`` is as
#: recognisable but washed out and grey. Models with other channel counts get :data:`FALLBACK_RECIPE`.
DEFAULT_RECIPE = "maco"
#: The default for models whose input is not RGB (``"maco"``'s spectrum is that of colour photos).
FALLBACK_RECIPE = "fourier"


def recipe_named(recipe: str) -> Recipe:
    """The :class:`Recipe` called ``recipe``; a ``ValueError`` naming the argument otherwise."""
    if not isinstance(recipe, str) or recipe not in RECIPES:
        raise ValueError(f"`recipe` must be one of {sorted(RECIPES)}; got {recipe!r}.")
    return RECIPES[recipe]


def default_recipe(model) -> str:
    """:data:`DEFAULT_RECIPE` for a model with RGB input, :data:`FALLBACK_RECIPE` otherwise."""
    shape = model_input_shape(model)
    return DEFAULT_RECIPE if shape is not None and shape[-1] == 3 else FALLBACK_RECIPE


def run_recipe(model, objective: Objective, *, recipe: str | None = None, n: int | None = None, init=None,
              steps: int = 256, seed: int = 0, learning_rate: float | None = None, snapshots=(),
              progress: bool = False) -> OptimizationResult:
    """Maximise ``objective`` of ``model`` with a named recipe (:data:`RECIPES`).

    Parameters
    ----------
    model : keras.Model
        Classifier with logits and a fixed square input ``(S, S, C)``.
    objective : Objective
        E.g. ``class_logit(classes)`` or ``channel("block5_add", k)``.
    recipe : {"pixels", "fourier", "maco"}, optional
        Parametrisation, start and transforms (``"maco"`` needs RGB); default :func:`default_recipe`.
    n : int, optional
        Number of images when the objective does not fix it (default 1).
    init : array-like (N, H, W, C), optional
        Start from these images in [0, 1] instead of the recipe's start (e.g. a photo).
    steps, seed, learning_rate, snapshots, progress
        As in :func:`~introspect.optimize.optimize`; ``learning_rate`` defaults to the recipe's.
    """
    chosen = recipe_named(default_recipe(model) if recipe is None else recipe)
    steps, seed = positive_int(steps, "steps"), non_negative_int(seed, "seed")
    shape = model_input_shape(model)
    if shape is None or None in shape:
        raise ValueError(f"`model` needs a fixed input shape for a recipe's start; got {shape}.")
    if init is None:
        count = objective.batch_size or (1 if n is None else positive_int(n, "n"))
        init = chosen.start(count, tuple(shape), seed=seed)
    return optimize(model, objective, init, steps=steps, param=chosen.param, transforms=chosen.transforms(shape[0]),
                    learning_rate=chosen.learning_rate if learning_rate is None else learning_rate, seed=seed,
                    snapshots=snapshots, progress=progress)


def run_grid(model, classes, starts: dict, params: dict, *, objectives=("logit", "probability"),
             updates=("gradient",), steps: int = 1000, snapshots=(), seed: int = 0) -> dict:
    """One :func:`optimize` run per (update, param, start, objective); every other setting is shared.

    Parameters
    ----------
    model : keras.Model
        Classifier with logits.
    classes : array (N,) int
        The target class of each image of a run.
    starts : dict
        Name -> init: ``"noise"`` or images ``(N, H, W, C)`` in [0, 1].
    params : dict
        Name of a parametrisation (``"clip"``, ``"sigmoid"``) -> ``{update: learning rate}``.
    objectives, updates : sequences of str
        Keys of :data:`OBJECTIVES`; ``"gradient"`` and/or ``"adam"`` (see :func:`optimize`).

    Returns
    -------
    dict
        ``(update, param, start, objective)`` -> :class:`OptimizationResult`.
    """
    classes = np.asarray(classes)
    runs = {}
    for update, param, start, objective in product(updates, params, starts, objectives):
        runs[(update, param, start, objective)] = optimize(
            model, OBJECTIVES[objective](classes), starts[start], param=param, update=update,
            learning_rate=params[param][update], steps=steps, snapshots=snapshots, seed=seed, progress=False)
    return runs


def target_scores(logits: np.ndarray, classes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For logits ``(N, K)`` and one class per row: the ``target`` logit, the largest ``other`` logit and ``p``, the
    target's softmax probability, each ``(N,)``."""
    classes = np.asarray(classes)
    rows = np.arange(len(classes))
    others = np.where(np.arange(logits.shape[1])[None] == classes[:, None], -np.inf, logits).max(axis=1)
    return logits[rows, classes], others, softmax(logits)[rows, classes]


def logit_paths(model, result: OptimizationResult, classes) -> pd.DataFrame:
    """Per snapshot step and image: ``target`` logit, largest ``other`` logit and ``p`` (target probability)."""
    rows = []
    for step in sorted(result.snapshots):
        target, others, p = target_scores(predict(model, result.snapshots[step]), classes)
        rows += [{"step": step, "image": i, "target": target[i], "other": others[i], "p": p[i]}
                 for i in range(len(target))]
    return pd.DataFrame(rows)
