"""The public surface of introspect.saliency: names, argument checks shared by every method, 8-bit images,
the post-processing functions re-exported from introspect.maps."""
import warnings

import numpy as np
import pytest

import keras
from helpers import FAST_SALIENCY_PARAMS
from introspect import maps, saliency

#: Every name importable from introspect.saliency before it became a package.
PUBLIC_BEFORE = ["OUTPUTS", "METHODS", "last_conv_layer", "vanilla_gradient", "gradient_x_input", "smoothgrad",
                 "integrated_gradients", "guided_backprop", "grad_cam_weights", "grad_cam_plus_plus_weights",
                 "grad_cam", "grad_cam_plus_plus", "occlusion", "meaningful_perturbation", "reduce_channels",
                 "normalize_percentile", "gaussian_smooth"]


def test_public_names_keep_their_path():
    for name in PUBLIC_BEFORE:
        assert name in saliency.__all__, name
        assert getattr(saliency, name) is not None, name
    assert sorted(saliency.METHODS) == sorted(
        ["vanilla_gradient", "gradient_x_input", "smoothgrad", "integrated_gradients", "guided_backprop", "lrp",
         "grad_cam", "grad_cam_plus_plus", "hires_cam", "occlusion", "meaningful_perturbation"])
    assert saliency.OUTPUTS == ("logits", "softmax", "log_softmax")
    # One implementation of the numpy post-processing, in introspect.maps.
    assert saliency.reduce_channels is maps.reduce_channels
    assert saliency.normalize_percentile is maps.normalize_percentile
    assert saliency.gaussian_smooth is maps.gaussian_smooth


@pytest.mark.parametrize("name", sorted(saliency.METHODS))
def test_bad_input_raises_value_error_naming_the_argument(cnn, cnn_images, name):
    method = saliency.METHODS[name]
    params = FAST_SALIENCY_PARAMS.get(name, {})
    nan, inf = cnn_images.copy(), cnn_images.copy()
    nan[0, 3, 3, 0], inf[1, 0, 0, 0] = np.nan, np.inf
    cases = [
        (dict(images=cnn_images[0]), "images"),                                  # rank 3
        (dict(images=np.repeat(cnn_images, 3, axis=-1)), "images"),              # 3 channels, model wants 1
        (dict(images=nan), "images"), (dict(images=inf), "images"),
        (dict(targets=3), "targets"), (dict(targets=-1), "targets"),
        (dict(targets=[0, 1]), "targets"), (dict(targets=0.5), "targets"),
        (dict(foil=3), "foil"), (dict(output="probability"), "output"),
        (dict(batch_size=0), "batch_size"),
    ]
    for change, argument in cases:
        args = dict(images=cnn_images, targets=0, **params)
        args.update(change)
        with pytest.raises(ValueError, match=f"`{argument}`"):
            method(cnn, args.pop("images"), args.pop("targets"), **args)
    with pytest.raises(ValueError, match="`model`"):
        method("not a model", cnn_images, 0, **params)


@pytest.mark.parametrize("name", ["vanilla_gradient", "grad_cam", "occlusion"])
def test_8bit_images_warn_naming_the_range(cnn, cnn_images, name):
    method = saliency.METHODS[name]
    pixels = np.round(cnn_images * 255)
    for images in (pixels, pixels.astype(np.uint8)):
        with pytest.warns(saliency.PixelRangeWarning, match=r"`images`.*0-255.*\[0, 1\].*images / 255") as caught:
            method(cnn, images, 0)
        ours = [record for record in caught if record.category is saliency.PixelRangeWarning]
        assert len(ours) == 1 and ours[0].filename == __file__   # once, pointing at the caller's line
    # [0, 1], [-1, 1] and standardised images pass silently.
    with warnings.catch_warnings():
        warnings.simplefilter("error", saliency.PixelRangeWarning)
        for images in (cnn_images, 2 * cnn_images - 1, (cnn_images - cnn_images.mean()) / cnn_images.std()):
            method(cnn, images, 0)


def test_8bit_images_pass_silently_when_the_model_rescales_them(cnn, cnn_images):
    inputs = keras.Input((12, 12, 1))
    model = keras.Model(inputs, cnn(keras.layers.Rescaling(1 / 255)(inputs)))
    with warnings.catch_warnings():
        warnings.simplefilter("error", saliency.PixelRangeWarning)
        np.testing.assert_allclose(saliency.vanilla_gradient(model, cnn_images * 255, 0) * 255,
                                   saliency.vanilla_gradient(cnn, cnn_images, 0), rtol=1e-4, atol=1e-5)


def test_reduce_channels():
    values = np.array([[[[1.0, -3.0, 2.0]]]])
    assert saliency.reduce_channels(values).item() == 3.0
    assert saliency.reduce_channels(values, "sum").item() == 0.0
    np.testing.assert_allclose(saliency.reduce_channels(values, "l2").item(), np.sqrt(14.0), rtol=1e-6)
    with pytest.raises(ValueError, match="`maps`"):
        saliency.reduce_channels(values[0])
    with pytest.raises(ValueError, match="`method`"):
        saliency.reduce_channels(values, "max")


def test_normalize_percentile():
    values = np.stack([np.linspace(-2, 1, 31), np.linspace(0, 10, 31)]).reshape(2, 31, 1)
    signed = saliency.normalize_percentile(values, upper=100)
    np.testing.assert_allclose(signed[0, [0, 30, 20]].ravel(), [-1.0, 0.5, 0.0], atol=1e-6)
    assert signed[1].max() == 1.0
    magnitude = saliency.normalize_percentile(values, upper=90, lower=10)
    assert magnitude.min() == 0.0 and magnitude.max() == 1.0
    np.testing.assert_allclose(magnitude[1, 15, 0], 0.5, atol=1e-6)
    with pytest.raises(ValueError, match="`upper`"):
        saliency.normalize_percentile(values, upper=150)


def test_gaussian_smooth_keeps_sum_and_spreads_a_point():
    point = np.zeros((2, 15, 15), np.float32)
    point[:, 7, 7] = 1.0
    smooth = saliency.gaussian_smooth(point, 1.5)
    np.testing.assert_allclose(smooth.sum(axis=(1, 2)), 1.0, atol=1e-5)
    assert smooth[0, 7, 7] < 0.1 and smooth[0, 7, 8] > 0
    assert saliency.gaussian_smooth(point[..., None], 1.5).shape == (2, 15, 15, 1)
    with pytest.raises(ValueError, match="`sigma`"):
        saliency.gaussian_smooth(point, 0)
