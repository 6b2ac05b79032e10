"""ImageNet classifiers that work offline: EfficientNet-Lite0 and -Lite2 converted from PyTorch without torch.

* :mod:`.legacy_pickle`: :func:`read_torch_checkpoint` reads PyTorch's legacy (pre-zip)
  serialisation with numpy and an unpickler that only resolves an explicit allow-list of
  globals, so a crafted checkpoint cannot run code (:class:`UnsafePickleError`);
* :mod:`.efficientnet`: :func:`build_efficientnet_lite` mirrors the reference definition of
  ``efficientnet-lite-pytorch`` layer for layer (Lite0 and Lite2: :data:`VARIANTS`),
  :func:`load_torch_weights` maps a checkpoint onto it and :func:`load_efficientnet_lite` puts the
  two together; Lite0 (:func:`load_efficientnet_lite0`) is the default everywhere, Lite2 the
  independent judge of its visualisations;
* :mod:`.classes`: the 1000 class names in logit order and :func:`decode`;
* :mod:`.photos`: :func:`load_photos`, real photos annotated by hand, read from installed packages
  or, with :mod:`.wheels`, from inside verified PyPI wheels that are never installed;
* :mod:`.views`: :func:`load_views`, natural views of those photos (crops, zooms, flips, small
  rotations) that keep only the labels whose object boxes they show, :func:`view_boxes` (where
  each label's object sits in each view), and the mistakes rule.

The model takes RGB images in ``[0, 1]``, ``(N, 224, 224, 3)``, maps them to ``[-1, 1]`` in its
first layer (``preprocess``, a Keras ``Rescaling``) and returns logits ``(N, 1000)``, so saliency
methods can work directly in pixel space.
"""
from .classes import CLASS_NAMES, NUM_CLASSES, SHORT_NAMES, WNIDS, decode
from .efficientnet import (BN_EPSILON, CHECKPOINT_SHA256, IMAGE_SIZE, PIXEL_OFFSET, PIXEL_SCALE, STAGES, VARIANTS,
                           build_efficientnet_lite, build_efficientnet_lite0, checkpoint_path, load_efficientnet_lite,
                           load_efficientnet_lite0, load_torch_weights, preprocess, stages)
from .legacy_pickle import ALLOWED_GLOBALS, LEGACY_MAGIC, LEGACY_PROTOCOL, UnsafePickleError, read_torch_checkpoint
from .photos import load_photos, photo_records
from .views import load_views, view_boxes

__all__ = [
    # the checkpoint reader
    "read_torch_checkpoint", "UnsafePickleError", "ALLOWED_GLOBALS", "LEGACY_MAGIC", "LEGACY_PROTOCOL",
    # the model
    "build_efficientnet_lite0", "load_torch_weights", "load_efficientnet_lite0", "checkpoint_path", "preprocess",
    "build_efficientnet_lite", "load_efficientnet_lite", "VARIANTS", "stages",
    "IMAGE_SIZE", "BN_EPSILON", "PIXEL_SCALE", "PIXEL_OFFSET", "CHECKPOINT_SHA256", "STAGES",
    # classes and photos
    "NUM_CLASSES", "WNIDS", "CLASS_NAMES", "SHORT_NAMES", "decode", "photo_records", "load_photos", "load_views",
    "view_boxes",
]
