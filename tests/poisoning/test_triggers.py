"""The triggers: exact, repeatable placement under a seed; inputs never mutated; bad parameters named."""
import numpy as np
import pytest

from introspect import poisoning
from introspect.poisoning import (TRIGGERS, LightnessRamp, black_square, lightness_gradient, lightness_ramp,
                                  timestamp, watermark)
from introspect.poisoning.text import render_text

GRAY = 0.5


def gray_images(n=3, height=28, width=28, channels=1):
    return np.full((n, height, width, channels), GRAY, dtype=np.float32)


def random_images(n=40, height=28, width=28, channels=1, seed=0):
    return np.random.default_rng(seed).random((n, height, width, channels), dtype=np.float32)


ALL_TRIGGERS = [black_square(), black_square(position="random"), black_square(3, (5, 7), value=1.0),
                timestamp(), timestamp("23.01.23", "top-left", font_size=6), watermark(),
                watermark("grid", 0.1), watermark(np.eye(3)), lightness_ramp(),
                lightness_ramp(-0.5, "bottom-right")]


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
    assert changed.any() and not (changed & ~mask).any()
    assert poisoned.min() >= 0 and poisoned.max() <= 1


@pytest.mark.parametrize("trigger", [t for t in ALL_TRIGGERS if t.name != "lightness_ramp"], ids=trigger_id)
def test_mask_equals_changed_pixels_on_mid_gray(trigger):
    images = gray_images()
    poisoned, mask = trigger.apply(images, 0)
    np.testing.assert_array_equal((poisoned != images).any(axis=-1), mask)
    assert mask.any()


def test_lightness_ramp_mask_is_whole_image_and_ramp_goes_corner_to_corner():
    images = gray_images(2, 10, 12)
    poisoned, mask = lightness_ramp(0.4, "top-left").apply(images)
    assert mask.all()
    delta = poisoned[0, ..., 0] - GRAY
    assert delta[0, 0] == 0 and delta[-1, -1] == pytest.approx(0.4)
    assert np.all(np.diff(delta, axis=0) > 0) and np.all(np.diff(delta, axis=1) > 0)
    # the only unchanged pixel on gray is the starting corner
    assert ((poisoned != images).any(-1) == (np.arange(120).reshape(1, 10, 12) > 0)).all()
    flipped, _ = lightness_ramp(0.4, "bottom-right").apply(images)
    np.testing.assert_allclose(flipped[0, ::-1, ::-1], poisoned[0], atol=1e-6)


def test_lightness_gradient_is_a_deprecated_alias_that_still_works():
    with pytest.warns(DeprecationWarning, match="lightness_ramp") as record:
        old = lightness_gradient(0.2, "top-left")
    assert record[0].filename == __file__  # the warning points at the caller, not the package
    assert isinstance(old, LightnessRamp) and old.name == "lightness_gradient"
    images = random_images(2)
    for a, b in zip(old.apply(images), lightness_ramp(0.2, "top-left").apply(images)):
        np.testing.assert_array_equal(a, b)
    with pytest.warns(DeprecationWarning, match="LightnessRamp"):
        poisoning.LightnessGradient()


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
    render_text.cache_clear()
    try:
        glyphs = timestamp("09:00").glyphs()
    finally:
        render_text.cache_clear()
    assert 5 <= glyphs.shape[0] <= 10 and glyphs.shape[1] <= 27 and (glyphs > 0.5).sum() > 20


def test_text_that_does_not_fit_is_rejected():
    with pytest.raises(ValueError, match="`text` '2023-01-23 09:00' .* does not fit"):
        timestamp("2023-01-23 09:00", font_size=9).apply(gray_images(1))
    with pytest.raises(ValueError, match="`text` ' ' renders no visible glyphs"):
        render_text(" ", 9)


def test_watermark_alpha_is_capped_and_blend_is_exact():
    for alpha in (0.2, 0.0):
        with pytest.raises(ValueError, match="`alpha`"):
            watermark(alpha=alpha)
    images = gray_images(1, 8, 8)
    poisoned, mask = watermark("stripes", alpha=0.1, period=4, value=1.0).apply(images)
    rows, cols = np.indices((8, 8))
    np.testing.assert_array_equal(mask[0], (rows + cols) % 4 == 0)
    np.testing.assert_allclose(poisoned[0, mask[0]], GRAY + 0.1 * (1 - GRAY), atol=1e-6)
    np.testing.assert_array_equal(poisoned[0, ~mask[0]], GRAY)
    # a logo is tiled across the image
    _, logo_mask = watermark(np.array([[1.0, 0.0], [0.0, 0.0]])).apply(images)
    np.testing.assert_array_equal(logo_mask[0], (rows % 2 == 0) & (cols % 2 == 0))


def test_triggers_work_on_any_image_size_and_channel_count():
    images = random_images(2, 40, 36, 3)
    for name, factory in TRIGGERS.items():
        poisoned, mask = factory().apply(images)
        assert poisoned.shape == images.shape and mask.shape == (2, 40, 36), name
        if name != "lightness_ramp":  # the ramp is added, and clipping differs between channels
            changed = poisoned != images  # every channel gets the same trigger
            assert (changed.any(-1) == changed.all(-1)).all(), name


@pytest.mark.parametrize("make, match", [
    (lambda: black_square(size=0), "`size`"),
    (lambda: black_square(position="middle"), "`position`"),
    (lambda: black_square(position=(1, 2, 3)), "`position`"),
    (lambda: black_square(value=2.0), "`value`"),
    (lambda: black_square(margin=-1), "`margin`"),
    (lambda: timestamp(corner="left"), "`corner`"),
    (lambda: timestamp(""), "`text`"),
    (lambda: timestamp(font_size=0), "`font_size`"),
    (lambda: watermark("hearts"), "`pattern`"),
    (lambda: watermark(np.full((2, 2), 3.0)), "`pattern`"),
    (lambda: watermark(period=0), "`period`"),
    (lambda: lightness_ramp(0.0), "`strength`"),
    (lambda: lightness_ramp(corner="centre"), "`corner`"),
    (lambda: black_square(size=30).apply(gray_images(1)), "`size` 30 does not fit"),
    (lambda: black_square(3, (26, 0)).apply(gray_images(1)), "`position`"),
    (lambda: black_square().apply(gray_images(1) + 1), "`images` must lie in"),
    (lambda: black_square().apply(gray_images(1)[..., 0]), "`images`"),
    (lambda: black_square().apply(gray_images(1), rng=-1), "`rng`"),
])
def test_bad_trigger_parameters_raise_naming_the_argument(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_registry_holds_the_four_triggers_and_each_is_a_trigger():
    assert set(TRIGGERS) == {"black_square", "timestamp", "watermark", "lightness_ramp"}
    for name, factory in TRIGGERS.items():
        trigger = factory()
        assert trigger.name == name and isinstance(trigger, poisoning.Trigger)
