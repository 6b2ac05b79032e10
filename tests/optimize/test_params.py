"""Parametrisations: images stay in [0, 1], inits round-trip, the Fourier basis is normalised, the registry."""
import numpy as np
import pytest
import tensorflow as tf

from helpers import linear_model
from introspect import optimize as opt
from introspect.optimize.params import Parametrisation

RUN = dict(progress=False)


@pytest.mark.parametrize("param", opt.PARAMS)
def test_outputs_stay_in_the_unit_interval(tiny, tiny_rgb, param):
    transforms = (opt.jitter(2), opt.random_scale((0.8, 1.2)), opt.random_rotation(20))
    # "maco" is RGB only and has no blur (its magnitude spectrum is fixed)
    model, blur = (tiny_rgb, ()) if param == "maco" else (tiny, (opt.blur(1.0, every=3),))
    result = opt.optimize(model, opt.class_logit(np.arange(3)), "noise", steps=15, learning_rate=1.0, param=param,
                          transforms=transforms, regularizers=blur, snapshots=(0, 7, 15), **RUN)
    for images in (result.images, *result.snapshots.values()):
        assert images.dtype == np.float32 and images.min() >= 0.0 and images.max() <= 1.0
    assert sorted(result.snapshots) == [0, 7, 15]
    np.testing.assert_array_equal(result.snapshots[15], result.images)


@pytest.mark.parametrize("param", ["sigmoid", "fourier"])
def test_init_image_round_trips_through_the_parametrisation(tiny, tiny_rgb, fashion_images, param):
    gray = fashion_images[0][:4]  # real Fashion-MNIST: many pixels exactly 0
    rgb = np.random.default_rng(0).uniform(size=(2, 15, 17, 3)).astype(np.float32)  # odd height and width
    for model, images in ((tiny, gray), (tiny_rgb, rgb)):
        result = opt.optimize(model, opt.class_logit(0), images, steps=1, param=param, snapshots=(0,), **RUN)
        # Saturated pixels are represented at eps = 1e-3 from 0 or 1: below half an 8-bit grey level.
        np.testing.assert_allclose(result.snapshots[0], images, atol=1.01e-3)
        assert not np.allclose(result.images, images, atol=1e-3)  # and then the step does move it


def test_fourier_scale_gives_unit_pixel_variance_for_a_white_spectrum():
    rng = np.random.default_rng(0)
    scale = opt.fourier_scale(28, 28)
    spectrum = rng.normal(size=(500, 28, 15)) + 1j * rng.normal(size=(500, 28, 15))
    pixels = np.fft.irfft2(spectrum * scale, s=(28, 28))
    assert pixels.std() == pytest.approx(1.0, rel=0.05)
    assert scale[0, 0] == scale.max() and scale[14, 14] == scale.min()  # 1/f: lowest frequency largest


def test_color_basis_is_invertible_and_luminance_first():
    basis = opt.color_basis(3)
    np.testing.assert_allclose(basis[:, 0], basis[0, 0])  # first decorrelated channel moves R, G, B together
    np.testing.assert_allclose(np.linalg.norm(basis, axis=0), np.sqrt([1, 0.0188 / 0.2175, 0.0045 / 0.2175]),
                               rtol=1e-5)
    np.testing.assert_array_equal(opt.color_basis(1), np.eye(1))


def test_default_learning_rates_come_from_the_registry():
    assert opt.PARAMS == tuple(opt.PARAMETRISATIONS) == ("clip", "sigmoid", "fourier", "maco")
    assert opt.DEFAULT_LEARNING_RATE == {"clip": 0.05, "sigmoid": 0.1, "fourier": 0.05, "maco": 0.05}


class _Doubled(Parametrisation):
    """image = v / 2 with v in [0, 2]: a parametrisation defined outside the package."""

    default_learning_rate = 0.2

    def __init__(self, images):
        self.variables = [tf.Variable(2 * images)]

    def image(self):
        return self.variables[0] / 2

    def project(self):
        self.variables[0].assign(tf.clip_by_value(self.variables[0], 0.0, 2.0))


def test_a_registered_parametrisation_is_one_registry_line(monkeypatch):
    model = linear_model(np.random.default_rng(0).normal(size=(5, 5, 1, 2)))  # gradients of order 1, not eps
    with pytest.raises(ValueError, match="`param`"):
        opt.optimize(model, opt.class_logit(0), steps=2, param="doubled", **RUN)
    monkeypatch.setitem(opt.PARAMETRISATIONS, "doubled", _Doubled)
    doubled = opt.optimize(model, opt.class_logit(0), "noise", steps=3, param="doubled", snapshots=(0,), **RUN)
    # Adam ignores the gradient's scale, so steps on 2x the pixels move the image at half the rate
    clip = opt.optimize(model, opt.class_logit(0), "noise", steps=3, param="clip", learning_rate=0.1, **RUN)
    np.testing.assert_allclose(doubled.images, clip.images, atol=1e-6)
    assert np.abs(doubled.images - doubled.snapshots[0]).max() > 0.2  # three steps of 0.1 were taken
