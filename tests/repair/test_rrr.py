"""Right for the right reasons on a toy shortcut: a corner pixel that gives the label away."""
import numpy as np
import pytest

import keras
from introspect.repair import right_for_the_right_reasons


def corner_data(n: int, seed: int):
    """8x8 images: a noisy bar (horizontal for class 1, vertical for class 0) and a corner pixel equal to the label.

    The bar is the real signal (about 90% separable through the noise); the corner is a perfect shortcut.
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    images = rng.uniform(0, 0.6, size=(n, 8, 8, 1)).astype(np.float32)
    images[labels == 1, 4, 2:6, 0] += 0.25
    images[labels == 0, 2:6, 4, 0] += 0.25
    images[:, 0, 0, 0] = labels
    return np.clip(images, 0, 1), labels


def corner_mask(n: int) -> np.ndarray:
    mask = np.zeros((n, 8, 8), bool)
    mask[:, 0, 0] = True
    return mask


def flipped(images):
    out = images.copy()
    out[:, 0, 0, 0] = 1 - out[:, 0, 0, 0]
    return out


def mlp(seed: int = 0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Dense(32, activation="relu")(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, keras.layers.Dense(2)(x), name="mlp")


def accuracy(model, images, labels):
    return float(np.mean(model(images, training=False).numpy().argmax(axis=1) == labels))


@pytest.fixture(scope="module")
def data():
    return corner_data(600, seed=0), corner_data(400, seed=1)


TRAINING = dict(epochs=8, batch_size=32, learning_rate=3e-3, progress=False)


def test_rrr_ignores_the_masked_shortcut(data):
    (x, y), (x_test, y_test) = data
    model = mlp()
    before = [w.copy() for w in model.get_weights()]
    plain = right_for_the_right_reasons(model, x, y, corner_mask(len(x)), weight=0.0, **TRAINING)
    repaired = right_for_the_right_reasons(model, x, y, corner_mask(len(x)), weight=100.0, **TRAINING)
    plain_flipped, repaired_flipped = accuracy(plain, flipped(x_test), y_test), accuracy(repaired, flipped(x_test), y_test)
    print(f"flipped-corner accuracy: plain {plain_flipped:.3f}, RRR {repaired_flipped:.3f}; "
          f"clean: plain {accuracy(plain, x_test, y_test):.3f}, RRR {accuracy(repaired, x_test, y_test):.3f}")
    assert plain_flipped < 0.5      # plain training reads the corner (0.35 here)
    assert repaired_flipped > 0.8   # the repaired model reads the bars (0.89 here)
    assert accuracy(repaired, x_test, y_test) > 0.8
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)  # the user's model is untouched


def test_seeded_and_fine_tuning(data):
    (x, y), _ = data
    model = mlp()
    short = dict(TRAINING, epochs=1)
    first = right_for_the_right_reasons(model, x[:128], y[:128], corner_mask(128), seed=3, **short)
    second = right_for_the_right_reasons(model, x[:128], y[:128], corner_mask(128), seed=3, **short)
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)
    # Fine-tuning starts from the given weights: one tiny step stays close to them, from scratch does not.
    tuned = right_for_the_right_reasons(model, x[:32], y[:32], corner_mask(32), from_scratch=False,
                                        learning_rate=1e-6, **{k: v for k, v in short.items() if k != "learning_rate"})
    np.testing.assert_allclose(tuned.get_weights()[0], model.get_weights()[0], atol=1e-4)
    assert not np.allclose(first.get_weights()[0], model.get_weights()[0], atol=1e-2)


@pytest.mark.parametrize("kwargs, match", [({"masks": np.zeros((5, 8, 8), bool)}, "`masks`"),
                                           ({"masks": np.full((4, 8, 8), 0.5)}, "`masks`"),
                                           ({"weight": -1.0}, "`weight`"), ({"epochs": 0}, "`epochs`"),
                                           ({"labels": [0, 1, 2, 0]}, "`labels`"),
                                           ({"from_scratch": "yes"}, "`from_scratch`"),
                                           ({"builder": 3}, "`builder`")])
def test_bad_arguments(kwargs, match):
    x, y = corner_data(4, seed=0)
    arguments = dict(model=mlp(), images=x, labels=y, masks=corner_mask(4), progress=False) | kwargs
    with pytest.raises(ValueError, match=match):
        right_for_the_right_reasons(**arguments)
