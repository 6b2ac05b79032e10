"""SmoothGrad, SmoothGrad² and VarGrad: limits, consistency, tf-explain, bad parameters."""
import numpy as np
import pytest

import keras
from introspect import saliency


def test_smoothgrad_without_noise_is_the_gradient(cnn, cnn_images):
    gradient = saliency.vanilla_gradient(cnn, cnn_images, 1)
    kwargs = dict(n_samples=3, noise_level=0.0)
    np.testing.assert_allclose(saliency.smoothgrad(cnn, cnn_images, 1, **kwargs), gradient, atol=1e-6)
    np.testing.assert_allclose(saliency.smoothgrad(cnn, cnn_images, 1, variant="squared", **kwargs), gradient ** 2,
                               atol=1e-7)
    np.testing.assert_allclose(saliency.smoothgrad(cnn, cnn_images, 1, variant="var", **kwargs), 0.0, atol=1e-7)


def test_smoothgrad_variants_are_consistent(cnn, cnn_images):
    kwargs = dict(n_samples=9, noise_level=0.2, seed=4)
    mean = saliency.smoothgrad(cnn, cnn_images, 0, **kwargs)
    squared = saliency.smoothgrad(cnn, cnn_images, 0, variant="squared", **kwargs)
    var = saliency.smoothgrad(cnn, cnn_images, 0, variant="var", **kwargs)
    np.testing.assert_allclose(var, squared - mean ** 2, atol=1e-6)
    assert var.max() > 0
    assert not np.allclose(mean, saliency.smoothgrad(cnn, cnn_images, 0, **{**kwargs, "seed": 5}))


def test_smoothgrad_matches_tf_explain(cnn, cnn_images):
    # tf-explain differentiates the cross-entropy -log p[c] of a softmax model; we explain
    # log p[c] of the logit model, with the same noise.
    from tf_explain.core.smoothgrad import SmoothGrad

    n_samples = 4
    probabilities = keras.Model(cnn.inputs, keras.layers.Softmax()(cnn.outputs[0]))
    np.random.seed(11)
    noisy = SmoothGrad.generate_noisy_images(cnn_images, n_samples, 0.1)
    theirs = SmoothGrad.get_averaged_gradients(noisy, probabilities, 0, n_samples).numpy()
    noise = noisy.reshape(len(cnn_images), n_samples, *cnn_images.shape[1:]) - cnn_images[:, None]
    ours = saliency.smoothgrad(cnn, cnn_images, 0, output="log_softmax", n_samples=n_samples, noise=noise)
    np.testing.assert_allclose(ours, -theirs, atol=1e-5)


@pytest.mark.parametrize("params, argument", [
    (dict(n_samples=0), "n_samples"), (dict(n_samples=-2), "n_samples"), (dict(noise_level=-0.1), "noise_level"),
    (dict(variant="median"), "variant"), (dict(n_samples=2, noise=np.zeros((1, 2, 12, 12, 1))), "noise"),
    (dict(seed=-1), "seed"),
])
def test_bad_parameters(cnn, cnn_images, params, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        saliency.smoothgrad(cnn, cnn_images, 0, **params)
