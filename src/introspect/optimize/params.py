"""Parametrisations: how the optimised images are represented by free variables.

* ``"clip"``: the variables are the pixels, clipped to [0, 1] after each step;
* ``"sigmoid"``: image = sigmoid(v), so every value of the variables is a valid image;
* ``"fourier"``: image = sigmoid(colour basis @ irfft2(scale * spectrum)), the decorrelated
  Fourier basis of Mordvintsev et al., Distill 2018, "Differentiable Image Parameterizations";
  :func:`fourier_start` gives Lucid's start, near grey with a small random spectrum;
* ``"maco"``: only the phase of each opponent colour channel's spectrum is free, its magnitude is
  fixed to that of natural images (:func:`~.spectrum.natural_magnitude`), MACO of Fel et al. 2023
  (arXiv:2306.06805).

A parametrisation is a :class:`Parametrisation` subclass plus one line in :data:`PARAMETRISATIONS`;
the ``param`` argument of :func:`~introspect.optimize.optimize` picks one by name.
"""
from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from ..numerics import gaussian_blur
from .spectrum import OPPONENT, natural_magnitude, rfft_frequencies

#: Smallest distance of a pixel from 0 or 1 that the sigmoid-based parametrisations represent;
#: below half an 8-bit grey level (1/510), so a real image round-trips visually unchanged.
_EPS = 1e-3


class Parametrisation:
    """Images ``(N, H, W, C)`` in [0, 1] as a function of ``variables`` (a list of ``tf.Variable``).

    Built from the initial images ``(N, H, W, C)`` in [0, 1], which it must represent (up to
    ``1e-3`` for the sigmoid-based ones). Every variable has the examples on its first axis.
    """

    #: Adam step size used by :func:`~introspect.optimize.optimize` when none is given.
    default_learning_rate: float = 0.05

    def __init__(self, images: np.ndarray):
        self.variables: list = []

    def image(self) -> tf.Tensor:
        """The current images ``(N, H, W, C)``, differentiable with respect to :attr:`variables`."""
        raise NotImplementedError

    def project(self) -> None:
        """Bring the variables back into their valid set after an update (nothing by default)."""
        return None  # a body AutoGraph can convert (a docstring alone makes it warn)

    def blurred(self, sigma: float) -> list:
        """New values of :attr:`variables` whose images are blurred by a Gaussian of ``sigma`` pixels."""
        raise NotImplementedError


def _logit(images: np.ndarray) -> np.ndarray:
    clipped = np.clip(images, _EPS, 1 - _EPS)
    return np.log(clipped) - np.log1p(-clipped)


class _Pixels(Parametrisation):
    """``"clip"``: the variables are the pixels; they are clipped to [0, 1] after each step."""

    default_learning_rate = 0.05

    def __init__(self, images: np.ndarray):
        self.variables = [tf.Variable(images)]

    def image(self):
        return tf.convert_to_tensor(self.variables[0])

    def project(self):
        self.variables[0].assign(tf.clip_by_value(self.variables[0], 0.0, 1.0))

    def blurred(self, sigma):
        return [gaussian_blur(self.variables[0], sigma)]


class _Sigmoid(_Pixels):
    """``"sigmoid"``: image = sigmoid(v), so every value of ``v`` is a valid image."""

    default_learning_rate = 0.1

    def __init__(self, images):
        self.variables = [tf.Variable(_logit(images).astype(np.float32))]

    def image(self):
        return tf.sigmoid(self.variables[0])

    def project(self):
        pass


def color_basis(channels: int) -> np.ndarray:
    """``(C, C)`` matrix from decorrelated colour channels to (pre-sigmoid) RGB.

    For RGB: an orthonormal opponent-colour basis (luminance, red-green, blue-yellow) scaled by
    the relative spreads 1 : 0.29 : 0.14 of natural-image colours along their principal axes
    (square roots of the ImageNet RGB covariance eigenvalues 0.2175, 0.0188, 0.0045 of
    Krizhevsky et al. 2012). Other channel counts (grayscale): the identity.
    """
    if channels != 3:
        return np.eye(channels, dtype=np.float32)
    spread = np.sqrt(np.array([0.2175, 0.0188, 0.0045]) / 0.2175)
    return (OPPONENT.T * spread).astype(np.float32)


def fourier_scale(height: int, width: int, decay: float = 1.0) -> np.ndarray:
    """``(H, W // 2 + 1)`` amplitude of each rfft coefficient, ``1 / max(f, 1 / max(H, W)) ** decay``.

    Normalised so that a spectrum of independent unit-variance coefficients gives pixels of unit
    variance; the ``1/f`` fall-off matches natural images, so Adam's equal-sized steps per
    coefficient become steps that favour low frequencies (Olah et al. 2017).
    """
    scale = 1.0 / np.maximum(rfft_frequencies(height, width), 1.0 / max(height, width)) ** decay
    # irfft2 counts every column but the first (and the Nyquist one) twice: pixel variance is
    # sum(multiplicity^2 * scale^2) / (H W)^2 for independent unit-variance real and imaginary parts.
    multiplicity = np.full(scale.shape, 2.0)
    multiplicity[:, 0] = 1.0
    if width % 2 == 0:
        multiplicity[:, -1] = 1.0
    pixel_std = np.sqrt(np.sum((multiplicity * scale) ** 2)) / (height * width)
    return (scale / pixel_std).astype(np.float32)


class _Fourier(Parametrisation):
    """``"fourier"``: image = sigmoid(colour_basis @ irfft2(scale * spectrum)).

    Lossless for images in ``[eps, 1 - eps]``: :meth:`__init__` inverts each stage. The blur
    multiplies the spectrum by the Gaussian's transfer function, so it wraps around the borders.
    """

    default_learning_rate = 0.05

    def __init__(self, images: np.ndarray):
        _, self.height, self.width, channels = images.shape
        self.scale = fourier_scale(self.height, self.width)
        self.basis = color_basis(channels)
        decorrelated = _logit(images).astype(np.float64) @ np.linalg.inv(self.basis.T.astype(np.float64))
        spectrum = np.fft.rfft2(np.transpose(decorrelated, (0, 3, 1, 2))) / self.scale
        self.variables = [tf.Variable(spectrum.real.astype(np.float32)), tf.Variable(spectrum.imag.astype(np.float32))]

    def image(self):
        spectrum = tf.complex(self.variables[0] * self.scale, self.variables[1] * self.scale)
        pre = tf.transpose(tf.signal.irfft2d(spectrum, [self.height, self.width]), [0, 2, 3, 1])
        return tf.sigmoid(tf.einsum("nhwc,dc->nhwd", pre, self.basis))

    def blurred(self, sigma):
        transfer = np.exp(-2 * (math.pi * sigma * rfft_frequencies(self.height, self.width)) ** 2).astype(np.float32)
        return [variable * transfer for variable in self.variables]


def fourier_start(n: int, shape: tuple, *, std: float = 0.01, seed: int = 0) -> np.ndarray:
    """Images ``(n, H, W, C)`` near grey: the ``"fourier"`` image of a random spectrum of standard deviation ``std``.

    Lucid's start (``spectrum ~ N(0, 0.01^2)``): the pixels' standard deviation is about ``std / 4``
    (the sigmoid's slope at 0), every frequency has some energy and no image is exactly grey.
    """
    height, width, channels = shape
    rng = np.random.default_rng(seed)
    spectrum = std * (rng.normal(size=(n, channels, height, width // 2 + 1))
                      + 1j * rng.normal(size=(n, channels, height, width // 2 + 1)))
    pre = np.fft.irfft2(spectrum * fourier_scale(height, width), s=(height, width))
    pre = np.transpose(pre, (0, 2, 3, 1)) @ color_basis(channels).T
    return (1.0 / (1.0 + np.exp(-pre))).astype(np.float32)


class _Maco(Parametrisation):
    """``"maco"``: image = sigmoid(standardised(OPPONENT^T @ irfft2(magnitude * exp(i phase)))).

    Only the phase ``(N, 3, H, W // 2 + 1)`` is free; the magnitude is the natural-image spectrum of
    each opponent channel (:func:`~.spectrum.natural_magnitude`), so every image has the spectrum of
    a photo whatever the optimisation does (MACO, Fel et al. 2023, arXiv:2306.06805). Each image is
    standardised (zero mean, unit standard deviation over pixels and channels) before the sigmoid, as
    in the paper. The start keeps only the phase of the initial images (their centred spectrum):
    uniform noise gives a random phase. RGB only.
    """

    default_learning_rate = 0.05

    def __init__(self, images: np.ndarray):
        _, self.height, self.width, channels = images.shape
        if channels != 3:
            raise ValueError(f"`param` 'maco' needs RGB images (N, H, W, 3); got {channels} channel(s).")
        self.magnitude = natural_magnitude(self.height, self.width)
        centred = (images - images.mean(axis=(1, 2), keepdims=True)) @ OPPONENT.T
        phase = np.angle(np.fft.rfft2(np.transpose(centred, (0, 3, 1, 2))))
        self.variables = [tf.Variable(phase.astype(np.float32))]

    def spectrum(self) -> tf.Tensor:
        """The complex spectra ``(N, 3, H, W // 2 + 1)`` of the opponent channels: fixed magnitude, free phase."""
        phase = self.variables[0]
        return tf.complex(self.magnitude * tf.cos(phase), self.magnitude * tf.sin(phase))

    def image(self):
        opponent = tf.transpose(tf.signal.irfft2d(self.spectrum(), [self.height, self.width]), [0, 2, 3, 1])
        pre = tf.einsum("nhwc,cd->nhwd", opponent, OPPONENT.astype(np.float32))
        mean, variance = tf.nn.moments(pre, axes=[1, 2, 3], keepdims=True)
        return tf.sigmoid((pre - mean) * tf.math.rsqrt(variance + 1e-10))

    def blurred(self, sigma):
        raise ValueError("`regularizers` cannot hold blur(...) with param 'maco': its magnitude spectrum is fixed.")


#: Name -> parametrisation class; the ``param`` argument of :func:`~introspect.optimize.optimize`.
PARAMETRISATIONS = {"clip": _Pixels, "sigmoid": _Sigmoid, "fourier": _Fourier, "maco": _Maco}
PARAMS = tuple(PARAMETRISATIONS)
#: Adam step size per parametrisation when ``learning_rate`` is not given.
DEFAULT_LEARNING_RATE = {name: kind.default_learning_rate for name, kind in PARAMETRISATIONS.items()}
