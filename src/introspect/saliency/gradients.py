"""Plain gradient methods: the input gradient, gradient x input and guided backpropagation."""
from __future__ import annotations

import numpy as np

from .. import _keras
from ._arguments import prepare
from ._engine import input_gradients


def vanilla_gradient(model, images, targets, *, output: str = "logits", foil=None,
                     batch_size: int = 64, progress: bool = True) -> np.ndarray:
    """Gradient of the class score with respect to the input pixels.

    Simonyan, Vedaldi & Zisserman, "Deep inside convolutional networks", arXiv:1312.6034.

    Parameters
    ----------
    model : keras.Model
        Classifier with one ``(N, K)`` output; logits unless ``output`` says otherwise.
    images : array-like or tf.Tensor, (N, H, W, C)
        Floats in [0, 1] for the models of this package (0-255 pixels raise a ``PixelRangeWarning``).
    targets : int or (N,) ints
        Class whose score is explained.
    output : {"logits", "softmax", "log_softmax"}
        Score explained: the logit (default), the probability or the log-probability.
    foil : int or (N,) ints, optional
        Explain ``score[target] - score[foil]`` instead.
    batch_size : int
        Images per compiled call.
    progress : bool
        Show a plain-text progress bar when the call lasts over ~2 s; ``False`` silences it.

    Returns
    -------
    np.ndarray, (N, H, W, C) float32
        Signed gradients, same shape as ``images``.
    """
    request = prepare(model, images, targets, output, foil, batch_size)
    return input_gradients(request, progress=progress, description="vanilla gradient").astype(np.float32)


def gradient_x_input(model, images, targets, *, output: str = "logits", foil=None,
                     batch_size: int = 64, progress: bool = True) -> np.ndarray:
    """Gradient times input, the first-order Taylor contribution of each pixel.

    Shrikumar et al., "Not just a black box", arXiv:1605.01713. Parameters as in
    :func:`vanilla_gradient` (score: logit by default, or ``output``; ``foil`` for contrast).

    Returns
    -------
    np.ndarray, (N, H, W, C) float32
        ``images * d score / d images``.
    """
    request = prepare(model, images, targets, output, foil, batch_size)
    gradients = input_gradients(request, progress=progress, description="gradient x input")
    return (gradients * request.images).astype(np.float32)


def guided_backprop(model, images, targets, *, output: str = "logits", foil=None,
                    batch_size: int = 64, progress: bool = True) -> np.ndarray:
    """Gradient in which every rectifier (ReLU, ReLU6, swish, hard swish, GELU, ...) also blocks negative gradients.

    Springenberg et al., "Striving for simplicity: the all convolutional net", arXiv:1412.6806.
    The model and its layers are left untouched: the model is run layer by layer (nested
    models included) with a gradient rule attached to each rectifier's output. Needs a functional or
    Sequential model. Parameters as in :func:`vanilla_gradient` (score: the logit by default).

    Returns
    -------
    np.ndarray, (N, H, W, C) float32
        Guided gradients, same shape as ``images``.
    """
    request = prepare(model, images, targets, output, foil, batch_size)
    _keras.check_layerwise(model, "guided_backprop")
    return input_gradients(request, guided=True, progress=progress, description="guided backprop").astype(np.float32)
