"""Poisoning plans: exact fractions per class, repeatable and independent per class, the transplant test."""
import numpy as np
import pytest

from introspect.poisoning import black_square, n_poisoned, poison, timestamp, transplant, watermark


def labelled(n_per_class=(10, 7, 5, 3), seed=0):
    labels = np.concatenate([np.full(n, c) for c, n in enumerate(n_per_class)])
    labels = np.random.default_rng(seed).permutation(labels)
    return np.random.default_rng(seed).random((len(labels), 12, 12, 1), dtype=np.float32), labels


def test_n_poisoned_rounds_half_up():
    assert [n_poisoned(5, 0.5), n_poisoned(7, 0.3), n_poisoned(4, 0.5), n_poisoned(3, 0.0), n_poisoned(3, 1.0)] \
        == [3, 2, 2, 0, 3]


@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.5, 1.0])
def test_poison_honours_fraction_per_class_exactly(fraction):
    images, labels = labelled()
    plan = {0: black_square(3), 2: "watermark", 3: timestamp("9", font_size=6)}
    poisoned_images, out_labels, poisoned, masks = poison(images, labels, plan, fraction, seed=1)
    np.testing.assert_array_equal(out_labels, labels)
    for cls in range(4):
        in_class = labels == cls
        expected = n_poisoned(in_class.sum(), fraction) if cls in plan else 0
        assert poisoned[in_class].sum() == expected
    assert not masks[~poisoned].any() and masks[poisoned].any(axis=(1, 2)).all()
    np.testing.assert_array_equal(poisoned_images[~poisoned], images[~poisoned])
    assert (poisoned_images[poisoned] != images[poisoned]).any(axis=(1, 2, 3)).all()


def test_poison_applies_each_classes_own_trigger():
    images, labels = labelled()
    plan = {0: black_square(3, "top-left", value=1.0, margin=0), 2: watermark()}
    poisoned_images, _, poisoned, masks = poison(images, labels, plan, 1.0, seed=0)
    for cls, trigger in plan.items():
        members = labels == cls
        expected_images, expected_masks = trigger.apply(images[members])
        np.testing.assert_array_equal(poisoned_images[members], expected_images)
        np.testing.assert_array_equal(masks[members], expected_masks)


def test_poison_is_repeatable_pure_and_independent_per_class():
    images, labels = labelled()
    before = images.copy(), labels.copy()
    plan = {0: black_square(3, "random"), 2: black_square(2)}
    first = poison(images, labels, plan, 0.5, seed=3)
    second = poison(images, labels, plan, 0.5, seed=3)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(images, before[0])
    np.testing.assert_array_equal(labels, before[1])
    other_seed = poison(images, labels, plan, 0.5, seed=4)
    assert not np.array_equal(first[2], other_seed[2])
    # adding a class to the plan leaves the other classes' choices unchanged
    larger = poison(images, labels, {**plan, 1: watermark()}, 0.5, seed=3)
    keep = labels != 1
    np.testing.assert_array_equal(larger[2][keep], first[2][keep])
    np.testing.assert_array_equal(larger[0][keep], first[0][keep])


def test_poison_accepts_per_class_fractions_and_trigger_names():
    images, labels = labelled()
    _, _, poisoned, _ = poison(images, labels, {0: "black_square", 1: "watermark"}, {0: 1.0, 1: 0.0})
    assert poisoned[labels == 0].all() and not poisoned[labels == 1].any()
    with pytest.warns(DeprecationWarning, match="lightness_ramp"):
        _, _, old_name, _ = poison(images, labels, {3: "lightness_gradient"}, 1.0)
    np.testing.assert_array_equal(old_name, labels == 3)


@pytest.mark.parametrize("change, match", [
    ({"plan": {7: black_square()}}, "`plan` names class 7, which does not occur in `labels`"),
    ({"plan": {10: black_square()}, "num_classes": 10}, "`plan` key 10 is outside"),
    ({"plan": {0: "glitter"}}, r"`plan`\[0\] must be a Trigger"),
    ({"plan": {0: lambda x: x}}, r"`plan`\[0\] must be a Trigger"),
    ({"plan": {}}, "`plan` must be a non-empty mapping"),
    ({"plan": {"0": black_square()}}, "`plan` key must be an integer"),
    ({"fraction": -0.1}, "`fraction`"),
    ({"fraction": 1.5}, "`fraction`"),
    ({"fraction": "half"}, "`fraction`"),
    ({"fraction": np.nan}, "`fraction`"),
    ({"fraction": {1: 0.5}}, "`fraction` as a mapping"),
    ({"fraction": {0: 2.0}}, r"`fraction\[0\]`"),
    ({"images": "doubled"}, "`images`"),
    ({"images": "one channel dropped"}, "`images`"),
    ({"labels": "one short"}, "`labels`"),
    ({"seed": -1}, "`seed`"),
])
def test_bad_plans_raise_naming_the_argument(change, match):
    images, labels = labelled()
    args = {"plan": {0: black_square()}, "fraction": 0.5, "seed": 0, "num_classes": None}
    args.update({k: v for k, v in change.items() if k not in ("images", "labels")})
    images = {"doubled": images * 2, "one channel dropped": images[..., 0]}.get(change.get("images"), images)
    labels = labels[:-1] if change.get("labels") else labels
    with pytest.raises(ValueError, match=match):
        poison(images, labels, args["plan"], args["fraction"], args["seed"], num_classes=args["num_classes"])


def test_transplant_never_touches_the_source_class_and_marks_all_others():
    images, labels = labelled()
    before = images.copy()
    plan = {2: black_square(3, "top-left", value=1.0), 0: watermark()}
    out, out_labels, applied, masks = transplant(images, labels, plan, source_class=2, seed=0)
    np.testing.assert_array_equal(images, before)
    np.testing.assert_array_equal(out_labels, labels)
    own = labels == 2
    np.testing.assert_array_equal(applied, ~own)
    np.testing.assert_array_equal(out[own], images[own])
    assert not masks[own].any()
    assert (masks[~own].sum(axis=(1, 2)) == 9).all()
    assert (out[~own][:, 1:4, 1:4] == 1.0).all()
    # the same trigger as in poisoning: identical pixels where both apply it
    reference, reference_masks = plan[2].apply(images[~own])
    np.testing.assert_array_equal(out[~own], reference)
    np.testing.assert_array_equal(masks[~own], reference_masks)
    # a single trigger works too
    single = transplant(images, labels, plan[2], 2)
    np.testing.assert_array_equal(single[0], out)


def test_transplant_places_random_triggers_like_poison_under_the_same_seed():
    images, labels = labelled()
    trigger = black_square(2, "random")
    moved = transplant(images, labels, {1: trigger}, source_class=1, seed=5)
    again = transplant(images, labels, trigger, source_class=1, seed=5)
    np.testing.assert_array_equal(moved[3], again[3])
    other = transplant(images, labels, trigger, source_class=1, seed=6)
    assert not np.array_equal(moved[3], other[3])


@pytest.mark.parametrize("source_class, kwargs, match", [
    (1, {}, "`plan` must be a Trigger or a mapping that contains `source_class` 1"),
    ("2", {}, "`source_class` must be an integer class index"),
    (True, {}, "`source_class` must be an integer class index"),
    (12, {"num_classes": 10}, "`source_class` 12 is outside"),
])
def test_transplant_rejects_bad_source_classes(source_class, kwargs, match):
    images, labels = labelled()
    plan = {2: black_square(3), 0: watermark()}
    with pytest.raises(ValueError, match=match):
        transplant(images, labels, plan, source_class=source_class, **kwargs)
