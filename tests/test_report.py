"""introspect.report: checked claims, tables, bootstrap intervals (coverage on known distributions), figures."""
import os
import platform
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from introspect import _progress, report

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REPETITIONS = 400


def _coverage(draw, truth, *, method, n, statistic=np.mean, seed=2024):
    """Share of REPETITIONS seeded samples whose interval covers ``truth``, and the misses below / above."""
    rng = np.random.default_rng(seed)
    below = above = 0
    for repetition in range(REPETITIONS):
        low, high = report.bootstrap_ci(draw(rng, n), statistic, method=method, seed=repetition)
        below += truth < low
        above += truth > high
    return 1 - (below + above) / REPETITIONS, below, above


# check ---------------------------------------------------------------------------------------------------------

def test_check_prints_a_line_when_the_claim_holds(capsys, monkeypatch):
    monkeypatch.setenv("INTROSPECT_QUICK", "0")
    assert report.check("square flips >= 99% of other classes", np.float64(0.995) >= 0.99) is None
    assert capsys.readouterr().out == "✓ square flips >= 99% of other classes\n"


def test_check_raises_naming_the_claim_in_a_full_run(monkeypatch):
    monkeypatch.setenv("INTROSPECT_QUICK", "0")
    with pytest.raises(report.ClaimError, match="IG beats occlusion"):
        report.check("IG beats occlusion", False)
    assert issubclass(report.ClaimError, AssertionError)


def test_check_reports_and_goes_on_in_quick_mode_read_at_call_time(capsys, monkeypatch):
    monkeypatch.setenv("INTROSPECT_QUICK", "1")
    report.check("accuracy >= 90%", np.bool_(False))
    assert capsys.readouterr().out == "claim not checked in quick mode: accuracy >= 90%\n"
    monkeypatch.delenv("INTROSPECT_QUICK")
    with pytest.raises(report.ClaimError, match="accuracy"):
        report.check("accuracy >= 90%", False)


@pytest.mark.parametrize("holds", [np.array([True, False]), None, 1, "yes"])
def test_check_refuses_anything_but_a_bool(holds):
    with pytest.raises(ValueError, match="`holds`"):
        report.check("a claim", holds)


def test_check_refuses_an_empty_claim():
    with pytest.raises(ValueError, match="`claim`"):
        report.check("  ", True)


# table ---------------------------------------------------------------------------------------------------------

ROWS = [dict(method="IG", flip=0.1234, interval=(0.101, 0.152), seconds=1.23456, images=60000),
        dict(method="occlusion", flip=0.5, interval=(0.45, 0.55), seconds=0.1, images=100)]


def test_table_accepts_rows_columns_and_dataframes_alike():
    frame = pd.DataFrame(ROWS)
    columns = {key: [row[key] for row in ROWS] for key in ROWS[0]}
    html = {report.table(data, percent=["flip", "interval"]).to_html() for data in (ROWS, columns, frame)}
    assert len(html) == 1  # same HTML, stable ids included
    assert frame.equals(pd.DataFrame(ROWS))  # the caller's DataFrame is not modified


def test_table_formats_percentages_intervals_units_and_integers():
    styler = report.table(ROWS, percent=["flip", "interval"], units={"seconds": "s"}, caption="Flip rates")
    html = styler.to_html()
    for text in ("12.3%", "50.0%", "10.1% – 15.2%", "1.235", "60,000", ">seconds (s)<", "Flip rates"):
        assert text in html, text
    assert 'class="row_heading' not in html  # no index clutter
    assert list(styler.data.columns) == ["method", "flip", "interval", "seconds (s)", "images"]


def test_table_index_column_labels_the_rows_and_decimals_apply_per_column():
    html = report.table(ROWS, percent="flip", decimals={"seconds": 1, "flip": 2}, index="method").to_html()
    assert 'class="row_heading level0 row0" >IG<' in html
    assert "12.34%" in html and ">1.2<" in html and "0.101 – 0.152" in html


@pytest.mark.parametrize("kwargs, argument", [
    (dict(percent=["accuracy"]), "`percent`"),
    (dict(units={"time": "s"}), "`units`"),
    (dict(decimals={"nope": 1}), "`decimals`"),
    (dict(decimals=-1), "`decimals`"),
    (dict(decimals=1.5), "`decimals`"),
    (dict(index="name"), "`index`"),
])
def test_table_names_the_bad_argument(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        report.table(ROWS, **kwargs)


@pytest.mark.parametrize("data", ["a string", 3, [1, 2], []])
def test_table_refuses_data_that_is_not_a_table(data):
    with pytest.raises(ValueError, match="`data`"):
        report.table(data)


# bootstrap_ci --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_interval_of_the_mean_of_normal_samples_covers_the_true_mean_95_percent_of_the_time(method):
    coverage, _, _ = _coverage(lambda rng, n: rng.normal(2.0, 3.0, n), 2.0, method=method, n=50)
    assert 0.93 <= coverage <= 0.97, coverage  # measured: 0.940 with either method


def test_bca_corrects_the_skew_of_the_exponential_mean():
    exponential = lambda rng, n: rng.exponential(1.0, n)  # noqa: E731
    percentile, _, percentile_above = _coverage(exponential, 1.0, method="percentile", n=60)
    bca, bca_below, bca_above = _coverage(exponential, 1.0, method="bca", n=60)
    # Percentile intervals of a right-skewed mean sit too low (measured 0.930: 21 of 28 misses above);
    # BCa moves them up: coverage nearer 95% (measured 0.9375) and misses more even (10 below, 15 above).
    assert 0.925 <= bca <= 0.97, bca
    assert bca > percentile
    assert bca_above < percentile_above and bca_below > 0


def test_bca_agrees_with_scipy_on_the_same_data():
    from scipy.stats import bootstrap

    values = np.random.default_rng(0).exponential(size=37)
    ours = report.bootstrap_ci(values, np.mean, method="bca", n_resamples=50_000)
    theirs = bootstrap((values,), np.mean, method="BCa", n_resamples=50_000, rng=np.random.default_rng(1))
    width = ours[1] - ours[0]
    assert ours == pytest.approx(tuple(theirs.confidence_interval), abs=0.01 * width)


def test_interval_is_deterministic_under_the_seed_and_independent_of_the_chunk_size(monkeypatch):
    values = np.random.default_rng(3).exponential(size=41)
    first = report.bootstrap_ci(values, method="bca", seed=7)
    assert report.bootstrap_ci(values, method="bca", seed=7) == first
    assert report.bootstrap_ci(values, method="bca", seed=8) != first
    monkeypatch.setattr(report, "_CHUNK_ELEMENTS", 41 * 3 + 5)  # many small chunks of resamples and jackknife rows
    assert report.bootstrap_ci(values, method="bca", seed=7) == first


def test_a_statistic_without_axis_gives_the_same_interval():
    values = np.random.default_rng(4).normal(size=30)
    assert report.bootstrap_ci(values, lambda v: float(np.median(v))) == report.bootstrap_ci(values, np.median)


def test_rates_from_bools_and_constant_samples():
    hits = np.r_[np.ones(80, bool), np.zeros(20, bool)]
    low, high = report.bootstrap_ci(hits)
    assert 0.7 < low < 0.8 < high < 0.9
    assert report.bootstrap_ci(np.full(10, 3.0), method="bca") == (3.0, 3.0)


# paired_bootstrap_ci -------------------------------------------------------------------------------------------

def _paired_sample(rng, n=60, effect=0.3):
    between_images = rng.normal(0, 5, n)  # shared by both methods: it must cancel
    return between_images + rng.normal(effect, 1, n), between_images + rng.normal(0, 1, n)


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_paired_interval_covers_the_true_difference_and_is_narrower_than_unpaired_ones(method):
    rng = np.random.default_rng(7)
    covered, widths, unpaired = 0, [], []
    for repetition in range(REPETITIONS):
        a, b = _paired_sample(rng)
        low, high = report.paired_bootstrap_ci(a, b, method=method, seed=repetition)
        covered += low <= 0.3 <= high
        widths.append(high - low)
        if repetition < 20:
            (a_low, a_high), (b_low, b_high) = report.bootstrap_ci(a), report.bootstrap_ci(b)
            unpaired.append((a_high - a_low) + (b_high - b_low))
    assert 0.93 <= covered / REPETITIONS <= 0.97, covered / REPETITIONS  # measured: 0.955 percentile, 0.945 BCa
    assert np.mean(widths) < 0.25 * np.mean(unpaired)


def test_paired_interval_of_means_is_the_interval_of_the_mean_difference():
    a, b = _paired_sample(np.random.default_rng(1), n=45)
    assert report.paired_bootstrap_ci(a, b) == pytest.approx(report.bootstrap_ci(a - b), rel=1e-12)
    assert report.paired_bootstrap_ci(a, b, method="bca") == pytest.approx(
        report.bootstrap_ci(a - b, method="bca"), rel=1e-12)


def test_paired_interval_says_which_method_is_better():
    a, b = _paired_sample(np.random.default_rng(2), n=200, effect=0.5)
    assert report.paired_bootstrap_ci(a, b)[0] > 0
    assert report.paired_bootstrap_ci(b, a)[1] < 0


# bad input -----------------------------------------------------------------------------------------------------

GOOD = np.arange(10.0)


@pytest.mark.parametrize("kwargs, argument", [
    (dict(values=np.ones((3, 4))), "`values`"),
    (dict(values=[1.0]), "`values`"),
    (dict(values=[1.0, np.nan, 2.0]), "`values`"),
    (dict(values=["a", "b"]), "`values`"),
    (dict(statistic="mean"), "`statistic`"),
    (dict(confidence=1.5), "`confidence`"),
    (dict(confidence=0), "`confidence`"),
    (dict(n_resamples=10), "`n_resamples`"),
    (dict(n_resamples=2000.0), "`n_resamples`"),
    (dict(method="BCA "), "`method`"),
    (dict(seed="0"), "`seed`"),
    (dict(statistic=lambda v: np.nan), "`statistic`"),
])
def test_bootstrap_ci_names_the_bad_argument(kwargs, argument):
    kwargs = {"values": GOOD, **kwargs}
    with pytest.raises(ValueError, match=argument):
        report.bootstrap_ci(**kwargs)


@pytest.mark.parametrize("a, b, argument", [
    (GOOD, GOOD[:5], "`a` and `b`"),
    (GOOD, np.full(10, np.inf), "`b`"),
    (np.ones((10, 1)), GOOD, "`a`"),
])
def test_paired_bootstrap_ci_names_the_bad_argument(a, b, argument):
    with pytest.raises(ValueError, match=argument):
        report.paired_bootstrap_ci(a, b)


def test_cluster_interval_resamples_groups_not_items():
    # 20 photos, 5 views each, every view of a photo has the photo's outcome: 20 independent items, not 100
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(20), 5)
    values = (rng.random(20) < 0.5)[groups].astype(float)
    cluster = report.cluster_bootstrap_ci(values, groups, seed=1)
    per_photo = report.bootstrap_ci(values[::5], seed=1)
    naive = report.bootstrap_ci(values, seed=1)
    assert cluster[0] <= values.mean() <= cluster[1]
    assert (cluster[1] - cluster[0]) == pytest.approx(per_photo[1] - per_photo[0], abs=0.05)
    assert (cluster[1] - cluster[0]) > 1.7 * (naive[1] - naive[0])
    assert report.cluster_bootstrap_ci(values, [str(g) for g in groups], seed=1) == cluster  # any labels
    # unequal groups: the interval is of the pooled mean over views, not of the mean of photo means
    values, groups = np.r_[np.ones(9), 0.0, 0.0], np.r_[np.zeros(9), 1, 2]
    low, high = report.cluster_bootstrap_ci(values, groups, seed=0)
    assert low <= 9 / 11 <= high and high == 1.0


def test_with_intervals_merges_low_and_high_into_one_cell_after_the_mean():
    frame = pd.DataFrame(dict(method=["a", "b"], rho=[0.1, 0.2], rho_low=[0.05, 0.1], rho_high=[0.15, 0.3], n=[1, 2]))
    merged = report.with_intervals(frame, "rho")
    assert list(merged.columns) == ["method", "rho", "rho 95% interval", "n"]
    assert merged["rho 95% interval"].tolist() == [(0.05, 0.15), (0.1, 0.3)]
    assert "0.050 – 0.150" in report.table(merged).to_html()
    with pytest.raises(ValueError, match="`columns`"):
        report.with_intervals(frame, "n")


@pytest.mark.parametrize("values, groups, argument", [
    ([1.0, 2.0, 3.0], [0, 0], "`groups`"), ([1.0, 2.0, 3.0], [0, 0, 0], "`groups`"),
    ([1.0, np.nan, 3.0], [0, 1, 2], "`values`"),
])
def test_cluster_bootstrap_ci_names_the_bad_argument(values, groups, argument):
    with pytest.raises(ValueError, match=argument):
        report.cluster_bootstrap_ci(values, groups)


# figures -------------------------------------------------------------------------------------------------------

def test_setup_notebook_sets_png_at_150_dpi(monkeypatch):
    monkeypatch.setattr(_progress, "SUMMARY", True)
    with matplotlib.rc_context():
        report.setup_notebook()
        assert not _progress.SUMMARY  # no timing lines in a notebook
        assert matplotlib.rcParams["figure.dpi"] == 150
        assert matplotlib.rcParams["savefig.dpi"] == 150
        assert matplotlib.rcParams["savefig.format"] == "png"
    with pytest.raises(ValueError, match="`dpi`"):
        report.setup_notebook(dpi=72)


def test_save_writes_a_png_of_150_dpi_or_more_where_the_notebooks_expect_it(tmp_path, monkeypatch):
    fig, ax = plt.subplots(figsize=(2, 1))
    ax.plot([0, 1], [0, 1])
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    monkeypatch.delenv("INTROSPECT_FIGURES", raising=False)
    with matplotlib.rc_context({"savefig.dpi": 100}):  # a lower setting is raised to 150, never honoured
        path = report.save(fig, "01_example")
    assert path.resolve() == tmp_path / "figures" / "01_example.png"
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.info["dpi"][0] == pytest.approx(150, abs=0.5)
    monkeypatch.setenv("INTROSPECT_FIGURES", str(tmp_path / "quick"))
    assert report.save(fig, "01_example") == tmp_path / "quick" / "01_example.png"
    assert report.save(fig, "02_example", folder=tmp_path / "mine").exists()
    plt.close(fig)


def test_shared_limit_and_norm_give_compared_maps_one_scale():
    maps = [np.linspace(-1, 1, 100).reshape(10, 10), 4 * np.linspace(0, 1, 100).reshape(10, 10)]
    every_value = np.abs(np.concatenate([m.ravel() for m in maps]))
    assert report.shared_limit(maps) == pytest.approx(np.percentile(every_value, 99.5))
    assert report.shared_limit(maps, percentile=None) == 4.0
    signed = report.shared_norm(maps, percentile=None)
    assert (signed.vmin, signed(0.0), signed.vmax) == (-4.0, 0.5, 4.0)
    magnitude = report.shared_norm(np.stack([np.abs(m) for m in maps]), percentile=None)
    assert (magnitude.vmin, magnitude.vmax) == (0.0, 4.0)
    with pytest.raises(ValueError, match="`percentile`"):
        report.shared_limit(maps, percentile=0)
    with pytest.raises(ValueError, match="`maps`"):
        report.shared_limit([np.array([1.0, np.nan])])


# what report and TensorFlow print ------------------------------------------------------------------------------

def _run(code, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **env}, check=True)


def test_report_does_not_import_tensorflow():
    _run("import sys, introspect.report; assert 'tensorflow' not in sys.modules, 'report imported TensorFlow'")


@pytest.mark.slow
def test_tensorflow_start_up_lines_are_kept_out_unless_the_user_asks_for_them():
    environment = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    quiet = subprocess.run([sys.executable, "-c", "import introspect, tensorflow; print('ok')"], capture_output=True,
                           text=True, cwd=ROOT, env=environment, check=True)
    assert quiet.stdout == "ok\n"
    assert "absl::InitializeLog" not in quiet.stderr and "oneDNN" not in quiet.stderr, quiet.stderr
    assert "cpu_feature_guard" not in quiet.stderr, quiet.stderr
    if platform.machine().lower() in ("x86_64", "amd64"):  # where TensorFlow announces oneDNN at start-up
        # A user's own TF_CPP_MIN_LOG_LEVEL wins: at 0 the INFO lines are written as TensorFlow writes them.
        verbose = _run("import introspect, tensorflow", TF_CPP_MIN_LOG_LEVEL="0")
        assert "oneDNN custom operations are on" in verbose.stderr, verbose.stderr


def test_t_interval_matches_the_textbook_and_covers_the_mean_of_three_runs():
    low, high = report.t_interval([1.0, 2.0, 3.0])  # mean 2, standard error 1/sqrt(3), t(0.975, 2) = 4.3027
    np.testing.assert_allclose([low, high], [2 - 4.3027 / np.sqrt(3), 2 + 4.3027 / np.sqrt(3)], atol=1e-4)
    rng = np.random.default_rng(0)
    covered = [low <= 0.9 <= high for low, high in (report.t_interval(rng.normal(0.9, 0.01, 3)) for _ in range(1000))]
    assert 0.93 <= np.mean(covered) <= 0.97
    with pytest.raises(ValueError, match="`values`"):
        report.t_interval([0.9])
    with pytest.raises(ValueError, match="`confidence`"):
        report.t_interval([0.9, 0.8], confidence=95)
