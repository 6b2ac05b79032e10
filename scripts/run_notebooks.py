"""Execute notebooks top to bottom with nbclient.

    python scripts/run_notebooks.py notebooks/*.ipynb          # full run, outputs written in place
    python scripts/run_notebooks.py --quick --out DIR NB...    # INTROSPECT_QUICK=1, copies into DIR

Each notebook runs with its own folder as the working directory, so relative paths such as
``../figures`` mean the same as when a user runs it in Jupyter. With ``--out``, figures go to
``OUT/figures`` (through ``$INTROSPECT_FIGURES``) so a quick run never overwrites the committed ones. Exits non-zero on the first
cell error, naming the notebook and the cell.

Each cell's stream outputs are merged and carriage-return redraws collapsed (nbclient's
``coalesce_streams``), so a progress bar stores only what was left on screen: one line per call.
Prints each notebook's time as it finishes and, at the end, a table of all times with the total
against the budget of :data:`BUDGET_SECONDS` for a full run.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from traitlets.config import Config

#: A full run of all notebooks must take at most this long on a quiet 2-core machine (15 minutes).
BUDGET_SECONDS = 15 * 60


def execute(path: Path, out: Path, *, quick: bool, timeout: int, figures: Path | None) -> float:
    """Run ``path`` in a fresh kernel and write the executed notebook to ``out``."""
    notebook = nbformat.read(path, as_version=4)
    env = {"INTROSPECT_QUICK": "1" if quick else "0"}
    if figures is not None:
        env["INTROSPECT_FIGURES"] = str(figures.resolve())
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)  # the kernel inherits the environment of this process
    start = time.perf_counter()
    sockets = tempfile.TemporaryDirectory(prefix="introspect-kernel-")
    config = Config()
    if os.name == "posix":
        # Local sockets instead of TCP on localhost: nothing else can connect, and the kernel does not
        # print its warning about unencrypted TCP into the terminal.
        config.KernelManager.transport = "ipc"
        config.KernelManager.ip = os.path.join(sockets.name, "kernel")
    try:
        NotebookClient(notebook, timeout=timeout, kernel_name="python3", config=config, coalesce_streams=True,
                       resources={"metadata": {"path": str(path.parent.resolve())}}).execute()
    finally:
        sockets.cleanup()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        out.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, out)
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--quick", action="store_true", help="set INTROSPECT_QUICK=1 (fewer epochs, samples, steps)")
    parser.add_argument("--out", type=Path, help="write executed copies here instead of in place")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds allowed per cell")
    args = parser.parse_args(argv)
    times: dict[Path, float] = {}
    for path in args.notebooks:
        out = args.out / path.name if args.out else path
        print(f"executing {path} ({'quick' if args.quick else 'full'} mode) -> {out}", flush=True)
        try:
            seconds = execute(path, out, quick=args.quick, timeout=args.timeout,
                              figures=args.out / "figures" if args.out else None)
        except CellExecutionError as error:
            print(f"FAILED {path}: a cell raised an error (executed copy with the traceback: {out})\n{error}",
                  file=sys.stderr)
            print_summary(times, args.quick)
            return 1
        times[path] = seconds
        print(f"  done in {seconds:.0f} s", flush=True)
    print_summary(times, args.quick)
    return 0


def print_summary(times: dict, quick: bool) -> None:
    """Per-notebook seconds, the total and, for a full run, the total against :data:`BUDGET_SECONDS`."""
    if not times:
        return
    width = max(len(path.name) for path in times)
    total = sum(times.values())
    print(f"\n{'notebook':<{width}}  {'seconds':>7}  {'minutes':>7}")
    for path, seconds in times.items():
        print(f"{path.name:<{width}}  {seconds:7.0f}  {seconds / 60:7.1f}")
    print(f"{'total':<{width}}  {total:7.0f}  {total / 60:7.1f}", end="")
    if quick:
        print("  (quick mode)")
    else:
        verdict = "within" if total <= BUDGET_SECONDS else "OVER"
        print(f"  ({verdict} the {BUDGET_SECONDS // 60}-minute budget of a full run on a quiet 2-core machine)")


if __name__ == "__main__":
    sys.exit(main())
