"""One input-optimisation loop: activation maximisation and counterfactual search.

Feature visualisation (Olah et al., Distill 2017, "Feature Visualization") and counterfactual
explanations (Wachter et al. 2017, arXiv:1711.00399) are the same procedure: change the input of
a frozen classifier by gradient steps on a score. That procedure is :func:`optimize`; the uses
differ only in what is plugged into it, one module each:

* :mod:`.objectives`, what is maximised: :func:`class_logit`, :func:`class_probability`,
  :func:`channel`, :func:`neuron`, :func:`counterfactual`; objectives add and scale (``0.5 * a + b``);
* :mod:`.params`, how the image is represented: ``"clip"`` (pixels, clipped to [0, 1] after each
  step), ``"sigmoid"`` (sigmoid of free variables) or ``"fourier"`` (decorrelated Fourier basis,
  Mordvintsev et al., Distill 2018, "Differentiable Image Parameterizations");
* :mod:`.transforms`, random transforms before every forward pass (:func:`jitter`,
  :func:`random_scale`, :func:`random_rotation`), and :mod:`.regularizers` (:func:`l2`,
  :func:`total_variation`, :func:`blur`).

:mod:`.loop` holds :func:`optimize`; :func:`counterfactuals` (:mod:`.counterfactuals`) wraps it for a
batch of misclassified images.
"""
from .counterfactuals import CounterfactualResult, counterfactuals
from .loop import OptimizationResult, optimize
from .objectives import (DISTANCES, Objective, channel, class_logit, class_probability, counterfactual,
                         neuron)
from .params import DEFAULT_LEARNING_RATE, PARAMETRISATIONS, PARAMS, color_basis, fourier_scale
from .regularizers import Regularizer, blur, l2, total_variation
from .transforms import Transform, jitter, random_rotation, random_scale

__all__ = [
    "optimize", "OptimizationResult", "counterfactuals", "CounterfactualResult",
    "Objective", "class_logit", "class_probability", "channel", "neuron", "counterfactual", "DISTANCES",
    "PARAMS", "PARAMETRISATIONS", "DEFAULT_LEARNING_RATE", "color_basis", "fourier_scale",
    "Transform", "jitter", "random_scale", "random_rotation",
    "Regularizer", "l2", "total_variation", "blur",
]
