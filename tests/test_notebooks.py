"""Every notebook executes top to bottom in quick mode, and the committed copies are clean full runs."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _code_cells(path):
    cells = json.loads(path.read_text())["cells"]
    return [c for c in cells if c["cell_type"] == "code" and "".join(c["source"]).strip()]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebook_is_a_clean_top_to_bottom_full_run(path):
    cells = _code_cells(path)
    counts = [c.get("execution_count") for c in cells]
    assert None not in counts, f"{path.name} has unexecuted cells"
    assert counts == list(range(1, len(counts) + 1)), f"{path.name} was not executed top to bottom"
    errors = [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{path.name} holds error outputs"
    quick_flags = [o for c in cells for o in c.get("outputs", []) if "QUICK mode" in "".join(o.get("text", ""))]
    assert not quick_flags, f"{path.name} was committed from a quick run"
    widgets = [o for c in cells for o in c.get("outputs", [])
               if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert not widgets, f"{path.name} has widget outputs that nbviewer cannot show"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes_in_quick_mode(path, tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "run_notebooks.py"), "--quick", "--out", str(tmp_path), str(path)],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
