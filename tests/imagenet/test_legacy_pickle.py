"""The legacy PyTorch checkpoint reader: exact tensors from files with known contents, and a security boundary."""
import collections
import hashlib
import os
import pickle
import struct
import sys
import types

import numpy as np
import pytest

from introspect import imagenet


# --- a writer of PyTorch's legacy format, so the reader is tested on files with known contents ---

def write_legacy_checkpoint(path, tensors, monkeypatch):
    """Write ``{name: (storage_key, storage_values, offset, shape, stride)}`` the way torch<1.6 did.

    Fake ``torch`` / ``torch._utils`` modules make pickle emit the same globals as the real writer.
    """
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")
    for dtype_name in ("FloatStorage", "LongStorage"):
        storage_class = type(dtype_name, (), {"__module__": "torch"})
        setattr(torch, dtype_name, storage_class)

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called while writing")

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch._utils = utils
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)

    class Storage:
        def __init__(self, key, values):
            self.key, self.values = key, values

    class Tensor:
        def __init__(self, storage, offset, shape, stride):
            self.args = (storage, offset, shape, stride, False, collections.OrderedDict())

        def __reduce__(self):
            return _rebuild_tensor_v2, self.args

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, Storage):
                kind = torch.LongStorage if obj.values.dtype == np.int64 else torch.FloatStorage
                return "storage", kind, obj.key, "cpu", obj.values.size, None
            return None

    storages, state = {}, collections.OrderedDict()
    for name, (key, values, offset, shape, stride) in tensors.items():
        storage = storages.setdefault(key, Storage(key, np.asarray(values)))
        state[name] = Tensor(storage, offset, shape, stride)
    with open(path, "wb") as file:
        for header in (imagenet.LEGACY_MAGIC, imagenet.LEGACY_PROTOCOL,
                       {"protocol_version": 1001, "little_endian": True, "type_sizes": {"int": 4}}):
            pickle.dump(header, file, protocol=2)
        Pickler(file, protocol=2).dump(state)
        pickle.dump(list(storages), file, protocol=2)
        for storage in storages.values():
            file.write(struct.pack("<q", storage.values.size) + storage.values.astype(
                storage.values.dtype.newbyteorder("<")).tobytes())


def test_reader_rebuilds_strided_offset_and_integer_tensors(tmp_path, monkeypatch):
    shared = np.arange(20, dtype=np.float32)
    path = tmp_path / "small.pth"
    write_legacy_checkpoint(path, {
        "w": ("0", shared, 0, (3, 4), (4, 1)),
        "w_transposed": ("0", shared, 0, (4, 3), (1, 4)),  # a non-contiguous view of the same storage
        "tail": ("0", shared, 12, (2, 2), (2, 1)),
        "count": ("1", np.array([7], np.int64), 0, (), ()),
    }, monkeypatch)
    monkeypatch.undo()
    state = imagenet.read_torch_checkpoint(path)
    assert list(state) == ["w", "w_transposed", "tail", "count"]
    np.testing.assert_array_equal(state["w"], shared[:12].reshape(3, 4))
    np.testing.assert_array_equal(state["w_transposed"], shared[:12].reshape(3, 4).T)
    np.testing.assert_array_equal(state["tail"], [[12, 13], [14, 15]])
    assert state["count"].dtype == np.int64 and state["count"].shape == () and state["count"] == 7
    assert all(a.flags.c_contiguous and a.flags.writeable for a in state.values())


def test_reader_rejects_truncated_trailing_and_out_of_bounds_files(tmp_path, monkeypatch):
    path = tmp_path / "ok.pth"
    write_legacy_checkpoint(path, {"w": ("0", np.ones(6, np.float32), 0, (2, 3), (3, 1))}, monkeypatch)
    data = path.read_bytes()
    (tmp_path / "short.pth").write_bytes(data[:-4])
    (tmp_path / "long.pth").write_bytes(data + b"\0")
    for name, match in (("short.pth", "`path` .* is truncated"), ("long.pth", "`path` .* has trailing bytes")):
        with pytest.raises(ValueError, match=match):
            imagenet.read_torch_checkpoint(tmp_path / name)
    write_legacy_checkpoint(tmp_path / "oob.pth", {"w": ("0", np.ones(6, np.float32), 4, (2, 3), (3, 1))},
                            monkeypatch)
    with pytest.raises(ValueError, match="`path`: tensor 'w' reaches past the end"):
        imagenet.read_torch_checkpoint(tmp_path / "oob.pth")
    (tmp_path / "new.pth").write_bytes(b"PK\x03\x04" + bytes(20))
    with pytest.raises(ValueError, match="`path` .* is a zip-based"):
        imagenet.read_torch_checkpoint(tmp_path / "new.pth")
    with pytest.raises(ValueError, match="`path` must be an existing checkpoint file"):
        imagenet.read_torch_checkpoint(tmp_path / "missing.pth")


# --- the security boundary ---

class _Exploit:
    def __init__(self, function, argument):
        self.function, self.argument = function, argument

    def __reduce__(self):
        return self.function, (self.argument,)


@pytest.mark.parametrize("function, global_name", [(os.system, r"(posix|os)\.system"),
                                                   (eval, r"_?_?builtins?_?_?\.eval"),
                                                   (exec, r"_?_?builtins?_?_?\.exec")])
@pytest.mark.parametrize("where", ["first pickle", "state dict"])
@pytest.mark.parametrize("protocol", [2, 4])  # GLOBAL and STACK_GLOBAL opcodes
def test_malicious_pickle_is_refused_without_running(tmp_path, function, global_name, where, protocol):
    marker = tmp_path / "pwned"
    code = f"open({str(marker)!r}, 'w').close()"
    command = {os.system: f"touch {marker}", eval: f"exec({code!r})", exec: code}[function]
    payload = _Exploit(function, command)
    path = tmp_path / "evil.pth"
    with open(path, "wb") as file:
        if where == "state dict":
            for header in (imagenet.LEGACY_MAGIC, imagenet.LEGACY_PROTOCOL, {"little_endian": True}):
                pickle.dump(header, file, protocol=protocol)
            payload = collections.OrderedDict(weight=payload)
        pickle.dump(payload, file, protocol=protocol)
    with pytest.raises(imagenet.UnsafePickleError, match=rf"`path`: .*the global {global_name}, .*allow-list") \
            as error:
        imagenet.read_torch_checkpoint(path)
    assert isinstance(error.value, ValueError) and isinstance(error.value, pickle.UnpicklingError)
    assert not marker.exists()


@pytest.mark.parametrize("opcodes, match", [
    # GLOBAL torch._utils._rebuild_tensor_v2, then BUILD {'a': 1} on it: the stand-in has no __dict__.
    (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n}X\x01\x00\x00\x00aK\x01sb.", "`path` .* not a legacy"),
    # The same with BUILD (None, {'__call__': 1}): slot state goes through setattr.
    (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\nN}X\x08\x00\x00\x00__call__K\x01s\x86b.",
     "`path` .* not a legacy"),
    # _rebuild_tensor_v2(('0', None), 0, (1,), (1,), False, None): a forged tuple instead of a storage.
    (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(X\x01\x00\x00\x000N\x86K\x00K\x01\x85K\x01\x85\x89Nt"
     b"R.", "`path`: _rebuild_tensor_v2 got something other than a storage"),
])
def test_allowed_globals_cannot_be_altered_or_fed_forged_storages(tmp_path, opcodes, match):
    path = tmp_path / "crafted.pth"
    path.write_bytes(opcodes)
    with pytest.raises(ValueError, match=match):
        imagenet.read_torch_checkpoint(path)
    rebuild = imagenet.ALLOWED_GLOBALS[("torch._utils", "_rebuild_tensor_v2")]
    assert not hasattr(rebuild, "a") and not hasattr(rebuild, "__dict__")
    with pytest.raises(TypeError):
        imagenet.ALLOWED_GLOBALS[("os", "system")] = os.system  # read-only


def test_persistent_ids_other_than_storages_are_refused(tmp_path):
    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return ("module", "os") if obj == "x" else None

    path = tmp_path / "pid.pth"
    with open(path, "wb") as file:
        Pickler(file, protocol=2).dump(["x"])
    with pytest.raises(imagenet.UnsafePickleError, match="`path`: unexpected persistent id"):
        imagenet.read_torch_checkpoint(path)


# --- the shipped checkpoint ---

def test_shipped_checkpoint_reads_into_the_expected_state_dict():
    path = imagenet.checkpoint_path()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == imagenet.CHECKPOINT_SHA256
    state = imagenet.read_torch_checkpoint(path)
    params = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    assert sum(v.size for v in params.values()) == 4_694_024
    assert all(v.dtype == np.float32 and np.all(np.isfinite(v)) for v in params.values())
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_blocks.15._depthwise_conv.weight"].shape == (1152, 1, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280)
    assert "_blocks.0._expand_conv.weight" not in state and "_blocks.16._bn0.weight" not in state
    # Dead channels store variances of ~0, a few slightly negative (down to -7e-6): harmless only
    # because BatchNorm adds its epsilon (1e-3) before the square root.
    assert min(v.min() for k, v in params.items() if k.endswith("running_var")) > -imagenet.BN_EPSILON / 100


def test_reader_matches_torch_load(tmp_path):
    torch = pytest.importorskip("torch", reason="PyTorch reference not installed: `pip install -r "
                                                "requirements-dev.txt` to compare against it.")
    state = imagenet.read_torch_checkpoint(imagenet.checkpoint_path())
    reference = torch.load(imagenet.checkpoint_path(), map_location="cpu", weights_only=True)
    assert list(state) == list(reference)
    for key, value in reference.items():
        np.testing.assert_array_equal(state[key], value.numpy())
    base = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4)
    saved = {"permuted": base.permute(2, 0, 1), "sliced": base[1, :, 1:3], "long": torch.tensor([3, 1])}
    torch.save(saved, tmp_path / "legacy.pth", _use_new_zipfile_serialization=False)
    loaded = imagenet.read_torch_checkpoint(tmp_path / "legacy.pth")
    for key, value in saved.items():
        np.testing.assert_array_equal(loaded[key], value.numpy())
