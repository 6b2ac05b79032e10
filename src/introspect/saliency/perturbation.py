"""Meaningful perturbation: the smallest blur-deletion mask that removes the score, found by optimisation."""
from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from ..maps import baseline_images
from ..numerics import adam_step, total_variation
from .._progress import bar
from .._validation import fraction, non_negative_int, positive_int, positive_number
from ._arguments import Request, pair, prepare
from ._engine import stream_scores, upsample


#: Adam steps per compiled call: enough to hide the call overhead, few enough for a live progress bar.
BLOCK_STEPS = 10


def _optimiser_kernel(request: Request, mask_shape: tuple):
    """``block(x, targets, foils, blurred, full, empty, jitter, l1_coeff, tv_coeff, tv_beta, learning_rate,
    floor, mask, first, second, done, last) -> (mask, first, second, scores)``: ``len(jitter)`` Adam steps of a
    batch, carrying the mask and Adam's moments between calls (``done``: steps run before); with
    ``last`` it also scores the final deletion (no jitter), else ``scores`` are zeros."""
    engine, score = request.engine, request.engine.scorer(request)
    height, width = request.shape[:2]

    def score_of(x, targets, foils, blurred, mask, shift):
        upsampled = tf.image.resize(mask, (height, width), method="bilinear")
        perturbed = x * upsampled + blurred * (1.0 - upsampled)
        perturbed = tf.roll(perturbed, shift=shift, axis=[1, 2])
        return score(engine.outputs(perturbed), targets, foils)

    def block(x, targets, foils, blurred, full, empty, jitter, l1_coeff, tv_coeff, tv_beta, learning_rate,
              floor, mask, first, second, done, last):
        # Dividing by the score that blurring the whole image removes makes the same
        # coefficients fit logits and probabilities.
        scale = tf.maximum(tf.abs(full - empty), 1e-6 + 1e-3 * tf.abs(full))
        for step in tf.range(tf.shape(jitter)[0]):
            with tf.GradientTape() as tape:
                tape.watch(mask)
                kept = tf.maximum((score_of(x, targets, foils, blurred, mask, jitter[step]) - empty) / scale, floor)
                area = tf.reduce_mean(1.0 - mask, axis=[1, 2, 3])
                tv = total_variation(mask, reduction="mean", beta=tv_beta)
                loss = tf.reduce_sum(kept + l1_coeff * area + tv_coeff * tv)
            count = tf.cast(done + step + 1, tf.float32)
            # Epsilon added to the bias-corrected sqrt(v) as in Kingma & Ba's Algorithm 1, which this
            # method has always used: adam_step adds it to the uncorrected one, and the optimum is
            # sensitive enough to that choice to move the maps by a few percent.
            mask, first, second = adam_step(mask, tape.gradient(loss, mask), first, second, count, learning_rate,
                                            epsilon=1e-8 * tf.sqrt(1.0 - 0.999 ** count))
            mask = tf.clip_by_value(mask, 0.0, 1.0)
        final = tf.cond(last, lambda: score_of(x, targets, foils, blurred, mask, tf.zeros(2, tf.int32)),
                        lambda: tf.zeros_like(full))
        return mask, first, second, final

    scalar = tf.TensorSpec((), tf.float32)
    image = tf.TensorSpec((None, *request.shape), tf.float32)
    state = tf.TensorSpec((None, *mask_shape, 1), tf.float32)
    specs = (image, tf.TensorSpec((None,), tf.float32), tf.TensorSpec((None,), tf.float32),
             tf.TensorSpec((None, 2), tf.int32), scalar, scalar, scalar, scalar, scalar, state, state, state,
             tf.TensorSpec((), tf.int32), tf.TensorSpec((), tf.bool))
    return engine.kernel(request, "perturbation", block, specs, key=(mask_shape,))


def meaningful_perturbation(model, images, targets, *, output: str = "logits", foil=None, batch_size: int = 64,
                            steps: int = 300, mask_size=None, l1_coeff: float = 1.0, tv_coeff: float = 0.2,
                            tv_beta: float = 3.0, learning_rate: float = 0.1, floor: float | None = None,
                            blur_sigma: float | None = None, jitter: int | None = None, seed: int = 0,
                            return_scores: bool = False, progress: bool = True):
    """The smallest blur-deletion mask that removes the class score, found by optimisation.

    Fong & Vedaldi, "Interpretable explanations of black boxes by meaningful perturbation",
    ICCV 2017, arXiv:1704.03296. A low-resolution mask ``m`` in [0, 1] (1 keeps, 0 deletes),
    upsampled bilinearly, mixes each image with its blurred copy, ``m * x + (1 - m) * blur(x)``;
    Adam (:func:`introspect.numerics.adam_step`) minimises, per image,

        kept_score + l1_coeff * mean(1 - m) + tv_coeff * TV_beta(m),

    where ``kept_score = max((s(perturbed) - s(blurred)) / |s(x) - s(blurred)|, floor)`` rescales
    the score (logit by default, or ``output``) so that 1 means untouched and 0 means as deleted as
    the fully blurred image, and
    ``TV_beta`` is the mean ``|neighbour difference| ** tv_beta``
    (:func:`introspect.numerics.total_variation` with ``reduction="mean"``). Each step shifts the
    perturbed image by a random jitter of up to ``jitter`` pixels so that the mask cannot exploit
    single-pixel artefacts. All images of a chunk of ``batch_size`` are optimised at once, in
    compiled calls of ``BLOCK_STEPS`` Adam steps that carry the mask and Adam's moments (so that
    a progress bar can move); each image's mask is independent of the others.

    Parameters
    ----------
    model, images, targets, output, foil, batch_size
        As in :func:`~introspect.saliency.vanilla_gradient`.
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
    floor : float, optional
        Lowest ``kept_score`` that still pays; ``0`` stops rewarding deletion once the score is
        as low as the fully blurred image's, as the paper's probabilities (which stop at 0) do.
        Logits and contrastive scores have no lower bound, so by default (``None``) the
        optimiser may keep deleting to push them below the blurred image's. On 224 x 224
        ImageNet views with contrastive logits that turns the mask into speckle over the whole
        view (40-50% of it deleted, the margin pushed 13-22 times its range below the blurred
        image's); use ``floor=0`` there. On 28 x 28 Fashion-MNIST the unbounded default works
        better: blurring part of a garment often *raises* its logit, and with ``floor=0`` the
        optimiser then settles on masks that leave the score untouched.
    blur_sigma : float, optional
        Gaussian sigma of the deletion blur in pixels; default
        :func:`introspect.maps.default_blur_sigma`, ``max(1, max(H, W) / 10)``.
    jitter : int, optional
        Largest random shift in pixels; default ``max(1, max(H, W) // 56)``. The shifts are
        seeded by ``seed`` and shared by all images.
    return_scores : bool
        Also return the score of each image with its final deletion applied (no jitter).
    progress : bool
        Show a plain-text progress bar when the call lasts over ~2 s; ``False`` silences it.

    Returns
    -------
    np.ndarray, (N, H, W) float32
        The deletion map ``1 - m`` upsampled to the input size: 1 where the image had to be
        deleted to remove the score. With ``return_scores`` a tuple ``(maps, scores (N,))``.
    """
    request = prepare(model, images, targets, output, foil, batch_size)
    x = request.images
    height, width = x.shape[1:3]
    steps = positive_int(steps, "steps")
    default_mask = (min(28, math.ceil(height / 4)), min(28, math.ceil(width / 4)))
    mask_shape = default_mask if mask_size is None else pair(mask_size, "mask_size", (height, width))
    coefficients = [positive_number(l1_coeff, "l1_coeff", allow_zero=True),
                    positive_number(tv_coeff, "tv_coeff", allow_zero=True),
                    positive_number(tv_beta, "tv_beta"), positive_number(learning_rate, "learning_rate"),
                    -np.inf if floor is None else fraction(floor, "floor", low=-np.inf, high=1.0)]
    sigma = None if blur_sigma is None else positive_number(blur_sigma, "blur_sigma")
    largest_shift = max(1, max(height, width) // 56) if jitter is None else non_negative_int(jitter, "jitter")
    shifts = np.random.default_rng(non_negative_int(seed, "seed")).integers(
        -largest_shift, largest_shift + 1, size=(steps, 2)).astype(np.int32)

    blurred = baseline_images(x, "blur", name="blur_sigma", blur_sigma=sigma)
    forward = request.engine.forward(request)
    full = stream_scores(request, forward, x)
    empty = stream_scores(request, forward, blurred)
    block = _optimiser_kernel(request, mask_shape)
    constants = [np.float32(c) for c in coefficients]
    masks, kept = [], []
    with bar(len(x) * steps, "meaningful perturbation", progress, unit="image-steps") as shown:
        for start in range(0, len(x), request.batch_size):
            part = slice(start, start + request.batch_size)
            inputs = (x[part], request.targets[part], request.foils[part], blurred[part])
            mask = tf.ones((len(inputs[0]), *mask_shape, 1))
            first = second = tf.zeros_like(mask)
            for done in range(0, steps, BLOCK_STEPS):
                mask, first, second, score = block(*inputs, full[part], empty[part],
                                                   shifts[done:done + BLOCK_STEPS], *constants, mask, first,
                                                   second, np.int32(done), np.bool_(done + BLOCK_STEPS >= steps))
                shown.update(len(inputs[0]) * len(shifts[done:done + BLOCK_STEPS]))
            masks.append(mask.numpy()[..., 0])
            kept.append(score.numpy())
    maps = 1.0 - np.clip(upsample(np.concatenate(masks), (height, width)), 0.0, 1.0)
    return (maps, np.concatenate(kept)) if return_scores else maps
