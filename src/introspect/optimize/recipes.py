"""Activation maximisation under a grid of settings, and what each run does to the logits over the steps.

The assignment's questions (does a start from noise or from a real image matter, does optimising
a logit differ from a softmax probability) are answered by running :func:`~introspect.optimize.optimize`
once per combination with everything else equal (:func:`run_grid`) and reading the logits of
its snapshots (:func:`logit_paths`): the target's logit and the largest other logit per step.
"""
from __future__ import annotations

from itertools import product

import numpy as np
import pandas as pd

from ..numerics import predict
from .loop import OptimizationResult, optimize
from .objectives import class_logit, class_probability

OBJECTIVES = {"logit": class_logit, "probability": class_probability}


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


def logit_paths(model, result: OptimizationResult, classes) -> pd.DataFrame:
    """Per snapshot step and image: ``target`` logit, largest ``other`` logit and ``p`` (target probability)."""
    classes = np.asarray(classes)
    rows = []
    for step in sorted(result.snapshots):
        logits = predict(model, result.snapshots[step])
        others = np.where(np.arange(logits.shape[1])[None] == classes[:, None], -np.inf, logits).max(axis=1)
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        p = shifted[np.arange(len(classes)), classes] / shifted.sum(axis=1)
        rows += [{"step": step, "image": i, "target": logits[i, c], "other": others[i], "p": p[i]}
                 for i, c in enumerate(classes)]
    return pd.DataFrame(rows)
