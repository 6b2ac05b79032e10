"""Attribution methods for image classifiers: one function each, one signature.

Every method is called as::

    method(model, images, targets, *, output="logits", foil=None, batch_size=64, **params) -> np.ndarray

``images`` are ``(N, H, W, C)`` (numpy or tf) floats in [0, 1] (0-255 pixels raise a
:class:`PixelRangeWarning`), ``targets`` an int or ``(N,)`` ints. The score that is explained
is, per example, ``output[target]`` with ``output`` one of

* ``"logits"``: the pre-softmax logit (the default; the model must output logits),
* ``"softmax"``: the class probability,
* ``"log_softmax"``: the log-probability,

and with ``foil`` the contrastive score ``output[target] - output[foil]``. Pixel-level methods
return raw float arrays shaped like ``images``; CAM, occlusion and mask methods return
``(N, H, W)`` maps at the input resolution. Nothing is normalised or smoothed by default:
:func:`reduce_channels`, :func:`normalize_percentile` and :func:`gaussian_smooth` (from
:mod:`introspect.maps`) do that explicitly. :data:`METHODS` maps each method's name to its function.

One file per method family (``gradients``, ``smoothgrad``, ``integrated_gradients``, ``lrp``, ``cam``,
``occlusion``, ``perturbation``) over a slim engine (``_engine``): all work is done in compiled
TensorFlow functions, traced once per model and configuration (:func:`trace_count` tells how
often). The samples of SmoothGrad, the path points of Integrated Gradients and the occluded
copies of occlusion are expanded into one stream of ``N * samples`` inputs and cut into chunks of
``batch_size``, so memory stays bounded whatever the number of samples. At inference each
BatchNormalization that directly follows a convolution is folded into it (same function, less
arithmetic); the user's model and layers are never modified. A new method is a new file here and
one line in :data:`METHODS`.

Text classifiers: :func:`token_saliency` attributes to the token embeddings of a model with an
``Embedding`` layer, ``(N, T)`` token ids in, ``(N, T)`` scores out; its signature differs from the
image methods', so it is not in :data:`METHODS`.
"""
from __future__ import annotations

from typing import Callable

from .._validation import PixelRangeWarning
from ..maps import gaussian_smooth, normalize_percentile, reduce_channels
from ._arguments import OUTPUTS
from ._engine import trace_count
from .cam import (grad_cam, grad_cam_plus_plus, grad_cam_plus_plus_weights, grad_cam_weights, hires_cam,
                  hires_cam_weights, last_conv_layer)
from .dataset import explain_dataset
from .gradients import gradient_x_input, guided_backprop, vanilla_gradient
from .integrated_gradients import integrated_gradients
from .lrp import lrp
from .occlusion import occlusion
from .perturbation import meaningful_perturbation
from .smoothgrad import smoothgrad
from .tokens import TOKEN_METHODS, token_saliency

#: Every attribution method by name, so notebooks can loop over them.
METHODS: dict[str, Callable] = {
    "vanilla_gradient": vanilla_gradient,
    "gradient_x_input": gradient_x_input,
    "smoothgrad": smoothgrad,
    "integrated_gradients": integrated_gradients,
    "guided_backprop": guided_backprop,
    "lrp": lrp,
    "grad_cam": grad_cam,
    "grad_cam_plus_plus": grad_cam_plus_plus,
    "hires_cam": hires_cam,
    "occlusion": occlusion,
    "meaningful_perturbation": meaningful_perturbation,
}

__all__ = [
    "METHODS", "OUTPUTS", "PixelRangeWarning",
    *METHODS,
    "grad_cam_weights", "grad_cam_plus_plus_weights", "hires_cam_weights", "last_conv_layer",
    "reduce_channels", "normalize_percentile", "gaussian_smooth",
    "trace_count", "explain_dataset", "token_saliency", "TOKEN_METHODS",
]
