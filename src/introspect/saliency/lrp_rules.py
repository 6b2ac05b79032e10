"""LRP's rules, one per kind of layer, as a modified forward pass: true values, relevance as gradient.

Each layer is replaced by a *modified forward* whose value is the layer's true output but whose
gradient is the LRP rule (the gradient that flows backwards is the relevance itself). For a
linear layer ``z = A(x, W) + b`` a rule is ``R_in = sum_k m_k * A_k^T (R_out / s)``; writing
``c = x - stop(x) + 1`` (value 1, gradient 1), the term ``sum_k A_k(c * stop(m_k)) / stop(s)``
has exactly that gradient. :func:`introspect.saliency.lrp` documents the rules; this module
implements them and lists what it supports (:data:`SUPPORTED_LAYERS`, :data:`PASS_ACTIVATIONS`).
"""
from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf

from .. import _keras

#: Layers with a rule, by class name; ``"op:Add"`` and the like are Keras ops on symbolic tensors (``x + y``).
SUPPORTED_LAYERS = (
    "InputLayer", "Conv2D", "DepthwiseConv2D", "Dense", "BatchNormalization", "LayerNormalization",
    "ZeroPadding2D", "MaxPooling2D", "AveragePooling2D", "GlobalMaxPooling2D", "GlobalAveragePooling2D",
    "Flatten", "Reshape", "Concatenate", "ReLU", "LeakyReLU", "ELU", "PReLU", "Activation", "Dropout", "Identity",
    "Rescaling", "Normalization", "Add", "Multiply", "LayerScale", "StochasticDepth",
    "op:Add", "op:Subtract", "op:Multiply", "op:Divide", "op:TrueDivide")
#: Element-wise activations that pass relevance on unchanged (zennit's default ``Pass`` rule for activations).
PASS_ACTIVATIONS = ("linear", "relu", "relu6", "leaky_relu", "elu", "selu", "celu", "gelu", "silu", "swish",
                    "hard_silu", "hard_swish", "mish", "sigmoid", "hard_sigmoid", "log_sigmoid", "tanh", "hard_tanh",
                    "softplus", "softsign", "sparse_plus", "squareplus", "tanh_shrink", "hard_shrink", "soft_shrink")
# Layers of keras.applications' ConvNeXt (not in keras.layers): LayerScale is x * gamma, StochasticDepth the
# identity at inference.
_APPLICATION_LAYERS = ("LayerScale", "StochasticDepth")
_LINEAR = ("Conv2D", "DepthwiseConv2D", "Dense")
_PASS = ("ReLU", "LeakyReLU", "ELU", "PReLU", "Activation", "Rescaling", "Normalization", "LayerScale",
         "BatchNormalization")
# Element-wise affine maps along which the zB bounds (and the pixel marker of flat and w^2) follow the pixels.
_AFFINE = ("Rescaling", "Normalization", "BatchNormalization", "op:Add", "op:Subtract", "op:Multiply", "op:Divide",
           "op:TrueDivide")
_RESHAPES = ("ZeroPadding2D", "Flatten", "Reshape")
# Keeps denominators of the non-epsilon rules (and of pooling and Add) away from zero, as small as
# float32 allows without changing any relevance that is not already ill-defined.
STABILIZER = 1e-6


class Config(NamedTuple):
    rule: str
    epsilon: float
    alpha: float
    beta: float
    gamma: float
    input_rule: str
    bias: bool
    low: tuple
    high: tuple


def check_supported(model) -> dict:
    """``{id(multiply): index of its gate input}``; raises ``ValueError`` naming the first layer LRP has no rule for."""
    import keras

    gates = {}
    for layer in _keras.flat_operations(model):
        if isinstance(layer, keras.Model):
            continue
        kind = _keras.operation_kind(layer)
        known = kind in _APPLICATION_LAYERS and type(layer).__module__.startswith("keras.") \
            or kind.startswith("op:") or isinstance(layer, getattr(keras.layers, kind, ()))
        if kind not in SUPPORTED_LAYERS or not known:
            raise ValueError(f"`model`: LRP has no rule for layer {layer.name!r} ({kind}); supported layers: "
                             f"{', '.join(SUPPORTED_LAYERS)}.")
        activation = getattr(getattr(layer, "activation", None), "__name__", "linear")
        if activation not in PASS_ACTIVATIONS:
            raise ValueError(f"`model`: LRP has no rule for activation {activation!r} of layer {layer.name!r}; "
                             f"supported activations: {', '.join(PASS_ACTIVATIONS)}.")
        if getattr(layer, "data_format", "channels_last") != "channels_last":
            raise ValueError(f"`model`: layer {layer.name!r} is channels_first; LRP supports channels_last only.")
        inputs = len(_keras.node_inputs(layer))
        if kind in ("Multiply", "op:Multiply") and inputs != 1:
            gates[id(layer)] = _keras.gate_input(layer)
            if gates[id(layer)] is None:
                raise ValueError(f"`model`: LRP has no rule for layer {layer.name!r} ({kind}) here: of the tensors "
                                 "it multiplies, none is a gate computed from the other (as in squeeze-excite "
                                 "blocks, x * sigmoid(f(x))).")
        if kind in ("op:Divide", "op:TrueDivide") and inputs != 1:
            raise ValueError(f"`model`: LRP has no rule for layer {layer.name!r} ({kind}) between two tensors; "
                             "division by a constant only.")
    return gates


def _stop(value):
    return tf.stop_gradient(value)


def _gradient_only(value):
    """Zero in value, ``value``'s gradient: adds a rule to an output without changing it."""
    return value - tf.stop_gradient(value)


def _stabilize(z, epsilon: float):
    return z + epsilon * tf.where(z >= 0, 1.0, -1.0)


def _passed(y, x):
    """Value ``y``, relevance of ``y`` handed to ``x`` unchanged (the pass rule)."""
    return _stop(y) + _gradient_only(x)


def layer_norm_parts(layer, x):
    """``(apply, kernel, bias)`` with ``layer(x) == apply(x, kernel) + bias`` for a LayerNormalization whose
    standard deviation over ``x`` is held constant (Ali et al. 2022, arXiv:2202.07304): ``apply(v, kernel)``
    is then linear in ``v``, ``(v - mean(v)) / std(x) * kernel`` (without centring under ``rms_scaling``)."""
    rank = len(x.shape)
    axes = sorted(a % rank for a in (layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]))
    shape = [x.shape[a] if a in axes else 1 for a in range(rank)]
    _, variance = tf.nn.moments(x, axes, keepdims=True)
    inverse = tf.stop_gradient(tf.math.rsqrt(variance + layer.epsilon))
    kernel = tf.ones(shape) if layer.gamma is None else tf.reshape(tf.convert_to_tensor(layer.gamma), shape)
    bias = tf.zeros(shape) if layer.beta is None or layer.rms_scaling \
        else tf.reshape(tf.convert_to_tensor(layer.beta), shape)

    def apply(v, k):
        centred = v if layer.rms_scaling else v - tf.reduce_mean(v, axes, keepdims=True)
        return centred * inverse * k

    return apply, kernel, bias


class Propagation:
    """One run of the model in which every layer's gradient is its LRP rule.

    ``folds`` are :func:`introspect._keras.linear_batchnorm_folds`, ``gates`` the result of
    :func:`check_supported`.
    """

    def __init__(self, config: Config, folds: dict, gates: dict):
        self.config = config
        self.folded_norms = set(folds)
        self.folded_linear = {id(linear): norm for norm, linear in folds.values()}
        self.gates = gates
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
        kind = _keras.operation_kind(layer)
        x = args[0]
        tensors = [a for a in tf.nest.flatten(args) if tf.is_tensor(a)]
        bounds = self.bounds.get(id(tensors[0])) if len(tensors) == 1 else None
        if kind in ("InputLayer", "Dropout", "Identity", "StochasticDepth") or id(layer) in self.folded_norms:
            return x
        if kind in _LINEAR:
            return self._linear(layer, x, bounds, kind)
        if kind == "LayerNormalization":
            return self._linear(layer, x, None, kind)
        if kind in ("Multiply", "op:Multiply") and id(layer) in self.gates:  # the gate held constant
            y = _passed(layer(*args, **kwargs), tensors[1 - self.gates[id(layer)]])
        elif kind in ("AveragePooling2D", "GlobalAveragePooling2D"):
            y = self._proportional(lambda parts: layer(parts[0]), [x])
        elif kind in ("Add", "op:Add", "op:Subtract") and (len(tensors) > 1 or self.config.bias):
            y = self._proportional(lambda parts: layer(*_replaced(args, tensors, parts), **kwargs), tensors)
        elif kind in _PASS or kind.startswith("op:"):  # and tensor + constant with bias=False
            y = _passed(_keras.call_at_inference(layer, *args, **kwargs), tensors[0])
        else:  # ZeroPadding2D, Flatten, Reshape, Concatenate, max pooling: their own gradient moves relevance
            y = layer(*args, **kwargs)
        if bounds is not None and (kind in _AFFINE or kind in _RESHAPES):
            low, high = (_keras.call_at_inference(layer, *_replaced(args, tensors, [bound]), **kwargs)
                         for bound in bounds[:2])
            # 1 on pixels, 0 on padding, so that the flat and w^2 rules give padding no relevance
            pixels = bounds[2] if kind in _AFFINE else layer(bounds[2])
            self._mark(y, (tf.minimum(low, high), tf.maximum(low, high), pixels))
        return y

    @staticmethod
    def _proportional(function, parts):
        """Relevance split in proportion to each input's contribution (average pooling, Add).

        Like the epsilon rule with ``epsilon -> 0`` on the summands, zennit's ``Norm`` rule; a
        constant summand (``x + 3``) takes its share as a bias does.
        """
        q = function([(part - _stop(part) + 1.0) * _stop(part) for part in parts])
        return _stop(q) + _gradient_only(q / _stop(_stabilize(q, STABILIZER)))

    def _linear(self, layer, x, bounds, kind):
        cfg = self.config
        if kind == "LayerNormalization":
            apply, kernel, bias = layer_norm_parts(layer, x)
            rule = "epsilon"
        else:
            apply, kernel, bias = _keras.linear_parts(layer, self.folded_linear.get(id(layer)))
            rule = cfg.input_rule if bounds is not None and cfg.input_rule != "same" else cfg.rule
            if rule == "composite":
                rule = "epsilon" if kind == "Dense" else "zplus"
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
            h = alpha * gain / _stop(_stabilize(gain + tf.maximum(bias, 0.0), STABILIZER))
            if beta:
                loss = spread(positive_x, negative_w) + spread(negative_x, positive_w)
                h = h - beta * loss / _stop(_stabilize(loss + tf.minimum(bias, 0.0), STABILIZER))
        elif rule == "gamma":
            gain = spread(positive_x, positive_w) + spread(negative_x, negative_w)
            loss = spread(positive_x, negative_w) + spread(negative_x, positive_w)
            plain = spread(x, kernel)
            up = (plain + cfg.gamma * gain) / _stop(_stabilize(z + cfg.gamma * (gain + tf.maximum(bias, 0.0)),
                                                               STABILIZER))
            down = (plain + cfg.gamma * loss) / _stop(_stabilize(z + cfg.gamma * (loss + tf.minimum(bias, 0.0)),
                                                                 STABILIZER))
            h = tf.where(z > 0, up, tf.where(z < 0, down, tf.zeros_like(z)))
        elif rule == "zbox":
            low, high, _ = bounds
            q = spread(x, kernel) - spread(low, positive_w) - spread(high, negative_w)
            h = q / _stop(_stabilize(q, STABILIZER))
        else:  # flat, wsquare: the pixels' values play no part, only the weights' pattern
            weights = tf.ones_like(kernel) if rule == "flat" else tf.square(kernel)
            q = spread(bounds[2] if bounds is not None else tf.ones_like(x), weights)
            h = q / _stop(_stabilize(q, STABILIZER))
        activation = getattr(layer, "activation", None)
        y = output if activation is None else activation(output)
        return _stop(y) + _gradient_only(h)


def _replaced(args, tensors, replacements):
    """``args`` with the tensors among them (in order) replaced by ``replacements``."""
    swap = {id(t): r for t, r in zip(tensors, replacements)}
    return tf.nest.map_structure(lambda a: swap.get(id(a), a) if tf.is_tensor(a) else a, args)
