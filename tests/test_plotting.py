"""Tests of introspect.plotting: what is drawn, with which colours, and that nothing is shown."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import TwoSlopeNorm  # noqa: E402

from introspect import plotting as P  # noqa: E402

RNG = np.random.default_rng(0)
IMAGE = RNG.uniform(size=(10, 12, 1)).astype(np.float32)
SIGNED = RNG.normal(size=(10, 12)).astype(np.float32)


@pytest.fixture(autouse=True)
def no_show_and_close(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("plotting must never call plt.show()")

    monkeypatch.setattr(plt, "show", refuse)
    yield
    plt.close("all")


def _no_ticks(ax):
    return len(ax.get_xticks()) == 0 and len(ax.get_yticks()) == 0


def _colorbar_labels(fig):
    return [a.get_ylabel() for a in fig.axes if a.get_label() == "<colorbar>"]


def test_show_image_grey_and_rgb():
    fig, ax = P.show_image(IMAGE, title="a shirt")
    assert ax.get_title() == "a shirt" and _no_ticks(ax) and ax.figure is fig
    assert ax.images[0].get_cmap().name == "gray"
    fig, ax = P.show_image(RNG.uniform(0, 255, size=(4, 4, 3)))
    shown = ax.images[0].get_array()
    assert shown.shape == (4, 4, 3) and shown.min() == 0 and shown.max() == 1  # min-max scaled


def test_signed_map_is_centred_on_zero_with_symmetric_limits():
    fig, ax = P.show_signed_map(SIGNED, title="gradient", label="d logit / d pixel")
    norm = ax.images[0].norm
    assert isinstance(norm, TwoSlopeNorm) and norm.vcenter == 0
    limit = np.abs(SIGNED).max()
    assert norm.vmin == pytest.approx(-limit) and norm.vmax == pytest.approx(limit)
    assert norm(0.0) == pytest.approx(0.5)
    assert _colorbar_labels(fig) == ["d logit / d pixel"]
    assert _no_ticks(ax) and ax.get_title() == "gradient"
    _, ax = P.show_signed_map(SIGNED, percentile=50)
    assert ax.images[0].norm.vmax == pytest.approx(np.percentile(np.abs(SIGNED), 50))


def test_signed_map_of_zeros_does_not_fail():
    _, ax = P.show_signed_map(np.zeros((3, 3)))
    assert ax.images[0].norm.vmax > 0


def test_magnitude_map_starts_at_zero_and_refuses_negative_values():
    positive = np.abs(SIGNED)
    fig, ax = P.show_magnitude_map(positive)
    image = ax.images[0]
    assert image.norm.vmin == 0 and image.norm.vmax == pytest.approx(positive.max())
    assert image.get_cmap().name == P.MAGNITUDE_CMAP
    assert _colorbar_labels(fig) == ["attribution magnitude"]
    with pytest.raises(ValueError, match="`saliency`.*negative"):
        P.show_magnitude_map(SIGNED)


def test_signed_colorbar_spans_minus_to_plus_limit_with_its_label():
    fig, axes = plt.subplots(1, 2)
    bar = P.signed_colorbar(fig, axes, limit=2.0, label="map / its 99th percentile", shrink=0.5)
    assert isinstance(bar.norm, TwoSlopeNorm) and (bar.norm.vmin, bar.norm.vcenter, bar.norm.vmax) == (-2.0, 0.0, 2.0)
    assert bar.ax.get_ylabel() == "map / its 99th percentile" and bar.cmap.name == P.SIGNED_CMAP
    with pytest.raises(ValueError, match="`limit`"):
        P.signed_colorbar(fig, axes, limit=0.0)
    plt.close(fig)


def test_draws_into_a_given_axes():
    fig, ax = plt.subplots()
    got_fig, got_ax = P.show_signed_map(SIGNED, ax=ax, colorbar=False)
    assert got_fig is fig and got_ax is ax and len(ax.images) == 1


def test_overlay_picks_colours_by_sign():
    _, ax = P.show_overlay(IMAGE, SIGNED)
    assert len(ax.images) == 2 and isinstance(ax.images[1].norm, TwoSlopeNorm)
    assert ax.images[1].get_alpha() == pytest.approx(0.55)
    _, ax = P.show_overlay(IMAGE, np.abs(SIGNED))
    assert ax.images[1].get_cmap().name == P.MAGNITUDE_CMAP
    with pytest.raises(ValueError, match="`saliency`.*does not match"):
        P.show_overlay(IMAGE, SIGNED[:5])


def test_image_and_map_side_by_side():
    fig, axes = P.show_image_and_map(IMAGE, SIGNED, titles=("input", "IG"))
    assert axes.shape == (2,) and [a.get_title() for a in axes] == ["input", "IG"]
    assert isinstance(axes[1].images[0].norm, TwoSlopeNorm)
    assert all(_no_ticks(a) for a in axes)
    fig, given = plt.subplots(1, 2)
    got_fig, _ = P.show_image_and_map(IMAGE, np.abs(SIGNED), ax=given)
    assert got_fig is fig


def test_method_grid_layout_titles_and_normalisation():
    images = RNG.uniform(size=(3, 10, 12, 1))
    maps = {"gradient": RNG.normal(size=(3, 10, 12, 1)), "grad_cam": RNG.uniform(size=(3, 10, 12))}
    fig, axes = P.show_method_grid(images, maps, column_titles=["shirt", "bag", "boot"])
    assert axes.shape == (3, 3)
    assert [a.get_title() for a in axes[0]] == ["shirt", "bag", "boot"]
    assert [axes[r, 0].get_ylabel() for r in range(3)] == ["image", "gradient", "grad_cam"]
    assert all(_no_ticks(a) for a in axes.flat)
    signed_cell, magnitude_cell = axes[1, 0].images[0], axes[2, 0].images[0]
    assert isinstance(signed_cell.norm, TwoSlopeNorm) and signed_cell.get_array().max() <= 1
    assert magnitude_cell.get_cmap().name == P.MAGNITUDE_CMAP and magnitude_cell.get_array().min() >= 0
    assert len(_colorbar_labels(fig)) == 2 and all("p99.5" in label for label in _colorbar_labels(fig))
    _, axes = P.show_method_grid(images, maps, overlay=True, signed={"grad_cam": True})
    assert len(axes[2, 1].images) == 2 and isinstance(axes[2, 1].images[1].norm, TwoSlopeNorm)


def test_method_grid_reduces_channels_only_when_asked():
    images = RNG.uniform(size=(2, 6, 6, 3))
    maps = {"gradient": RNG.normal(size=(2, 6, 6, 3))}
    with pytest.raises(ValueError, match="reduce="):
        P.show_method_grid(images, maps)
    _, axes = P.show_method_grid(images, maps, reduce="abs-max")
    assert axes[1, 0].images[0].get_array().min() >= 0


@pytest.mark.parametrize("call, argument", [
    (lambda: P.show_image(np.zeros((2, 3, 4, 1))), "image"),
    (lambda: P.show_image(np.full((3, 3), np.nan)), "image"),
    (lambda: P.show_signed_map(np.zeros((3, 3, 3))), "saliency"),
    (lambda: P.show_signed_map(np.array([[np.inf]])), "saliency"),
    (lambda: P.show_overlay(IMAGE, SIGNED, alpha=2), "alpha"),
    (lambda: P.show_method_grid(np.zeros((2, 4, 4)), {}), "maps"),
    (lambda: P.show_method_grid(np.zeros((2, 4, 4)), {"a": np.zeros((3, 4, 4))}), "maps"),
    (lambda: P.show_method_grid(np.zeros((2, 4, 4)), {"a": np.zeros((2, 4, 4))}, column_titles=["x"]),
     "column_titles"),
    (lambda: P.show_signed_map(SIGNED, ax="not axes"), "ax"),
    (lambda: P.save_figure(plt.figure(), "../escape"), "name"),
    (lambda: P.save_figure("not a figure", "ok"), "fig"),
])
def test_bad_input(call, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        call()


def test_save_figure_creates_the_folder(tmp_path):
    fig, _ = P.show_signed_map(SIGNED)
    path = P.save_figure(fig, "signed_map", folder=tmp_path / "figures" / "nested")
    assert path == tmp_path / "figures" / "nested" / "signed_map.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert P.save_figure(fig, "again.png", folder=tmp_path).name == "again.png"


def test_show_map_rows_shares_one_symmetric_limit_per_row():
    small, large = SIGNED * 0.1, SIGNED * 3
    fig, axes = P.show_map_rows({"gradient": [small, large, large - small], "cam": np.stack([small, small])[[0, 1, 1]]},
                                column_titles=["predicted", "true", "difference"], image=IMAGE)
    assert axes.shape == (2, 4)
    assert axes[0, 1].get_title() == "predicted" and axes[0, 3].get_title() == "difference"
    assert axes[0, 0].images[0].get_cmap().name == "gray" and axes[1, 0].get_ylabel() == "cam"
    norms = [axes[0, c].images[0].norm for c in (1, 2, 3)]
    limit = np.abs(np.stack([small, large, large - small])).max()
    for norm in norms:
        assert isinstance(norm, TwoSlopeNorm) and norm.vcenter == 0
        assert norm.vmin == pytest.approx(-limit) and norm.vmax == pytest.approx(limit)
    assert axes[1, 1].images[0].norm.vmax == pytest.approx(np.abs(small).max())
    assert _colorbar_labels(fig) == ["attribution", "attribution"]
    assert all(_no_ticks(ax) for ax in axes.flat)


def test_show_map_rows_cell_scale_normalises_each_map():
    _, axes = P.show_map_rows({"a": [SIGNED, SIGNED * 10]}, scale="cell")
    first, second = (axes[0, c].images[0].get_array() for c in (0, 1))
    np.testing.assert_allclose(first, second, rtol=1e-5)
    assert np.abs(first).max() == pytest.approx(1.0)


@pytest.mark.parametrize("kwargs", [dict(rows={}), dict(rows={"a": [SIGNED], "b": [SIGNED, SIGNED]}),
                                    dict(rows={"a": [SIGNED]}, scale="column"),
                                    dict(rows={"a": [SIGNED]}, column_titles=["x", "y"]),
                                    dict(rows={"a": [np.zeros((2, 3, 4))]}),
                                    dict(rows={"a": [SIGNED]}, image={"b": IMAGE})])
def test_show_map_rows_rejects_bad_input(kwargs):
    with pytest.raises(ValueError):
        P.show_map_rows(**kwargs)


def test_show_image_grid_layout_titles_and_fixed_grey_scale():
    images = RNG.uniform(0.2, 0.6, size=(2, 3, 5, 6, 1)).astype(np.float32)
    fig, axes = P.show_image_grid(images, row_titles=["noise", "image"], column_titles=["a", "b", "c"])
    assert axes.shape == (2, 3) and all(_no_ticks(a) for a in axes.flat)
    assert [a.get_title() for a in axes[0]] == ["a", "b", "c"] and axes[1, 0].get_title() == ""
    assert [axes[r, 0].get_ylabel() for r in range(2)] == ["noise", "image"]
    shown = axes[1, 2].images[0]
    assert shown.get_clim() == (0.0, 1.0)  # not stretched to the image's own range
    np.testing.assert_array_equal(shown.get_array(), images[1, 2, ..., 0])
    fig, axes = P.show_image_grid(images[0], cell_titles=[["x", "y", "z"]])  # one row from a batch
    assert axes.shape == (1, 3) and axes[0, 2].get_title() == "z"


@pytest.mark.parametrize("kwargs, argument", [
    (dict(images=np.zeros((5, 6))), "`images`"),
    (dict(images=np.zeros((2, 3, 5, 6, 2))), "`images`"),
    (dict(images=np.zeros((2, 3, 5, 6)), row_titles=["one"]), "`row_titles`"),
    (dict(images=np.zeros((2, 3, 5, 6)), column_titles=["a"]), "`column_titles`"),
    (dict(images=np.zeros((2, 3, 5, 6)), cell_titles=[["a", "b", "c"]]), "`cell_titles`"),
])
def test_show_image_grid_rejects_bad_input(kwargs, argument):
    images = kwargs.pop("images")
    with pytest.raises(ValueError, match=argument):
        P.show_image_grid(images, **kwargs)
