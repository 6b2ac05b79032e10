"""P-ClArC on a toy shortcut: the corner pixel's direction is projected out of the hidden layer."""
import numpy as np
import pytest

import keras
from introspect import _keras
from introspect.repair import artifact_direction, pclarc


@pytest.fixture(scope="module")
def cheater():
    """An MLP trained on 8x8 noise images whose corner pixel equals the label (its only signal)."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 400)
    images = rng.uniform(0, 0.6, size=(400, 8, 8, 1)).astype(np.float32)
    images[:, 0, 0, 0] = labels
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    hidden = keras.layers.Dense(16, activation="relu", name="hidden")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2, name="logits")(hidden))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(images, labels, epochs=10, batch_size=32, verbose=0)
    clean = rng.uniform(0, 0.6, size=(60, 8, 8, 1)).astype(np.float32)
    clean[:, 0, 0, 0] = 0.0
    lit = clean.copy()
    lit[:, 0, 0, 0] = 1.0
    return model, lit, clean


def hidden_activations(model, images, layer):
    found = _keras.find_layer(model, layer)
    return keras.Model(model.inputs[0], found.output)(images).numpy().reshape(len(images), -1)


def test_projection_removes_the_artifact(cheater):
    model, lit, clean = cheater
    before = [w.copy() for w in model.get_weights()]
    repaired = pclarc(model, "hidden", lit[:30], clean[:30])
    v, z = artifact_direction(model, "hidden", lit[:30], clean[:30])
    # Held-out examples: along v the two sets differed; after the projection both sit at z.
    gap_before = (hidden_activations(model, lit[30:], "hidden") - hidden_activations(model, clean[30:], "hidden")) @ v
    projected_lit = hidden_activations(repaired, lit[30:], "hidden_pclarc")
    projected_clean = hidden_activations(repaired, clean[30:], "hidden_pclarc")
    assert np.mean(gap_before) > 0.5
    np.testing.assert_allclose(projected_lit @ v, z, atol=1e-4)
    np.testing.assert_allclose((projected_lit - projected_clean) @ v, 0.0, atol=1e-4)
    # The prediction on artifact images moves toward the clean ones.
    shift_before = np.abs(model(lit[30:]).numpy() - model(clean[30:]).numpy()).mean()
    shift_after = np.abs(repaired(lit[30:]).numpy() - repaired(clean[30:]).numpy()).mean()
    print(f"logit shift from the artifact: {shift_before:.3f} before, {shift_after:.3f} after P-ClArC")
    assert shift_after < 0.5 * shift_before
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)
    # Only the projection is new; every other weight is a copy.
    assert len(repaired.get_weights()) == len(before)


def test_classifier_direction_points_the_same_way(cheater):
    model, lit, clean = cheater
    mean_v, _ = artifact_direction(model, "hidden", lit, clean)
    classifier_v, _ = artifact_direction(model, "hidden", lit, clean, direction="classifier")
    assert float(mean_v @ classifier_v) > 0.5


@pytest.mark.parametrize("kwargs, match", [({"direction": "svm"}, "`direction`"), ({"layer": "nope"}, "`layer`"),
                                           ({"with_artifact": np.zeros((3, 8, 8))}, "`with_artifact`"),
                                           ({"batch_size": 0}, "`batch_size`")])
def test_bad_arguments(cheater, kwargs, match):
    model, lit, clean = cheater
    arguments = dict(model=model, layer="hidden", with_artifact=lit[:5], without_artifact=clean[:5]) | kwargs
    with pytest.raises(ValueError, match=match):
        pclarc(**arguments)


def test_identical_sets_have_no_direction(cheater):
    model, _, clean = cheater
    with pytest.raises(ValueError, match="same activations"):
        pclarc(model, "hidden", clean[:5], clean[:5])


def test_a_second_projection_on_the_same_layer_gets_its_own_name(cheater):
    model, lit, clean = cheater
    once = pclarc(model, "hidden", lit[:30], clean[:30])
    twice = pclarc(once, "hidden", lit[:30], clean[:30])
    names = _keras.all_layer_names(twice)
    assert "hidden_pclarc" in names and "hidden_pclarc_2" in names
    # Projecting the same (already removed) direction again changes nothing.
    np.testing.assert_allclose(twice(lit[30:]).numpy(), once(lit[30:]).numpy(), atol=1e-4)
