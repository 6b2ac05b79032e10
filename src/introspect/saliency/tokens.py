"""Token saliency for Keras text classifiers: attributions on the token embeddings, one score per token.

The model is split at its ``Embedding`` layer: the embedding lookup runs once, then the rest of the
model runs layer by layer on the (watched) embeddings (:func:`introspect._keras.run_with_output`),
so gradients are taken with respect to each token's embedding vector. Functional and Sequential
models (nested ones too) can be split; subclassed ones cannot.
"""
from __future__ import annotations

import weakref

import numpy as np
import tensorflow as tf

from .. import _keras
from .._validation import as_class_indices, ensure_built, num_classes, one_of, positive_int
from ._arguments import OUTPUTS, SOFTMAX_MESSAGE
from ._engine import _segment_add, chunked, engine

#: The token attributions :func:`token_saliency` computes.
TOKEN_METHODS = ("gradient", "gradient_x_input", "integrated_gradients")

#: The baselines of ``method="integrated_gradients"``.
TOKEN_BASELINES = ("zero", "pad")


def embedding_layer_of(model, name=None):
    """The ``Embedding`` layer called ``name`` of ``model`` (nested models searched), or its first one."""
    import keras

    layers = _keras.flat_layers(model)
    embeddings = [layer for layer in layers if isinstance(layer, keras.layers.Embedding)]
    if name is None:
        if not embeddings:
            raise ValueError(f"`model` {model.name!r} has no keras.layers.Embedding layer; token saliency "
                             "needs one (pass its name as `embedding_layer` if it is nested oddly).")
        return embeddings[0]
    if isinstance(name, keras.layers.Embedding) and any(layer is name for layer in embeddings):
        return name
    found = [layer for layer in embeddings if layer.name == name]
    if not found:
        other = [layer for layer in layers if layer.name == name]
        kind = f" is a {type(other[0]).__name__}, not an Embedding layer" if other else " is not a layer of the model"
        raise ValueError(f"`embedding_layer` {name!r}{kind}; the model's Embedding layers are: "
                         f"{', '.join(repr(layer.name) for layer in embeddings) or 'none'}.")
    return found[0]


def as_token_ids(token_ids, vocabulary_size: int, name: str = "token_ids") -> np.ndarray:
    """``token_ids`` as an int32 ``(N, T)`` array of ids in ``[0, vocabulary_size)``.

    Integer arrays, or float arrays holding whole numbers only (Keras text inputs are often
    float32), are accepted; anything else raises a ``ValueError`` naming ``name``.
    """
    array = np.asarray(token_ids)
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(f"`{name}` must hold integer token ids; got dtype {array.dtype}.")
    if array.ndim != 2:
        raise ValueError(f"`{name}` must have shape (N, T) (texts x tokens); got shape {array.shape}. "
                         f"For a single text use `{name}[None]`.")
    if array.size == 0:
        raise ValueError(f"`{name}` is empty: expected at least one text of at least one token; got shape {array.shape}.")
    if np.issubdtype(array.dtype, np.floating) and not (np.all(np.isfinite(array)) and np.all(array == np.round(array))):
        raise ValueError(f"`{name}` must hold integer token ids; got non-integer values such as "
                         f"{array[~(np.isfinite(array) & (array == np.round(array)))][0]!r}.")
    if array.min() < 0 or array.max() >= vocabulary_size:
        bad = array[(array < 0) | (array >= vocabulary_size)][0]
        raise ValueError(f"`{name}` holds token id {int(bad)}, outside the embedding's vocabulary [0, {vocabulary_size}).")
    return array.astype(np.int32)


def _gradient_kernel(model, embedding, output: str, has_foil: bool):
    """Compiled ``f(ids, embedded, targets, foils) -> (d score / d embedded, score)``, one trace per setting."""
    found = engine(model)
    layer_ref = weakref.ref(embedding)

    def build():
        def gradient(ids, embedded, targets, foils):
            found.traces += 1
            with tf.GradientTape() as tape:
                tape.watch(embedded)
                outputs = _keras.run_with_output(found.model, ids, layer_ref(), embedded)
                score = found.score(outputs, targets, foils, output, has_foil)
            return tape.gradient(score, embedded), score

        return tf.function(gradient, input_signature=[
            tf.TensorSpec((None, None), tf.int32), tf.TensorSpec((None, None, None), tf.float32),
            tf.TensorSpec((None,), tf.int32), tf.TensorSpec((None,), tf.int32)])

    return found.function(("token_gradient", output, has_foil, id(embedding)), build)


def _embed(embedding, ids: np.ndarray, batch_size: int) -> np.ndarray:
    """The embedding layer's vectors ``(N, T, D)`` float32 for ``ids``, in chunks."""
    return np.concatenate([np.asarray(embedding(ids[start:start + batch_size]), np.float32)
                           for start in range(0, len(ids), batch_size)])


def token_saliency(model, token_ids, targets, *, embedding_layer=None, method: str = "gradient_x_input",
                   output: str = "logits", foil=None, batch_size: int = 64, steps: int = 64,
                   baseline: str = "zero", pad_token: int | None = 0, progress: bool = True) -> np.ndarray:
    """One attribution per token of a Keras text classifier, taken on the token embeddings.

    For a classifier ``token ids (N, T) -> logits (N, K)`` with an ``Embedding`` layer, the
    explained score is per text ``output[target]`` (the pre-softmax logit by default; with
    ``foil`` the contrastive ``output[target] - output[foil]``), and per token ``t`` with embedding
    ``e_t`` (``D`` values) and ``g_t = d score / d e_t``:

    * ``"gradient"``: ``||g_t||_2``, the magnitude of the gradient with respect to the token's
      embedding (unsigned);
    * ``"gradient_x_input"``: ``g_t . e_t``, gradient times embedding summed over the embedding
      axis (signed; for a model linear in the embeddings, the token's exact contribution to the logit);
    * ``"integrated_gradients"``: Integrated Gradients (Sundararajan, Taly & Yan, arXiv:1703.01365)
      from a baseline embedding ``b`` (zeros, or the pad token's embedding with ``baseline="pad"``)
      along the straight path, ``steps`` midpoint-rule points, ``(e_t - b) . mean path gradient``
      summed over the embedding axis (signed). Padding tokens stay at their own embedding along the
      path, so the attributions of the other tokens sum to ``f(x) - f(x with every non-pad token at b)``.

    Padding tokens (``token_ids == pad_token``) get 0. This function is not in
    :data:`introspect.saliency.METHODS`: it takes token ids ``(N, T)`` and returns ``(N, T)`` maps,
    where the image methods take ``(N, H, W, C)`` images.

    Parameters
    ----------
    model : keras.Model
        A functional or Sequential text classifier (nested models are fine) with one input, the
        token ids, and logits ``(N, K)`` (or probabilities, with ``output="softmax"``).
    token_ids : array-like, (N, T) int
        Token ids in ``[0, vocabulary size)`` of the embedding layer; whole-number floats are accepted.
    targets : int or array-like, (N,) int
        Class explained per text; an int is broadcast.
    embedding_layer : str or keras.layers.Embedding, optional
        The embedding to attribute to; default the model's first ``Embedding`` layer.
    method : {"gradient", "gradient_x_input", "integrated_gradients"}
    output : {"logits", "softmax", "log_softmax"}
        The explained score, as in the image methods (:data:`introspect.saliency.OUTPUTS`).
    foil : int or array-like, optional
        Class subtracted from the target's score.
    batch_size : int
        Texts (or, for Integrated Gradients, path points) per gradient pass; the result does not depend on it.
    steps : int
        Path points of Integrated Gradients (ignored by the other methods).
    baseline : {"zero", "pad"}
        Baseline embedding of Integrated Gradients: zeros, or the embedding of ``pad_token``.
    pad_token : int or None
        Id of the padding token, whose attribution is 0; ``None`` treats no token as padding.
    progress : bool
        Show a plain-text progress bar when the call lasts over ~2 s.

    Returns
    -------
    np.ndarray, (N, T) float32
        One score per token; 0 at padding tokens.
    """
    import keras

    if not isinstance(model, keras.Model):
        raise ValueError(f"`model` must be a keras.Model; got {type(model).__name__}.")
    method = one_of(method, TOKEN_METHODS, "method")
    output = one_of(output, OUTPUTS, "output")
    baseline = one_of(baseline, TOKEN_BASELINES, "baseline")
    batch_size = positive_int(batch_size, "batch_size")
    steps = positive_int(steps, "steps")
    embedding = embedding_layer_of(model, embedding_layer)
    ids = as_token_ids(token_ids, int(embedding.input_dim))
    if pad_token is not None:
        pad_token = int(as_token_ids(np.reshape(pad_token, (1, 1)), int(embedding.input_dim), "pad_token")[0, 0])
    elif baseline == "pad" and method == "integrated_gradients":
        raise ValueError("`baseline`='pad' needs a `pad_token`; got pad_token=None.")
    ensure_built(model, ids.shape[1:])
    _keras.check_layerwise(model, "token_saliency")
    if len(model.inputs) != 1:
        raise ValueError(f"`model` must take one input (the token ids); it takes {len(model.inputs)}.")
    if output == "logits" and _keras.ends_in_softmax(model):
        raise ValueError(SOFTMAX_MESSAGE.format(output=output, name=model.name))
    classes = num_classes(model)
    target_array = as_class_indices(targets, len(ids), classes, "targets").astype(np.int32)
    foil_array = target_array if foil is None else as_class_indices(foil, len(ids), classes, "foil").astype(np.int32)

    gradient = _gradient_kernel(model, embedding, output, foil is not None)
    embedded = _embed(embedding, ids, batch_size)
    padding = np.zeros(ids.shape, bool) if pad_token is None else ids == pad_token

    if method == "integrated_gradients":
        base = np.zeros_like(embedded)
        if baseline == "pad":
            base[...] = _embed(embedding, np.full((1, 1), pad_token, np.int32), 1)[0, 0]
        base[padding] = embedded[padding]
        difference = embedded - base
        alphas = ((np.arange(steps) + 0.5) / steps).astype(np.float32)
        total = len(ids) * steps
        sums = np.zeros(embedded.shape, np.float64)
        for start in chunked(total, batch_size, f"token integrated gradients ({steps} steps)", progress):
            text, step = np.divmod(np.arange(start, min(start + batch_size, total)), steps)
            points = base[text] + alphas[step, None, None] * difference[text]
            grads, _ = gradient(ids[text], points, target_array[text], foil_array[text])
            _segment_add(sums, text, grads.numpy())
        scores = np.sum(sums / steps * difference, axis=-1)
    else:
        grads = np.concatenate([
            gradient(ids[start:start + batch_size], embedded[start:start + batch_size],
                     target_array[start:start + batch_size], foil_array[start:start + batch_size])[0].numpy()
            for start in chunked(len(ids), batch_size, f"token {method}", progress)]).astype(np.float64)
        scores = np.linalg.norm(grads, axis=-1) if method == "gradient" else np.sum(grads * embedded, axis=-1)
    scores[padding] = 0.0
    return scores.astype(np.float32)
