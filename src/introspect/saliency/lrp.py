"""Layer-wise Relevance Propagation (LRP): the logit redistributed layer by layer down to the pixels.

Bach et al. 2015 (PLoS ONE, doi:10.1371/journal.pone.0130140); rules as reviewed by Montavon et al.
2019 ("Layer-wise relevance propagation: an overview"); the composite of Kohlbrenner et al. 2020,
arXiv:1910.09840; the zB (box) rule of deep Taylor decomposition, Montavon et al. 2017,
arXiv:1512.02479; LayerNormalization as in Ali et al. 2022, arXiv:2202.07304.

How it is computed (:mod:`.lrp_rules`): the model is run layer by layer, each layer replaced by a
modified forward whose value is the layer's true output but whose gradient is the LRP rule. One
``GradientTape`` over the whole batch then gives every pixel's relevance in one compiled pass,
traced once per model and configuration; the user's model and layers are read, never changed.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from .. import _keras
from .._validation import one_of, positive_number
from ._arguments import prepare
from ._engine import chunked
from .lrp_rules import PASS_ACTIVATIONS, SUPPORTED_LAYERS, Config, Propagation, check_supported

__all__ = ["lrp", "RULES", "INPUT_RULES", "SUPPORTED_LAYERS", "PASS_ACTIVATIONS"]

#: The rules :func:`lrp` accepts, and the ones for the layer that reads the pixels.
RULES = ("composite", "epsilon", "zplus", "alpha_beta", "gamma")
INPUT_RULES = ("zbox", "flat", "wsquare", "same")


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

    Rules for the linear layers (``Conv2D``, grouped ones included, ``DepthwiseConv2D``, ``Dense``,
    with each ``BatchNormalization`` that follows one folded into it; contributions ``z_ij = x_i w_ij``):

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

    Input rules, for the first linear layer (reached from the input only through element-wise
    affine maps, ``Rescaling``, ``Normalization``, an unfolded ``BatchNormalization`` or ``x * c + d``
    written as Keras ops, and through ``ZeroPadding2D``, ``Dropout``, ``Flatten`` or ``Reshape``):
    ``"zbox"``, the zB rule of deep Taylor decomposition for pixels known to lie in
    ``input_bounds`` (default ``[0, 1]``, widened per pixel to include the pixel). The bounds are
    mapped through the affine maps, so that the rule on the normalised pixels equals the zB rule on
    the raw pixels with the affine maps folded into the first layer's weights (it weighs
    ``x - low`` and ``x - high``, which the maps only rescale); padding added after the
    normalisation gets no relevance. We pick zB for the composite because it keeps pixel
    resolution and depends on the pixel values: it credits a bright pixel for being bright and a
    dark pixel for not being bright where the weights are negative (a black background matters to
    a Fashion-MNIST model). ``"flat"`` (all weights and inputs 1) and ``"wsquare"`` (weights
    squared) spread each first-layer neuron's relevance over its receptive field whatever the
    pixels are, blurring the map by the kernel size; ``"same"`` uses the layer's own rule.
    ``input_rule=None`` is ``"zbox"`` for the composite, ``"same"`` otherwise.
    ``keras.applications`` models whose first layers rescale 0-255 pixels (EfficientNet,
    MobileNetV3, ConvNeXt) need ``input_bounds=(0, 255)`` with 0-255 images.

    Other layers (those of the ``keras.applications`` families: VGG, ResNet, MobileNet V2 and V3,
    DenseNet, EfficientNet, ConvNeXt):

    * ``LayerNormalization``: its standard deviation is held constant, which leaves a linear map
      (centring, then a per-feature scale) explained with the epsilon rule whatever ``rule`` says
      (Ali et al. 2022, "XAI for Transformers: better explanations through conservative
      propagation", arXiv:2202.07304; z+ and gamma would need the signs of contributions that the
      centring mixes). It conserves relevance, up to its shift ``beta`` and ``epsilon``.
    * ``Multiply`` of two tensors, one of which is computed from the other (the sigmoid gate of a
      squeeze-excite block, Hu et al. 2018, arXiv:1709.01507, in MobileNetV3 and EfficientNet):
      the gate is held constant and all relevance goes to the gated input, as through any
      activation; the gate's branch gets none.
    * Element-wise activations (ReLU, ReLU6, leaky ReLU, swish/SiLU, hard swish, GELU, sigmoid,
      tanh, ..., see ``PASS_ACTIVATIONS``; standalone or inside ``Conv2D``/``Dense``), ``Rescaling``,
      ``Normalization``, ConvNeXt's ``LayerScale``, multiplication by a constant and a
      ``BatchNormalization`` that cannot be folded (one after an ``Add`` or ``Concatenate``, as in
      pre-activation ResNets and DenseNets) pass relevance on unchanged: zennit's default ``Pass``
      rule for activations and unfolded batch norms (Anders et al., arXiv:2106.13200). ``Dropout``,
      ``Identity`` and ``StochasticDepth`` are the identity at inference.
    * Max pooling gives relevance to the maximum; average pooling, ``Add`` (layer or ``x + y``) and
      ``x - y`` split it in proportion to the contributions (zennit's ``Norm`` rule), a constant
      summand (``x + 3``) taking its share as a bias does (none with ``bias=False``);
      ``Concatenate`` hands each input its slice; ``Flatten``, ``Reshape`` and ``ZeroPadding2D``
      move it with the values.

    Any other layer raises ``ValueError`` naming it.

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
        Lowest and highest pixel values for ``"zbox"``, before any rescaling the model does: floats
        or per-channel sequences.
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
    gates = check_supported(model)
    if request.engine.softmax_output:
        raise ValueError(f"`model` {model.name!r} ends in a softmax; LRP starts from the logits. Explain the "
                         "model without its softmax (see the `output` error message of any method).")
    folds = _keras.linear_batchnorm_folds(model)
    engine, score_of = request.engine, request.engine.scorer(request)

    # Cached with the engine: must not capture `request` (its images). Not converted by autograph: it has no
    # control flow on tensors, and converting the layer walk costs about a quarter of the trace.
    @tf.autograph.experimental.do_not_convert
    def relevance(x, targets, foils):
        with tf.GradientTape() as tape:
            tape.watch(x)
            logits = Propagation(config, folds, gates).run(engine.model, x)
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


def _config(rule, epsilon, alpha, beta, gamma, input_rule, input_bounds, bias, channels: int) -> Config:
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
    return Config(rule, epsilon, alpha, beta, gamma, input_rule, bool(bias), tuple(low.tolist()),
                   tuple(high.tolist()))
