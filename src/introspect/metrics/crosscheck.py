"""Cross-check our maps against tf-explain's core functions on the same images and classes.

tf-explain's ``explain()`` returns a display grid (absolute, normalised, colour-mapped), so its
static core functions, which return raw tensors, are called instead. It takes one class index per
call; images are grouped by class. Only the quantities both libraries define the same way are
compared: the gradient of the logit, and Grad-CAM read at the same layer without tf-explain's
"guided grads" and without the final ReLU.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import saliency
from .similarity import spearman


def _per_class(compute, images: np.ndarray, targets: np.ndarray) -> np.ndarray:
    out = None
    for c in np.unique(targets):
        members = np.flatnonzero(targets == c)
        values = np.asarray(compute(images[members], int(c)), dtype=np.float32)
        out = np.zeros((len(images), *values.shape[1:]), np.float32) if out is None else out
        out[members] = values
    return out


def tf_explain_agreement(model, images, targets, *, layer: str = "relu3") -> tuple[pd.DataFrame, dict]:
    """Per image: rank correlation and largest difference between our maps and tf-explain's.

    Parameters
    ----------
    model : keras.Model
        Outputs logits; ``layer`` is its last convolutional activation (Grad-CAM).
    images : (N, H, W, C)
    targets : (N,) int

    Returns
    -------
    table : pandas.DataFrame
        Columns ``method, image, spearman, relative_gap`` (``max |ours - theirs| / max |ours|``
        of the image's map, channels summed) and ``gap_on_background``: the share of the pixels that
        differ by more than 1e-4 of that maximum which lie on the black background (NaN if none differ).
    maps : dict
        ``method -> (ours, theirs)`` arrays ``(N, H, W)``.
    """
    import warnings

    import tensorflow as tf
    try:
        from tf_explain.core.grad_cam import GradCAM
        from tf_explain.core.vanilla_gradients import VanillaGradients
    except ImportError as error:  # tf-explain, or the cv2 it imports without declaring it
        raise ImportError(f"tf_explain_agreement needs tf-explain and opencv ({error}); "
                          'pip install "introspect[notebooks]"') from error

    images = np.asarray(images, np.float32)
    targets = np.asarray(targets).astype(int)

    def tf_grad_cam(x, c):
        outputs, grads = GradCAM.get_gradients_and_filters(model, x, layer, c, False)
        cams = np.stack([cam.numpy() for cam in GradCAM.generate_ponderated_output(outputs, grads)])
        return tf.image.resize(cams[..., None], x.shape[1:3], method="bilinear").numpy()[..., 0]

    with warnings.catch_warnings():
        # tf-explain builds its Grad-CAM model from `[model.inputs]`, a nesting Keras 3 accepts with a warning
        warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match", category=UserWarning)
        maps = {
            "gradient": (saliency.vanilla_gradient(model, images, targets)[..., 0],
                         _per_class(lambda x, c: VanillaGradients.compute_gradients(x, model, c), images,
                                    targets)[..., 0]),
            "Grad-CAM": (saliency.grad_cam(model, images, targets, layer=layer, relu=False),
                         _per_class(tf_grad_cam, images, targets)),
        }
    rows = []
    for name, (ours, theirs) in maps.items():
        scale = np.abs(ours).reshape(len(ours), -1).max(axis=1)
        gap = np.abs(ours - theirs).reshape(len(ours), -1)
        differ = gap > 1e-4 * scale[:, None]
        black = (images.max(axis=-1) == 0).reshape(len(ours), -1)
        with np.errstate(invalid="ignore"):
            background = (differ & black).sum(axis=1) / differ.sum(axis=1)
        rows.append(pd.DataFrame(dict(method=name, image=np.arange(len(images)), spearman=spearman(ours, theirs),
                                      relative_gap=gap.max(axis=1) / scale,
                                      gap_on_background=background)))
    return pd.concat(rows, ignore_index=True), maps
