import collections
import hashlib
import importlib.util
import os
import pickle
import struct
import sys
import types

import numpy as np
import pytest

from introspect import imagenet, models

HAS_REFERENCE = all(importlib.util.find_spec(m) is not None for m in ("torch", "efficientnet_lite_pytorch"))
needs_reference = pytest.mark.skipif(
    not HAS_REFERENCE, reason="PyTorch reference not installed: `pip install -r requirements-dev.txt` "
                              "(torch + efficientnet-lite-pytorch) to compare against it.")


@pytest.fixture(scope="module")
def model():
    return models.load_pretrained("efficientnet_lite0")


@pytest.fixture(scope="module")
def photos():
    return imagenet.load_photos()


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
        for header in (imagenet._LEGACY_MAGIC, imagenet._LEGACY_PROTOCOL,
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
    for name, match in (("short.pth", "truncated"), ("long.pth", "trailing")):
        with pytest.raises(ValueError, match=match):
            imagenet.read_torch_checkpoint(tmp_path / name)
    write_legacy_checkpoint(tmp_path / "oob.pth", {"w": ("0", np.ones(6, np.float32), 4, (2, 3), (3, 1))},
                            monkeypatch)
    with pytest.raises(ValueError, match="past the end"):
        imagenet.read_torch_checkpoint(tmp_path / "oob.pth")
    (tmp_path / "new.pth").write_bytes(b"PK\x03\x04" + bytes(20))
    with pytest.raises(ValueError, match="zip"):
        imagenet.read_torch_checkpoint(tmp_path / "new.pth")
    with pytest.raises(ValueError, match="`path`"):
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
            for header in (imagenet._LEGACY_MAGIC, imagenet._LEGACY_PROTOCOL, {"little_endian": True}):
                pickle.dump(header, file, protocol=protocol)
            payload = collections.OrderedDict(weight=payload)
        pickle.dump(payload, file, protocol=protocol)
    with pytest.raises(imagenet.UnsafePickleError, match=global_name) as error:
        imagenet.read_torch_checkpoint(path)
    assert "allow-list" in str(error.value) and isinstance(error.value, ValueError)
    assert not marker.exists()


@pytest.mark.parametrize("opcodes, match", [
    # GLOBAL torch._utils._rebuild_tensor_v2, then BUILD {'a': 1} on it: the stand-in has no __dict__.
    (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n}X\x01\x00\x00\x00aK\x01sb.", "not a legacy"),
    # The same with BUILD (None, {'__call__': 1}): slot state goes through setattr.
    (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\nN}X\x08\x00\x00\x00__call__K\x01s\x86b.", "not a legacy"),
    # _rebuild_tensor_v2(('0', None), 0, (1,), (1,), False, None): a forged tuple instead of a storage.
    (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(X\x01\x00\x00\x000N\x86K\x00K\x01\x85K\x01\x85\x89Nt"
     b"R.", "other than a storage"),
])
def test_allowed_globals_cannot_be_altered_or_fed_forged_storages(tmp_path, opcodes, match):
    path = tmp_path / "crafted.pth"
    path.write_bytes(opcodes)
    with pytest.raises(ValueError, match=match):
        imagenet.read_torch_checkpoint(path)
    assert not hasattr(imagenet._RestrictedUnpickler.ALLOWED[("torch._utils", "_rebuild_tensor_v2")], "a")


def test_persistent_ids_other_than_storages_are_refused(tmp_path):
    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return ("module", "os") if obj == "x" else None

    path = tmp_path / "pid.pth"
    with open(path, "wb") as file:
        Pickler(file, protocol=2).dump(["x"])
    with pytest.raises(imagenet.UnsafePickleError, match="persistent id"):
        imagenet.read_torch_checkpoint(path)


# --- the shipped checkpoint and the conversion ---

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


def test_weight_loading_names_missing_unused_and_misshapen_keys():
    model = imagenet.build_efficientnet_lite0()
    state = imagenet.read_torch_checkpoint(imagenet.checkpoint_path())
    before = model.get_layer("logits").kernel.numpy().copy()
    missing = dict(state)
    del missing["_blocks.3._bn1.running_var"]
    with pytest.raises(ValueError, match=r"missing keys \['_blocks.3._bn1.running_var'\]"):
        imagenet.load_torch_weights(model, missing)
    with pytest.raises(ValueError, match=r"unused keys \['_extra.weight'\]"):
        imagenet.load_torch_weights(model, {**state, "_extra.weight": np.zeros(3)})
    with pytest.raises(ValueError, match="_fc.weight"):
        imagenet.load_torch_weights(model, {**state, "_fc.weight": state["_fc.weight"].T})
    np.testing.assert_array_equal(model.get_layer("logits").kernel.numpy(), before)  # all-or-nothing
    imagenet.load_torch_weights(model, state)
    np.testing.assert_array_equal(model.get_layer("logits").kernel.numpy(), state["_fc.weight"].T)
    np.testing.assert_array_equal(model.get_layer("block5_dwconv").kernel.numpy()[..., 0],
                                  state["_blocks.5._depthwise_conv.weight"][:, 0].transpose(1, 2, 0))


def test_model_layout_names_and_safe_layers(model):
    import keras

    assert model.input_shape == (None, 224, 224, 3) and model.output_shape == (None, 1000)
    assert model.count_params() == 4_694_024
    convs = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs[0] == "stem_conv" and convs[-1] == "head_conv"
    assert model.get_layer("head_conv").output.shape[1:] == (7, 7, 1280)
    assert model.layers[1].name == "preprocess" and model.get_layer("logits").activation.__name__ == "linear"
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in model.layers)
    assert all(type(layer).__module__.startswith("keras.") for layer in model.layers)
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(bns) == 49 and {bn.epsilon for bn in bns} == {1e-3}
    assert sum(name.endswith("_add") for name in (layer.name for layer in model.layers)) == 9
    assert {layer.max_value for layer in model.layers if isinstance(layer, keras.layers.ReLU)} == {6.0}


@pytest.mark.parametrize("kernel, size", [(3, 224), (5, 56), (3, 7), (5, 15)])
def test_keras_same_padding_is_the_references_static_padding(kernel, size):
    import tensorflow as tf

    # The reference (Conv2dStaticSamePadding): total = max((ceil(i/s) - 1) s + k - i, 0), split
    # total // 2 before and the rest after.
    stride = 2
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    rng = np.random.default_rng(kernel + size)
    x = rng.normal(size=(1, size, size, 2)).astype(np.float32)
    w = rng.normal(size=(kernel, kernel, 2, 3)).astype(np.float32)
    padded = np.pad(x, ((0, 0), (total // 2, total - total // 2), (total // 2, total - total // 2), (0, 0)))
    expected = tf.nn.conv2d(padded, w, stride, "VALID").numpy()
    np.testing.assert_allclose(tf.nn.conv2d(x, w, stride, "SAME").numpy(), expected, rtol=1e-5, atol=1e-5)


def test_preprocess_maps_unit_range_to_the_checkpoints_range(model):
    import keras

    images = np.stack([np.zeros((224, 224, 3)), np.ones((224, 224, 3)), np.full((224, 224, 3), 127 / 255)])
    out = imagenet.preprocess(images)
    np.testing.assert_allclose(out[:, 0, 0, 0], [-127 / 128, 1.0, 0.0], atol=1e-6)
    inner = keras.Model(model.input, model.get_layer("preprocess").output)
    np.testing.assert_allclose(inner(images.astype(np.float32)).numpy(), out, atol=1e-6)
    with pytest.raises(ValueError, match="`images`"):
        imagenet.preprocess(images * 255)
    with pytest.raises(ValueError, match="`images`"):
        imagenet.preprocess(np.zeros((1, 8, 8, 1)))


def test_class_names_are_the_standard_imagenet_order():
    assert len(imagenet.CLASS_NAMES) == len(imagenet.WNIDS) == 1000
    assert list(imagenet.WNIDS) == sorted(set(imagenet.WNIDS))
    for index, name in ((0, "tench"), (1, "goldfish"), (281, "tabby"), (409, "analog clock"),
                        (817, "sports car"), (954, "banana"), (999, "toilet tissue")):
        assert imagenet.CLASS_NAMES[index].split(",")[0] == imagenet.SHORT_NAMES[index] == name


def test_decode_orders_by_probability_and_validates():
    probs = np.full((2, 1000), 0.5 / 997)
    probs[0, [954, 1, 7]] = [0.3, 0.15, 0.05]
    probs[1, [5, 6, 7]] = [0.05, 0.3, 0.15]
    decoded = imagenet.decode(probs, top=3)
    assert [k for k, _, _ in decoded[0]] == [954, 1, 7] and [k for k, _, _ in decoded[1]] == [6, 7, 5]
    assert decoded[0][0][1].startswith("banana") and decoded[0][0][2] == pytest.approx(0.3)
    with pytest.raises(ValueError, match="`probs`.*softmax"):
        imagenet.decode(np.log(probs))
    with pytest.raises(ValueError, match="`probs`"):
        imagenet.decode(probs[:, :10])
    for top in (0, 1001, 2.5):
        with pytest.raises(ValueError, match="`top`"):
            imagenet.decode(probs, top=top)


def test_photo_set_is_offline_annotated_and_well_formed(photos):
    images, labels, names = photos
    assert images.shape == (len(names), 224, 224, 3) and len(names) >= 10 and images.dtype == np.float32
    assert 0 <= images.min() and images.max() <= 1 and len(set(names)) == len(names)
    assert all(labels) and all(0 <= k < 1000 for row in labels for k in row)
    assert all(r["description"] for r in imagenet.photo_records())
    small, small_labels, small_names = imagenet.load_photos(size=64, names=["coffee", "chelsea"])
    assert small.shape == (2, 64, 64, 3) and small_names == ["coffee", "chelsea"]
    assert small_labels == [labels[names.index("coffee")], labels[names.index("chelsea")]]
    with pytest.raises(ValueError, match="`names`"):
        imagenet.load_photos(names=["no such photo"])
    with pytest.raises(ValueError, match="`size`"):
        imagenet.load_photos(size=0)


def test_top5_contains_the_annotated_class_for_most_photos(model, photos):
    images, labels, names = photos
    probs = models.predict_proba(model, images)
    top5 = [{k for k, _, _ in row} for row in imagenet.decode(probs, top=5)]
    hits = [bool(found & set(wanted)) for found, wanted in zip(top5, labels)]
    # 9 of the 11 photos at the time of writing; misses are the full astronaut portrait and the flag.
    assert sum(hits) >= 8, dict(zip(names, hits))


def test_vanilla_gradient_reaches_the_pixels(model, photos):
    import tensorflow as tf

    image = tf.constant(photos[0][:2])
    with tf.GradientTape() as tape:
        tape.watch(image)
        score = tf.reduce_sum(model(image, training=False)[:, 281])
    gradient = tape.gradient(score, image).numpy()
    assert gradient.shape == (2, 224, 224, 3) and np.all(np.isfinite(gradient)) and np.abs(gradient).max() > 0


def test_loader_rejects_a_missing_checkpoint(tmp_path):
    with pytest.raises(ValueError, match="`checkpoint`"):
        imagenet.load_efficientnet_lite0(checkpoint=tmp_path / "nope.pth")


# --- against the PyTorch reference (optional packages) ---

@needs_reference
def test_logits_match_the_pytorch_reference(model, photos):
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    torch.set_num_threads(2)
    reference = EfficientNet.from_pretrained("efficientnet-lite0",
                                             weights_path=str(imagenet.checkpoint_path())).eval()
    rng = np.random.default_rng(0)
    for images in (photos[0], rng.random((4, 224, 224, 3), dtype=np.float32)):
        ours = models.predict_logits(model, images)
        with torch.no_grad():
            theirs = reference(torch.from_numpy(imagenet.preprocess(images).transpose(0, 3, 1, 2).copy())).numpy()
        assert np.abs(ours - theirs).max() <= 1e-3
        np.testing.assert_array_equal(ours.argmax(axis=1), theirs.argmax(axis=1))


@needs_reference
def test_reader_matches_torch_load(tmp_path):
    import torch

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
