"""Attribution methods for image classifiers: one function each, one signature.

Every method is called as::

    method(model, images, targets, *, output="logits", foil=None, batch_size=64, **params) -> np.ndarray

``images`` are ``(N, H, W, C)`` (numpy or tf), ``targets`` an int or ``(N,)`` ints. The score
that is explained is, per example, ``output[target]`` with ``output`` one of

* ``"logits"``: the pre-softmax logit (the default; the model must output logits),
* ``"softmax"``: the class probability,
* ``"log_softmax"``: the log-probability,

and with ``foil`` the contrastive score ``output[target] - output[foil]``. Pixel-level methods
return raw float arrays shaped like ``images``; CAM, occlusion and mask methods return
``(N, H, W)`` maps at the input resolution. Nothing is normalised or smoothed by default:
:func:`reduce_channels`, :func:`normalize_percentile` and :func:`gaussian_smooth` do that
explicitly. :data:`METHODS` maps each method's name to its function.

All work is done in compiled TensorFlow functions, traced once per model and configuration:
the samples of SmoothGrad, the path points of Integrated Gradients and the occluded copies of
occlusion are expanded into one stream of ``N * samples`` inputs and cut into chunks of
``batch_size``, so memory stays bounded whatever the number of samples. At inference each
BatchNormalization that directly follows a convolution is folded into it (same function, less
arithmetic); the user's model and layers are never modified.
"""
from __future__ import annotations

import math
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, NamedTuple

import numpy as np
import tensorflow as tf

from ._validation import (as_class_indices, as_images, ends_in_softmax, ensure_built, find_layer,
                          fraction, non_negative_int, num_classes, one_of, positive_int, positive_number)

OUTPUTS = ("logits", "softmax", "log_softmax")

_SOFTMAX_MESSAGE = (
    "`output`='{output}' asks for the logit but model {name!r} ends in a softmax, so its outputs are "
    "probabilities and the logit is not available. Either pass output='softmax' (or 'log_softmax'), or "
    "explain the model without its softmax: when the last layer is a Softmax/Activation layer use "
    "`keras.Model(model.inputs, model.layers[-1].input)`; when it is a Dense layer with "
    "activation='softmax', rebuild that layer with activation=None and copy its weights "
    "(`new_dense.set_weights(old_dense.get_weights())`)."
)


# ---------------------------------------------------------------------------------------------
# Argument handling shared by every method


class _Request(NamedTuple):
    images: np.ndarray      # (N, H, W, C) float32
    targets: np.ndarray     # (N,) int32
    foils: np.ndarray       # (N,) int32; equal to targets (and unused) when no foil is given
    has_foil: bool
    output: str
    batch_size: int
    engine: "_Engine"

    @property
    def shape(self) -> tuple:
        return self.images.shape[1:]

    def key(self, kind: str, *extra) -> tuple:
        return (kind, self.output, self.has_foil, self.shape, *extra)


def _prepare(model, images, targets, output, foil, batch_size) -> _Request:
    import keras

    if not isinstance(model, keras.Model):
        raise ValueError(f"`model` must be a keras.Model; got {type(model).__name__}.")
    array = as_images(images)
    ensure_built(model, array.shape[1:])
    array = as_images(array, model=model)
    output = one_of(output, OUTPUTS, "output")
    softmax_model = ends_in_softmax(model)
    if softmax_model and output == "logits":
        raise ValueError(_SOFTMAX_MESSAGE.format(output=output, name=model.name))
    classes = num_classes(model)
    target_array = as_class_indices(targets, len(array), classes, "targets").astype(np.int32)
    if foil is None:
        foil_array = target_array
    else:
        foil_array = as_class_indices(foil, len(array), classes, "foil").astype(np.int32)
    return _Request(array, target_array, foil_array, foil is not None, output,
                    positive_int(batch_size, "batch_size"), _engine(model))


def _pair(value, name: str, limit: tuple) -> tuple:
    """A positive int or ``(rows, cols)`` pair no larger than ``limit``."""
    pair = (value, value) if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
    try:
        rows, cols = (positive_int(v, name) for v in pair)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a positive int or a (rows, cols) pair of them; got {value!r}.") from None
    if rows > limit[0] or cols > limit[1]:
        raise ValueError(f"`{name}` {value!r} is larger than the images ({limit[0]}x{limit[1]}).")
    return rows, cols


def _baseline(baseline, images: np.ndarray, name: str, *, blur_sigma: float, seed: int = 0,
              choices=("black", "blur", "uniform")) -> np.ndarray:
    """A baseline per image, ``(N, H, W, C)`` float32, from a name or an array."""
    if isinstance(baseline, str):
        one_of(baseline, choices, name)
        if baseline in ("black", "zero"):
            return np.zeros_like(images)
        if baseline == "mean":
            return np.broadcast_to(images.mean(axis=(1, 2), keepdims=True), images.shape).astype(np.float32)
        if baseline == "blur":
            return gaussian_smooth(images, blur_sigma)
        low = images.min(axis=(1, 2, 3), keepdims=True)
        high = images.max(axis=(1, 2, 3), keepdims=True)
        uniform = np.random.default_rng(seed).random(images.shape, dtype=np.float32)
        return (low + uniform * (high - low)).astype(np.float32)
    try:
        array = np.asarray(baseline, dtype=np.float32)
        array = np.broadcast_to(array, images.shape)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be one of {', '.join(map(repr, choices))} or an array broadcastable to "
                         f"the images {images.shape}; got {baseline!r:.80}.") from None
    if not np.all(np.isfinite(array)):
        raise ValueError(f"`{name}` contains NaN or inf values; expected finite pixel values.")
    return np.ascontiguousarray(array)


# ---------------------------------------------------------------------------------------------
# Compiled functions, cached per model


class _Engine:
    """The compiled functions of one model, each traced once per configuration.

    Holds the model only through a weak reference, so that caching never keeps a model alive.
    """

    def __init__(self, model):
        self._model = weakref.ref(model)
        self.softmax_output = ends_in_softmax(model)
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
        if key not in self._functions:
            compiled = build()
            # Handing tensors to a tf.function skips its slow path for numpy arguments
            # (about a millisecond per call, i.e. per chunk).
            self._functions[key] = lambda *args: compiled(*(tf.constant(a) for a in args))
            self._functions[key].compiled = compiled
        return self._functions[key]

    def outputs(self, x):
        """The model's outputs for ``x`` (inference), with BatchNorms folded into their convolutions."""
        model = self.model
        if self._folds is None:
            try:
                self._folds = _batchnorm_folds(model) if _layerwise(model) else {}
            except (AttributeError, IndexError, TypeError, ValueError):
                self._folds = {}  # an unusual graph: run the model as it is
        if not self._folds:
            return model(x, training=False)
        return _run_layers(model, x, lambda layer, value: value, self._folds)

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

    def specs(self, shape, *extra):
        return [tf.TensorSpec((None, *shape), tf.float32), tf.TensorSpec((None,), tf.int32),
                tf.TensorSpec((None,), tf.int32), *extra]

    def gradient(self, request: _Request, guided: bool = False):
        """``f(x, targets, foils) -> (d score / d x, score)`` for a batch."""
        output, has_foil = request.output, request.has_foil

        def build():
            @tf.function(input_signature=self.specs(request.shape))
            def gradient(x, targets, foils):
                self.traces += 1
                model = self.model
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    outputs = _run_layers(model, x, _guided_hook) if guided else self.outputs(x)
                    score = self.score(outputs, targets, foils, output, has_foil)
                return tape.gradient(score, x), score
            return gradient

        return self.function(request.key("guided" if guided else "gradient"), build)

    def forward(self, request: _Request):
        """``f(x, targets, foils) -> score`` for a batch."""
        output, has_foil = request.output, request.has_foil

        def build():
            @tf.function(input_signature=self.specs(request.shape))
            def forward(x, targets, foils):
                self.traces += 1
                return self.score(self.outputs(x), targets, foils, output, has_foil)
            return forward

        return self.function(request.key("forward"), build)

    def occluded(self, request: _Request, patch: tuple):
        """``f(x, targets, foils, fill, corners) -> score`` of ``x`` with a patch at ``corners`` replaced by ``fill``."""
        output, has_foil = request.output, request.has_foil
        height, width = request.shape[:2]

        def build():
            specs = self.specs(request.shape, tf.TensorSpec((None, *request.shape), tf.float32),
                               tf.TensorSpec((None, 2), tf.int32))

            @tf.function(input_signature=specs)
            def occluded(x, targets, foils, fill, corners):
                self.traces += 1
                rows = tf.range(height)[None, :] - corners[:, :1]
                cols = tf.range(width)[None, :] - corners[:, 1:]
                inside_rows = tf.cast((rows >= 0) & (rows < patch[0]), tf.float32)
                inside_cols = tf.cast((cols >= 0) & (cols < patch[1]), tf.float32)
                mask = (inside_rows[:, :, None] * inside_cols[:, None, :])[..., None]
                x = x * (1.0 - mask) + fill * mask
                return self.score(self.outputs(x), targets, foils, output, has_foil)
            return occluded

        return self.function(request.key("occluded", patch), build)

    def layer_gradient(self, request: _Request, layer):
        """``f(x, targets, foils) -> (activations A, d score / d A)`` at ``layer``, which may sit in a nested model."""
        output, has_foil = request.output, request.has_foil
        layer_ref = weakref.ref(layer)

        def build():
            @tf.function(input_signature=self.specs(request.shape))
            def layer_gradient(x, targets, foils):
                self.traces += 1
                captured = []
                target_layer = layer_ref()

                def capture(current, value):
                    if current is target_layer:
                        tape.watch(value)
                        captured.append(value)
                    return value

                with tf.GradientTape() as tape:
                    score = self.score(_run_layers(self.model, x, capture), targets, foils, output, has_foil)
                if not captured:
                    raise ValueError(f"`layer` {target_layer.name!r} sits inside a subclassed model whose layers "
                                     "cannot be run one by one; pick a layer of a functional or Sequential model.")
                activations = captured[-1]
                return activations, tape.gradient(score, activations)
            return layer_gradient

        return self.function(request.key("layer_gradient", id(layer)), build)

    def perturbation(self, request: _Request, mask_shape: tuple):
        """The whole meaningful-perturbation optimisation of a batch in one compiled call."""
        output, has_foil = request.output, request.has_foil
        height, width = request.shape[:2]

        def build():
            scalar = tf.TensorSpec((), tf.float32)
            specs = self.specs(request.shape, tf.TensorSpec((None, *request.shape), tf.float32),
                               tf.TensorSpec((None,), tf.float32), tf.TensorSpec((None,), tf.float32),
                               tf.TensorSpec((None, 2), tf.int32), scalar, scalar, scalar, scalar)

            @tf.function(input_signature=specs)
            def optimise(x, targets, foils, blurred, full, empty, jitter, l1_coeff, tv_coeff, tv_beta, learning_rate):
                self.traces += 1
                # Dividing by the score that blurring the whole image removes makes the same
                # coefficients fit logits and probabilities.
                scale = tf.maximum(tf.abs(full - empty), 1e-6 + 1e-3 * tf.abs(full))

                def score_of(mask, shift):
                    upsampled = tf.image.resize(mask, (height, width), method="bilinear")
                    perturbed = x * upsampled + blurred * (1.0 - upsampled)
                    perturbed = tf.roll(perturbed, shift=shift, axis=[1, 2])
                    return self.score(self.outputs(perturbed), targets, foils, output, has_foil)

                mask = tf.ones((tf.shape(x)[0], *mask_shape, 1))
                first = tf.zeros_like(mask)
                second = tf.zeros_like(mask)
                beta1, beta2 = 0.9, 0.999
                steps = tf.shape(jitter)[0]
                for step in tf.range(steps):
                    with tf.GradientTape() as tape:
                        tape.watch(mask)
                        kept = (score_of(mask, jitter[step]) - empty) / scale
                        area = tf.reduce_mean(1.0 - mask, axis=[1, 2, 3])
                        tv = (tf.reduce_mean(tf.abs(mask[:, 1:] - mask[:, :-1]) ** tv_beta, axis=[1, 2, 3])
                              + tf.reduce_mean(tf.abs(mask[:, :, 1:] - mask[:, :, :-1]) ** tv_beta, axis=[1, 2, 3]))
                        loss = tf.reduce_sum(kept + l1_coeff * area + tv_coeff * tv)
                    grad = tape.gradient(loss, mask)
                    t = tf.cast(step + 1, tf.float32)
                    first = beta1 * first + (1 - beta1) * grad
                    second = beta2 * second + (1 - beta2) * grad ** 2
                    update = (first / (1 - beta1 ** t)) / (tf.sqrt(second / (1 - beta2 ** t)) + 1e-8)
                    mask = tf.clip_by_value(mask - learning_rate * update, 0.0, 1.0)
                return mask, score_of(mask, tf.zeros(2, tf.int32))
            return optimise

        return self.function(request.key("perturbation", mask_shape), build)


_ENGINES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _engine(model) -> _Engine:
    engine = _ENGINES.get(model)
    if engine is None:
        engine = _ENGINES[model] = _Engine(model)
    return engine


def _trace_count(model) -> int:
    """How many times the compiled functions of ``model`` were traced (for retracing tests)."""
    return _engine(model).traces


# ---------------------------------------------------------------------------------------------
# Running a model layer by layer (guided backprop, activations of inner layers)


def _layerwise(model) -> bool:
    """True for models that :func:`_run_layers` can walk: functional and Sequential ones."""
    import keras

    return isinstance(model, keras.Sequential) or (hasattr(model, "_run_through_graph")
                                                   and hasattr(model, "_nodes_by_depth"))


def _check_layerwise(model, method: str) -> None:
    """Raise unless ``model`` and every model nested in it can be walked layer by layer."""
    import keras

    for candidate in [model, *(layer for layer in _flat_layers(model) if isinstance(layer, keras.Model))]:
        if not _layerwise(candidate):
            raise ValueError(
                f"`model`: {candidate.name!r} is a subclassed model whose layers cannot be run one by one; "
                f"{method} needs functional or Sequential models (nested ones are fine)."
            )


def _run_layers(model, x, hook: Callable, folds: dict | None = None):
    """Call ``model`` on ``x`` layer by layer, passing every layer output through ``hook(layer, y)``.

    Walks nested functional and Sequential models, so an inner layer of a model inside a model
    can be read, or its gradient changed, without touching the model or its layers. Subclassed
    models inside are called as a whole. ``folds`` (from :func:`_batchnorm_folds`) replaces each
    listed convolution and the BatchNorm after it by one folded convolution.
    """
    import keras

    folds = folds or {}
    folded_convs = {id(conv): norm for norm, conv in folds.values()}

    def call_layer(layer):
        def call(*args, **kwargs):
            if isinstance(layer, keras.Model) and _layerwise(layer):
                result = _run_layers(layer, args[0] if len(args) == 1 else list(args), hook, folds)
            elif id(layer) in folded_convs:
                result = _folded_convolution(layer, folded_convs[id(layer)], args[0])
            elif id(layer) in folds:
                result = args[0]
            else:
                if "training" in getattr(layer, "_call_context_args", ()):
                    kwargs["training"] = False
                result = layer(*args, **kwargs)
            return hook(layer, result)
        return call

    if isinstance(model, keras.Sequential):
        for layer in model.layers:
            x = call_layer(layer)(x)
        return x
    outputs = model._run_through_graph(x, operation_fn=call_layer)
    return outputs[0] if isinstance(outputs, (list, tuple)) and len(outputs) == 1 else outputs


def _batchnorm_folds(model) -> dict:
    """``{id(norm): (norm, conv)}`` for each BatchNormalization fed only by a Conv2D used only by it.

    At inference a BatchNormalization is a per-channel affine map, so it folds into the kernel
    and bias of the convolution before it: the same function with two fewer passes over the
    activations forward and backward (about 15% less CPU time for the shipped CNN).
    """
    import keras

    folds = {}
    for norm in _flat_layers(model):
        if type(norm) is not keras.layers.BatchNormalization or len(norm._inbound_nodes) != 1:
            continue
        node = norm._inbound_nodes[0]
        if len(node.input_tensors) != 1:
            continue
        conv = node.input_tensors[0]._keras_history[0]
        if (type(conv) is keras.layers.Conv2D and conv.data_format == "channels_last" and norm.axis in (-1, 3)
                and len(conv._inbound_nodes) == 1 and len(conv._outbound_nodes) == 1
                and getattr(conv.activation, "__name__", None) == "linear"
                and conv.compute_dtype == norm.compute_dtype == "float32"
                and getattr(conv, "quantization_mode", None) is None):
            folds[id(norm)] = (norm, conv)
    return folds


def _folded_convolution(conv, norm, x):
    """``norm(conv(x))`` at inference, computed as one convolution with a rescaled kernel."""
    scale = tf.math.rsqrt(tf.convert_to_tensor(norm.moving_variance) + norm.epsilon)
    if norm.scale:
        scale = scale * tf.convert_to_tensor(norm.gamma)
    shift = -tf.convert_to_tensor(norm.moving_mean) * scale
    if norm.center:
        shift = shift + tf.convert_to_tensor(norm.beta)
    if conv.use_bias:
        shift = shift + tf.convert_to_tensor(conv.bias) * scale
    return conv.convolution_op(x, tf.convert_to_tensor(conv.kernel) * scale) + shift


@tf.custom_gradient
def _guided_relu_output(y):
    # Applied to the output of a ReLU, whose own gradient already masks where the input was
    # negative; masking negative incoming gradients here gives the guided-backprop rule.
    return tf.identity(y), lambda upstream: tf.nn.relu(upstream)


def _is_relu(layer) -> bool:
    import keras

    if isinstance(layer, keras.layers.ReLU):
        return float(getattr(layer, "negative_slope", 0.0) or 0.0) == 0.0
    return getattr(getattr(layer, "activation", None), "__name__", None) == "relu"


def _guided_hook(layer, value):
    return _guided_relu_output(value) if _is_relu(layer) else value


def _flat_layers(model) -> list:
    layers = []
    for layer in model.layers:
        layers.append(layer)
        if hasattr(layer, "layers"):
            layers.extend(_flat_layers(layer))
    return layers


def last_conv_layer(model) -> str:
    """Name of the layer Grad-CAM reads by default: the last Conv2D's rectified output.

    Takes the last 2-D convolution of ``model`` (nested models searched), then follows the
    per-channel layers that directly consume it (BatchNormalization, ReLU, other activations),
    so that for ``conv -> bn -> relu`` the ReLU's output is read: the paper's conv layers
    include their ReLU (Selvaraju et al., arXiv:1610.02391), and Grad-CAM++ assumes
    non-negative activations.
    """
    import keras

    conv_types = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)
    per_channel = (keras.layers.BatchNormalization, keras.layers.ReLU, keras.layers.LeakyReLU,
                   keras.layers.PReLU, keras.layers.ELU, keras.layers.Activation)
    layers = _flat_layers(model)
    convs = [index for index, layer in enumerate(layers) if isinstance(layer, conv_types)]
    if not convs:
        raise ValueError(f"`layer`: model {model.name!r} has no Conv2D layer to default to; pass layer=<name> "
                         "of a layer with a (N, h, w, channels) output.")
    index = convs[-1]
    while index + 1 < len(layers) and isinstance(layers[index + 1], per_channel) \
            and _consumes(layers[index + 1], layers[index]):
        index += 1
    return layers[index].name


def _consumes(layer, previous) -> bool:
    """True when ``layer`` is called on the output of ``previous`` (assumed when unknown)."""
    try:
        return layer.input is previous.output
    except (AttributeError, ValueError):
        return True


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


def _stream_gradients(request: _Request, function, samples: int, make_inputs: Callable,
                      weights: np.ndarray | None = None, squares: bool = False):
    """Sum over ``samples`` inputs per image of ``weights[s] * gradient`` (and of ``gradient**2``).

    ``make_inputs(image_index, sample_index)`` builds the chunk's inputs ``(B, H, W, C)``.
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

    for flat, image_index, sample_index, inputs in _prefetched(chunk, range(0, total, request.batch_size)):
        grads, score = function(inputs, request.targets[image_index], request.foils[image_index])
        grads = grads.numpy()
        scores[flat] = score.numpy()
        weighted = grads if weights is None else grads * weights[sample_index].reshape(-1, 1, 1, 1)
        _segment_add(sums, image_index, weighted)
        if squares:
            _segment_add(square_sums, image_index, np.square(grads))
    return sums, square_sums, scores.reshape(n, samples)


def _stream_scores(request: _Request, function, inputs: np.ndarray) -> np.ndarray:
    return np.concatenate([
        function(inputs[i:i + request.batch_size], request.targets[i:i + request.batch_size],
                 request.foils[i:i + request.batch_size]).numpy()
        for i in range(0, len(inputs), request.batch_size)])


# ---------------------------------------------------------------------------------------------
# Gradient methods


def vanilla_gradient(model, images, targets, *, output: str = "logits", foil=None,
                     batch_size: int = 64) -> np.ndarray:
    """Gradient of the class score with respect to the input pixels.

    Simonyan, Vedaldi & Zisserman, "Deep inside convolutional networks", arXiv:1312.6034.

    Parameters
    ----------
    model : keras.Model
        Classifier with one ``(N, K)`` output; logits unless ``output`` says otherwise.
    images : array-like or tf.Tensor, (N, H, W, C)
    targets : int or (N,) ints
        Class whose score is explained.
    output : {"logits", "softmax", "log_softmax"}
        Score explained: the logit (default), the probability or the log-probability.
    foil : int or (N,) ints, optional
        Explain ``score[target] - score[foil]`` instead.
    batch_size : int
        Images per compiled call.

    Returns
    -------
    np.ndarray, (N, H, W, C) float32
        Signed gradients, same shape as ``images``.
    """
    request = _prepare(model, images, targets, output, foil, batch_size)
    sums, _, _ = _stream_gradients(request, request.engine.gradient(request), 1,
                                   lambda i, _: request.images[i])
    return sums.astype(np.float32)


def gradient_x_input(model, images, targets, *, output: str = "logits", foil=None,
                     batch_size: int = 64) -> np.ndarray:
    """Gradient times input, the first-order Taylor contribution of each pixel.

    Shrikumar et al., "Not just a black box", arXiv:1605.01713. Parameters as in
    :func:`vanilla_gradient` (score: logit by default, or ``output``; ``foil`` for contrast).

    Returns
    -------
    np.ndarray, (N, H, W, C) float32
        ``images * d score / d images``.
    """
    request = _prepare(model, images, targets, output, foil, batch_size)
    sums, _, _ = _stream_gradients(request, request.engine.gradient(request), 1,
                                   lambda i, _: request.images[i])
    return (sums * request.images).astype(np.float32)


_NOISE_BLOCK = 16


def _noise_rows(seed: int, image_index: np.ndarray, sample_index: np.ndarray, n_samples: int,
                shape: tuple) -> np.ndarray:
    """Standard normal noise for (image, sample) pairs, the same whatever the chunking.

    Noise comes in blocks of at most ``_NOISE_BLOCK`` samples of one image, each drawn from its
    own Philox stream keyed by ``(seed, image)`` and a counter per block, so memory stays bounded
    by the chunk size and a sample's noise does not depend on ``batch_size``.
    """
    block = math.ceil(n_samples / math.ceil(n_samples / _NOISE_BLOCK))
    block_index = sample_index // block
    rows = np.empty((len(image_index), *shape), np.float32)
    keys = image_index.astype(np.int64) * (n_samples + 1) + block_index
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], len(keys)]
    for start, end in zip(starts, ends):
        bits = np.random.Philox(key=[seed, int(image_index[start])], counter=[0, 0, 0, int(block_index[start])])
        noise = np.random.Generator(bits).standard_normal((block, *shape), dtype=np.float32)
        rows[start:end] = noise[sample_index[start:end] - block_index[start] * block]
    return rows


def smoothgrad(model, images, targets, *, output: str = "logits", foil=None, batch_size: int = 64,
               n_samples: int = 50, noise_level: float = 0.15, variant: str = "mean", seed: int = 0,
               noise=None) -> np.ndarray:
    """Gradients averaged over noisy copies of each image: SmoothGrad, SmoothGrad² or VarGrad.

    Smilkov et al., "SmoothGrad: removing noise by adding noise", arXiv:1706.03825;
    VarGrad from Adebayo et al., "Local explanation methods for deep neural networks lack
    sensitivity to parameter values", arXiv:1810.03307.

    Parameters
    ----------
    model, images, targets, output, foil, batch_size
        As in :func:`vanilla_gradient` (score: the logit by default).
    n_samples : int
        Noisy copies per image (the paper uses 50).
    noise_level : float in [0, 1]
        Standard deviation of the Gaussian noise as a fraction of each image's value range
        ``max - min`` (the paper recommends 0.1-0.2).
    variant : {"mean", "squared", "var"}
        ``mean`` of gradients (SmoothGrad), mean of squared gradients (SmoothGrad²), or their
        variance (VarGrad).
    seed : int
        Noise seed; the noise of each (image, sample) does not depend on ``batch_size``.
    noise : array (N, n_samples, H, W, C), optional
        Explicit noise added to the images instead of drawing it (``noise_level`` and ``seed``
        are then ignored); useful to reproduce another implementation.

    Returns
    -------
    np.ndarray, (N, H, W, C) float32
        Signed for ``mean``, non-negative for ``squared`` and ``var``.
    """
    request = _prepare(model, images, targets, output, foil, batch_size)
    n_samples = positive_int(n_samples, "n_samples")
    variant = one_of(variant, ("mean", "squared", "var"), "variant")
    x = request.images
    if noise is None:
        noise_level = fraction(noise_level, "noise_level")
        seed = non_negative_int(seed, "seed")
        sigma = noise_level * (x.max(axis=(1, 2, 3)) - x.min(axis=(1, 2, 3)))

        def make_inputs(image_index, sample_index):
            rows = _noise_rows(seed, image_index, sample_index, n_samples, x.shape[1:])
            return x[image_index] + sigma[image_index].reshape(-1, 1, 1, 1) * rows
    else:
        expected = (len(x), n_samples, *x.shape[1:])
        noise = np.asarray(noise, dtype=np.float32)
        if noise.shape != expected:
            raise ValueError(f"`noise` must have shape (N, n_samples, H, W, C) = {expected}; got {noise.shape}.")
        if not np.all(np.isfinite(noise)):
            raise ValueError("`noise` contains NaN or inf values.")

        def make_inputs(image_index, sample_index):
            return x[image_index] + noise[image_index, sample_index]

    sums, square_sums, _ = _stream_gradients(request, request.engine.gradient(request), n_samples, make_inputs,
                                             squares=variant != "mean")
    mean = sums / n_samples
    if variant == "mean":
        return mean.astype(np.float32)
    mean_square = square_sums / n_samples
    if variant == "squared":
        return mean_square.astype(np.float32)
    return np.maximum(mean_square - np.square(mean), 0.0).astype(np.float32)


def integrated_gradients(model, images, targets, *, output: str = "logits", foil=None, batch_size: int = 64,
                         baseline="black", steps: int = 64, blur_sigma: float | None = None, seed: int = 0,
                         return_delta: bool = False):
    """Path integral of gradients from a baseline to each image, by the trapezoid rule.

    Sundararajan, Taly & Yan, "Axiomatic attribution for deep networks", arXiv:1703.01365.

    Parameters
    ----------
    model, images, targets, output, foil, batch_size
        As in :func:`vanilla_gradient` (score: the logit by default).
    baseline : {"black", "blur", "uniform"} or array
        ``black``: all zeros; ``blur``: the image blurred with ``blur_sigma``; ``uniform``: noise
        uniform in each image's value range (seeded by ``seed``); or an array broadcastable to
        ``(N, H, W, C)``.
    steps : int >= 2
        Points on the straight path, both ends included (= gradient evaluations per image).
    blur_sigma : float, optional
        Gaussian sigma in pixels of the ``blur`` baseline; default ``max(H, W) / 10``.
    return_delta : bool
        Also return the completeness error ``sum(attributions) - (f(x) - f(baseline))`` per image.

    Returns
    -------
    np.ndarray, (N, H, W, C) float32
        Signed attributions ``(x - baseline) * mean path gradient``; with ``return_delta`` a tuple
        ``(attributions, delta (N,))``.
    """
    request = _prepare(model, images, targets, output, foil, batch_size)
    steps = positive_int(steps, "steps")
    if steps < 2:
        raise ValueError(f"`steps` must be at least 2 (the trapezoid rule needs both path ends); got {steps}.")
    x = request.images
    sigma = max(x.shape[1:3]) / 10 if blur_sigma is None else positive_number(blur_sigma, "blur_sigma")
    base = _baseline(baseline, x, "baseline", blur_sigma=sigma, seed=non_negative_int(seed, "seed"))
    difference = x - base
    alphas = np.linspace(0.0, 1.0, steps, dtype=np.float32)
    weights = np.full(steps, 1.0 / (steps - 1))
    weights[[0, -1]] *= 0.5

    def make_inputs(image_index, sample_index):
        return base[image_index] + alphas[sample_index].reshape(-1, 1, 1, 1) * difference[image_index]

    sums, _, scores = _stream_gradients(request, request.engine.gradient(request), steps, make_inputs,
                                        weights=weights)
    attributions = (sums * difference).astype(np.float32)
    if not return_delta:
        return attributions
    delta = attributions.reshape(len(x), -1).sum(axis=1, dtype=np.float64) - (scores[:, -1] - scores[:, 0])
    return attributions, delta.astype(np.float32)


def guided_backprop(model, images, targets, *, output: str = "logits", foil=None,
                    batch_size: int = 64) -> np.ndarray:
    """Gradient in which every ReLU also blocks negative incoming gradients.

    Springenberg et al., "Striving for simplicity: the all convolutional net", arXiv:1412.6806.
    The model and its layers are left untouched: the model is run layer by layer (nested
    models included) with a gradient rule attached to each ReLU output. Needs a functional or
    Sequential model. Parameters as in :func:`vanilla_gradient` (score: the logit by default).

    Returns
    -------
    np.ndarray, (N, H, W, C) float32
        Guided gradients, same shape as ``images``.
    """
    request = _prepare(model, images, targets, output, foil, batch_size)
    _check_layerwise(model, "guided_backprop")
    sums, _, _ = _stream_gradients(request, request.engine.gradient(request, guided=True), 1,
                                   lambda i, _: request.images[i])
    return sums.astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Class activation maps


def _upsample(maps: np.ndarray, size: tuple) -> np.ndarray:
    """Bilinear resize of ``(N, h, w)`` maps to ``(N, *size)``."""
    if maps.shape[1:] == tuple(size):
        return maps.astype(np.float32)
    resized = tf.image.resize(maps[..., None].astype(np.float32), size, method="bilinear")
    return resized.numpy()[..., 0]


def grad_cam_weights(activations: np.ndarray, gradients: np.ndarray) -> np.ndarray:
    """Grad-CAM channel weights ``(N, K)``: spatial means of the gradients ``(N, h, w, K)``."""
    return gradients.mean(axis=(1, 2))


def grad_cam_plus_plus_weights(activations: np.ndarray, gradients: np.ndarray) -> np.ndarray:
    """Grad-CAM++ channel weights ``(N, K)`` from activations and gradients ``(N, h, w, K)``.

    Chattopadhyay et al., arXiv:1710.11063, eq. 19 with the exponential-score closed form:
    ``alpha = g^2 / (2 g^2 + sum_ab(A) g^3)``, weights ``sum_ab(alpha * relu(g))``.
    """
    g2 = np.square(gradients, dtype=np.float64)
    g3 = g2 * gradients
    denominator = 2.0 * g2 + activations.sum(axis=(1, 2), keepdims=True) * g3
    alpha = np.divide(g2, denominator, out=np.zeros_like(g2), where=np.abs(denominator) > 1e-30)
    return (alpha * np.maximum(gradients, 0.0)).sum(axis=(1, 2))


def _cam(model, images, targets, output, foil, batch_size, layer, weigh, relu) -> np.ndarray:
    request = _prepare(model, images, targets, output, foil, batch_size)
    if layer is not None and not isinstance(layer, str):
        raise ValueError(f"`layer` must be a layer name (str) or None; got {layer!r}.")
    layer_object = find_layer(model, last_conv_layer(model) if layer is None else layer)
    if not _layerwise(model):
        raise ValueError(f"`model` {model.name!r} is a subclassed model whose layers cannot be run one by one; "
                         "CAM methods need a functional or Sequential model (nested ones are fine).")
    function = request.engine.layer_gradient(request, layer_object)
    maps = []
    for start in range(0, len(request.images), request.batch_size):
        part = slice(start, start + request.batch_size)
        activations, gradients = function(request.images[part], request.targets[part], request.foils[part])
        activations, gradients = activations.numpy(), gradients.numpy()
        if activations.ndim != 4:
            raise ValueError(f"`layer` {layer_object.name!r} outputs shape {activations.shape[1:]}; CAM methods need "
                             "a layer with a (N, h, w, channels) output, such as a convolution.")
        cam = np.einsum("nhwk,nk->nhw", activations, weigh(activations, gradients))
        maps.append(np.maximum(cam, 0.0) if relu else cam)
    return _upsample(np.concatenate(maps), request.shape[:2])


def grad_cam(model, images, targets, *, output: str = "logits", foil=None, batch_size: int = 64,
             layer: str | None = None, relu: bool = True) -> np.ndarray:
    """Grad-CAM: a layer's activations weighted by the spatial mean of the score's gradient.

    Selvaraju et al., "Grad-CAM: visual explanations from deep networks via gradient-based
    localization", arXiv:1610.02391.

    Parameters
    ----------
    model, images, targets, output, foil, batch_size
        As in :func:`vanilla_gradient` (score: the logit by default).
    layer : str, optional
        Name of the layer read, possibly inside a nested model; default the rectified output of
        the last Conv2D (:func:`last_conv_layer`).
    relu : bool
        Keep only positive evidence, as in the paper; ``False`` keeps the sign (useful with ``foil``).

    Returns
    -------
    np.ndarray, (N, H, W) float32
        Maps upsampled bilinearly to the input size.
    """
    return _cam(model, images, targets, output, foil, batch_size, layer, grad_cam_weights, relu)


def grad_cam_plus_plus(model, images, targets, *, output: str = "logits", foil=None, batch_size: int = 64,
                       layer: str | None = None, relu: bool = True) -> np.ndarray:
    """Grad-CAM++: channel weights from positive gradients weighted per location.

    Chattopadhyay et al., "Grad-CAM++: improved visual explanations for deep convolutional
    networks", arXiv:1710.11063. Parameters as in :func:`grad_cam`
    (score: the logit by default).

    Returns
    -------
    np.ndarray, (N, H, W) float32
        Maps upsampled bilinearly to the input size.
    """
    return _cam(model, images, targets, output, foil, batch_size, layer, grad_cam_plus_plus_weights, relu)


# ---------------------------------------------------------------------------------------------
# Perturbation methods


def _positions(size: int, patch: int, stride: int) -> np.ndarray:
    """Patch corners along one axis, the last one flush with the edge so every pixel is covered."""
    corners = list(range(0, size - patch + 1, stride))
    if corners[-1] != size - patch:
        corners.append(size - patch)
    return np.asarray(corners)


def occlusion(model, images, targets, *, output: str = "logits", foil=None, batch_size: int = 64,
              patch=4, stride=None, baseline="zero", blur_sigma: float | None = None) -> np.ndarray:
    """Score drop when a square patch is replaced, averaged over the patches covering each pixel.

    Zeiler & Fergus, "Visualizing and understanding convolutional networks", arXiv:1311.2901.
    Beware the fill value: a black (``"zero"``) patch over a black region changes nothing, so
    the map there is 0 whatever the model uses; ``"mean"`` or ``"blur"`` remove information
    differently, and comparing two of them shows what the map owes to the fill.

    Parameters
    ----------
    model, images, targets, output, foil, batch_size
        As in :func:`vanilla_gradient` (score: the logit by default).
    patch : int or (rows, cols)
        Size of the occluding patch in pixels.
    stride : int or (rows, cols), optional
        Step between patches; default ``patch`` (no overlap). The last patch of each row and
        column is placed flush with the border.
    baseline : {"zero", "mean", "blur"} or float or array
        Fill of the patch: 0, each image's per-channel mean, the image blurred with
        ``blur_sigma`` (default ``max(H, W) / 10``), a constant, or an array broadcastable to
        ``(N, H, W, C)``.

    Returns
    -------
    np.ndarray, (N, H, W) float32
        ``score(image) - score(occluded)``: positive where hiding a pixel lowers the score.
    """
    request = _prepare(model, images, targets, output, foil, batch_size)
    x = request.images
    height, width = x.shape[1:3]
    patch = _pair(patch, "patch", (height, width))
    stride = patch if stride is None else _pair(stride, "stride", (height, width))
    sigma = max(height, width) / 10 if blur_sigma is None else positive_number(blur_sigma, "blur_sigma")
    fill = _baseline(float(baseline) if isinstance(baseline, (int, float, np.number)) else baseline, x, "baseline",
                     blur_sigma=sigma, choices=("zero", "mean", "blur"))
    corners = np.stack(np.meshgrid(_positions(height, patch[0], stride[0]), _positions(width, patch[1], stride[1]),
                                   indexing="ij"), axis=-1).reshape(-1, 2).astype(np.int32)
    full = _stream_scores(request, request.engine.forward(request), x)

    function = request.engine.occluded(request, patch)
    total = len(x) * len(corners)
    drops = np.empty(total, np.float32)
    for start in range(0, total, request.batch_size):
        flat = np.arange(start, min(start + request.batch_size, total))
        image_index, corner_index = np.divmod(flat, len(corners))
        scores = function(x[image_index], request.targets[image_index], request.foils[image_index],
                          fill[image_index], corners[corner_index]).numpy()
        drops[flat] = full[image_index] - scores
    drops = drops.reshape(len(x), len(corners))

    sums = np.zeros((len(x), height, width), np.float64)
    counts = np.zeros((height, width), np.float64)
    for k, (row, col) in enumerate(corners):
        sums[:, row:row + patch[0], col:col + patch[1]] += drops[:, k, None, None]
        counts[row:row + patch[0], col:col + patch[1]] += 1
    return (sums / counts).astype(np.float32)


def meaningful_perturbation(model, images, targets, *, output: str = "logits", foil=None, batch_size: int = 64,
                            steps: int = 300, mask_size=None, l1_coeff: float = 1.0, tv_coeff: float = 0.2,
                            tv_beta: float = 3.0, learning_rate: float = 0.1, blur_sigma: float | None = None,
                            jitter: int | None = None, seed: int = 0, return_scores: bool = False):
    """The smallest blur-deletion mask that removes the class score, found by optimisation.

    Fong & Vedaldi, "Interpretable explanations of black boxes by meaningful perturbation",
    ICCV 2017, arXiv:1704.03296. A low-resolution mask ``m`` in [0, 1] (1 keeps, 0 deletes),
    upsampled bilinearly, mixes each image with its blurred copy, ``m * x + (1 - m) * blur(x)``;
    Adam minimises, per image,

        kept_score + l1_coeff * mean(1 - m) + tv_coeff * TV_beta(m),

    where ``kept_score = (s(perturbed) - s(blurred)) / |s(x) - s(blurred)|`` rescales the score
    (logit by default, or ``output``) so that 1 means untouched and 0 means fully deleted, and
    ``TV_beta`` is the mean ``|neighbour difference| ** tv_beta``. Each step shifts the perturbed
    image by a random jitter of up to ``jitter`` pixels so that the mask cannot exploit
    single-pixel artefacts. All images of a chunk of ``batch_size`` are optimised at once, in
    one compiled call; each image's mask is independent of the others.

    Parameters
    ----------
    model, images, targets, output, foil, batch_size
        As in :func:`vanilla_gradient`.
    steps : int
        Adam iterations (the paper uses 300).
    mask_size : int or (rows, cols), optional
        Mask resolution; default ``ceil(H / 4)`` by ``ceil(W / 4)``, at most 28 (as in the paper).
    l1_coeff, tv_coeff, tv_beta : float
        Weights of the deleted area and of the total variation, and the TV exponent (paper: 3).
        With ``l1_coeff=1`` deleting a region pays off only when it removes a larger share of
        the score than its share of the image.
    learning_rate : float
        Adam step size (paper: 0.1).
    blur_sigma : float, optional
        Gaussian sigma of the deletion blur in pixels; default ``max(H, W) / 10``.
    jitter : int, optional
        Largest random shift in pixels; default ``max(1, max(H, W) // 56)``. The shifts are
        seeded by ``seed`` and shared by all images.
    return_scores : bool
        Also return the score of each image with its final deletion applied (no jitter).

    Returns
    -------
    np.ndarray, (N, H, W) float32
        The deletion map ``1 - m`` upsampled to the input size: 1 where the image had to be
        deleted to remove the score. With ``return_scores`` a tuple ``(maps, scores (N,))``.
    """
    request = _prepare(model, images, targets, output, foil, batch_size)
    x = request.images
    height, width = x.shape[1:3]
    steps = positive_int(steps, "steps")
    default_mask = (min(28, math.ceil(height / 4)), min(28, math.ceil(width / 4)))
    mask_shape = default_mask if mask_size is None else _pair(mask_size, "mask_size", (height, width))
    coefficients = [positive_number(l1_coeff, "l1_coeff", allow_zero=True),
                    positive_number(tv_coeff, "tv_coeff", allow_zero=True),
                    positive_number(tv_beta, "tv_beta"), positive_number(learning_rate, "learning_rate")]
    sigma = max(height, width) / 10 if blur_sigma is None else positive_number(blur_sigma, "blur_sigma")
    largest_shift = max(1, max(height, width) // 56) if jitter is None else non_negative_int(jitter, "jitter")
    shifts = np.random.default_rng(non_negative_int(seed, "seed")).integers(
        -largest_shift, largest_shift + 1, size=(steps, 2)).astype(np.int32)

    blurred = gaussian_smooth(x, sigma)
    forward = request.engine.forward(request)
    full = _stream_scores(request, forward, x)
    empty = _stream_scores(request, forward, blurred)
    function = request.engine.perturbation(request, mask_shape)
    masks, kept = [], []
    for start in range(0, len(x), request.batch_size):
        part = slice(start, start + request.batch_size)
        mask, score = function(x[part], request.targets[part], request.foils[part], blurred[part], full[part],
                               empty[part], shifts, *(np.float32(c) for c in coefficients))
        masks.append(mask.numpy()[..., 0])
        kept.append(score.numpy())
    maps = 1.0 - np.clip(_upsample(np.concatenate(masks), (height, width)), 0.0, 1.0)
    return (maps, np.concatenate(kept)) if return_scores else maps


# ---------------------------------------------------------------------------------------------
# Post-processing: small pure numpy functions, never applied by default


def reduce_channels(maps, method: str = "abs-max") -> np.ndarray:
    """Collapse the channel axis of ``(N, H, W, C)`` maps to ``(N, H, W)``.

    ``abs-max``: largest absolute value over channels (Simonyan et al., arXiv:1312.6034);
    ``sum``: signed sum; ``l2``: Euclidean norm over channels.
    """
    method = one_of(method, ("abs-max", "sum", "l2"), "method")
    array = np.asarray(maps, dtype=np.float32)
    if array.ndim != 4:
        raise ValueError(f"`maps` must have shape (N, H, W, C); got shape {array.shape}.")
    if method == "abs-max":
        return np.abs(array).max(axis=-1)
    if method == "sum":
        return array.sum(axis=-1)
    return np.sqrt(np.square(array).sum(axis=-1))


def normalize_percentile(maps, upper: float = 99.5, lower: float | None = None) -> np.ndarray:
    """Scale each map of a batch ``(N, ...)`` by its own percentiles.

    With ``lower=None`` (signed maps) each map is divided by the ``upper`` percentile of its
    absolute values and clipped to [-1, 1], which keeps zero at zero. With ``lower`` given
    (magnitude maps) it becomes ``(map - P_lower) / (P_upper - P_lower)`` clipped to [0, 1].
    Clipping hides the largest values: it is for display, not for measuring.
    """
    array = np.asarray(maps, dtype=np.float32)
    if array.ndim < 2:
        raise ValueError(f"`maps` must be a batch (N, ...) of maps; got shape {array.shape}.")
    upper = fraction(upper, "upper", low=0.0, high=100.0)
    flat = array.reshape(len(array), -1)
    if lower is None:
        scale = np.percentile(np.abs(flat), upper, axis=1)
        scale = np.where(scale > 0, scale, 1.0).reshape(-1, *([1] * (array.ndim - 1)))
        return np.clip(array / scale, -1.0, 1.0)
    lower = fraction(lower, "lower", low=0.0, high=upper)
    low, high = (np.percentile(flat, q, axis=1).reshape(-1, *([1] * (array.ndim - 1))) for q in (lower, upper))
    span = np.where(high > low, high - low, 1.0)
    return np.clip((array - low) / span, 0.0, 1.0)


def gaussian_smooth(maps, sigma: float) -> np.ndarray:
    """Gaussian blur over the two spatial axes of ``(N, H, W)`` or ``(N, H, W, C)`` arrays.

    Smoothing makes maps look cleaner but spreads each value over its neighbours, i.e. it
    changes what the map says about single pixels; keep the raw map for any measurement.
    """
    from scipy.ndimage import gaussian_filter

    array = np.asarray(maps, dtype=np.float32)
    if array.ndim not in (3, 4):
        raise ValueError(f"`maps` must have shape (N, H, W) or (N, H, W, C); got shape {array.shape}.")
    sigma = positive_number(sigma, "sigma")
    sigmas = (0, sigma, sigma) + ((0,) if array.ndim == 4 else ())
    return gaussian_filter(array, sigmas, mode="nearest").astype(np.float32)


#: Every attribution method by name, so notebooks can loop over them.
METHODS: dict[str, Callable] = {
    "vanilla_gradient": vanilla_gradient,
    "gradient_x_input": gradient_x_input,
    "smoothgrad": smoothgrad,
    "integrated_gradients": integrated_gradients,
    "guided_backprop": guided_backprop,
    "grad_cam": grad_cam,
    "grad_cam_plus_plus": grad_cam_plus_plus,
    "occlusion": occlusion,
    "meaningful_perturbation": meaningful_perturbation,
}
