"""scripts/run_notebooks.py: the closing table of notebook times, with the total against the budget."""
from pathlib import Path

import pytest

from helpers import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "run_notebooks.py"


@pytest.fixture(scope="module")
def runner():
    return load_script(SCRIPT, "run_notebooks")


@pytest.mark.parametrize("seconds, verdict", [((300.0, 250.0, 200.0), "within"), ((400.0, 300.0, 250.0), "OVER")])
def test_summary_table_has_every_notebook_and_the_total(runner, capsys, seconds, verdict):
    times = {Path(f"notebooks/0{i}_x.ipynb"): s for i, s in enumerate(seconds, 1)}
    runner.print_summary(times, quick=False)
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines[1:4]] == [path.name for path in times]
    assert lines[-1].split()[:2] == ["total", f"{sum(seconds):.0f}"]
    assert f"{verdict} the 15-minute budget" in lines[-1]


def test_quick_runs_are_not_judged_against_the_budget(runner, capsys):
    runner.print_summary({Path("a.ipynb"): 5000.0}, quick=True)
    out = capsys.readouterr().out
    assert "(quick mode)" in out and "budget" not in out
