"""Dataset examples and receptive-field crops: the ranking is the channel's mean activation, crops are exact."""
import keras
import numpy as np
import pytest

from introspect import optimize as opt


def test_dataset_examples_rank_images_by_mean_channel_activation(tiny, fashion_images):
    x = fashion_images[0]
    examples = opt.dataset_examples(tiny, "relu2", [0, 3], x, k=4)
    activation = np.asarray(keras.Model(tiny.inputs[0], tiny.get_layer("relu2").output)(x, training=False))
    for row, channel in enumerate((0, 3)):
        mean = activation[..., channel].mean(axis=(1, 2))
        np.testing.assert_array_equal(examples.indices[row], np.argsort(-mean, kind="stable")[:4])
        np.testing.assert_allclose(examples.activations[row], mean[examples.indices[row]], rtol=1e-5)
        for j, index in enumerate(examples.indices[row]):
            y, x_ = examples.positions[row, j]
            assert activation[index, y, x_, channel] == activation[index, ..., channel].max()


def test_receptive_field_of_relu1_is_three_pixels(tiny, fashion_images):
    x = fashion_images[0]
    examples = opt.dataset_examples(tiny, "relu1", [1], x, k=3)
    crops = opt.receptive_field_crops(tiny, "relu1", examples, x)
    assert crops.shape[:2] == (1, 3) and crops.shape[2] <= 3 and crops.shape[3] <= 3


def test_dataset_examples_reject_bad_arguments(tiny, fashion_images):
    x = fashion_images[0]
    with pytest.raises(ValueError, match="`channels`"):
        opt.dataset_examples(tiny, "relu2", [99], x)
    with pytest.raises(ValueError, match="`k`"):
        opt.dataset_examples(tiny, "relu2", [0], x, k=100)
    with pytest.raises(ValueError, match="`layer`"):
        opt.dataset_examples(tiny, "dense", [0], x)
