"""metrics.cover: cover a map's densest square against a random square on the true class's object."""
import numpy as np
import pytest

from introspect.metrics import cover

SIZE, SIDE = 32, 8


def spot_classifier(images):
    """Class 1 while the bright spot at rows 2-5, columns 2-5 is visible, else class 0."""
    return np.where(images[:, 2:6, 2:6, 0].mean(axis=(1, 2)) > 0.5, 1, 0)


def scene(n=12):
    """``n`` images with the spot that makes the (wrong) class 1, a fill without it, and maps."""
    images = np.zeros((n, SIZE, SIZE, 3), np.float32)
    images[:, 2:6, 2:6] = 1.0
    fill = np.zeros_like(images)
    right = np.zeros((n, SIZE, SIZE))
    right[:, 2:6, 2:6] = 1.0          # points at the spot
    wrong = np.zeros((n, SIZE, SIZE))
    wrong[:, 20:24, 20:24] = 1.0      # points elsewhere
    wrong[:, 2:6, 2:6] = -5.0         # negative evidence at the spot must not attract the square
    boxes = np.tile([12.0, 12.0, 30.0, 30.0], (n, 1))  # the true object, away from the spot
    groups = np.repeat(np.arange(n // 3), 3)
    return images, fill, {"right": right, "wrong": wrong}, np.ones(n, int), boxes, groups


def test_a_map_that_points_at_the_evidence_beats_the_control():
    images, fill, maps, predicted, boxes, groups = scene()
    table = cover.cover_table(spot_classifier, images, fill, maps, predicted, boxes, groups, size=SIDE, n_boot=200)
    right, wrong = (table.set_index("method").loc[m] for m in ("right", "wrong"))
    assert right["peak"] == 1.0 and right["control"] == 0.0 and right["difference_low"] == 1.0
    assert wrong["peak"] == 0.0 and wrong["difference"] == 0.0
    assert right["n"] == 12 and right["groups"] == 4
    assert set(table.columns) >= {"peak_low", "peak_high", "control_low", "control_high", "difference_high"}


def test_the_control_lands_inside_the_object_box():
    images, fill, maps, predicted, boxes, groups = scene()
    # the object is the spot itself: covering it at random always undoes the decision
    spot = np.tile([0.0, 0.0, 8.0, 8.0], (len(images), 1))
    table = cover.cover_table(spot_classifier, images, fill, maps, predicted, spot, groups, size=SIDE, n_boot=200)
    assert (table["control"] == 1.0).all() and table.set_index("method").loc["right", "difference"] == 0.0


def test_control_squares_are_uniform_inside_the_box_seeded_and_centred_on_small_boxes():
    boxes = np.tile([10.0, 4.0, 30.0, 20.0], (2000, 1))
    centres = cover.control_squares(boxes, 8, (40, 40), seed=3)
    np.testing.assert_array_equal(centres, cover.control_squares(boxes, 8, (40, 40), seed=3))
    tops, lefts = centres[:, 0] - 4, centres[:, 1] - 4
    assert tops.min() == 4 and tops.max() == 12 and lefts.min() == 10 and lefts.max() == 22
    assert set(np.unique(lefts)) == set(range(10, 23))  # every position is drawn
    assert abs(np.mean(lefts) - 16) < 0.3
    # a box smaller than the square: centred on the box, then shifted inside the image
    small = cover.control_squares([[20.0, 20.0, 24.0, 24.0], [0.0, 36.0, 3.0, 40.0]], 8, (40, 40))
    np.testing.assert_array_equal(small, [[22, 22], [36, 4]])


def test_intervals_resample_photos():
    images, fill, maps, predicted, boxes, groups = scene(12)
    # half the photos' views are undone by the map, half not: the interval spans what photos allow
    maps = {"half": np.where(np.isin(groups, [0, 1])[:, None, None], maps["right"], maps["wrong"])}
    row = cover.cover_table(spot_classifier, images, fill, maps, predicted, boxes, groups, size=SIDE).iloc[0]
    assert row["peak"] == 0.5 and row["peak_low"] <= 0.25 and row["peak_high"] >= 0.75


@pytest.mark.parametrize("change, match", [
    (dict(fill=np.zeros((12, SIZE, SIZE, 1))), "`fill`"),
    (dict(predicted=np.ones(5, int)), "`predicted`"),
    (dict(groups=np.arange(5)), "`groups`"),
    (dict(boxes=np.ones((12, 3))), "`boxes`"),
    (dict(maps={}), "`maps`"),
    (dict(maps={"bad": np.zeros((12, 4, 4))}), r"`maps\['bad'\]`"),
])
def test_bad_arguments_are_named(change, match):
    images, fill, maps, predicted, boxes, groups = scene()
    arguments = dict(images=images, fill=fill, maps=maps, predicted=predicted, boxes=boxes, groups=groups)
    arguments.update(change)
    with pytest.raises(ValueError, match=match):
        cover.cover_table(spot_classifier, **arguments, size=SIDE)


def test_control_squares_name_the_bad_argument():
    with pytest.raises(ValueError, match="`boxes`"):
        cover.control_squares([[5.0, 5.0, 1.0, 9.0]], 4, (10, 10))
    with pytest.raises(ValueError, match="`size`"):
        cover.control_squares([[0.0, 0.0, 9.0, 9.0]], 12, (10, 10))
