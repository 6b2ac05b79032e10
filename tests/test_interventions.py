"""Image edits for intervention tests: exact pixels, copies, controls of equal size."""
import numpy as np
import pytest

from introspect import interventions


def garment(n=2, value=0.8):
    images = np.zeros((n, 28, 28, 1), np.float32)
    images[:, 4:26, 7:21] = value
    return images


def test_placket_dots_and_their_transpose_have_the_same_size():
    dots = interventions.placket_dots(top=6, bottom=22, spacing=4, column=13, width=2)
    assert dots[:4] == [(6, 13), (6, 14), (10, 13), (10, 14)] and len(dots) == 10
    control = interventions.transpose_dots(dots, row=14, column=7)
    assert len(control) == len(dots) and {r for r, _ in control} == {14, 15}
    assert sorted({c for _, c in control}) == [7, 11, 15, 19, 23]


def test_paint_dots_darkens_exactly_the_dots_on_the_garment_and_copies():
    images = garment()
    before = images.copy()
    dots = [(5, 13), (5, 14), (0, 0)]  # the last one is on the black background
    out, mask = interventions.paint_dots(images, dots, contrast=0.5)
    np.testing.assert_array_equal(images, before)
    changed = out[..., 0] != images[..., 0]
    assert changed.sum() == 4 and mask.sum() == 4 and (mask == changed).all()
    np.testing.assert_allclose(out[:, 5, 13:15, 0], 0.4)


def test_erase_strip_interpolates_between_neighbours():
    images = garment(1)
    images[0, :, 13:15] = 0.1  # a dark placket
    images[0, :, 12] = 0.2
    images[0, :, 15] = 0.5
    out, mask = interventions.erase_strip(images, 13, 2, top=4, bottom=25)
    np.testing.assert_allclose(out[0, 10, 12:16, 0], [0.2, 0.3, 0.4, 0.5], atol=1e-6)
    np.testing.assert_array_equal(out[0, :4], images[0, :4])
    assert mask[0, 4:26, 13:15].all() and mask.sum() == 22 * 2


def test_paint_box_covers_the_box_only():
    images = np.ones((1, 8, 8, 3), np.float32)
    out, mask = interventions.paint_box(images, (2, 3, 4, 7), [0.5, 0.5, 0.5])
    assert mask.sum() == 8 and np.allclose(out[0, 2:4, 3:7], 0.5) and out.sum() == images.sum() - 8 * 3 * 0.5


def test_bad_arguments_are_named():
    images = garment(1)
    with pytest.raises(ValueError, match="`bottom`"):
        interventions.placket_dots(top=10, bottom=5)
    with pytest.raises(ValueError, match="`dots`"):
        interventions.paint_dots(images, [(30, 3)])
    with pytest.raises(ValueError, match="`contrast`"):
        interventions.paint_dots(images, [(3, 3)], contrast=2)
    with pytest.raises(ValueError, match="`column`"):
        interventions.erase_strip(images, 0)
    with pytest.raises(ValueError, match="`box`"):
        interventions.paint_box(images, (0, 0, 40, 3), 0.0)
    with pytest.raises(ValueError, match="`images`"):
        interventions.paint_dots(images[0], [(3, 3)])


def test_cover_patches_copies_the_fill_inside_the_image():
    images = np.zeros((2, 10, 10, 1), np.float32)
    fill = np.ones_like(images)
    out, mask = interventions.cover_patches(images, fill, [(0, 0), (5, 5)], 4)
    assert mask[0, :4, :4].all() and mask[0].sum() == 16  # shifted inside at the corner
    assert mask[1, 3:7, 3:7].all() and mask[1].sum() == 16
    np.testing.assert_array_equal(out[..., 0], mask.astype(np.float32))
    with pytest.raises(ValueError, match="`centres`"):
        interventions.cover_patches(images, fill, [(0, 0)], 4)
    with pytest.raises(ValueError, match="`fill`"):
        interventions.cover_patches(images, fill[:1], [(0, 0), (1, 1)], 4)


def test_densest_squares_finds_the_heaviest_square_not_the_largest_pixel():
    maps = np.zeros((2, 12, 12))
    maps[0, 0, 11] = 5.0  # one stray pixel ...
    maps[0, 6:9, 2:5] = 1.0  # ... loses to a 3 x 3 block of evidence (sum 9)
    maps[1] = 1.0
    maps[1, 8:11, 8:11] = -1.0
    centres = interventions.densest_squares(maps, 3)
    np.testing.assert_array_equal(centres[0], [7, 3])
    np.testing.assert_array_equal(interventions.densest_squares(maps, 3, lowest=True)[1], [9, 9])
    # a brute-force check of the sums on random maps, including squares at the border
    rng = np.random.default_rng(0)
    noisy = rng.normal(size=(3, 9, 7))
    for lowest in (False, True):
        for k, (row, col) in enumerate(interventions.densest_squares(noisy, 4, lowest=lowest)):
            sums = np.array([[noisy[k, r:r + 4, c:c + 4].sum() for c in range(4)] for r in range(6)])
            best = np.unravel_index(sums.argmin() if lowest else sums.argmax(), sums.shape)
            assert (row - 2, col - 2) == best
    _, mask = interventions.cover_patches(np.zeros((2, 12, 12, 1), np.float32), np.ones((2, 12, 12, 1), np.float32),
                                          centres, 3)
    assert mask[0, 6:9, 2:5].all() and mask[0].sum() == 9  # the centres cover exactly the square found


def test_densest_squares_rejects_bad_maps_and_sizes():
    with pytest.raises(ValueError, match="`maps`"):
        interventions.densest_squares(np.zeros((4, 4)), 2)
    with pytest.raises(ValueError, match="`maps`.*NaN"):
        interventions.densest_squares(np.full((1, 4, 4), np.nan), 2)
    with pytest.raises(ValueError, match="`size` must be at most 4"):
        interventions.densest_squares(np.zeros((1, 4, 6)), 5)
