"""The compiled core shared by every attribution method: one engine per model, kernels by key, chunked streams.

An :class:`Engine` holds, per model (through a weak reference), the compiled functions of every
method, each traced once per configuration. It knows how to run the model at inference (with each
BatchNorm that follows a convolution folded into it), how to turn outputs into the explained score
(logit, probability or log-probability of the target, minus the foil's), and provides the three
kernels most methods need: the input gradient, the forward score and a layer's activations with
their gradient. A method with a kernel of its own (occlusion, meaningful perturbation) builds it
in its own file with :meth:`Engine.kernel`, which caches and counts it like the others.

The streams cut ``N * samples`` inputs into chunks of ``batch_size``, building the next chunk in a
thread while the current one runs, and sum the gradients per image in float64.
"""
from __future__ import annotations

import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Callable

import numpy as np
import tensorflow as tf

from .. import _keras
from .._progress import bar

if TYPE_CHECKING:
    from ._arguments import Request


class Engine:
    """The compiled functions of one model, each traced once per configuration.

    Holds the model only through a weak reference, so that caching never keeps a model alive.
    """

    def __init__(self, model):
        self._model = weakref.ref(model)
        self.softmax_output = _keras.ends_in_softmax(model)
        self.traces = 0
        self._functions: dict = {}
        self._folds = None

    @property
    def model(self):
        model = self._model()
        if model is None:
            raise RuntimeError("the model of this engine was garbage-collected")
        return model

    def function(self, key: tuple, build: Callable):
        """The function cached under ``key``, built by ``build()`` (a ``tf.function``) on first use."""
        if key not in self._functions:
            compiled = build()
            # Handing tensors to a tf.function skips its slow path for numpy arguments
            # (about a millisecond per call, i.e. per chunk).
            self._functions[key] = lambda *args: compiled(*(tf.constant(a) for a in args))
            self._functions[key].compiled = compiled
        return self._functions[key]

    def kernel(self, request: Request, name: str, body: Callable, extra_specs: tuple = (), key: tuple = ()):
        """A compiled ``body(x, targets, foils, *extra)``, traced once per request configuration and ``key``.

        This is how a method brings its own kernel (see ``occlusion.py``). ``extra_specs`` are the
        ``tf.TensorSpec`` of the arguments after ``foils``; ``key`` holds the Python values the
        graph depends on (a patch size, a mask shape); every trace is counted by :func:`trace_count`.
        The kernel is cached with the model, so ``body`` must capture the score function of
        :meth:`scorer` and shapes, never the request itself (its images would live as long as the model).
        """
        def build():
            def traced(*args):
                self.traces += 1
                return body(*args)
            return tf.function(traced, input_signature=self.specs(request.shape, *extra_specs))

        return self.function(request.key(name, *key), build)

    def outputs(self, x):
        """The model's outputs for ``x`` (inference), with BatchNorms folded into their convolutions."""
        model = self.model
        if self._folds is None:
            self._folds = _keras.inference_folds(model)
        if not self._folds:
            return model(x, training=False)
        return _keras.run_layers(model, x, lambda layer, value: value, self._folds)

    def score(self, outputs, targets, foils, output: str, has_foil: bool):
        """Per-example score ``(B,)`` of the model outputs ``(B, K)``."""
        if output == "softmax" and not self.softmax_output:
            outputs = tf.nn.softmax(outputs)
        elif output == "log_softmax":
            outputs = (tf.math.log(tf.maximum(outputs, 1e-37)) if self.softmax_output
                       else tf.nn.log_softmax(outputs))
        score = tf.gather(outputs, targets, batch_dims=1)
        if has_foil:
            score = score - tf.gather(outputs, foils, batch_dims=1)
        return score

    def scorer(self, request: Request) -> Callable:
        """``score(outputs, targets, foils)`` with the request's ``output`` and foil, for use in kernels."""
        output, has_foil = request.output, request.has_foil
        return lambda outputs, targets, foils: self.score(outputs, targets, foils, output, has_foil)

    @staticmethod
    def specs(shape, *extra):
        return [tf.TensorSpec((None, *shape), tf.float32), tf.TensorSpec((None,), tf.int32),
                tf.TensorSpec((None,), tf.int32), *extra]

    def gradient(self, request: Request, guided: bool = False):
        """``f(x, targets, foils) -> (d score / d x, score)`` for a batch."""
        score_of = self.scorer(request)

        def gradient(x, targets, foils):
            with tf.GradientTape() as tape:
                tape.watch(x)
                outputs = _keras.run_layers(self.model, x, _keras.guided_hook) if guided else self.outputs(x)
                score = score_of(outputs, targets, foils)
            return tape.gradient(score, x), score

        return self.kernel(request, "guided" if guided else "gradient", gradient)

    def forward(self, request: Request):
        """``f(x, targets, foils) -> score`` for a batch."""
        score_of = self.scorer(request)
        return self.kernel(request, "forward", lambda x, targets, foils: score_of(self.outputs(x), targets, foils))

    def layer_gradient(self, request: Request, layer):
        """``f(x, targets, foils) -> (activations A, d score / d A)`` at ``layer``, which may sit in a nested model."""
        layer_ref = weakref.ref(layer)
        score_of = self.scorer(request)

        def layer_gradient(x, targets, foils):
            captured = []
            target_layer = layer_ref()

            def capture(current, value):
                if current is target_layer:
                    tape.watch(value)
                    captured.append(value)
                return value

            with tf.GradientTape() as tape:
                score = score_of(_keras.run_layers(self.model, x, capture), targets, foils)
            if not captured:
                raise ValueError(f"`layer` {target_layer.name!r} sits inside a subclassed model whose layers "
                                 "cannot be run one by one; pick a layer of a functional or Sequential model.")
            activations = captured[-1]
            return activations, tape.gradient(score, activations)

        return self.kernel(request, "layer_gradient", layer_gradient, key=(id(layer),))


_ENGINES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def engine(model) -> Engine:
    """The :class:`Engine` of ``model``, created on first use and dropped with the model."""
    found = _ENGINES.get(model)
    if found is None:
        found = _ENGINES[model] = Engine(model)
    return found


def trace_count(model) -> int:
    """How many times the compiled functions of ``model`` have been traced so far.

    Each method compiles its functions once per model and configuration (output, foil, image
    shape, method parameters that change the graph); calls with other images, targets, ``N`` or
    ``batch_size`` reuse them. A count that grows on repeated calls means retracing, which costs
    about a second per trace.
    """
    return engine(model).traces


# ---------------------------------------------------------------------------------------------
# Streaming N * samples inputs through a compiled function in chunks


def _segment_add(out: np.ndarray, ids: np.ndarray, values: np.ndarray) -> None:
    """``out[ids[k]] += values[k]`` for sorted ``ids``, summing in float64."""
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    out[ids[starts]] += np.add.reduceat(values, starts, axis=0, dtype=np.float64)


def _prefetched(build: Callable, starts):
    """``build(start)`` for each start, the next one built in a thread while the caller computes."""
    starts = list(starts)
    if len(starts) < 2:
        yield from map(build, starts)
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(build, starts[0])
        for following in [*starts[1:], None]:
            ready = pending.result()
            if following is not None:
                pending = pool.submit(build, following)
            yield ready


def stream_gradients(request: Request, function, samples: int, make_inputs: Callable,
                     weights: np.ndarray | None = None, squares: bool = False, progress: bool = False,
                     description: str = "gradients"):
    """Sum over ``samples`` inputs per image of ``weights[s] * gradient`` (and of ``gradient**2``).

    ``make_inputs(image_index, sample_index)`` builds the chunk's inputs ``(B, H, W, C)``;
    ``progress`` shows a bar (:func:`introspect._progress.bar`) advanced once per chunk.
    Returns ``(sums, square_sums or None, scores (N, samples))``.
    """
    n = len(request.images)
    total = n * samples
    sums = np.zeros(request.images.shape, np.float64)
    square_sums = np.zeros(request.images.shape, np.float64) if squares else None
    scores = np.empty(total, np.float32)

    def chunk(start):
        flat = np.arange(start, min(start + request.batch_size, total))
        image_index, sample_index = np.divmod(flat, samples)
        return flat, image_index, sample_index, make_inputs(image_index, sample_index)

    with bar(total, description, progress, unit="inputs") as shown:
        for flat, image_index, sample_index, inputs in _prefetched(chunk, range(0, total, request.batch_size)):
            grads, score = function(inputs, request.targets[image_index], request.foils[image_index])
            grads = grads.numpy()
            scores[flat] = score.numpy()
            weighted = grads if weights is None else grads * weights[sample_index].reshape(-1, 1, 1, 1)
            _segment_add(sums, image_index, weighted)
            if squares:
                _segment_add(square_sums, image_index, np.square(grads))
            shown.update(len(flat))
    return sums, square_sums, scores.reshape(n, samples)


def input_gradients(request: Request, guided: bool = False, progress: bool = False,
                    description: str = "gradients") -> np.ndarray:
    """``d score / d images`` ``(N, H, W, C)`` float64 of the request's images, one pass."""
    sums, _, _ = stream_gradients(request, request.engine.gradient(request, guided), 1,
                                  lambda image_index, _: request.images[image_index], progress=progress,
                                  description=description)
    return sums


def chunked(total: int, size: int, description: str, progress: bool):
    """The starts of ``range(0, total, size)``, advancing a progress bar by each chunk once it is done."""
    with bar(total, description, progress, unit="inputs") as shown:
        for start in range(0, total, size):
            yield start
            shown.update(min(size, total - start))


def stream_scores(request: Request, function, inputs: np.ndarray, progress: bool = False,
                  description: str = "scores") -> np.ndarray:
    """Scores ``(N,)`` of ``function(x, targets, foils)`` over ``inputs`` (one per image), in chunks."""
    return np.concatenate([
        function(inputs[i:i + request.batch_size], request.targets[i:i + request.batch_size],
                 request.foils[i:i + request.batch_size]).numpy()
        for i in chunked(len(inputs), request.batch_size, description, progress)])


def upsample(maps: np.ndarray, size: tuple) -> np.ndarray:
    """Bilinear resize of ``(N, h, w)`` maps to ``(N, *size)``."""
    if maps.shape[1:] == tuple(size):
        return maps.astype(np.float32)
    resized = tf.image.resize(maps[..., None].astype(np.float32), size, method="bilinear")
    return resized.numpy()[..., 0]
