"""Tests of introspect.metrics.roar: pixel removal and RemOve And Retrain on a tiny Fashion CNN, and the
mask-only leak test of introspect.metrics.roar_seeds."""
import numpy as np
import pytest

from helpers import rng_images, tape_gradient
from introspect import metrics, models
from introspect.metrics.roar_seeds import mask_only_runs, removal_mask_images


def test_remove_pixels_replaces_exactly_the_top_fraction_by_the_image_mean():
    images = rng_images(3, (5, 4, 2))
    maps = rng_images(3, (5, 4), seed=9) - 0.5
    before = images.copy()
    out = metrics.remove_pixels(images, maps, 0.25)
    np.testing.assert_array_equal(images, before)
    changed = (out != images).any(-1)
    assert changed.sum(axis=(1, 2)).tolist() == [5, 5, 5]
    top = np.argsort(-np.abs(maps).reshape(3, -1), axis=1)[:, :5]
    for i in range(3):
        assert set(np.flatnonzero(changed[i])) == set(top[i])
        np.testing.assert_allclose(out[i][changed[i]], np.broadcast_to(images[i].mean((0, 1)), (5, 2)), rtol=1e-6)
    np.testing.assert_array_equal(metrics.remove_pixels(images, maps, 0.0), images)


@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5, 0.9, 1.0])
def test_removal_mask_holds_the_rounded_share_of_pixels_and_is_what_remove_pixels_changes(fraction):
    images = rng_images(4, (28, 28, 1))
    maps = rng_images(4, (28, 28), seed=3) - 0.5
    mask = metrics.removal_mask(maps, fraction)
    assert mask.shape == (4, 28, 28) and mask.dtype == bool
    assert mask.sum(axis=(1, 2)).tolist() == [round(fraction * 28 * 28)] * 4
    changed = (metrics.remove_pixels(images, maps, fraction) != images).any(-1)
    np.testing.assert_array_equal(changed, mask)
    as_input = removal_mask_images(images, maps, fraction)
    assert as_input.shape == images.shape and as_input.dtype == np.float32
    np.testing.assert_array_equal(as_input[..., 0], mask.astype(np.float32))  # 1.0 removed, 0.0 kept, no pixel values


def test_removal_mask_images_repeats_the_mask_on_every_channel_and_checks_the_maps():
    images = rng_images(2, (6, 6, 3))
    out = removal_mask_images(images, rng_images(2, (6, 6), seed=4), 0.5)
    assert out.shape == (2, 6, 6, 3) and (out == out[..., :1]).all() and out.sum() == 2 * 18 * 3
    with pytest.raises(ValueError, match="`maps` has shape"):
        removal_mask_images(images, rng_images(2, (5, 6)), 0.5)


def _quadrant_data(n: int, seed: int):
    """8 x 8 images of 4 classes: faint noise, and the quadrant of the label at 1.0."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 4
    images = rng.uniform(0, 0.1, (n, 8, 8, 1)).astype(np.float32)
    for label, (row, col) in enumerate([(0, 0), (0, 4), (4, 0), (4, 4)]):
        images[labels == label, row:row + 4, col:col + 4] = 1.0
    return images, labels


@pytest.mark.slow
def test_mask_only_runs_read_the_class_from_a_mask_that_encodes_it_and_not_from_a_random_one():
    def builder():
        return models.build_fashion_cnn(input_shape=(8, 8, 1), num_classes=4, width=4, seed=None)

    def brightest(model, images, targets, **_):
        return images.sum(axis=-1)

    x, y = _quadrant_data(240, seed=0)
    x_test, y_test = _quadrant_data(120, seed=1)
    # with a quarter of the pixels removed the brightest order removes exactly the label's quadrant
    np.testing.assert_array_equal(metrics.removal_mask(brightest(None, x, None), 0.25),
                                  x[..., 0] == 1.0)
    seen = []
    table = mask_only_runs(builder(), {"brightest": brightest}, x, y, x_test, y_test, fractions=(0.25,), seeds=(0,),
                           builder=builder, epochs=6, train_params={"batch_size": 16}, on_result=seen.append)
    assert len(table) == len(seen) == 2 and (table["input"] == "masks").all() and (table["fraction"] == 0.25).all()
    accuracy = table.set_index("method")["accuracy"]
    assert accuracy["brightest"] >= 0.9  # the mask is the label
    assert accuracy["random"] <= 0.45  # chance is 0.25: a random mask says nothing about the image


def test_remove_pixels_signed_order_takes_the_largest_values_not_magnitudes():
    images = rng_images(1, (2, 2, 1))
    maps = np.array([[[-5.0, 1.0], [0.0, 2.0]]])
    signed = metrics.remove_pixels(images, maps, 0.25, absolute=False)
    magnitude = metrics.remove_pixels(images, maps, 0.25)
    assert (signed != images)[0, :, :, 0].tolist() == [[False, False], [False, True]]
    assert (magnitude != images)[0, :, :, 0].tolist() == [[True, False], [False, False]]


def test_remove_pixels_rejects_bad_input():
    images, maps = rng_images(2, (4, 4, 1)), rng_images(2, (4, 4))
    with pytest.raises(ValueError, match="`fraction`"):
        metrics.remove_pixels(images, maps, 1.5)
    with pytest.raises(ValueError, match="`maps` holds 1 maps"):
        metrics.remove_pixels(images, maps[:1], 0.5)


@pytest.mark.slow
def test_roar_with_nothing_removed_equals_a_normally_trained_model(trained, fashion, tiny_cnn):
    x, y, x_test, y_test = fashion
    # the `trained` fixture is the normally trained model: set_seed(0), tiny_cnn(), train(seed=0, epochs=2)
    result = metrics.roar(trained, {"gradient": tape_gradient}, x, y, x_test, y_test, fractions=(0.0, 1.0),
                          builder=tiny_cnn, epochs=2, seed=0)
    np.testing.assert_array_equal(result.train_indices, np.arange(len(x)))
    np.testing.assert_allclose(result.fractions, [0.0, 1.0])
    assert set(result.accuracy) == {"gradient", "random"}
    expected = models.accuracy(trained, x_test, y_test)
    for accuracy in result.accuracy.values():
        assert accuracy[0] == expected
    # with every pixel removed the order no longer matters: identical data, identical training
    assert result.accuracy["gradient"][-1] == result.accuracy["random"][-1]
    assert len(result.as_table()) == 4
    assert result.as_table()[1] == {"method": "gradient", "fraction_removed": 1.0,
                                    "accuracy": float(result.accuracy["gradient"][-1])}


@pytest.mark.slow
def test_roar_takes_stratified_subsets_of_the_requested_size(trained, fashion, tiny_cnn):
    x, y, x_test, y_test = fashion
    result = metrics.roar(trained, tape_gradient, x, y, x_test, y_test, fractions=0.5, builder=tiny_cnn,
                          epochs=1, train_size=100, test_size=50, random_reference=False)
    assert set(result.accuracy) == {"tape_gradient"} and result.accuracy["tape_gradient"].shape == (2,)
    assert len(result.train_indices) == 100 and len(result.test_indices) == 50
    assert len(np.unique(result.train_indices)) == 100
    # stratified: every class of the 400 training images is represented
    assert set(y[result.train_indices].tolist()) == set(y.tolist())


@pytest.mark.slow
def test_roar_validates_arguments(trained, fashion):
    x, y, x_test, y_test = fashion
    with pytest.raises(ValueError, match="`fractions`"):
        metrics.roar(trained, tape_gradient, x, y, x_test, y_test, fractions=(0.5, 1.5))
    with pytest.raises(ValueError, match="`methods` may not use the name 'random'"):
        metrics.roar(trained, {"random": tape_gradient}, x, y, x_test, y_test)
    with pytest.raises(ValueError, match="`methods` must be a callable or a mapping"):
        metrics.roar(trained, [tape_gradient], x, y, x_test, y_test)
    with pytest.raises(ValueError, match="`y_train`"):
        metrics.roar(trained, tape_gradient, x, y[:-1], x_test, y_test)
    with pytest.raises(ValueError, match="`method` must be a callable"):
        metrics.roar(trained, {"gradient": "not a method"}, x, y, x_test, y_test)
