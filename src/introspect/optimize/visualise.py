"""Class and channel visualisations: a named recipe, or a learned image prior.

Without a prior, :func:`visualise_classes` and :func:`visualise_channels` run a recipe of
:mod:`.recipes` (``"pixels"``, ``"fourier"``, ``"maco"``). With one, :func:`visualise_classes`
optimises instead the latent code of an autoencoder's decoder
(a generator prior in the spirit of Nguyen et al. 2016, arXiv:1605.09304), restricted to the
principal axes of real codes and bounded along each (:func:`decoder_param`), with random
jitter, scaling and rotation before the classifier (Olah et al., Distill 2017). The loop is
:func:`~introspect.optimize.optimize`; only the parametrisation is new.
"""
from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from .._validation import as_images, fraction, num_classes, positive_int
from .loop import OptimizationResult, optimize
from .objectives import channel, class_logit, class_probability
from .params import Parametrisation
from .recipes import run_recipe
from .transforms import jitter, random_rotation, random_scale

#: The transforms of the default recipe: +-2 px jitter, 0.9-1.1 scaling, +-10 degree rotation.
DEFAULT_TRANSFORMS = (jitter(2), random_scale((0.9, 1.1)), random_rotation(10))


def decoder_param(encoder, decoder, reference_images, *, components: int = 16, bound: float = 2.5):
    """A parametrisation factory ``images -> Parametrisation``: image = decoder(code), code near real codes.

    The codes of ``reference_images`` ``(M, H, W, C)`` are summarised by their mean and their first
    ``components`` principal axes; the optimised code is ``mean + sum_i bound * s_i * tanh(v_i) u_i``
    (``s_i`` the spread along axis ``u_i``): a low-dimensional, bounded slice of the latent space
    where real garments lie, so the decoded image stays near the data. The initial images are
    projected onto that slice to give the initial ``v``. Pass the factory as ``param=`` to
    :func:`~introspect.optimize.optimize`.
    """
    reference = as_images(reference_images, "reference_images", value_range=(0, 1))
    bound = fraction(bound, "bound", low=1e-3, high=math.inf)
    components = positive_int(components, "components")
    codes = np.concatenate([encoder(reference[i:i + 512], training=False).numpy()
                            for i in range(0, len(reference), 512)])
    latent_shape = codes.shape[1:]
    flat = codes.reshape(len(codes), -1).astype(np.float64)
    mean = flat.mean(axis=0)
    _, spread, axes = np.linalg.svd(flat - mean, full_matrices=False)
    if components > len(spread):
        raise ValueError(f"`components` = {components} exceeds the {len(spread)} axes of the reference codes.")
    spread = spread[:components] / np.sqrt(len(flat) - 1)
    basis = (axes[:components] * (bound * spread)[:, None]).astype(np.float32)  # (components, D)
    mean = mean.astype(np.float32)

    class _Decoded(Parametrisation):
        default_learning_rate = 0.05

        def __init__(self, images):
            start = encoder(tf.constant(images), training=False).numpy().reshape(len(images), -1)
            coordinates = (start - mean) @ np.linalg.pinv(basis)
            self.variables = [tf.Variable(np.arctanh(np.clip(coordinates, -0.999, 0.999)).astype(np.float32))]

        def image(self):
            code = mean + tf.tanh(self.variables[0]) @ basis
            return decoder(tf.reshape(code, [-1, *latent_shape]), training=False)

        def blurred(self, sigma):
            raise ValueError("`regularizers` cannot hold blur(...) with a decoder prior; the decoder smooths already.")

    return _Decoded


def visualise_classes(model, classes=None, *, recipe: str | None = None, steps: int = 256, seed: int = 0,
                      prior=None, reference_images=None, objective: str = "logit", components: int = 16,
                      bound: float = 2.5, transforms=DEFAULT_TRANSFORMS, learning_rate: float | None = None,
                      snapshots=(), progress: bool = False) -> OptimizationResult:
    """One visualisation per class: the input that maximises the class score, by a recipe or through an image prior.

    Parameters
    ----------
    model : keras.Model
        Classifier with logits ``(N, K)``.
    classes : array-like (N,) int, optional
        Classes to visualise (default: all ``K``).
    recipe : {"pixels", "fourier", "maco"}, optional
        Without a ``prior``: the recipe of :func:`~introspect.optimize.recipes.run_recipe`; default
        ``"maco"`` for RGB models (:data:`~introspect.optimize.recipes.DEFAULT_RECIPE`: on EfficientNet-Lite0
        the one that is both recognised by an independent network and photo-like, notebook 03),
        ``"fourier"`` for others. Not with a ``prior``.
    steps, seed, learning_rate, snapshots, progress
        As in :func:`~introspect.optimize.optimize`.
    prior : (encoder, decoder), optional
        An autoencoder's halves (e.g. :func:`introspect.companions.load_autoencoder`'s last two).
    reference_images : array-like (M, H, W, C)
        Real images for the latent statistics of :func:`decoder_param` and the start (their mean
        image, the same for every class); required with ``prior``.
    objective : {"logit", "probability"}
        Maximise the class logit or its softmax probability.
    components, bound : int, float
        Principal axes of the latent slice and its bound in standard deviations (:func:`decoder_param`).
    transforms : sequence of Transform
        Random transforms before every forward pass, with a ``prior`` (a recipe brings its own).

    Returns
    -------
    OptimizationResult
        ``.images`` ``(N, H, W, C)``: one visualisation per class, in the order of ``classes``.
    """
    k = num_classes(model)
    classes = np.arange(k) if classes is None else np.asarray(classes)
    if classes.ndim != 1 or classes.size == 0 or not np.issubdtype(classes.dtype, np.integer) \
            or classes.min() < 0 or classes.max() >= k:
        raise ValueError(f"`classes` must be a 1-D int array of class indices in [0, {k}); got {classes!r}.")
    steps = positive_int(steps, "steps")
    if objective not in ("logit", "probability"):
        raise ValueError(f"`objective` must be 'logit' or 'probability'; got {objective!r}.")
    score = (class_logit if objective == "logit" else class_probability)(classes.astype(np.int64))
    if prior is None:
        return run_recipe(model, score, recipe=recipe, steps=steps, seed=seed,
                         learning_rate=learning_rate, snapshots=snapshots, progress=progress)
    if recipe is not None:
        raise ValueError(f"`recipe` ({recipe!r}) and `prior` exclude each other: a prior is its own recipe; "
                         f"leave `recipe` out with a prior.")
    if reference_images is None:
        raise ValueError("`reference_images` (M, H, W, C) are required with `prior`: they give the latent statistics.")
    encoder, decoder = prior
    reference = as_images(reference_images, "reference_images", value_range=(0, 1))
    start = np.repeat(reference.mean(axis=0, keepdims=True), len(classes), axis=0)
    param = decoder_param(encoder, decoder, reference, components=components, bound=bound)
    return optimize(model, score, start, steps=steps, param=param,
                    transforms=transforms, seed=seed, learning_rate=learning_rate, snapshots=snapshots,
                    progress=progress)


def visualise_channels(model, layer: str, channels, *, recipe: str | None = None, steps: int = 256,
                       seed: int = 0, init=None, learning_rate: float | None = None, snapshots=(),
                       progress: bool = False) -> OptimizationResult:
    """One visualisation per hidden channel: the input that maximises its mean activation (:func:`channel`).

    Parameters
    ----------
    model : keras.Model
        Classifier with logits and a fixed square input.
    layer : str
        Name of the hidden layer.
    channels : array-like (N,) int
        Channels of ``layer``, one image each.
    recipe, steps, seed, init, learning_rate, snapshots, progress
        As in :func:`~introspect.optimize.recipes.run_recipe`.
    """
    channels = np.asarray(channels)
    if channels.ndim != 1 or channels.size == 0 or not np.issubdtype(channels.dtype, np.integer):
        raise ValueError(f"`channels` must be a 1-D int array of channel indices; got {channels!r}.")
    return run_recipe(model, channel(layer, channels.astype(np.int64)), recipe=recipe, init=init, steps=steps,
                     seed=seed, learning_rate=learning_rate, snapshots=snapshots, progress=progress)
