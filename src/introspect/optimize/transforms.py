"""Random transforms applied to the images before every forward pass (robustness, Olah et al. 2017).

:func:`jitter`, :func:`random_scale` and :func:`random_rotation` are :class:`Transform` objects:
random affine maps, drawn afresh each step from a stateless seed. A chain of them is composed
into one matrix per image and applied in a single bilinear :func:`resample` with reflected borders;
:func:`pad` (Lucid's first transform) shrinks the image into a constant frame, and then every
sample outside the image takes that constant instead of a reflection.
"""
from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from .._validation import fraction, positive_int


class Transform:
    """A random affine map of ``(N, H, W, C)`` images.

    ``matrices(n, seed)`` returns ``(n, 3, 3)`` maps from output to input pixel coordinates
    ``(x, y, 1)``, centred on the image centre; consecutive transforms are composed and applied in
    one bilinear resampling with reflected borders. Calling a transform applies it alone.
    """

    #: Value of samples that fall outside the image (``None``: reflect the borders).
    fill: float | None = None

    def matrices(self, n: int, seed: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError

    def __call__(self, images, seed=(0, 0)) -> tf.Tensor:
        """``images`` ``(N, H, W, C)`` transformed with the random draw of ``seed`` (a pair of ints)."""
        return apply_transforms(tf.convert_to_tensor(images, tf.float32), (self,), tf.constant(seed, tf.int64))

    def __repr__(self) -> str:
        return getattr(self, "description", type(self).__name__)


def _affine(a, b, c, d, tx, ty) -> tf.Tensor:
    zero, one = tf.zeros_like(a), tf.ones_like(a)
    return tf.stack([tf.stack([a, b, tx], 1), tf.stack([c, d, ty], 1), tf.stack([zero, zero, one], 1)], 1)


class _Jitter(Transform):
    def __init__(self, pixels):
        self.pixels = positive_int(pixels, "pixels")
        self.description = f"jitter({pixels})"

    def matrices(self, n, seed):
        shift = tf.cast(tf.random.stateless_uniform([2, n], seed, -self.pixels, self.pixels + 1, tf.int32), tf.float32)
        one = tf.ones([n])
        return _affine(one, 0 * one, 0 * one, one, shift[0], shift[1])


class _Scale(Transform):
    def __init__(self, low, high):
        self.low = fraction(low, "scales", low=1e-3, high=math.inf)
        self.high = fraction(high, "scales", low=1e-3, high=math.inf)
        if self.low > self.high:
            raise ValueError(f"`scales` must be (low, high) with low <= high; got ({low}, {high}).")
        self.description = f"random_scale(({low}, {high}))"

    def matrices(self, n, seed):
        inverse = 1.0 / tf.random.stateless_uniform([n], seed, self.low, self.high)
        zero = tf.zeros([n])
        return _affine(inverse, zero, zero, inverse, zero, zero)


class _Rotation(Transform):
    def __init__(self, degrees):
        self.degrees = fraction(degrees, "degrees", high=180.0)
        self.description = f"random_rotation({degrees})"

    def matrices(self, n, seed):
        angle = tf.random.stateless_uniform([n], seed, -self.degrees, self.degrees) * (math.pi / 180.0)
        cos, sin = tf.cos(angle), tf.sin(angle)
        return _affine(cos, sin, -sin, cos, tf.zeros([n]), tf.zeros([n]))


class _Pad(Transform):
    def __init__(self, pixels, value, size):
        self.pixels = positive_int(pixels, "pixels")
        self.fill = fraction(value, "value")
        self.size = positive_int(size, "size")
        self.description = f"pad({pixels}, {value})"

    def matrices(self, n, seed):
        grow = tf.fill([n], (self.size + 2.0 * self.pixels) / self.size)
        zero = tf.zeros([n])
        return _affine(grow, zero, zero, grow, zero, zero)


def pad(pixels: int = 12, value: float = 0.5, size: int = 224) -> Transform:
    """Surround the image with a frame of ``pixels`` of constant ``value`` (Lucid's ``pad(12)``).

    Lucid pads and feeds the larger image; a model with a fixed input ``size`` gets the padded image
    resized back, i.e. the image shrunk by ``size / (size + 2 pixels)`` inside the frame. Later
    transforms then move ``value``, not reflected borders, into view.
    """
    return _Pad(pixels, value, size)


def jitter(pixels: int = 2) -> Transform:
    """Shift each image by a random whole number of pixels in ``[-pixels, pixels]`` along each axis."""
    return _Jitter(pixels)


def random_scale(scales: tuple = (0.9, 1.1)) -> Transform:
    """Zoom each image about its centre by a factor drawn uniformly from ``scales = (low, high)``."""
    if np.ndim(scales) != 1 or len(scales) != 2:
        raise ValueError(f"`scales` must be a pair (low, high); got {scales!r}.")
    return _Scale(*scales)


def random_rotation(degrees: float = 10.0) -> Transform:
    """Rotate each image about its centre by an angle drawn uniformly from ``[-degrees, degrees]``."""
    return _Rotation(degrees)


def _reflect(index: tf.Tensor, size: int) -> tf.Tensor:
    if size == 1:
        return tf.zeros_like(index)
    period = 2 * (size - 1)
    index = tf.math.floormod(index, period)
    return tf.where(index > size - 1, period - index, index)


def resample(images: tf.Tensor, matrices: tf.Tensor, fill: float | None = None) -> tf.Tensor:
    """Bilinear sampling of ``images`` ``(N, H, W, C)`` at ``matrices @ (x, y, 1)``, borders reflected.

    With ``fill`` a number, samples outside the image take that value instead of a reflection.
    ``matrices`` ``(N, 3, 3)`` map output to input pixel coordinates ``(x, y, 1)`` measured from
    the image centre. Written with ``gather`` so that its gradient is the exact adjoint of the
    sampling (the registered gradient of ``ImageProjectiveTransformV3`` applies the inverse map).
    """
    n, height, width, channels = images.shape
    ys, xs = np.meshgrid(np.arange(height) - (height - 1) / 2, np.arange(width) - (width - 1) / 2, indexing="ij")
    grid = tf.constant(np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)]), tf.float32)  # (3, H*W)
    source = tf.einsum("nij,jp->nip", matrices, grid)
    sx, sy = source[:, 0] + (width - 1) / 2, source[:, 1] + (height - 1) / 2
    x0, y0 = tf.floor(sx), tf.floor(sy)
    fx, fy = (sx - x0)[..., None], (sy - y0)[..., None]
    x0, y0 = tf.cast(x0, tf.int32), tf.cast(y0, tf.int32)
    flat = tf.reshape(images, [-1, height * width, channels])

    def corner(y, x):
        value = tf.gather(flat, _reflect(y, height) * width + _reflect(x, width), axis=1, batch_dims=1)
        if fill is None:
            return value
        inside = (y >= 0) & (y < height) & (x >= 0) & (x < width)
        return tf.where(inside[..., None], value, tf.cast(fill, value.dtype))

    top = corner(y0, x0) * (1 - fx) + corner(y0, x0 + 1) * fx
    bottom = corner(y0 + 1, x0) * (1 - fx) + corner(y0 + 1, x0 + 1) * fx
    return tf.reshape(top * (1 - fy) + bottom * fy, tf.shape(images))


def apply_transforms(images: tf.Tensor, transforms: tuple, seed: tf.Tensor) -> tf.Tensor:
    """``images`` ``(N, H, W, C)`` under the composed random ``transforms`` drawn from ``seed`` ``(2,)``.

    The transforms apply in the order given, in one resampling; transform ``i`` draws from ``seed``
    folded with ``i``. No transforms: ``images`` unchanged.
    """
    if not transforms:
        return images
    n = images.shape[0]
    matrix = tf.eye(3, batch_shape=[n])
    for i, transform in enumerate(transforms):  # output -> input maps compose as A_1 @ A_2 @ ...
        matrix = matrix @ transform.matrices(n, tf.random.experimental.stateless_fold_in(seed, i))
    fills = [transform.fill for transform in transforms if transform.fill is not None]
    return resample(images, matrix, fills[0] if fills else None)
