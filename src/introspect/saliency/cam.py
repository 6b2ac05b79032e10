"""Class activation maps: Grad-CAM, Grad-CAM++ and HiResCAM, a layer's activations weighted by its gradients.

Both read a convolutional layer (by default :func:`last_conv_layer`: the layer feeding the final
global pooling, or else the last Conv2D's rectified output), weigh its channels by a function of the score's gradient there, and upsample the
weighted sum to the input size. The weight functions are pure numpy and public, so that another
weighting is a new function passed to the same machinery: per channel ``(N, K)`` (Grad-CAM,
Grad-CAM++) or per position and channel ``(N, h, w, K)`` (HiResCAM).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .. import _keras
from .._keras import last_conv_layer
from ._arguments import prepare
from ._engine import chunked, upsample

__all__ = ["grad_cam", "grad_cam_plus_plus", "hires_cam", "grad_cam_weights", "grad_cam_plus_plus_weights",
           "hires_cam_weights", "last_conv_layer"]


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


def hires_cam_weights(activations: np.ndarray, gradients: np.ndarray) -> np.ndarray:
    """HiResCAM weights ``(N, h, w, K)``: the gradients themselves, position by position."""
    return gradients


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
        weights = weigh(activations, gradients)
        cam = np.einsum("nhwk,nhwk->nhw" if weights.ndim == 4 else "nhwk,nk->nhw", activations, weights)
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


def hires_cam(model, images, targets, *, output: str = "logits", foil=None, batch_size: int = 64,
              layer: str | None = None, relu: bool = False, progress: bool = True) -> np.ndarray:
    """HiResCAM: a layer's activations times the score's gradient there, summed over channels, position by position.

    Draelos & Carin, "Use HiResCAM instead of Grad-CAM for faithful explanations of convolutional
    neural networks", arXiv:2011.08891. Grad-CAM averages each channel's gradient over positions,
    which is exact only when the layer reaches the score through global average pooling; behind a
    flatten and dense layers a channel's gradient changes sign from place to place and the mean
    misstates it. HiResCAM keeps the gradient per position, so where the score is linear in the
    layer's output (a dense head, up to its ReLUs' on/off pattern) the map sums to the score minus
    the bias terms. Parameters as in :func:`grad_cam`; ``relu`` defaults to ``False`` (the sign is
    the point). Returns ``(N, H, W)`` float32, upsampled bilinearly to the input size.
    """
    return _cam(model, images, targets, output, foil, batch_size, layer, hires_cam_weights, relu, progress,
                "HiResCAM")
