"""The named recipes ("pixels", "fourier", "maco"), their pieces, and the photo statistics."""
import time

import numpy as np
import pytest

from introspect import optimize as opt
from introspect.optimize import params

from helpers import tiny_fashion_cnn


@pytest.fixture(scope="module")
def toy():
    """An untrained 32x32 RGB CNN (the shipped layout at width 4)."""
    return tiny_fashion_cnn(input_shape=(32, 32, 3), seed=2)


def test_maco_keeps_the_natural_magnitude_while_the_phase_moves(toy):
    start = opt.recipes.noise_start(3, (32, 32, 3), seed=1)
    parametrisation = params.PARAMETRISATIONS["maco"](start)
    phase_before = parametrisation.variables[0].numpy().copy()
    factory = params.PARAMETRISATIONS["maco"]
    kept = {}

    def recording(images):
        kept["param"] = factory(images)
        return kept["param"]

    recording.default_learning_rate = factory.default_learning_rate
    result = opt.optimize(toy, opt.class_logit(np.array([0, 4, 9])), start, param=recording, steps=20,
                          learning_rate=0.2, progress=False)
    spectrum = kept["param"].spectrum().numpy()
    natural = opt.natural_magnitude(32, 32)[None]
    nonzero = natural > 0
    nonzero = np.broadcast_to(nonzero, spectrum.shape)
    relative = np.abs(spectrum)[nonzero] / np.broadcast_to(natural, spectrum.shape)[nonzero] - 1
    assert np.abs(relative).max() <= 1e-5
    assert np.abs(kept["param"].variables[0].numpy() - phase_before).max() > 0.1  # the phase did move
    assert result.objective[-1].mean() > result.objective[0].mean()
    # the pixels have a photo's contrast whatever the phase (standardised before the sigmoid)
    assert 0.15 < result.images.std() < 0.3


def test_fourier_start_is_near_grey_and_not_constant():
    images = opt.fourier_start(4, (224, 224, 3), seed=0)
    assert images.std() < 0.02 and images.std() > 0
    assert abs(images.mean() - 0.5) < 0.01
    # the "fourier" parametrisation represents it (it is the recipe's start)
    np.testing.assert_allclose(params.PARAMETRISATIONS["fourier"](images).image().numpy(), images, atol=1e-5)


def test_pad_shrinks_the_image_into_a_constant_frame():
    image = np.ones((1, 32, 32, 1), np.float32)
    framed = opt.pad(4, 0.5, size=32)(image).numpy()[0, ..., 0]
    assert framed[16, 16] == pytest.approx(1.0) and framed[0, 0] == pytest.approx(0.5)
    assert framed[16, 2] == pytest.approx(0.5) and framed[16, 5] == pytest.approx(1.0)
    assert [repr(t) for t in opt.lucid_transforms(224)][:2] == ["pad(12, 0.5)", "jitter(8)"]
    assert [repr(t) for t in opt.lucid_transforms(28)][:2] == ["pad(2, 0.5)", "jitter(1)"]


@pytest.mark.parametrize("recipe", sorted(opt.RECIPES))
def test_every_recipe_visualises_a_toy_model_in_seconds(toy, recipe):
    start = time.perf_counter()
    result = opt.visualise_classes(toy, np.array([1, 5]), recipe=recipe, steps=16, seed=0)
    channels = opt.visualise_channels(toy, "conv2", [0, 3], recipe=recipe, steps=16, seed=0)
    assert time.perf_counter() - start < 30
    for r in (result, channels):
        assert r.images.shape == (2, 32, 32, 3) and 0 <= r.images.min() and r.images.max() <= 1
        assert np.all(r.objective[-1] > r.objective[0])


def test_the_default_is_maco_for_rgb_and_fourier_otherwise(toy):
    assert opt.default_recipe(toy) == opt.DEFAULT_RECIPE == "maco"
    assert opt.default_recipe(tiny_fashion_cnn()) == opt.FALLBACK_RECIPE == "fourier"
    start = opt.RECIPES["maco"].start(1, (32, 32, 3), seed=0)
    default = opt.visualise_classes(toy, [2], steps=3).images
    np.testing.assert_allclose(default, opt.optimize(toy, opt.class_logit(np.array([2])), start, param="maco", steps=3,
                                                     transforms=opt.lucid_transforms(32), progress=False).images,
                               atol=1e-6)


def test_recipe_errors_name_the_argument(toy):
    with pytest.raises(ValueError, match="`recipe` must be one of"):
        opt.visualise_classes(toy, [0], recipe="deepdream", steps=2)
    encoder, decoder = object(), object()
    with pytest.raises(ValueError, match="`recipe` .* and `prior` exclude each other"):
        opt.visualise_classes(toy, [0], recipe="fourier", prior=(encoder, decoder), steps=2)
    with pytest.raises(ValueError, match="`param` 'maco' needs RGB"):
        opt.visualise_classes(tiny_fashion_cnn(), [0], recipe="maco", steps=2)
    with pytest.raises(ValueError, match="`channels`"):
        opt.visualise_channels(toy, "conv2", [[0]], steps=2)


def test_image_statistics_separate_noise_from_smooth_images():
    rng = np.random.default_rng(0)
    noise = rng.random((2, 64, 64, 3)).astype(np.float32)
    grey = np.repeat(noise.mean(axis=-1, keepdims=True), 3, axis=-1)
    smooth = np.cumsum(np.cumsum(rng.normal(size=(2, 64, 64, 1)), 1), 2)
    smooth = np.repeat((smooth - smooth.min()) / np.ptp(smooth), 3, axis=-1).astype(np.float32)
    stats = {name: opt.image_statistics(x) for name, x in [("noise", noise), ("grey", grey), ("smooth", smooth)]}
    assert np.all(stats["grey"]["saturation"] == 0) and np.all(stats["noise"]["saturation"] > 0.4)
    assert np.all(np.abs(stats["noise"]["spectrum_slope"]) < 0.3)   # white noise: flat spectrum
    assert np.all(stats["smooth"]["spectrum_slope"] < -3)            # integrated twice: about 1/f^4
    assert stats["noise"]["pixel_std"] == pytest.approx(np.sqrt(1 / 12), abs=0.01)


def test_the_shipped_spectrum_is_the_packaged_photos(tmp_path):
    from introspect.optimize import spectrum

    table = spectrum.write_natural_spectrum(tmp_path / "spectrum.npy")
    np.testing.assert_allclose(np.load(spectrum.SPECTRUM_FILE), table, rtol=1e-5)
    assert table.shape == (4, 64) and np.all(np.diff(np.log(table[1, 2:40])) < 0.1)  # falls with frequency


def test_layer_activation_is_deepdreams_objective_and_rises(toy):
    result = opt.run_recipe(toy, opt.layer_activation("conv2"), recipe="fourier", n=2, steps=12)
    assert result.objective.shape == (13, 2) and np.all(result.objective[-1] > result.objective[0])
    with pytest.raises(ValueError, match="`layer`"):
        opt.layer_activation(3)


def test_unseen_views_flip_exactly_and_the_judge_ranks_targets(toy):
    from introspect.optimize import photo_study

    images = np.random.default_rng(0).random((3, 32, 32, 3), dtype=np.float32)
    views = photo_study.unseen_views(images)
    assert views.shape == (len(photo_study.UNSEEN), 3, 32, 32, 3)
    np.testing.assert_allclose(views[0], images[:, :, ::-1], atol=1e-5)          # "flip"
    logits = toy(images, training=False).numpy()
    classes = np.argsort(-logits, axis=1)[:, [0, 3, 7]].diagonal()               # ranks 0, 3, 7
    verdicts = photo_study.judge_verdicts(toy, images, classes)
    assert verdicts["rank"].tolist() == [0, 3, 7] and verdicts["top5"].tolist() == [True, True, False]
    low, high = photo_study.wilson_interval(20, 20)
    assert high == pytest.approx(1.0) and low == pytest.approx(0.839, abs=1e-3)
