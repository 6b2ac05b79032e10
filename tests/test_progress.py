"""Progress bars: silent for short calls and with progress=False, one summary line for long ones, never nested."""
import time

import numpy as np
import pytest

from helpers import batchnorm_cnn
from introspect import _progress, metrics, saliency
from introspect.saliency import perturbation


@pytest.fixture
def short_delay(monkeypatch):
    monkeypatch.setattr(_progress, "DELAY", 0.05)


def _run(total, seconds, **options):
    with _progress.bar(total, "task", **options) as shown:
        for _ in range(total):
            time.sleep(seconds / total)
            shown.update()


def test_short_call_prints_nothing(capsys):
    _run(3, 0.01)
    assert capsys.readouterr().err == ""


def test_long_call_leaves_one_summary_line(capsys, short_delay):
    _run(4, 0.2)
    err = capsys.readouterr().err
    assert err.endswith("task: 4 it in 0.2 s\n") or "task: 4 it in 0." in err.splitlines()[-1]
    assert err.count("\n") == 1  # the bar itself is redrawn with carriage returns, then erased


def test_without_summary_a_finished_bar_leaves_nothing(capsys, short_delay, monkeypatch):
    monkeypatch.setattr(_progress, "SUMMARY", False)
    _run(4, 0.2)
    assert "in 0." not in capsys.readouterr().err  # no timing line (report.setup_notebook turns it off)


def test_progress_false_and_nested_bars_are_silent(capsys, short_delay):
    _run(2, 0.1, progress=False)
    assert capsys.readouterr().err == ""
    with _progress.bar(1, "outer") as outer:
        _run(2, 0.1)
        outer.update()
    lines = capsys.readouterr().err.splitlines()
    assert "task" not in "".join(lines) and lines[-1].startswith("outer: 1 it in")


def test_progress_must_be_bool():
    with pytest.raises(ValueError, match="`progress`"):
        _run(1, 0.0, progress="yes")


@pytest.mark.parametrize("method", ["integrated_gradients", "smoothgrad", "vanilla_gradient", "occlusion",
                                    "grad_cam", "lrp", "meaningful_perturbation"])
def test_methods_report_progress(capsys, short_delay, method, cnn, cnn_images):
    function = getattr(saliency, method)
    options = dict(steps=3) if method == "meaningful_perturbation" else {}
    function(cnn, cnn_images, 0, progress=False, **options)
    assert capsys.readouterr().err == ""
    _progress.DELAY = 0.0
    function(cnn, cnn_images, 0, **options)
    assert capsys.readouterr().err.splitlines()[-1].split(":")[0].lower().replace(" ", "_").startswith(method[:4])


def test_deletion_curve_reports_once(capsys, short_delay, cnn, cnn_images):
    _progress.DELAY = 0.0
    maps = np.random.default_rng(0).random(cnn_images.shape[:3])
    metrics.deletion_curve(cnn, cnn_images, maps, steps=4)
    lines = capsys.readouterr().err.splitlines()
    assert lines[-1].startswith("deletion curve: 5 steps in")


def test_perturbation_blocks_do_not_change_the_result(monkeypatch, cnn, cnn_images):
    once = saliency.meaningful_perturbation(cnn, cnn_images, 1, steps=23, progress=False)
    monkeypatch.setattr(perturbation, "BLOCK_STEPS", 4)
    blocks = saliency.meaningful_perturbation(cnn, cnn_images, 1, steps=23, progress=False)
    np.testing.assert_allclose(blocks, once, atol=1e-6)


@pytest.fixture(scope="module")
def cnn():
    return batchnorm_cnn("progress")


@pytest.fixture(scope="module")
def cnn_images():
    return np.random.default_rng(5).uniform(0, 1, size=(4, 12, 12, 1)).astype(np.float32)
