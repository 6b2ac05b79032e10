"""The one progress bar of the package: plain-text tqdm on stderr, shown only for calls over ~2 seconds.

Plain ``tqdm.tqdm`` (never ``tqdm.auto`` / ``tqdm.notebook``): notebooks and nbviewer show it as
text, not as a widget. ``delay=2`` keeps calls shorter than about two seconds silent; the bar is
ASCII, of fixed width and redrawn at most every few seconds, so that an executed notebook stores
a short stream; ``leave=False`` erases it at the end and one summary line takes its place, so a
notebook keeps a single tidy line per long call. A bar opened while another is running (an
attribution method inside a metric loop) stays silent: the outer loop reports.
"""
from __future__ import annotations

import sys
import time
from contextlib import contextmanager

from tqdm import tqdm

#: Seconds before a bar appears; calls that end sooner print nothing.
DELAY = 2.0
#: Whether a bar that was shown leaves a summary line (``description: total unit in T s``) when it ends;
#: :func:`introspect.report.setup_notebook` turns it off.
SUMMARY = True

_open_bars = 0


@contextmanager
def bar(total: int, description: str, progress: bool = True, unit: str = "it"):
    """A tqdm bar of ``total`` units, or a silent stand-in when ``progress`` is false or a bar is open.

    Yields an object with ``update(n=1)``. When the call lasted over :data:`DELAY` seconds, the
    line ``description: total unit in T s`` replaces the bar at the end (unless :data:`SUMMARY` is off).
    """
    global _open_bars
    if not isinstance(progress, bool):
        raise ValueError(f"`progress` must be True or False; got {progress!r}.")
    show = progress and _open_bars == 0
    start = time.perf_counter()
    _open_bars += 1
    try:
        with tqdm(total=total, desc=description, unit=unit, disable=not show, delay=DELAY, leave=False,
                  ascii=True, ncols=80, mininterval=3.0, file=sys.stderr) as shown:
            yield shown
    finally:
        _open_bars -= 1
    seconds = time.perf_counter() - start
    if SUMMARY and show and seconds >= DELAY:
        print(f"{description}: {total} {unit} in {seconds:.1f} s", file=sys.stderr, flush=True)
