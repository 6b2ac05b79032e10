"""Reading PyTorch's legacy (pre-zip) checkpoint format with numpy, without torch and without running code.

A pickle can call any importable function while it loads. The unpickler here resolves only the
globals of :data:`ALLOWED_GLOBALS` (stand-ins that record where each tensor lives, never torch
itself) and raises :class:`UnsafePickleError` for anything else before it is called.
"""
from __future__ import annotations

import collections
import pickle
import struct
import types
from pathlib import Path

import numpy as np

#: The first pickle of every legacy checkpoint.
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
#: The second pickle: the serialisation protocol version this reader understands.
LEGACY_PROTOCOL = 1001
_STORAGE_DTYPES = {
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "LongStorage": "<i8",
    "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1", "ByteStorage": "u1",
    "BoolStorage": "?",
}


class UnsafePickleError(ValueError, pickle.UnpicklingError):
    """A checkpoint's pickle asked for a global that is not on the allow-list; nothing was run."""


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


#: ``(module, name) -> object`` for every global a checkpoint may name; anything else, however
#: harmless it looks, is refused. The mapping is read-only and the stand-ins have no ``__dict__``,
#: so a pickle cannot alter them for later loads either.
ALLOWED_GLOBALS = types.MappingProxyType({
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _RebuildTensor(),
    **{("torch", name): _StorageType(name) for name in _STORAGE_DTYPES},
})


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, storages: dict):
        super().__init__(file)
        self.storages = storages

    def find_class(self, module, name):
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            allowed = ", ".join(sorted(f"{m}.{n}" for m, n in ALLOWED_GLOBALS))
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


def read_torch_checkpoint(path: str | Path) -> dict[str, np.ndarray]:
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

        if load() != LEGACY_MAGIC:
            raise ValueError(f"`path` {path} does not start with the legacy PyTorch magic number.")
        if load() != LEGACY_PROTOCOL:
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
