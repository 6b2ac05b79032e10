"""Layer-wise Relevance Propagation (LRP): the logit redistributed layer by layer down to the pixels.

Bach et al. 2015 (PLoS ONE, doi:10.1371/journal.pone.0130140); rules as reviewed by Montavon et al.
2019 ("Layer-wise relevance propagation: an overview"); the composite of Kohlbrenner et al. 2020,
arXiv:1910.09840; the zB (box) rule of deep Taylor decomposition, Montavon et al. 2017,
arXiv:1512.02479.

How it is computed: the model is run layer by layer, each layer replaced by a *modified forward*
whose value is the layer's true output but whose gradient is the LRP rule (the gradient that
flows backwards is the relevance itself). For a linear layer ``z = A(x, W) + b`` a rule is
``R_in = sum_k m_k * A_k^T (R_out / s)``; writing ``c = x - stop(x) + 1`` (value 1, gradient 1),
the term ``sum_k A_k(c * stop(m_k)) / stop(s)`` has exactly that gradient. One ``GradientTape``
over the whole batch then gives every pixel's relevance in one compiled pass, traced once per
model and configuration; the user's model and layers are read, never changed.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import tensorflow as tf

from .. import _keras
from .._validation import one_of, positive_number
from ._arguments import prepare
from ._engine import chunked

#: The rules :func:`lrp` accepts, and the ones for the layer that reads the pixels.
RULES = ("composite", "epsilon", "zplus", "alpha_beta", "gamma")
INPUT_RULES = ("zbox", "flat", "wsquare", "same")
SUPPORTED_LAYERS = ("InputLayer", "Conv2D", "DepthwiseConv2D", "Dense", "BatchNormalization", "ZeroPadding2D",
                    "MaxPooling2D", "AveragePooling2D", "GlobalMaxPooling2D", "GlobalAveragePooling2D",
                    "Flatten", "ReLU", "LeakyReLU", "Activation", "Dropout", "Identity", "Rescaling", "Add")
_ACTIVATIONS = ("linear", "relu", "relu6", "leaky_relu")
# Keeps denominators of the non-epsilon rules (and of pooling and Add) away from zero, as small as
# float32 allows without changing any relevance that is not already ill-defined.
_STABILIZER = 1e-6


class _Config(NamedTuple):
    rule: str
    epsilon: float
    alpha: float
    beta: float
    gamma: float
    input_rule: str
    bias: bool
    low: tuple
    high: tuple


def lrp(model, images, targets, *, rule: str = "composite", output: str = "logits", foil=None,
        batch_size: int = 64, epsilon: float = 0.25, alpha: float = 2.0, beta: float = 1.0, gamma: float = 0.25,
        input_rule: str | None = None, input_bounds: tuple = (0.0, 1.0), bias: bool = True,
        progress: bool = True) -> np.ndarray:
    """Layer-wise Relevance Propagation of the target's score down to the input pixels.

    The relevance entering the network is the score: the target's logit (pre-softmax) by
    default, so that with a conservative rule the pixel relevances sum to that logit. With
    ``foil`` it is ``logit[target] - logit[foil]``: the target's logit enters with its value, the
    foil's with minus its value, and the map shows what speaks for the target *rather than* the
    foil. With ``output="softmax"`` or ``"log_softmax"`` the relevance of logit ``k`` is its
    first-order term ``(d score / d logit_k) * logit_k``, so totals no longer equal the score.

    Rules for the linear layers (``Conv2D``, ``DepthwiseConv2D``, ``Dense``, with each
    ``BatchNormalization`` that follows one folded into it; contributions ``z_ij = x_i w_ij``):

    * ``"epsilon"``: ``R_i = sum_j z_ij / (z_j + epsilon sign z_j) R_j``, bias included in ``z_j``.
      As ``epsilon -> 0`` it is gradient x input on ReLU networks (Ancona et al. 2018, arXiv:1711.06104).
    * ``"zplus"``: only positive contributions (``x+ w+`` and ``x- w-``) share ``R_j`` (alpha=1, beta=0).
    * ``"alpha_beta"``: positive contributions get ``alpha R_j``, negative ones ``-beta R_j``;
      ``alpha - beta`` must be 1. A positive bias counts as a positive contribution (it absorbs
      relevance), a negative one as negative.
    * ``"gamma"``: ``w + gamma w+`` favours contributions of the output's sign (generalised to
      negative inputs).
    * ``"composite"`` (default), Kohlbrenner et al. 2020: epsilon in ``Dense`` layers, alpha1-beta0
      (``zplus``) in convolutions, and ``input_rule`` (default ``"zbox"``) in the layer that reads
      the pixels.

    Input rules, for the first linear layer (reached from the input only through ``Rescaling``,
    ``ZeroPadding2D``, ``Dropout`` or ``Flatten``): ``"zbox"``, the zB rule of deep Taylor
    decomposition for pixels known to lie in ``input_bounds`` (default ``[0, 1]``, widened per pixel
    to include the pixel, mapped through any leading ``Rescaling``). We pick it for the composite
    because it keeps pixel resolution and depends on the pixel values: it credits a bright pixel
    for being bright and a dark pixel for not being bright where the weights are negative (a black
    background matters to a Fashion-MNIST model). ``"flat"`` (all weights and inputs 1) and
    ``"wsquare"`` (weights squared) spread each first-layer neuron's relevance over its receptive
    field whatever the pixels are, blurring the map by the kernel size; ``"same"`` uses the
    layer's own rule. ``input_rule=None`` is ``"zbox"`` for the composite, ``"same"`` otherwise.

    Other layers: ReLU-type activations (ReLU, ReLU6, leaky ReLU, also inside ``Conv2D``/``Dense``),
    ``Dropout``, ``Identity``, ``Rescaling`` and ``ZeroPadding2D`` pass relevance on unchanged; max pooling gives
    it to the maximum; average pooling and ``Add`` split it in proportion to the contributions;
    ``Flatten`` reshapes it. Any other layer raises ``ValueError``.

    Parameters
    ----------
    model : keras.Model
        Functional or Sequential classifier (nested ones are fine) with one ``(N, K)`` logits output.
    images : array-like or tf.Tensor, (N, H, W, C)
        Floats in [0, 1] for the models of this package.
    targets : int or (N,) ints
        Class whose score is explained.
    rule : {"composite", "epsilon", "zplus", "alpha_beta", "gamma"}
    output : {"logits", "softmax", "log_softmax"}
        Score explained; the logit by default.
    foil : int or (N,) ints, optional
        Explain ``logit[target] - logit[foil]`` instead.
    batch_size : int
        Images per compiled call.
    epsilon : float
        Stabiliser of the epsilon rule (> 0), in units of the pre-activations; 0.25 absorbs weak,
        contradictory contributions (Montavon et al. 2019), 1e-9 is gradient x input.
    alpha, beta : float
        Weights of positive and negative contributions in ``"alpha_beta"`` (``alpha - beta == 1``).
    gamma : float
        Extra weight of positive weights in ``"gamma"`` (>= 0; 0 is the epsilon rule without epsilon).
    input_rule : {"zbox", "flat", "wsquare", "same"}, optional
    input_bounds : (low, high)
        Lowest and highest pixel values for ``"zbox"``: floats or per-channel sequences.
    bias : bool
        Whether biases (folded BatchNorm shifts included) take their share of relevance, as the
        rules are defined (default). ``False`` leaves them out of every rule (zennit's
        ``zero_params=["bias"]``); relevance is then lost only at neurons active thanks to their
        bias alone. Either way, in deep BatchNorm networks most of the logit does not reach the
        pixels (EfficientNet-Lite0: about 1% under ``zplus``); the map's pattern, not its total, is
        what to read there.
    progress : bool
        Show a plain-text progress bar when the call lasts over ~2 s; ``False`` silences it.

    Returns
    -------
    np.ndarray, (N, H, W, C) float32
        Signed relevance per pixel and channel, same shape as ``images``.
    """
    request = prepare(model, images, targets, output, foil, batch_size)
    config = _config(rule, epsilon, alpha, beta, gamma, input_rule, input_bounds, bias, request.shape[-1])
    _keras.check_layerwise(model, "lrp")
    _check_supported(model)
    if request.engine.softmax_output:
        raise ValueError(f"`model` {model.name!r} ends in a softmax; LRP starts from the logits. Explain the "
                         "model without its softmax (see the `output` error message of any method).")
    folds = _keras.linear_batchnorm_folds(model)
    engine, score_of = request.engine, request.engine.scorer(request)

    def relevance(x, targets, foils):  # cached with the engine: must not capture `request` (its images)
        with tf.GradientTape() as tape:
            tape.watch(x)
            logits = _Propagation(config, folds).run(engine.model, x)
        plain = tf.stop_gradient(logits)
        with tf.GradientTape() as score_tape:
            score_tape.watch(plain)
            score = score_of(plain, targets, foils)
        seed = score_tape.gradient(score, plain) * plain
        return tape.gradient(logits, x, output_gradients=seed)

    kernel = request.engine.kernel(request, "lrp", relevance, key=(config,))
    n, step = len(request.images), request.batch_size
    return np.concatenate([
        kernel(request.images[i:i + step], request.targets[i:i + step], request.foils[i:i + step]).numpy()
        for i in chunked(n, step, f"LRP ({rule})", progress)]).astype(np.float32)


def _config(rule, epsilon, alpha, beta, gamma, input_rule, input_bounds, bias, channels: int) -> _Config:
    rule = one_of(rule, RULES, "rule")
    if input_rule is None:
        input_rule = "zbox" if rule == "composite" else "same"
    input_rule = one_of(input_rule, INPUT_RULES, "input_rule")
    epsilon = positive_number(epsilon, "epsilon")
    alpha = positive_number(alpha, "alpha")
    beta = positive_number(beta, "beta", allow_zero=True)
    if abs(alpha - beta - 1.0) > 1e-9:
        raise ValueError(f"`alpha` - `beta` must be 1 so that relevance is conserved; got alpha={alpha}, beta={beta}.")
    gamma = positive_number(gamma, "gamma", allow_zero=True)
    try:
        low, high = (np.broadcast_to(np.asarray(v, np.float64), (channels,)) for v in input_bounds)
    except (TypeError, ValueError):
        raise ValueError(f"`input_bounds` must be (low, high), floats or sequences of {channels} per-channel "
                         f"values; got {input_bounds!r:.80}.") from None
    if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high)) and np.all(low < high)):
        raise ValueError(f"`input_bounds` must be finite with low < high; got {input_bounds!r:.80}.")
    if not isinstance(bias, (bool, np.bool_)):
        raise ValueError(f"`bias` must be True or False; got {bias!r}.")
    return _Config(rule, epsilon, alpha, beta, gamma, input_rule, bool(bias), tuple(low.tolist()),
                   tuple(high.tolist()))


def _check_supported(model) -> None:
    """Raise ``ValueError`` naming the first layer (or activation) LRP has no rule for."""
    import keras

    for layer in _keras.flat_layers(model):
        if isinstance(layer, keras.Model):
            continue
        kind = type(layer).__name__
        if kind not in SUPPORTED_LAYERS or not isinstance(layer, getattr(keras.layers, kind)):
            raise ValueError(f"`model`: LRP has no rule for layer {layer.name!r} ({kind}); supported layers: "
                             f"{', '.join(SUPPORTED_LAYERS)}.")
        activation = getattr(getattr(layer, "activation", None), "__name__", "linear")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"`model`: LRP has no rule for activation {activation!r} of layer {layer.name!r}; "
                             f"supported activations: {', '.join(_ACTIVATIONS)}.")
        if getattr(layer, "data_format", "channels_last") != "channels_last":
            raise ValueError(f"`model`: layer {layer.name!r} is channels_first; LRP supports channels_last only.")


# ---------------------------------------------------------------------------------------------
# The modified forward: true values, relevance as gradient


def _stop(value):
    return tf.stop_gradient(value)


def _gradient_only(value):
    """Zero in value, ``value``'s gradient: adds a rule to an output without changing it."""
    return value - tf.stop_gradient(value)


def _stabilize(z, epsilon: float):
    return z + epsilon * tf.where(z >= 0, 1.0, -1.0)


class _Propagation:
    """One run of the model in which every layer's gradient is its LRP rule."""

    def __init__(self, config: _Config, folds: dict):
        self.config = config
        self.folded_norms = set(folds)
        self.folded_linear = {id(linear): norm for norm, linear in folds.values()}
        self.bounds: dict = {}  # id(tensor) -> (low, high, pixels): tensors still in (rescaled) pixel space
        self.keep = []  # keeps those tensors alive, so that their ids stay unique during the trace

    def run(self, model, x):
        low = tf.minimum(tf.constant(self.config.low, tf.float32), x)
        high = tf.maximum(tf.constant(self.config.high, tf.float32), x)
        self._mark(x, (low, high, tf.ones_like(x)))
        return _keras.walk_layers(model, x, self.call)

    def _mark(self, tensor, bounds):
        self.bounds[id(tensor)] = bounds
        self.keep.append(tensor)

    def call(self, layer, *args, **kwargs):
        import keras

        x = args[0]
        bounds = self.bounds.get(id(x)) if not isinstance(x, (list, tuple)) else None
        if isinstance(layer, (keras.layers.InputLayer, keras.layers.Dropout, keras.layers.Identity)) \
                or id(layer) in self.folded_norms:
            y = x
        elif isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense,
                                keras.layers.BatchNormalization)):
            return self._linear(layer, x, bounds)
        elif isinstance(layer, (keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.Activation,
                                keras.layers.Rescaling)):
            y = _stop(layer(x)) + _gradient_only(x)
        elif isinstance(layer, (keras.layers.AveragePooling2D, keras.layers.GlobalAveragePooling2D)):
            y = self._proportional(layer, [x])
        elif isinstance(layer, keras.layers.Add):
            y = self._proportional(lambda parts: tf.add_n(parts), list(x))
        else:  # ZeroPadding2D, Flatten, max pooling: their own gradient moves relevance where it belongs
            y = layer(x)
        if bounds is not None and y is not x and isinstance(layer, (keras.layers.Rescaling, keras.layers.Flatten,
                                                                      keras.layers.ZeroPadding2D)):
            low, high = layer(bounds[0]), layer(bounds[1])
            # 1 on pixels, 0 on padding, so that the flat and w^2 rules give padding no relevance
            pixels = bounds[2] if isinstance(layer, keras.layers.Rescaling) else layer(bounds[2])
            self._mark(y, (tf.minimum(low, high), tf.maximum(low, high), pixels))
        return y

    @staticmethod
    def _proportional(function, parts):
        """Relevance split in proportion to each input's contribution (average pooling, Add)."""
        carriers = [(part - _stop(part) + 1.0) * _stop(part) for part in parts]
        q = function(carriers[0] if len(carriers) == 1 else carriers)
        return _stop(q) + _gradient_only(q / _stop(_stabilize(q, _STABILIZER)))

    def _linear(self, layer, x, bounds):
        import keras

        apply, kernel, bias = _keras.linear_parts(layer, self.folded_linear.get(id(layer)))
        is_conv = isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D))
        cfg = self.config
        rule = cfg.input_rule if bounds is not None and cfg.input_rule != "same" else cfg.rule
        if rule == "composite":
            rule = "zplus" if is_conv else "epsilon"
        carrier = x - _stop(x) + 1.0

        def spread(m, w):  # value A(m, w); gradient m * A^T(upstream)
            return apply(carrier * _stop(m), w)

        z = apply(x, kernel) + bias
        if not cfg.bias:  # the rules see the layer without its bias; its output stays the true one
            z, output, bias = z - bias, z, tf.zeros_like(bias)
        else:
            output = z
        positive_w, negative_w = tf.maximum(kernel, 0.0), tf.minimum(kernel, 0.0)
        positive_x, negative_x = tf.maximum(x, 0.0), tf.minimum(x, 0.0)
        if rule == "epsilon":
            h = spread(x, kernel) / _stop(_stabilize(z, cfg.epsilon))
        elif rule in ("zplus", "alpha_beta"):
            alpha, beta = (1.0, 0.0) if rule == "zplus" else (cfg.alpha, cfg.beta)
            gain = spread(positive_x, positive_w) + spread(negative_x, negative_w)
            h = alpha * gain / _stop(_stabilize(gain + tf.maximum(bias, 0.0), _STABILIZER))
            if beta:
                loss = spread(positive_x, negative_w) + spread(negative_x, positive_w)
                h = h - beta * loss / _stop(_stabilize(loss + tf.minimum(bias, 0.0), _STABILIZER))
        elif rule == "gamma":
            gain = spread(positive_x, positive_w) + spread(negative_x, negative_w)
            loss = spread(positive_x, negative_w) + spread(negative_x, positive_w)
            plain = spread(x, kernel)
            up = (plain + cfg.gamma * gain) / _stop(_stabilize(z + cfg.gamma * (gain + tf.maximum(bias, 0.0)),
                                                               _STABILIZER))
            down = (plain + cfg.gamma * loss) / _stop(_stabilize(z + cfg.gamma * (loss + tf.minimum(bias, 0.0)),
                                                                 _STABILIZER))
            h = tf.where(z > 0, up, tf.where(z < 0, down, tf.zeros_like(z)))
        elif rule == "zbox":
            low, high, _ = bounds
            q = spread(x, kernel) - spread(low, positive_w) - spread(high, negative_w)
            h = q / _stop(_stabilize(q, _STABILIZER))
        else:  # flat, wsquare: the pixels' values play no part, only the weights' pattern
            weights = tf.ones_like(kernel) if rule == "flat" else tf.square(kernel)
            q = spread(bounds[2] if bounds is not None else tf.ones_like(x), weights)
            h = q / _stop(_stabilize(q, _STABILIZER))
        activation = getattr(layer, "activation", None)
        y = output if activation is None else activation(output)
        return _stop(y) + _gradient_only(h)
