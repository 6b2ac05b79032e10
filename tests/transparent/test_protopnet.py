"""ProtoPNet (arXiv:1806.10574): the distances and similarity, the push, the boxes, the schedule, the checks."""
import matplotlib
import numpy as np
import pytest
import tensorflow as tf

from introspect import transparent
from introspect.transparent import protopnet as pp
from introspect.transparent.push import latent_model

matplotlib.use("Agg")

TINY = {"prototypes_per_class": 2, "prototype_dim": 8, "width": 4}
SHORT = transparent.Schedule(warm_epochs=1, joint_epochs=1, last_layer_epochs=2, batch_size=32)


@pytest.fixture(scope="module")
def tiny_data():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(60, 28, 28, 1)).astype(np.float32)
    y = np.repeat(np.arange(3), 20)
    x[y == 1, 4:12, 4:12] = 1.0  # something to tell the classes apart
    return x, y


@pytest.fixture(scope="module")
def trained(tiny_data):
    x, y = tiny_data
    return transparent.train_protopnet(x, y, seed=0, schedule=SHORT, progress=False, **TINY)


def test_distances_and_similarity_equal_numpy():
    rng = np.random.default_rng(1)
    z = rng.uniform(size=(2, 5, 4, 3)).astype(np.float32)
    p = rng.uniform(size=(6, 3)).astype(np.float32)
    direct = ((z[:, :, :, None, :] - p) ** 2).sum(-1)
    np.testing.assert_allclose(np.asarray(pp.squared_distances(z, p)), direct, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(pp.log_similarity(direct)), np.log((direct + 1) / (direct + 1e-4)),
                               rtol=1e-5)


def test_model_min_distance_and_logits_follow_the_definition():
    model = transparent.build_protopnet(num_classes=3, seed=0, **TINY)
    x = np.random.default_rng(2).uniform(size=(4, 28, 28, 1)).astype(np.float32)
    z = np.asarray(latent_model(model)(x))
    p = pp.prototype_vectors(model)
    min_d = ((z[:, :, :, None, :] - p) ** 2).sum(-1).min(axis=(1, 2))
    logits = np.log((min_d + 1) / (min_d + 1e-4)) @ np.asarray(model.get_layer("logits").kernel)
    np.testing.assert_allclose(np.asarray(model(x)), logits, rtol=1e-4, atol=1e-4)


def test_last_layer_starts_at_plus_one_and_minus_half():
    model = transparent.build_protopnet(num_classes=3, seed=0, **TINY)
    kernel = np.asarray(model.get_layer("logits").kernel)
    assert kernel.shape == (6, 3)
    np.testing.assert_array_equal(transparent.prototype_classes(model), [0, 0, 1, 1, 2, 2])
    expected = np.full((6, 3), -0.5)
    expected[[0, 1], 0] = expected[[2, 3], 1] = expected[[4, 5], 2] = 1.0
    np.testing.assert_array_equal(kernel, expected)


def test_push_puts_each_prototype_on_its_recorded_training_patch(trained, tiny_data):
    x, y = tiny_data
    model, record = trained.model, trained.push
    z = np.asarray(latent_model(model)(x))
    p = pp.prototype_vectors(model)
    patches = z[record.image_index, record.row, record.col]
    np.testing.assert_allclose(p, patches, atol=1e-6)
    distances = ((z[:, :, :, None, :] - p) ** 2).sum(-1)
    assert np.all(distances.min(axis=(0, 1, 2)) < 1e-10)
    np.testing.assert_array_equal(y[record.image_index], record.prototype_class)


def test_push_picks_the_nearest_patch_of_the_own_class(tiny_data):
    x, y = tiny_data
    model = transparent.build_protopnet(num_classes=3, seed=3, **TINY)
    before = pp.prototype_vectors(model)
    z = np.asarray(latent_model(model)(x))
    record = transparent.push(model, x, y, progress=False)
    distances = ((z[:, :, :, None, :] - before) ** 2).sum(-1)
    for j, k in enumerate(record.prototype_class):
        own = distances[y == k, ..., j]
        np.testing.assert_allclose(record.distance[j], own.min(), rtol=1e-4, atol=1e-5)


def test_boxes_hold_exactly_the_pixels_a_patch_sees():
    model = transparent.build_protopnet(num_classes=3, seed=0, **TINY)
    encoder = latent_model(model)
    rng = np.random.default_rng(4)
    x = tf.constant(rng.uniform(size=(8, 28, 28, 1)).astype(np.float32))
    for r, c in [(0, 0), (3, 5), (7, 7), (13, 13), (13, 0)]:
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = tf.reduce_sum(encoder(x)[:, r, c])
        support = np.abs(np.asarray(tape.gradient(score, x))).sum(axis=(0, 3)) > 0
        top, left, bottom, right = transparent.patch_boxes(model, [r], [c])[0]
        inside = np.zeros_like(support)
        inside[top:bottom, left:right] = True
        assert not np.any(support & ~inside), (r, c)  # nothing outside the box reaches the patch
        rows, cols = np.nonzero(support)
        assert (rows.min(), cols.min(), rows.max() + 1, cols.max() + 1) == (top, left, bottom, right), (r, c)


def test_receptive_field_of_the_default_network():
    model = transparent.build_protopnet(seed=0)
    size, jump, _ = transparent.receptive_field(model)
    assert tuple(size) == (12, 12) and tuple(jump) == (2, 2)
    assert model.get_layer("latent").output.shape[1:3] == (14, 14)


def test_same_seed_same_weights_other_seed_other_weights(trained, tiny_data):
    x, y = tiny_data
    again = transparent.train_protopnet(x, y, seed=0, schedule=SHORT, progress=False, **TINY)
    other = transparent.train_protopnet(x, y, seed=1, schedule=SHORT, progress=False, **TINY)
    for a, b in zip(trained.model.get_weights(), again.model.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(trained.push.image_index, again.push.image_index)
    assert any(not np.array_equal(a, b) for a, b in zip(trained.model.get_weights(), other.model.get_weights()))


def test_last_layer_stage_moves_only_the_last_layer(trained, tiny_data):
    x, y = tiny_data
    model = trained.model
    before = [w.copy() for w in model.get_weights()]
    transparent.last_layer(model, x, y, epochs=1, schedule=SHORT, progress=False)
    names = [v.path for v in model.weights]
    for name, a, b in zip(names, before, model.get_weights()):
        assert np.array_equal(a, b) != name.startswith("logits"), name


def test_push_record_round_trips(trained, tmp_path):
    path = tmp_path / "push.json"
    trained.push.save(path)
    import json

    back = transparent.PushRecord.from_dict(json.loads(path.read_text()))
    for name in ("image_index", "row", "col", "prototype_class", "boxes"):
        np.testing.assert_array_equal(getattr(back, name), getattr(trained.push, name))


def test_display_draws_prototypes_and_an_explanation(trained, tiny_data):
    x, _ = tiny_data
    fig, axes = transparent.show_prototypes(trained.push, x, prototypes=[0, 1])
    assert axes.shape == (1, 2) and len(axes[0, 0].patches) == 1
    fig, axes, top = transparent.show_explanation(trained.model, x[0], trained.push, x, k=2)
    assert axes.shape == (2, 3) and len(top) == 2
    assert top.equals(transparent.top_prototypes(trained.model, x[0], k=2))
    assert list(top["similarity"]) == sorted(top["similarity"], reverse=True)


@pytest.mark.parametrize("call, name", [
    (lambda x, y: transparent.train_protopnet(x[0], y, progress=False), "x"),
    (lambda x, y: transparent.train_protopnet(x, y[:5], progress=False), "y"),
    (lambda x, y: transparent.train_protopnet(x, y, seed=-1, progress=False), "seed"),
    (lambda x, y: transparent.train_protopnet(x, y, schedule="long", progress=False), "schedule"),
    (lambda x, y: transparent.Schedule(joint_epochs=-1), "joint_epochs"),
    (lambda x, y: transparent.build_protopnet(prototypes_per_class=0), "prototypes_per_class"),
    (lambda x, y: transparent.push(transparent.build_protopnet(num_classes=4, **TINY), x, y, progress=False), "y"),
])
def test_bad_arguments_name_themselves(tiny_data, call, name):
    x, y = tiny_data
    with pytest.raises(ValueError, match=f"`{name}`"):
        call(x, y)


def test_prototypes_on_trigger_counts_boxes_that_touch_the_mask():
    from types import SimpleNamespace

    from introspect.transparent.study import prototypes_on_trigger

    n = 4
    masks = np.zeros((n, 28, 28), dtype=bool)
    masks[:, 1:5, 1:5] = True  # a top-left square on every image
    clean = np.zeros((n, 28, 28, 1), dtype=np.float32)
    d = SimpleNamespace(x_train_clean=clean, x_train=np.where(masks[..., None], 1.0, clean).astype(np.float32),
                        train_masks=masks)
    classes = np.repeat(np.arange(10), 2)
    boxes = np.tile([[20, 20, 28, 28]], (20, 1))
    boxes[0] = [0, 0, 12, 12]   # class 0, first prototype: on the square
    boxes[1] = [5, 5, 17, 17]   # touches the corner pixel (5, 5)? no: the square ends at row/col 4
    record = transparent.PushRecord(np.arange(20) % n, np.zeros(20, int), np.zeros(20, int), np.zeros(20),
                                    classes, boxes)
    rows = prototypes_on_trigger(record, d)
    assert list(rows.loc[rows["class"] == 0, "on trigger"]) == [True, False]
    assert rows.loc[rows["class"] == 3, "on trigger"].sum() == 0
    # The whole change (16 pixels) inside a 144-pixel box, against 16 / 784 on the image.
    assert rows["change ratio"].iloc[0] == pytest.approx((16 / 144) / (16 / 784))


def test_shipped_study_results_load_into_tables():
    from introspect.transparent import study

    results = study.load_results()
    tables = study.summary(results)
    assert tables["on trigger"].shape == (4, 2 * len(results["seeds"]))
    for name, record in results["push"].items():
        assert len(record.image_index) == 100 and record.boxes.shape == (100, 4), name
