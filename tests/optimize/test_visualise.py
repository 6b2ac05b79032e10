"""Class visualisations through a decoder prior: one image per class, valid pixels, the class score rises."""
import numpy as np
import pytest

from introspect import companions, models
from introspect import optimize as opt


@pytest.fixture(scope="module")
def halves():
    _, encoder, decoder = companions.build_autoencoder(seed=0)
    return encoder, decoder


def test_decoder_param_represents_images_inside_the_latent_slice(halves, fashion_images):
    encoder, decoder = halves
    x = fashion_images[0][:12]
    factory = opt.decoder_param(encoder, decoder, x, components=4, bound=3.0)
    param = factory(x[:3])
    image = param.image().numpy()
    assert image.shape == (3, 28, 28, 1) and image.min() >= 0 and image.max() <= 1
    assert param.variables[0].shape == (3, 4)
    assert factory.default_learning_rate > 0
    with pytest.raises(ValueError, match="`components`"):
        opt.decoder_param(encoder, decoder, x, components=50)


def test_visualise_classes_with_a_prior_raises_each_class_score(tiny, halves, fashion_images):
    classes = np.array([0, 3, 7])
    result = opt.visualise_classes(tiny, classes, steps=12, prior=halves, reference_images=fashion_images[0],
                                   components=4, transforms=())
    assert result.images.shape == (3, 28, 28, 1)
    assert result.images.min() >= 0 and result.images.max() <= 1
    assert np.all(result.objective[-1] > result.objective[0])


def test_visualise_classes_without_prior_is_the_default_recipe(tiny):
    result = opt.visualise_classes(tiny, steps=4, seed=3)
    recipe = opt.RECIPES[opt.FALLBACK_RECIPE]  # a grey model: "maco" needs RGB
    again = opt.optimize(tiny, opt.class_logit(np.arange(10)), recipe.start(10, (28, 28, 1), seed=3), steps=4,
                         param=recipe.param, transforms=recipe.transforms(28), learning_rate=recipe.learning_rate,
                         seed=3, progress=False)
    np.testing.assert_allclose(result.images, again.images, atol=1e-6)


def test_visualise_classes_rejects_bad_arguments(tiny, halves):
    with pytest.raises(ValueError, match="`classes`"):
        opt.visualise_classes(tiny, [0, 10], steps=2)
    with pytest.raises(ValueError, match="`reference_images`"):
        opt.visualise_classes(tiny, steps=2, prior=halves)
    with pytest.raises(ValueError, match="`objective`"):
        opt.visualise_classes(tiny, steps=2, objective="entropy")


def test_shipped_companions_are_accurate_and_small():
    from introspect.data import load_fashion_mnist

    _, (x, y) = load_fashion_mnist(limit=1000, seed=0)
    assert models.accuracy(companions.load_judge(), x, y) > 0.85
    autoencoder, _, _ = companions.load_autoencoder()
    assert float(np.mean((np.asarray(autoencoder(x[:200], training=False)) - x[:200]) ** 2)) < 0.02
    assert (models.MODELS_DIR / companions.JUDGE_WEIGHTS).stat().st_size < 2_000_000
    with pytest.raises(ValueError, match="`name`"):
        companions.record("fashion_cnn")
