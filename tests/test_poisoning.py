import numpy as np
import pytest

from introspect import poisoning
from introspect.poisoning import (TRIGGERS, black_square, lightness_gradient, n_poisoned, poison, timestamp,
                                  transplant, watermark)

GRAY = 0.5


def gray_images(n=3, height=28, width=28, channels=1):
    return np.full((n, height, width, channels), GRAY, dtype=np.float32)


def random_images(n=40, height=28, width=28, channels=1, seed=0):
    return np.random.default_rng(seed).random((n, height, width, channels), dtype=np.float32)


ALL_TRIGGERS = [black_square(), black_square(position="random"), black_square(3, (5, 7), value=1.0),
                timestamp(), timestamp("23.01.23", "top-left", font_size=6), watermark(),
                watermark("grid", 0.1), watermark(np.eye(3)), lightness_gradient(),
                lightness_gradient(-0.5, "bottom-right")]


def trigger_id(trigger):
    return f"{trigger.name}-{ALL_TRIGGERS.index(trigger)}"


@pytest.mark.parametrize("trigger", ALL_TRIGGERS, ids=trigger_id)
def test_changed_pixels_lie_inside_the_mask_and_inputs_are_not_mutated(trigger):
    images = random_images(6, channels=3)
    before = images.copy()
    poisoned, mask = trigger.apply(images, 0)
    np.testing.assert_array_equal(images, before)
    assert poisoned is not images and poisoned.dtype == np.float32 and poisoned.shape == images.shape
    assert mask.shape == images.shape[:3] and mask.dtype == bool
    changed = (poisoned != images).any(axis=-1)
    assert not (changed & ~mask).any()
    assert poisoned.min() >= 0 and poisoned.max() <= 1


@pytest.mark.parametrize("trigger", [t for t in ALL_TRIGGERS if t.name != "lightness_gradient"],
                         ids=trigger_id)
def test_mask_equals_changed_pixels_on_mid_gray(trigger):
    images = gray_images()
    poisoned, mask = trigger.apply(images, 0)
    np.testing.assert_array_equal((poisoned != images).any(axis=-1), mask)
    assert mask.any()


def test_lightness_gradient_mask_is_whole_image_and_ramp_goes_corner_to_corner():
    images = gray_images(2, 10, 12)
    poisoned, mask = lightness_gradient(0.4, "top-left").apply(images)
    assert mask.all()
    delta = poisoned[0, ..., 0] - GRAY
    assert delta[0, 0] == 0 and delta[-1, -1] == pytest.approx(0.4)
    assert np.all(np.diff(delta, axis=0) > 0) and np.all(np.diff(delta, axis=1) > 0)
    # the only unchanged pixel on gray is the starting corner
    assert ((poisoned != images).any(-1) == (np.arange(120).reshape(1, 10, 12) > 0)).all()
    flipped, _ = lightness_gradient(0.4, "bottom-right").apply(images)
    np.testing.assert_allclose(flipped[0, ::-1, ::-1], poisoned[0], atol=1e-6)


def test_black_square_at_a_corner_is_exact():
    images = gray_images(2, 10, 10)
    poisoned, mask = black_square(size=3, position="bottom-right", margin=1).apply(images)
    expected = np.zeros((10, 10), bool)
    expected[6:9, 6:9] = True
    assert (mask == expected).all()
    assert (poisoned[:, 6:9, 6:9] == 0).all() and (poisoned[:, ~expected] == GRAY).all()
    _, top_left = black_square(size=2, position="top-left", margin=0).apply(images)
    assert top_left[0, :2, :2].all() and top_left[0].sum() == 4


def test_random_square_placement_is_repeatable_under_a_seed_and_varies_between_images():
    trigger = black_square(size=4, position="random")
    images = random_images(30)
    a, mask_a = trigger.apply(images, 5)
    b, mask_b = trigger.apply(images, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(mask_a, mask_b)
    _, mask_c = trigger.apply(images, 6)
    assert not np.array_equal(mask_a, mask_c)
    assert mask_a.sum(axis=(1, 2)).tolist() == [16] * 30
    corners = {tuple(np.argwhere(m)[0]) for m in mask_a}
    assert len(corners) > 10


def test_timestamp_is_real_text_small_and_in_its_corner():
    trigger = timestamp("09:00", "bottom-right")
    glyphs = trigger.glyphs()
    assert 6 <= glyphs.shape[0] <= 9 and glyphs.shape[1] <= 27
    # rendered, anti-aliased text: several separate glyphs, both full and partial coverage
    from scipy.ndimage import label

    assert label(glyphs > 0.5)[1] >= 4
    assert (glyphs == 1).any() and ((glyphs > 0) & (glyphs < 1)).any()
    _, mask = trigger.apply(gray_images(1))
    rows, cols = np.nonzero(mask[0])
    assert rows.max() == 26 and cols.max() == 26 and rows.min() >= 28 - 1 - 9
    _, top = timestamp("09:00", "top-left").apply(gray_images(1))
    assert np.argwhere(top[0]).min(axis=0).tolist() == [1, 1]


def test_timestamp_falls_back_to_pillows_own_font(monkeypatch):
    from PIL import ImageFont

    real_truetype = ImageFont.truetype

    def missing(font, *args, **kwargs):  # DejaVu is absent; Pillow's embedded font still loads
        if isinstance(font, str):
            raise OSError("cannot open resource")
        return real_truetype(font, *args, **kwargs)

    monkeypatch.setattr(ImageFont, "truetype", missing)
    poisoning._render_text.cache_clear()
    try:
        glyphs = timestamp("09:00").glyphs()
    finally:
        poisoning._render_text.cache_clear()
    assert 5 <= glyphs.shape[0] <= 10 and glyphs.shape[1] <= 27 and (glyphs > 0.5).sum() > 20


def test_text_that_does_not_fit_is_rejected():
    with pytest.raises(ValueError, match="does not fit"):
        timestamp("2023-01-23 09:00", font_size=9).apply(gray_images(1))


def test_watermark_alpha_is_capped_and_blend_is_exact():
    with pytest.raises(ValueError, match="alpha"):
        watermark(alpha=0.2)
    with pytest.raises(ValueError, match="alpha"):
        watermark(alpha=0.0)
    images = gray_images(1, 8, 8)
    poisoned, mask = watermark("stripes", alpha=0.1, period=4, value=1.0).apply(images)
    rows, cols = np.indices((8, 8))
    np.testing.assert_array_equal(mask[0], (rows + cols) % 4 == 0)
    np.testing.assert_allclose(poisoned[0, mask[0]], GRAY + 0.1 * (1 - GRAY), atol=1e-6)
    # a logo is tiled across the image
    _, logo_mask = watermark(np.array([[1.0, 0.0], [0.0, 0.0]])).apply(images)
    np.testing.assert_array_equal(logo_mask[0], (rows % 2 == 0) & (cols % 2 == 0))


def test_triggers_work_on_any_image_size_and_channel_count():
    images = random_images(2, 40, 36, 3)
    for name, factory in TRIGGERS.items():
        poisoned, mask = factory().apply(images)
        assert poisoned.shape == images.shape and mask.shape == (2, 40, 36), name
        # every channel gets the same trigger
        changed = poisoned != images
        assert (changed.any(-1) == changed.all(-1)).all() or name == "lightness_gradient"


def labelled(n_per_class=(10, 7, 5, 3), seed=0):
    labels = np.concatenate([np.full(n, c) for c, n in enumerate(n_per_class)])
    labels = np.random.default_rng(seed).permutation(labels)
    return random_images(len(labels), 12, 12, seed=seed), labels


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
    assert not poisoned[labels == 1].any()
    assert not masks[~poisoned].any() and masks[poisoned].any(axis=(1, 2)).all()
    np.testing.assert_array_equal(poisoned_images[~poisoned], images[~poisoned])
    assert n_poisoned(5, 0.5) == 3 and n_poisoned(7, 0.3) == 2


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


def test_poison_accepts_per_class_fractions():
    images, labels = labelled()
    _, _, poisoned, _ = poison(images, labels, {0: "black_square", 1: "watermark"}, {0: 1.0, 1: 0.0})
    assert poisoned[labels == 0].all() and not poisoned[labels == 1].any()


def test_bad_plans_raise_clear_errors():
    images, labels = labelled()
    with pytest.raises(ValueError, match="class 7"):
        poison(images, labels, {7: black_square()}, 0.5)
    with pytest.raises(ValueError, match="outside"):
        poison(images, labels, {10: black_square()}, 0.5, num_classes=10)
    with pytest.raises(ValueError, match="plan"):
        poison(images, labels, {0: "glitter"}, 0.5)
    with pytest.raises(ValueError, match="plan"):
        poison(images, labels, {0: lambda x: x}, 0.5)
    with pytest.raises(ValueError, match="plan"):
        poison(images, labels, {}, 0.5)
    with pytest.raises(ValueError, match="plan"):
        poison(images, labels, {"0": black_square()}, 0.5)
    for bad in (-0.1, 1.5, "half", np.nan):
        with pytest.raises(ValueError, match="fraction"):
            poison(images, labels, {0: black_square()}, bad)
    with pytest.raises(ValueError, match="fraction"):
        poison(images, labels, {0: black_square()}, {1: 0.5})
    with pytest.raises(ValueError, match="images"):
        poison(images * 2, labels, {0: black_square()}, 0.5)
    with pytest.raises(ValueError, match="images"):
        poison(images[..., 0], labels, {0: black_square()}, 0.5)
    with pytest.raises(ValueError, match="labels"):
        poison(images, labels[:-1], {0: black_square()}, 0.5)
    with pytest.raises(ValueError, match="seed"):
        poison(images, labels, {0: black_square()}, 0.5, seed=-1)


def test_bad_trigger_parameters_raise():
    with pytest.raises(ValueError, match="size"):
        black_square(size=0)
    with pytest.raises(ValueError, match="position"):
        black_square(position="middle")
    with pytest.raises(ValueError, match="value"):
        black_square(value=2.0)
    with pytest.raises(ValueError, match="corner"):
        timestamp(corner="left")
    with pytest.raises(ValueError, match="text"):
        timestamp("")
    with pytest.raises(ValueError, match="pattern"):
        watermark("hearts")
    with pytest.raises(ValueError, match="pattern"):
        watermark(np.full((2, 2), 3.0))
    with pytest.raises(ValueError, match="strength"):
        lightness_gradient(0.0)
    with pytest.raises(ValueError, match="size"):
        black_square(size=30).apply(gray_images(1))


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
    # a single trigger works too, and an unplanned source class is rejected
    single = transplant(images, labels, plan[2], 2)
    np.testing.assert_array_equal(single[0], out)
    with pytest.raises(ValueError, match="source_class"):
        transplant(images, labels, plan, source_class=1)
    with pytest.raises(ValueError, match="source_class"):
        transplant(images, labels, plan, source_class="2")


def test_module_exports_the_four_triggers():
    assert set(TRIGGERS) == {"black_square", "timestamp", "watermark", "lightness_gradient"}
    for name, factory in TRIGGERS.items():
        assert factory().name == name
        assert isinstance(factory(), poisoning.Trigger)
