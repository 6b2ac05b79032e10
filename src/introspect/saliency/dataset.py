"""Saliency maps of a whole ``tf.data.Dataset``: streamed block by block, to memory or a ``.npy`` file, on one
device or split across the replicas of a ``tf.distribute`` strategy."""
from __future__ import annotations

import inspect
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np
import tensorflow as tf

from .._progress import bar
from .._validation import ensure_built, model_input_shape, non_negative_int, positive_int
from ._engine import engine

#: The ``targets`` that are words: the dataset's labels, or the model's predicted class.
TARGET_MODES = ("label", "predicted")

#: Batches of ``batch_size`` per call of the method, at most (enough to hide its per-call overhead on small
#: images), and the float32 pixels a call's images may hold beyond one batch.
CALL_BATCHES, CALL_PIXELS = 4, 2 ** 22

#: Parameters that make a method return more than its maps; a stream keeps the maps only.
_EXTRA_RETURNS = ("return_delta", "return_scores")

DATASET_FORM = ("a tf.data.Dataset of images (H, W, C) or of (images, labels) pairs, batched (B, H, W, C) or not, "
                "labels being class indices (or one-hot rows)")


def explain_dataset(method, model, dataset, *, targets=None, strategy=None, out=None, batch_size: int = 64,
                    progress: bool = True, **params):
    """Saliency maps of every image of ``dataset``, computed block by block with memory that does not grow with it.

    Parameters
    ----------
    method : str or callable
        A name of :data:`~introspect.saliency.METHODS` (``"integrated_gradients"``) or one of its functions.
    model : keras.Model
        Classifier with one ``(N, K)`` output; the score is the logit unless ``output=`` says otherwise.
    dataset : tf.data.Dataset
        Images ``(H, W, C)`` or ``(images, labels)`` pairs, unbatched or batched (``(B, H, W, C)``, ``(B,)``),
        told apart by the rank of the images against the model's input; batches of any size are re-cut.
        Labels are class indices (scalars or ``(1,)``) or one-hot / probability rows ``(K,)`` (argmax).
        Preprocess (e.g. scale 0-255 pixels to [0, 1]) in the pipeline. A finite data set; with several
        workers, one that yields the same elements in the same order on each of them.
    targets : None, int, "label" or "predicted"
        Class explained per image: ``None`` the labels if the dataset has them, else the predicted class;
        ``"label"`` the labels (the dataset must have them); ``"predicted"`` the argmax of the model's output
        on the image; an int is the same class for every image. Per-image targets of your own go in as labels
        (``tf.data.Dataset.zip((images, targets))``).
    strategy : tf.distribute.Strategy, optional
        ``MirroredStrategy`` (several devices of this machine), ``OneDeviceStrategy`` or
        ``MultiWorkerMirroredStrategy``: each step reads one block per replica and gives block ``r`` to
        replica ``r``. See "What runs in parallel" below.
    out : str or os.PathLike, optional
        Write the maps to this ``.npy`` file (``.npy`` is appended if missing, as :func:`numpy.save` does)
        as they are computed, instead of keeping them in memory.
    batch_size : int
        Images per compiled call (the method's own ``batch_size``). The method is called on blocks of up to
        ``CALL_BATCHES`` (4) batches, as many as fit in 16 MB of float32 pixels (at least one batch):
        28x28 images go 256 to a call, which hides the per-call overhead; 224x224x3 images go one batch at a time.
    progress : bool
        Show a plain-text progress bar (over images) when the number of images is known in advance and the
        call lasts over ~2 s.
    **params
        Passed to the method: ``output``, ``foil`` (an int; a per-image foil cannot follow the stream),
        ``steps``, ``n_samples``, ``patch``, ... A method's ``seed`` is offset by the data-set index of the
        first image of each call, so random draws (SmoothGrad's noise, a uniform baseline, jitter) differ
        from block to block instead of repeating; they are not the draws of one in-memory call on all images.

    Returns
    -------
    np.ndarray or np.memmap, (N, ...) float32
        The maps of all ``N`` images in data-set order, shaped as the method returns them (``(N, H, W, C)``
        or ``(N, H, W)``). With ``out``: the file opened read-only with ``np.load(path, mmap_mode="r")``
        (``result.filename`` is its path), so nothing is loaded until read.

    Notes
    -----
    Memory: one block of images and maps per replica at a time, and what the method needs for it, plus
    ``tf.data``'s prefetch of two steps; with ``out`` nothing accumulates. The file is written as the maps
    come: a ``.npy`` header for 0 images (numpy leaves room in it for the count to grow), the raw maps
    appended block by block, then the header rewritten in place with the final count. This needs neither
    the data set's size (unknown after ``filter``) nor a second pass over it, and writing through a file,
    not a memmap, keeps written pages out of the process's resident memory. The file is assembled under a
    temporary name beside ``out`` and renamed at the end, so ``out`` never holds a partial result.

    What runs in parallel with a ``strategy``: the blocks of a step run at the same time, one host thread
    per replica of this machine, each inside ``tf.device(replica's device)``, calling the method's public
    function on its block. The method's compiled TensorFlow work (forward and backward passes, which take
    nearly all the time) therefore runs on each replica's device concurrently, without Python's GIL;
    its numpy steps (building noisy copies or path points, summing gradients) run in those threads and
    share the interpreter. The weights are read from the device that holds them. The very first block runs
    alone, so that compiled functions are traced (and the ``"fitted"`` IG rule is fitted) once. Across
    several workers, every worker reads the whole data set, computes the blocks of its own replicas and
    exchanges the maps with ``strategy.gather``; every worker returns (or writes to its own ``out``) all
    maps. The maps do not depend on the number of replicas: each block is the call one device would make
    on the same images. Without a strategy, everything runs on TensorFlow's default device in the calling
    thread, with ``tf.data`` reading ahead in its own threads.

    Raises
    ------
    ValueError
        Naming the argument: ``method`` not a saliency method, ``dataset`` of another form or infinite or
        empty, ``targets`` not one of the choices (or ``"label"`` without labels), ``strategy`` not a
        supported ``tf.distribute.Strategy``, ``out`` not a path, a parameter that adds return values.
    """
    import keras

    function = _as_method(method)
    if not isinstance(model, keras.Model):
        raise ValueError(f"`model` must be a keras.Model; got {type(model).__name__}.")
    has_labels, batched = _element_form(dataset, model)
    mode = _target_mode(targets, has_labels)
    batch_size = positive_int(batch_size, "batch_size")
    devices, local_ids, replicas = _replicas(strategy)
    path = None if out is None else _npy_path(out)
    kwargs = _method_params(function, params)
    seed = kwargs.pop("seed", _default(function, "seed"))
    if seed is not None:
        seed = non_negative_int(seed, "seed")
    count = _image_count(dataset, batched)
    if count == 0:
        raise ValueError("`dataset` is empty; expected at least one image.")
    if not isinstance(progress, bool):
        raise ValueError(f"`progress` must be True or False; got {progress!r}.")

    call_size = batch_size * _call_batches(dataset, batched, batch_size)
    step = call_size * replicas
    steps = (dataset.rebatch(step) if batched else dataset.batch(step)).prefetch(2)

    def explain(images: np.ndarray, labels, first: int) -> np.ndarray:
        """The method's maps of one block, on the current device; ``first`` is its data-set index."""
        ensure_built(model, images.shape[1:])
        if mode == "predicted":
            block_targets = _predictor(model, images.shape[1:])(images).numpy()
        elif mode == "label":
            block_targets = labels
        else:
            block_targets = mode
        seeded = {} if seed is None else {"seed": seed + first}
        maps = function(model, images, block_targets, batch_size=batch_size, **kwargs, **seeded)
        if not isinstance(maps, np.ndarray) or len(maps) != len(images):
            raise ValueError(f"`method` {function.__name__} returned {type(maps).__name__} for {len(images)} "
                             "images; explain_dataset needs one array of maps per call.")
        return maps

    sink = _NpyWriter(path) if path is not None else _Collector()
    pool = ThreadPoolExecutor(max_workers=len(devices)) if devices else None
    start = 0
    try:
        with bar(count or 0, f"explain_dataset ({function.__name__})", progress and count is not None,
                 unit="images") as shown:
            for element in steps.as_numpy_iterator():
                images, labels = element if has_labels else (element, None)
                labels = None if labels is None else _class_indices(labels)
                if pool is None:
                    maps = explain(images, labels, start)
                else:
                    maps = _run_sharded(explain, images, labels, start, call_size, devices, local_ids,
                                        strategy if len(local_ids) < replicas else None, pool, first_call=start == 0)
                sink.append(maps)
                start += len(images)
                shown.update(len(images))
    except BaseException:
        sink.abort()
        raise
    finally:
        if pool is not None:
            pool.shutdown()
    if start == 0:
        sink.abort()
        raise ValueError("`dataset` is empty; expected at least one image.")
    return sink.close()


# ---------------------------------------------------------------------------------------------
# Arguments


def _as_method(method) -> Callable:
    from . import METHODS

    if isinstance(method, str) and method in METHODS:
        return METHODS[method]
    if callable(method) and any(method is function for function in METHODS.values()):
        return method
    raise ValueError(f"`method` must be one of {', '.join(repr(name) for name in METHODS)} or one of their "
                     f"functions (introspect.saliency.METHODS); got {method!r}.")


def _element_form(dataset, model) -> tuple[bool, bool]:
    """``(has_labels, batched)`` of a dataset of images or ``(images, labels)``, from its element spec."""
    if not isinstance(dataset, tf.data.Dataset):
        raise ValueError(f"`dataset` must be {DATASET_FORM}; got {type(dataset).__name__}. "
                         "For arrays use `tf.data.Dataset.from_tensor_slices(images)` or the method itself.")
    spec = dataset.element_spec
    has_labels = isinstance(spec, tuple) and len(spec) == 2
    parts = spec if has_labels else (spec,)
    if not all(isinstance(part, tf.TensorSpec) for part in parts):
        hint = (" For a dict of features, map it: `dataset.map(lambda d: (d['image'], d['label']))`."
                if isinstance(spec, dict) else "")
        raise ValueError(f"`dataset` must be {DATASET_FORM}; its elements are {spec}.{hint}")
    image_rank = parts[0].shape.rank
    expected = model_input_shape(model)
    per_image = len(expected) if expected is not None else 3
    if image_rank not in (per_image, per_image + 1):
        raise ValueError(f"`dataset` must be {DATASET_FORM}; its images have shape {parts[0].shape}, which is "
                         f"neither one image of rank {per_image} nor a batch of them for this model.")
    batched = image_rank == per_image + 1
    if has_labels:
        label_rank = parts[1].shape.rank
        if label_rank is None or label_rank - batched not in (0, 1):
            raise ValueError(f"`dataset` must be {DATASET_FORM}; its labels have shape {parts[1].shape}.")
    return has_labels, batched


def _target_mode(targets, has_labels: bool):
    """``"label"``, ``"predicted"`` or an int class for every image."""
    if targets is None:
        return "label" if has_labels else "predicted"
    if isinstance(targets, str):
        if targets not in TARGET_MODES:
            raise ValueError(f"`targets` must be None, an int, 'label' or 'predicted'; got {targets!r}.")
        if targets == "label" and not has_labels:
            raise ValueError("`targets`='label' needs a dataset of (images, labels) pairs; this one yields images "
                             "only. Use targets='predicted', an int, or zip the labels in.")
        return targets
    if isinstance(targets, (int, np.integer)) and not isinstance(targets, bool):
        return int(targets)
    raise ValueError(f"`targets` must be None, an int, 'label' or 'predicted' (per-image targets go in the dataset "
                     f"as labels); got {type(targets).__name__}.")


def _replicas(strategy) -> tuple[tuple, list, int]:
    """``(local devices, their replica ids in the sync group, replicas in all)``; no devices without a strategy."""
    if strategy is None:
        return (), [], 1
    if not isinstance(strategy, tf.distribute.Strategy):
        raise ValueError(f"`strategy` must be a tf.distribute.Strategy (e.g. tf.distribute.MirroredStrategy()) or "
                         f"None; got {type(strategy).__name__}.")
    if strategy is tf.distribute.get_strategy() and not tf.distribute.has_strategy():
        return (), [], 1  # the default strategy: one device, nothing to split
    supported = (tf.distribute.MirroredStrategy, tf.distribute.MultiWorkerMirroredStrategy,
                 tf.distribute.OneDeviceStrategy)
    if not isinstance(strategy, supported):
        raise ValueError(f"`strategy` {type(strategy).__name__} is not supported: explain_dataset splits batches "
                         "across the devices of MirroredStrategy, MultiWorkerMirroredStrategy or OneDeviceStrategy.")
    devices = tuple(strategy.extended.worker_devices)
    ids = strategy.experimental_distribute_values_from_function(lambda context: context.replica_id_in_sync_group)
    local_ids = [int(i) for i in strategy.experimental_local_results(ids)]
    return devices, local_ids, int(strategy.num_replicas_in_sync)


def _npy_path(out) -> Path:
    if not isinstance(out, (str, os.PathLike)):
        raise ValueError(f"`out` must be a file path (str or os.PathLike) or None; got {type(out).__name__}.")
    path = Path(out)
    if not path.parent.is_dir():
        raise ValueError(f"`out` {str(out)!r} is in a folder that does not exist; create it first.")
    return path if path.suffix == ".npy" else path.with_name(path.name + ".npy")


def _default(function: Callable, name: str):
    parameter = inspect.signature(function).parameters.get(name)
    return None if parameter is None else parameter.default


def _method_params(function: Callable, params: dict) -> dict:
    for name in _EXTRA_RETURNS:
        if params.get(name):
            raise ValueError(f"`{name}` adds return values that explain_dataset does not stream; call "
                             f"{function.__name__} on arrays for them.")
    for name in ("images", "model", "batch_size"):
        if name in params:
            raise ValueError(f"`{name}` is given by explain_dataset itself; remove it from the parameters.")
    kwargs = dict(params)
    if "progress" in inspect.signature(function).parameters:
        kwargs["progress"] = False  # one bar for the whole stream
    return kwargs


def _image_count(dataset, batched: bool) -> int | None:
    """The number of images if known in advance (unbatched, or batches of a fixed size); ``ValueError`` if infinite."""
    cardinality = int(dataset.cardinality())
    if cardinality == tf.data.INFINITE_CARDINALITY:
        raise ValueError("`dataset` is infinite (e.g. after .repeat()); explain_dataset needs a finite one: "
                         "use .take(n).")
    if cardinality == tf.data.UNKNOWN_CARDINALITY:
        return None
    if not batched:
        return cardinality
    spec = dataset.element_spec
    fixed = (spec[0] if isinstance(spec, tuple) else spec).shape[0]
    return None if fixed is None else cardinality * fixed


def _call_batches(dataset, batched: bool, batch_size: int) -> int:
    """Batches per call: up to CALL_BATCHES, as many as fit in CALL_PIXELS (1 when the image size is unknown)."""
    spec = dataset.element_spec
    shape = (spec[0] if isinstance(spec, tuple) else spec).shape[int(batched):]
    if not shape.is_fully_defined():
        return 1
    return int(min(CALL_BATCHES, max(1, CALL_PIXELS // (batch_size * shape.num_elements()))))


def _class_indices(labels: np.ndarray) -> np.ndarray:
    """Class indices ``(B,)`` from labels ``(B,)`` or ``(B, 1)``, or from one-hot / probability rows ``(B, K)``."""
    if labels.ndim == 2:
        return labels[:, 0] if labels.shape[1] == 1 else labels.argmax(axis=1)
    return labels


def _predictor(model, image_shape: tuple) -> Callable:
    """Compiled ``images -> argmax of the model's outputs`` ``(B,)`` int32, cached with the model's engine."""
    model_engine = engine(model)

    def build():
        def predicted(x):
            model_engine.traces += 1
            return tf.argmax(model_engine.outputs(x), axis=-1, output_type=tf.int32)
        return tf.function(predicted, input_signature=[tf.TensorSpec((None, *image_shape), tf.float32)])

    function = model_engine.function(("predicted class", tuple(image_shape)), build)
    return lambda images: function(np.asarray(images, np.float32))


# ---------------------------------------------------------------------------------------------
# Several replicas


def _run_sharded(explain: Callable, images: np.ndarray, labels, start: int, call_size: int, devices: tuple,
                 local_ids: list, strategy, pool: ThreadPoolExecutor, first_call: bool) -> np.ndarray:
    """Maps of one step, block ``r`` (images ``[r * call_size, (r + 1) * call_size)``) on replica ``r``.

    The blocks of this machine's replicas run in ``pool``, one thread per device. With ``strategy`` (several
    workers), the blocks of all replicas are exchanged with ``strategy.gather``; a replica whose block is
    empty explains a copy of the step's last image, dropped afterwards, so that every replica takes part.
    """
    n = len(images)

    def shard(replica_id: int, device: str):
        begin = min(replica_id * call_size, n)
        part = slice(begin, min(begin + call_size, n))
        if part.start == part.stop:
            if strategy is None:
                return None
            part = slice(n - 1, n)
        with tf.device(device):
            return explain(images[part], None if labels is None else labels[part], start + part.start)

    jobs = list(zip(local_ids, devices))
    results = {}
    if first_call:  # trace (and fit) once, before the threads start
        results[jobs[0][0]] = shard(*jobs[0])
        jobs = jobs[1:]
    futures = {replica_id: pool.submit(shard, replica_id, device) for replica_id, device in jobs}
    results.update({replica_id: future.result() for replica_id, future in futures.items()})
    if strategy is None:
        return np.concatenate([results[i] for i in sorted(results) if results[i] is not None])
    shards = strategy.experimental_distribute_values_from_function(
        lambda context: results[context.replica_id_in_sync_group])
    return strategy.gather(shards, axis=0).numpy()[:n]


# ---------------------------------------------------------------------------------------------
# Where the maps go


class _Collector:
    """Keeps the maps in memory; ``close()`` stacks them."""

    def __init__(self):
        self.parts: list[np.ndarray] = []

    def append(self, maps: np.ndarray) -> None:
        self.parts.append(maps)

    def abort(self) -> None:
        self.parts.clear()

    def close(self) -> np.ndarray:
        return np.concatenate(self.parts)


class _NpyWriter:
    """Appends maps to a ``.npy`` file whose header is written for 0 images and rewritten with the count at the end."""

    def __init__(self, path: Path):
        self.path = path
        self.partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        self.file = None
        self.header_bytes = 0
        self.shape = None
        self.dtype = None
        self.count = 0

    def _header(self, count: int) -> None:
        self.file.seek(0)
        np.lib.format.write_array_header_1_0(self.file, {
            "descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
            "shape": (count, *self.shape)})

    def append(self, maps: np.ndarray) -> None:
        if self.file is None:
            self.shape, self.dtype = maps.shape[1:], maps.dtype
            self.file = open(self.partial, "wb")
            self._header(0)
            self.header_bytes = self.file.tell()
        if maps.shape[1:] != self.shape or maps.dtype != self.dtype:
            raise ValueError(f"`method` returned maps of shape {maps.shape[1:]} {maps.dtype} after "
                             f"{self.shape} {self.dtype}; one file needs one shape.")
        self.file.write(np.ascontiguousarray(maps).data)
        self.count += len(maps)

    def abort(self) -> None:
        if self.file is not None:
            self.file.close()
            self.partial.unlink(missing_ok=True)

    def close(self) -> np.memmap:
        self._header(self.count)
        # numpy leaves room in the header for the count to grow; a longer header would overwrite data.
        grown = self.file.tell() != self.header_bytes
        self.file.close()
        if grown:
            self.partial.unlink(missing_ok=True)
            raise RuntimeError(f"the .npy header for {self.count} maps outgrew the one reserved; nothing written.")
        os.replace(self.partial, self.path)
        return np.load(self.path, mmap_mode="r")
