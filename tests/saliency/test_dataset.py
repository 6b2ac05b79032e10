"""explain_dataset: a tf.data stream gives the maps of the in-memory call, to memory or to a .npy file, on one
device or split across two (logical CPU) devices, and refuses bad input naming the argument."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from helpers import FAST_SALIENCY_PARAMS
from introspect import saliency
from introspect.saliency import dataset as streaming

N, BATCH = 21, 8  # three calls of one batch each, the last one partial


@pytest.fixture(autouse=True)
def one_batch_per_call(monkeypatch):
    """One batch per call of the method, so that tiny data sets still make several calls."""
    monkeypatch.setattr(streaming, "CALL_BATCHES", 1)


@pytest.fixture(scope="module")
def data():
    """``(images (N, 12, 12, 1), labels (N,))`` with labels that differ from the cnn's predictions."""
    images = np.random.default_rng(7).uniform(0, 1, size=(N, 12, 12, 1)).astype(np.float32)
    labels = np.random.default_rng(8).integers(0, 3, N)
    return images, labels


def predicted(model, images):
    return model(images, training=False).numpy().argmax(axis=1)


def close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["vanilla_gradient", "integrated_gradients", "grad_cam", "occlusion",
                                  "guided_backprop"])
def test_stream_equals_the_in_memory_call(cnn, data, name):
    images, labels = data
    params = FAST_SALIENCY_PARAMS.get(name, {})
    expected = saliency.METHODS[name](cnn, images, labels, batch_size=BATCH, progress=False, **params)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    maps = saliency.explain_dataset(name, cnn, dataset, batch_size=BATCH, **params)
    assert maps.shape == expected.shape and maps.dtype == np.float32
    close(maps, expected)


def test_batched_and_unbatched_datasets_give_the_same_maps(cnn, data):
    images, labels = data
    pairs = tf.data.Dataset.from_tensor_slices((images, labels))
    expected = saliency.explain_dataset("vanilla_gradient", cnn, pairs, batch_size=BATCH)
    for dataset in (pairs.batch(5), pairs.batch(13), pairs.batch(5).rebatch(2)):  # re-cut to batch_size
        close(saliency.explain_dataset(saliency.vanilla_gradient, cnn, dataset, batch_size=BATCH), expected)
    alone = tf.data.Dataset.from_tensor_slices(images)
    by_prediction = saliency.vanilla_gradient(cnn, images, predicted(cnn, images), progress=False)
    close(saliency.explain_dataset("vanilla_gradient", cnn, alone.batch(4), batch_size=BATCH), by_prediction)
    close(saliency.explain_dataset("vanilla_gradient", cnn, alone, batch_size=BATCH), by_prediction)


def test_targets_are_labels_predictions_or_one_class(cnn, data):
    images, labels = data
    guesses = predicted(cnn, images)
    assert (guesses != labels).any()  # else labels and predictions could not be told apart
    pairs = tf.data.Dataset.from_tensor_slices((images, labels))

    def explain(dataset, targets):
        return saliency.explain_dataset("vanilla_gradient", cnn, dataset, targets=targets, batch_size=BATCH)

    def reference(targets):
        return saliency.vanilla_gradient(cnn, images, targets, progress=False)

    close(explain(pairs, None), reference(labels))
    close(explain(pairs, "label"), reference(labels))
    close(explain(pairs, "predicted"), reference(guesses))
    close(explain(pairs, 2), reference(2))
    close(explain(tf.data.Dataset.from_tensor_slices(images), None), reference(guesses))
    one_hot = tf.data.Dataset.from_tensor_slices((images, np.eye(3, dtype=np.float32)[labels]))
    close(explain(one_hot, None), reference(labels))
    assert not np.allclose(reference(labels), reference(guesses))


def test_params_and_foil_reach_the_method(cnn, data):
    images, labels = data
    pairs = tf.data.Dataset.from_tensor_slices((images, labels))
    maps = saliency.explain_dataset("integrated_gradients", cnn, pairs, batch_size=BATCH, foil=1, output="softmax",
                                    steps=4, rule="gauss_legendre")
    close(maps, saliency.integrated_gradients(cnn, images, labels, foil=1, output="softmax", steps=4,
                                              rule="gauss_legendre", progress=False))
    assert not np.allclose(maps, saliency.integrated_gradients(cnn, images, labels, steps=4, progress=False))


def test_random_draws_change_between_batches_and_repeat_between_runs(cnn):
    image = np.random.default_rng(9).uniform(0, 1, size=(1, 12, 12, 1)).astype(np.float32)
    images = np.repeat(image, 2 * BATCH, axis=0)
    dataset = tf.data.Dataset.from_tensor_slices(images)
    maps = saliency.explain_dataset("smoothgrad", cnn, dataset, targets=0, batch_size=BATCH, n_samples=3, seed=5)
    close(maps, saliency.explain_dataset("smoothgrad", cnn, dataset, targets=0, batch_size=BATCH, n_samples=3, seed=5))
    # Each call's seed is offset by the index of its first image: batch k is the call with seed 5 + 8k.
    for start in (0, BATCH):
        close(maps[start:start + BATCH], saliency.smoothgrad(cnn, images[:BATCH], 0, n_samples=3, seed=5 + start,
                                                             progress=False))
    assert not np.allclose(maps[0], maps[BATCH])  # the same image, different noise


def test_calls_take_up_to_four_batches_of_small_images(cnn, data, monkeypatch):
    monkeypatch.setattr(streaming, "CALL_BATCHES", 4)
    calls = []

    def probe(model, images, targets, *, batch_size=64, progress=True, seed=0):
        calls.append((len(images), batch_size, seed))
        return np.asarray(images)[..., 0]

    monkeypatch.setitem(saliency.METHODS, "probe", probe)
    images = np.zeros((70, 12, 12, 1), np.float32)
    saliency.explain_dataset("probe", cnn, tf.data.Dataset.from_tensor_slices(images), targets=0, batch_size=8)
    assert calls == [(32, 8, 0), (32, 8, 32), (6, 8, 64)]
    # A call holds at most 16 MB of float32 pixels beyond its first batch: 224 x 224 x 3 images go one batch a call.
    spec = tf.TensorSpec((None, 224, 224, 3), tf.float32)
    assert streaming._call_batches(tf.data.Dataset.from_generator(lambda: [], output_signature=spec), True, 64) == 1
    spec = tf.TensorSpec((None, 28, 28, 1), tf.float32)
    assert streaming._call_batches(tf.data.Dataset.from_generator(lambda: [], output_signature=spec), True, 64) == 4


def test_out_writes_the_in_memory_result_to_a_npy_file(cnn, data, tmp_path):
    images, labels = data
    pairs = tf.data.Dataset.from_tensor_slices((images, labels))
    expected = saliency.explain_dataset("grad_cam", cnn, pairs, batch_size=BATCH)
    written = saliency.explain_dataset("grad_cam", cnn, pairs.batch(6), batch_size=BATCH, out=tmp_path / "maps")
    path = tmp_path / "maps.npy"
    assert isinstance(written, np.memmap) and Path(written.filename) == path and not written.flags.writeable
    np.testing.assert_array_equal(np.load(path), expected)
    np.testing.assert_array_equal(written, expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["maps.npy"]  # no temporary file left


def test_unknown_cardinality_streams_to_memory_and_to_a_file(cnn, data, tmp_path):
    images, labels = data
    keep = np.arange(N) % 3 != 1
    pairs = tf.data.Dataset.from_tensor_slices((images, labels, np.arange(N)))
    filtered = pairs.filter(lambda x, y, i: i % 3 != 1).map(lambda x, y, i: (x, y))
    assert filtered.cardinality() == tf.data.UNKNOWN_CARDINALITY
    expected = saliency.vanilla_gradient(cnn, images[keep], labels[keep], progress=False)
    close(saliency.explain_dataset("vanilla_gradient", cnn, filtered, batch_size=BATCH), expected)
    written = saliency.explain_dataset("vanilla_gradient", cnn, filtered.batch(3), batch_size=BATCH,
                                       out=tmp_path / "f.npy")
    close(written, expected)


def test_a_failed_stream_leaves_no_file(cnn, data, tmp_path):
    images, labels = data
    bad = labels.copy()
    bad[-1] = 7  # the last batch holds a class the model does not have
    dataset = tf.data.Dataset.from_tensor_slices((images, bad))
    with pytest.raises(ValueError, match="`targets`"):
        saliency.explain_dataset("vanilla_gradient", cnn, dataset, batch_size=BATCH, out=tmp_path / "maps.npy")
    assert list(tmp_path.iterdir()) == []


def test_bad_input_raises_value_error_naming_the_argument(cnn, data):
    images, labels = data
    pairs = tf.data.Dataset.from_tensor_slices((images, labels))
    alone = tf.data.Dataset.from_tensor_slices(images)
    cases = [
        (dict(method="saliency"), "method"), (dict(method=np.mean), "method"), (dict(model="cnn"), "model"),
        (dict(dataset=images), "dataset"),
        (dict(dataset=tf.data.Dataset.from_tensor_slices({"image": images, "label": labels})), "dataset"),
        (dict(dataset=tf.data.Dataset.from_tensor_slices(images[..., 0, 0])), "dataset"),       # rank 1 images
        (dict(dataset=pairs.batch(2).batch(2)), "dataset"),                                     # rank 5
        (dict(dataset=tf.data.Dataset.from_tensor_slices((images, labels, labels))), "dataset"),
        (dict(dataset=tf.data.Dataset.from_tensor_slices((images, images))), "dataset"),        # labels of rank 3
        (dict(dataset=pairs.repeat()), "dataset"), (dict(dataset=pairs.take(0)), "dataset"),
        (dict(dataset=pairs.filter(lambda x, y: y > 5)), "dataset"),                           # empty, size unknown
        (dict(dataset=alone, targets="label"), "targets"), (dict(targets="class"), "targets"),
        (dict(targets=[0, 1]), "targets"), (dict(targets=True), "targets"),
        (dict(strategy="mirrored"), "strategy"), (dict(out=3), "out"), (dict(out="no/such/folder/maps"), "out"),
        (dict(batch_size=0), "batch_size"), (dict(progress="yes"), "progress"),
        (dict(method="integrated_gradients", return_delta=True), "return_delta"),
        (dict(method="smoothgrad", seed=-1), "seed"),
    ]
    for change, argument in cases:
        args = dict(method="vanilla_gradient", model=cnn, dataset=pairs)
        args.update(change)
        with pytest.raises(ValueError, match=f"`{argument}`"):
            saliency.explain_dataset(args.pop("method"), args.pop("model"), args.pop("dataset"), **args)


# ---------------------------------------------------------------------------------------------
# Several devices: TensorFlow's devices are fixed when it first uses them, so these run in fresh processes.

TWO_DEVICES = r"""
import json, threading
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from helpers import FAST_SALIENCY_PARAMS, batchnorm_cnn
from introspect import saliency
from introspect.saliency import dataset as streaming

streaming.CALL_BATCHES = 1  # one batch of 4 per call: 21 images make three steps of two calls

model = batchnorm_cnn()
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
images = np.random.default_rng(7).uniform(0, 1, size=(21, 12, 12, 1)).astype(np.float32)
labels = np.random.default_rng(8).integers(0, 3, 21)
pairs = tf.data.Dataset.from_tensor_slices((images, labels))
result = {}
for name in ["vanilla_gradient", "integrated_gradients", "grad_cam", "occlusion", "smoothgrad"]:
    params = FAST_SALIENCY_PARAMS.get(name, {})
    one = saliency.explain_dataset(name, model, pairs, batch_size=4, **params)
    two = saliency.explain_dataset(name, model, pairs, batch_size=4, strategy=strategy, **params)
    result[name] = [float(np.abs(two - one).max()), float(np.abs(one).max()), list(two.shape)]

# Where and when the shards run: a probe method records each call's device and waits, from the second
# global batch on, for the other replica's call; run one after the other, the barrier would break.
calls, barrier = [], threading.Barrier(2, timeout=60)
def probe(model, images, targets, *, batch_size=64, progress=True, seed=0):
    device = tf.identity(tf.convert_to_tensor(images)).device
    if seed >= 8:
        barrier.wait()
    calls.append([seed, device.split(":")[-1], threading.get_ident()])
    return np.asarray(images)[..., 0] + seed
saliency.METHODS["probe"] = probe
maps = saliency.explain_dataset("probe", model, pairs.take(16), targets=0, batch_size=4, strategy=strategy)
result["probe"] = dict(calls=sorted(calls), order=bool(np.allclose(maps - images[:16, ..., 0],
                                                                      np.repeat([0, 4, 8, 12], 4)[:, None, None])))
print("RESULT " + json.dumps(result))
"""


def start_python(script: str, env: dict | None = None) -> subprocess.Popen:
    """A fresh interpreter running ``script``, with tests/ on its path."""
    tests = str(Path(__file__).resolve().parents[1])
    environment = dict(os.environ, **(env or {}))
    environment["PYTHONPATH"] = os.pathsep.join([tests, environment.get("PYTHONPATH", "")])
    environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return subprocess.Popen([sys.executable, "-c", script], env=environment, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def result_of(process: subprocess.Popen, timeout: int = 600):
    """The JSON after ``RESULT`` in the process's output, once it has ended well."""
    stdout, stderr = process.communicate(timeout=timeout)
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    assert process.returncode == 0 and lines, stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


@pytest.fixture(scope="module")
def two_devices():
    return result_of(start_python(TWO_DEVICES))


@pytest.mark.parametrize("name", ["vanilla_gradient", "integrated_gradients", "grad_cam", "occlusion", "smoothgrad"])
def test_mirrored_strategy_over_two_devices_gives_the_single_device_maps(two_devices, name):
    difference, scale, shape = two_devices[name]
    assert shape[0] == 21 and scale > 0
    assert difference <= 1e-6 * max(1.0, scale)


def test_shards_run_concurrently_one_per_device_in_dataset_order(two_devices):
    probe = two_devices["probe"]
    assert [call[0] for call in probe["calls"]] == [0, 4, 8, 12]      # one call per shard of 4 images
    assert [call[1] for call in probe["calls"]] == ["0", "1", "0", "1"]  # replica r on device r
    assert probe["calls"][2][2] != probe["calls"][3][2]                 # the barrier's two sides: two threads
    assert probe["order"]                                               # maps come back in dataset order


TWO_WORKERS = r"""
import json, os
import numpy as np
import tensorflow as tf

strategy = tf.distribute.MultiWorkerMirroredStrategy()
from helpers import batchnorm_cnn
from introspect import saliency

model = batchnorm_cnn()
images = np.random.default_rng(7).uniform(0, 1, size=(21, 12, 12, 1)).astype(np.float32)
labels = np.random.default_rng(8).integers(0, 3, 21)
pairs = tf.data.Dataset.from_tensor_slices((images, labels))
# 21 images, one step of two blocks of 4 x 8 images: the second worker's block is empty.
two = saliency.explain_dataset("vanilla_gradient", model, pairs, batch_size=8, strategy=strategy)
one = saliency.explain_dataset("vanilla_gradient", model, pairs, batch_size=8)
print("RESULT " + json.dumps([strategy.num_replicas_in_sync, list(two.shape), float(np.abs(two - one).max())]))
"""


@pytest.mark.slow
def test_multi_worker_strategy_gathers_every_workers_shards():
    ports = []
    for _ in range(2):
        with socket.socket() as probe:
            probe.bind(("localhost", 0))
            ports.append(probe.getsockname()[1])
    cluster = {"worker": [f"localhost:{port}" for port in ports]}
    workers = [start_python(TWO_WORKERS, env=dict(TF_CONFIG=json.dumps(dict(cluster=cluster,
                                                                           task=dict(type="worker", index=i)))))
               for i in range(2)]
    for worker in workers:
        replicas, shape, difference = result_of(worker)
        assert replicas == 2 and shape == [21, 12, 12, 1]
        assert difference <= 1e-6
