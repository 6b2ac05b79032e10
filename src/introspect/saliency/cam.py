"""Class activation maps: Grad-CAM and Grad-CAM++, a layer's activations weighted per channel.

Both read a convolutional layer (by default :func:`last_conv_layer`: the layer feeding the final
global pooling, or else the last Conv2D's rectified output), weigh its channels by a function of the score's gradient there, and upsample the
weighted sum to the input size. The weight functions are pure numpy and public, so that another
weighting is a new function passed to the same machinery.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .. import _keras
from .._keras import last_conv_layer
from ._arguments import prepare
from ._engine import chunked, upsample

__all__ = ["grad_cam", "grad_cam_plus_plus", "grad_cam_weights", "grad_cam_plus_plus_weights", "last_conv_layer"]


def grad_cam_weights(activations: np.ndarray, gradients: np.ndarray) -> np.ndarray:
    """Grad-CAM channel weights ``(N, K)``: spatial means of the gradients ``(N, h, w, K)``."""
    return gradients.mean(axis=(1, 2))


def grad_cam_plus_plus_weights(activations: np.ndarray, gradients: np.ndarray) -> np.ndarray:
    """Grad-CAM++ channel weights ``(N, K)`` from activations and gradients ``(N, h, w, K)``.

    Chattopadhyay et al., arXiv:1710.11063, eq. 19 with the exponential-score closed form:
    ``alpha = g^2 / (2 g^2 + sum_ab(A) g^3)``, weights ``sum_ab(alpha * relu(g))``.
    """
    g2 = np.square(gradients, dtype=np.float64)
    g3 = g2 * gradients
    denominator = 2.0 * g2 + activations.sum(axis=(1, 2), keepdims=True) * g3
    alpha = np.divide(g2, denominator, out=np.zeros_like(g2), where=np.abs(denominator) > 1e-30)
    return (alpha * np.maximum(gradients, 0.0)).sum(axis=(1, 2))


def _cam(model, images, targets, output, foil, batch_size, layer, weigh: Callable, relu: bool,
         progress: bool, description: str) -> np.ndarray:
    request = prepare(model, images, targets, output, foil, batch_size)
    if layer is not None and not isinstance(layer, str):
        raise ValueError(f"`layer` must be a layer name (str) or None; got {layer!r}.")
    layer_object = _keras.find_layer(model, last_conv_layer(model) if layer is None else layer)
    if not _keras.is_layerwise(model):
        raise ValueError(f"`model` {model.name!r} is a subclassed model whose layers cannot be run one by one; "
                         "CAM methods need a functional or Sequential model (nested ones are fine).")
    function = request.engine.layer_gradient(request, layer_object)
    maps = []
    for start in chunked(len(request.images), request.batch_size, description, progress):
        part = slice(start, start + request.batch_size)
        activations, gradients = function(request.images[part], request.targets[part], request.foils[part])
        activations, gradients = activations.numpy(), gradients.numpy()
        if activations.ndim != 4:
            raise ValueError(f"`layer` {layer_object.name!r} outputs shape {activations.shape[1:]}; CAM methods need "
                             "a layer with a (N, h, w, channels) output, such as a convolution.")
        cam = np.einsum("nhwk,nk->nhw", activations, weigh(activations, gradients))
        maps.append(np.maximum(cam, 0.0) if relu else cam)
    return upsample(np.concatenate(maps), request.shape[:2])


def grad_cam(model, images, targets, *, output: str = "logits", foil=None, batch_size: int = 64,
             layer: str | None = None, relu: bool = True, progress: bool = True) -> np.ndarray:
    """Grad-CAM: a layer's activations weighted by the spatial mean of the score's gradient.

    Selvaraju et al., "Grad-CAM: visual explanations from deep networks via gradient-based
    localization", arXiv:1610.02391.

    Parameters
    ----------
    model, images, targets, output, foil, batch_size
        As in :func:`~introspect.saliency.vanilla_gradient` (score: the logit by default).
    layer : str, optional
        Name of the layer read, possibly inside a nested model; default :func:`last_conv_layer` (the
        layer feeding the final global pooling, or else the last Conv2D's rectified output).
    relu : bool
        Keep only positive evidence, as in the paper; ``False`` keeps the sign (useful with ``foil``).
    progress : bool
        Show a plain-text progress bar when the call lasts over ~2 s; ``False`` silences it.

    Returns
    -------
    np.ndarray, (N, H, W) float32
        Maps upsampled bilinearly to the input size.
    """
    return _cam(model, images, targets, output, foil, batch_size, layer, grad_cam_weights, relu, progress, "Grad-CAM")


def grad_cam_plus_plus(model, images, targets, *, output: str = "logits", foil=None, batch_size: int = 64,
                       layer: str | None = None, relu: bool = True, progress: bool = True) -> np.ndarray:
    """Grad-CAM++: channel weights from positive gradients weighted per location.

    Chattopadhyay et al., "Grad-CAM++: improved visual explanations for deep convolutional
    networks", arXiv:1710.11063. Parameters as in :func:`grad_cam` (score: the logit by
    default); the result is ``(N, H, W)`` float32, upsampled bilinearly to the input size.
    """
    return _cam(model, images, targets, output, foil, batch_size, layer, grad_cam_plus_plus_weights, relu, progress,
                "Grad-CAM++")
