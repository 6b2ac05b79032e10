"""Natural views of the packaged photos: geometry of a view, label bookkeeping, the mistakes rule."""
import numpy as np
import pytest

from introspect.imagenet import photo_records, views


def square_photo():
    """A 100 x 120 black photo with a white box at columns 40-59, rows 30-49."""
    photo = np.zeros((100, 120, 3), np.float32)
    photo[30:50, 40:60] = 1.0
    return photo, (40, 30, 60, 50)


@pytest.mark.parametrize("view", [views.View("a", (0, 0, 120, 100)), views.View("b", (20, 10, 90, 80), flip=True),
                                  views.View("c", (10, 0, 110, 100), angle=8.0),
                                  views.View("d", (45, 20, 100, 75), angle=-8.0)])
def test_box_fraction_matches_the_rendered_pixels(view):
    photo, box = square_photo()
    out = views.render_view(photo, view, size=64)
    expected = views.box_fraction(box, view, size=64)
    # the white area that lands in the view, relative to the box's area scaled into view pixels
    left, top, right, bottom = view.rect
    scale = (64 / (right - left)) * (64 / (bottom - top))
    seen = (out[..., 0] > 0.5).sum() / (20 * 20 * scale)
    assert seen == pytest.approx(expected, abs=0.12)


def test_flip_mirrors_and_rotation_turns_counter_clockwise():
    photo, box = square_photo()
    rect = (0, 0, 120, 100)
    plain = views.render_view(photo, views.View("p", rect), size=60)
    np.testing.assert_array_equal(views.render_view(photo, views.View("f", rect, flip=True), size=60), plain[:, ::-1])
    marker = np.zeros((100, 100, 3), np.float32)
    marker[48:52, 85:95] = 1.0  # right of the centre
    turned = views.render_view(marker, views.View("r", (0, 0, 100, 100), angle=90.0), size=100)
    rows, cols = np.nonzero(turned[..., 0] > 0.5)
    assert rows.mean() < 20 and abs(cols.mean() - 50) < 3  # counter-clockwise: right goes up
    point = views._to_view(np.array([[90.0, 50.0]]), views.View("r", (0, 0, 100, 100), angle=90.0), 100)
    np.testing.assert_allclose(point, [[50.0, 10.0]], atol=1e-6)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="`box`"):
        views.box_fraction((5, 5, 5, 9), views.View("a", (0, 0, 10, 10)))
    with pytest.raises(ValueError, match="`image`"):
        views.render_view(np.zeros((4, 4)), views.View("a", (0, 0, 4, 4)))
    with pytest.raises(ValueError, match="`names`"):
        views.load_views(["no such photo"])
    with pytest.raises(ValueError, match="`min_overlap`"):
        views.load_views(min_overlap=1.5)


def test_every_whole_photo_has_boxes_inside_it():
    records = [r for r in photo_records() if r.get("objects")]
    assert len(records) >= 6
    for record in records:
        for item in record["objects"]:
            left, top, right, bottom = item["box"]
            assert 0 <= left < right and 0 <= top < bottom and item["labels"] and item["what"]


def test_views_keep_only_labels_whose_box_they_show():
    images, label_sets, names = views.load_views(["coffee", "astronaut"], size=32, crops=4)
    assert images.shape == (len(names), 32, 32, 3) and images.dtype == np.float32
    assert len(set(names)) == len(names) and all(label_sets)
    by_name = dict(zip(names, label_sets))
    assert set(by_name["coffee:full"]) == {967, 968, 504}
    assert by_name["astronaut:zoom0x1.15"] == (812,)  # the shuttle model alone
    assert all(n.split(":")[0] in {"coffee", "astronaut"} for n in names)


def test_mistakes_table_applies_the_stated_rule():
    probs = np.full((2, 1000), 0.0)
    probs[0, [1, 2, 3]] = [0.5, 0.3, 0.2]
    probs[1, [1, 2, 3]] = [0.2, 0.3, 0.5]
    table = views.mistakes_table(probs, [(3, 2), (3,)], ["a:full", "b:crop0"])
    assert table["mistake"].tolist() == [True, False]
    assert table["true"].tolist() == [2, 3] and table["rank_true"].tolist() == [2, 1]
    assert table.loc[0, "ratio"] == pytest.approx(0.6)
    assert views.closest_calls(table, k=3) == ["a:full"]
    with pytest.raises(ValueError, match="`probs`"):
        views.mistakes_table(probs[:1], [(3,), (3,)], ["a", "b"])


def test_views_of_one_photo_are_all_different():
    images, _, names = views.load_views(["astronaut", "rocket"], size=24, crops=3)
    assert "astronaut:centre" not in names and "astronaut:full" in names  # a square photo: the same view
    flat = images.reshape(len(images), -1)
    assert len({row.tobytes() for row in flat}) == len(names)


@pytest.mark.parametrize("view", [views.View("a", (0, 0, 120, 100)), views.View("b", (20, 10, 90, 80), flip=True),
                                  views.View("c", (10, 0, 110, 100), angle=8.0),
                                  views.View("d", (45, 20, 100, 75), angle=-8.0)])
def test_box_in_view_bounds_the_rendered_object(view):
    photo, box = square_photo()
    out = views.render_view(photo, view, size=64)
    rows, cols = np.nonzero(out[..., 0] > 0.5)
    left, top, right, bottom = views.box_in_view(box, view, size=64)
    # the white pixels' bounding box, clipped to the view, is the box of the rotated corners
    assert 0 <= left < right <= 64 and 0 <= top < bottom <= 64
    np.testing.assert_allclose([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1], [left, top, right, bottom],
                               atol=2.0)


def test_box_in_view_mirrors_and_clips():
    box = (10, 20, 30, 40)
    assert views.box_in_view(box, views.View("p", (0, 0, 100, 100)), size=100) == (10, 20, 30, 40)
    assert views.box_in_view(box, views.View("f", (0, 0, 100, 100), flip=True), size=100) == (70, 20, 90, 40)
    assert views.box_in_view(box, views.View("z", (20, 0, 70, 50)), size=100) == (0, 40, 20, 80)
    with pytest.raises(ValueError, match="`box`"):
        views.box_in_view((5, 5, 5, 9), views.View("a", (0, 0, 10, 10)))


def test_view_boxes_give_each_label_of_each_view_its_object():
    _, label_sets, names = views.load_views(["coffee", "zidane"], size=64, crops=3)
    boxes = views.view_boxes(["coffee", "zidane"], size=64, crops=3)
    assert list(boxes) == names and [set(b) for b in boxes.values()] == [set(labels) for labels in label_sets]
    for per_class in boxes.values():
        for left, top, right, bottom in per_class.values():
            assert 0 <= left < right <= 64 and 0 <= top < bottom <= 64
    # coffee's full view (600 x 400 squashed to 64 x 64): the espresso, and the cup with its handle
    np.testing.assert_allclose(boxes["coffee:full"][967],
                               (195 * 64 / 600, 90 * 64 / 400, 390 * 64 / 600, 200 * 64 / 400))
    np.testing.assert_allclose(boxes["coffee:full"][968], boxes["coffee:full"][504])
    # two suits in zidane's full view: the larger one (the left man's) is the suit's box
    assert boxes["zidane:full"][834][0] == pytest.approx(120 * 64 / 1280)
