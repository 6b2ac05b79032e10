"""Right for the right reasons on a toy shortcut: a corner pixel that gives the label away."""
import numpy as np
import pytest

import keras
from introspect.repair import inpaint, right_for_the_right_reasons


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
    plain = right_for_the_right_reasons(model, x, y, corner_mask(len(x)), weight=0.0, counterexamples=None,
                                        **TRAINING)
    repaired = right_for_the_right_reasons(model, x, y, corner_mask(len(x)), weight=100.0, counterexamples=None,
                                           **TRAINING)
    plain_flipped, repaired_flipped = accuracy(plain, flipped(x_test), y_test), accuracy(repaired, flipped(x_test), y_test)
    print(f"flipped-corner accuracy: plain {plain_flipped:.3f}, RRR {repaired_flipped:.3f}; "
          f"clean: plain {accuracy(plain, x_test, y_test):.3f}, RRR {accuracy(repaired, x_test, y_test):.3f}")
    assert plain_flipped < 0.5      # plain training reads the corner (0.35 here)
    assert repaired_flipped > 0.8   # the repaired model reads the bars (0.89 here)
    assert accuracy(repaired, x_test, y_test) > 0.8
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)  # the user's model is untouched


def test_the_defaults_repair_the_shortcut(data):
    (x, y), (x_test, y_test) = data
    repaired = right_for_the_right_reasons(mlp(), x, y, corner_mask(len(x)), **TRAINING)
    log = repaired.rrr_log
    print(f"defaults: weight {log.weight:.3g}, "
          f"flipped-corner accuracy {accuracy(repaired, flipped(x_test), y_test):.3f}")
    assert log.rule == "auto" and np.isfinite(log.weight) and log.weight > 0
    assert log.n_counterexamples == len(x)                 # every image has the corner masked
    assert accuracy(repaired, flipped(x_test), y_test) > 0.8
    assert accuracy(repaired, x_test, y_test) > 0.8


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
                                           ({"weight": -1.0}, "`weight`"), ({"weight": "large"}, "`weight`"),
                                           ({"weight": np.nan}, "`weight`"), ({"weight": None}, "`weight`"),
                                           ({"counterexamples": "blur"}, "`counterexamples`"),
                                           ({"counterexamples": 3}, "`counterexamples`"),
                                           ({"counterexamples": ("inpaint", "swap")}, "`counterexamples`"),
                                           ({"counterexamples": []}, "`counterexamples`"),
                                           ({"counterexamples": "transplant", "labels": [1, 1, 1, 1]},
                                            "`counterexamples`"),
                                           ({"counterexamples": lambda images, masks: images[:1]},
                                            "`counterexamples`"),
                                           ({"counterexamples": lambda images, masks: images * np.nan},
                                            "`counterexamples`"),
                                           ({"epochs": 0}, "`epochs`"),
                                           ({"labels": [0, 1, 2, 0]}, "`labels`"),
                                           ({"from_scratch": "yes"}, "`from_scratch`"),
                                           ({"builder": 3}, "`builder`")])
def test_bad_arguments(kwargs, match):
    x, y = corner_data(4, seed=0)
    arguments = dict(model=mlp(), images=x, labels=y, masks=corner_mask(4), progress=False) | kwargs
    with pytest.raises(ValueError, match=match):
        right_for_the_right_reasons(**arguments)


SHORT = dict(epochs=1, batch_size=8, progress=False)


def some_masks(n: int) -> np.ndarray:
    """The corner pixel masked on every other image, a 2x2 block on every third; the rest unmasked."""
    masks = np.zeros((n, 8, 8), bool)
    masks[::2, 0, 0] = True
    masks[::3, 5:7, 5:7] = True
    return masks


def assert_same_weights(first, second):
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_counterexamples_are_the_masked_images_inpainted_and_appended():
    x, y = corner_data(24, seed=2)
    masks = some_masks(24)
    masked = masks.reshape(24, -1).any(axis=1)
    model = mlp()
    default = right_for_the_right_reasons(model, x, y, masks, weight=1.0, **SHORT)
    assert default.rrr_log.n_counterexamples == masked.sum() == 16
    # Training on the grown set by hand, without the library's counterexamples, gives the same model.
    grown = (np.concatenate([x, inpaint(x[masked], masks[masked])]), np.concatenate([y, y[masked]]),
             np.concatenate([masks, masks[masked]]))
    by_hand = right_for_the_right_reasons(model, *grown, weight=1.0, counterexamples=None, **SHORT)
    assert by_hand.rrr_log.n_counterexamples == 0
    assert_same_weights(default, by_hand)
    plain = right_for_the_right_reasons(model, x, y, masks, weight=1.0, counterexamples=None, **SHORT)
    assert not np.allclose(plain.get_weights()[0], default.get_weights()[0])


def test_a_callable_fill_is_given_the_masked_images_and_used():
    x, y = corner_data(24, seed=3)
    masks = some_masks(24)
    masked = masks.reshape(24, -1).any(axis=1)
    calls = []

    def grey(images, image_masks):
        calls.append((images.copy(), image_masks.copy()))
        out = images.copy()
        out[image_masks] = 0.5
        return out

    model = mlp()
    repaired = right_for_the_right_reasons(model, x, y, masks, counterexamples=grey, weight=1.0, **SHORT)
    (images, image_masks), = calls
    np.testing.assert_array_equal(images, x[masked])
    np.testing.assert_array_equal(image_masks, masks[masked])
    filled = grey(x[masked], masks[masked])
    by_hand = right_for_the_right_reasons(model, np.concatenate([x, filled]), np.concatenate([y, y[masked]]),
                                          np.concatenate([masks, masks[masked]]), counterexamples=None,
                                          weight=1.0, **SHORT)
    assert_same_weights(repaired, by_hand)


def test_transplant_pastes_the_masked_pixels_into_another_class_and_both_kinds_add_up():
    x, y = corner_data(24, seed=4)
    masks = some_masks(24)
    masked = np.flatnonzero(masks.reshape(24, -1).any(axis=1))
    model = mlp()
    both = right_for_the_right_reasons(model, x, y, masks, counterexamples=["inpaint", "transplant"], weight=1.0,
                                       seed=3, **SHORT)
    assert both.rrr_log.n_counterexamples == 2 * len(masked)
    from introspect.repair.rrr import _add_counterexamples

    pasted, labels, pasted_masks = _add_counterexamples(x, y, masks, masks[..., None], "transplant", seed=3)
    np.testing.assert_array_equal(pasted_masks[..., 0], masks[masked])
    assert np.all(labels != y[masked])                                   # each host is of another class
    for p, m, label in zip(pasted, pasted_masks, labels):               # outside the mask: a host of that class
        assert np.any(np.all(np.where(m, p, x) == p, axis=(1, 2, 3)) & (y == label))
    inside = pasted_masks.astype(bool)
    np.testing.assert_array_equal(pasted[inside], x[masked][inside])    # inside the mask: the masked image's
    again, _, _ = _add_counterexamples(x, y, masks, masks[..., None], "transplant", seed=3)
    np.testing.assert_array_equal(again, pasted)                         # seeded


def pooled_model(seed: int = 0):
    """Global average pooling first: the input gradient is the same at every pixel; the penalty grows with the area."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 1))
    hidden = keras.layers.Dense(8, activation="tanh")(keras.layers.GlobalAveragePooling2D()(inputs))
    return keras.Model(inputs, keras.layers.Dense(3)(hidden), name="pooled")


def test_auto_weight_halves_when_the_penalty_doubles():
    x, y = corner_data(40, seed=4)
    y = y + (np.arange(40) % 3 == 0)                        # three classes
    small, large = np.zeros((40, 8, 8), bool), np.zeros((40, 8, 8), bool)
    small[:, 2:4, 2:4] = True                               # 4 pixels
    large[:, 2:4, 2:6] = True                               # 8 pixels with the same gradient: twice the penalty
    model = pooled_model()
    first, second = (right_for_the_right_reasons(model, x, y, m, counterexamples=None, **SHORT).rrr_log
                     for m in (small, large))
    assert np.isfinite(first.weight) and first.weight > 0 and first.rule == "auto"
    np.testing.assert_allclose(second.start_cross_entropy, first.start_cross_entropy, rtol=1e-6)
    np.testing.assert_allclose(second.start_penalty_scale, 2 * first.start_penalty_scale, rtol=1e-4)
    np.testing.assert_allclose(second.weight, first.weight / 2, rtol=1e-4)
    np.testing.assert_allclose(first.weight, first.start_cross_entropy / first.start_penalty_scale, rtol=1e-6)


def test_auto_weight_is_measured_on_the_trained_model_and_leaves_it_as_it_was():
    x, y = corner_data(32, seed=5)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    hidden = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    hidden = keras.layers.BatchNormalization(momentum=0.5)(hidden)   # training-mode calls move its statistics
    hidden = keras.layers.Flatten()(keras.layers.ReLU()(hidden))
    model = keras.Model(inputs, keras.layers.Dense(2)(hidden))
    model.set_weights([w * 50 for w in model.get_weights()])        # a given model far from a fresh one
    masks = corner_mask(32)
    scratch = right_for_the_right_reasons(model, x, y, masks, counterexamples=None, **SHORT)
    tuned = right_for_the_right_reasons(model, x, y, masks, counterexamples=None, from_scratch=False, **SHORT)
    assert scratch.rrr_log.weight > 100 * tuned.rrr_log.weight     # the fresh copy's scale, not the given model's
    # Measuring changes nothing: "auto" trains exactly as the number it chose.
    for auto in (scratch, tuned):
        again = right_for_the_right_reasons(model, x, y, masks, counterexamples=None, weight=auto.rrr_log.weight,
                                            from_scratch=auto is scratch, **SHORT)
        assert again.rrr_log.rule == "given"
        assert_same_weights(auto, again)


def test_no_masked_pixel_means_no_penalty_and_no_counterexample():
    x, y = corner_data(16, seed=6)
    repaired = right_for_the_right_reasons(mlp(), x, y, np.zeros((16, 8, 8), bool), **SHORT)
    assert repaired.rrr_log.weight == 0.0 and repaired.rrr_log.n_counterexamples == 0
    np.testing.assert_array_equal(repaired.rrr_log.penalty, [0.0])
