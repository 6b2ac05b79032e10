"""Keep TensorFlow's native start-up lines out of notebook outputs and terminals.

TensorFlow logs from C++ through Abseil. Messages logged while its shared libraries load, before
anything calls ``absl::InitializeLog()``, are written straight to file descriptor 2 with the
notice ``WARNING: All log messages before absl::InitializeLog() is called are written to
STDERR``, and ``TF_CPP_MIN_LOG_LEVEL`` does not reach them. On an x86 CPU this prints
``oneDNN custom operations are on…`` twice on ``import tensorflow`` (two libraries each link
their own Abseil); a Jupyter kernel forwards descriptor 2 into the first cell's output.

Setting ``TF_ENABLE_ONEDNN_OPTS=0`` would hide the line but change the numerics, so instead the
first ``import tensorflow`` runs with descriptor 2 captured, and the captured lines are written
back except the Abseil-formatted messages (and that notice) below ``TF_CPP_MIN_LOG_LEVEL``: the
variable then means for these lines what it means for the rest of TensorFlow's logging.
Nothing else is dropped; Python-level output (``sys.stderr``, warnings) is never touched.
"""
from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile

_ABSL_NOTICE = "WARNING: All log messages before absl::InitializeLog() is called"
# e.g. "I0000 00:00:1796018474.080480    4022 port.cc:153] oneDNN custom operations are on."
_ABSL_LINE = re.compile(r"([IWEF])\d{4} [\d:.]+\s+\d+ [^\s\]]+:\d+\] ")
_SEVERITY = {"I": 0, "W": 1, "E": 2, "F": 3}


def min_log_level() -> int:
    """``TF_CPP_MIN_LOG_LEVEL`` as an int (0 when unset or not a number)."""
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return 0


def filter_native_log(text: str, min_level: int) -> str:
    """``text`` without the Abseil log messages below ``min_level`` (0 INFO ... 3 FATAL kept).

    A line that does not start with an Abseil prefix continues the message above it and shares
    its fate (``cpu_feature_guard`` writes two lines); fatal messages are always kept.
    """
    kept, keep = [], True
    for line in text.splitlines(keepends=True):
        match = _ABSL_LINE.match(line)
        if line.startswith(_ABSL_NOTICE):
            keep = min_level < 1
        elif match:
            severity = _SEVERITY[match.group(1)]
            keep = severity >= min_level or severity == _SEVERITY["F"]
        if keep:
            kept.append(line)
    return "".join(kept)


@contextlib.contextmanager
def filtered_stderr_fd(min_level: int):
    """Capture file descriptor 2 inside the block and write back what :func:`filter_native_log` keeps."""
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 (e.g. pythonw): nothing to keep clean
        yield
        return
    with tempfile.TemporaryFile() as capture:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = filter_native_log(capture.read().decode("utf-8", "replace"), min_level)
            if kept:
                os.write(2, kept.encode("utf-8"))


class _QuietLoader(importlib.abc.Loader):
    """Runs the wrapped loader's ``exec_module`` inside :func:`filtered_stderr_fd`."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        # The wrapper must not outlive the import: TensorFlow and tools inspect __spec__.loader.
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        with filtered_stderr_fd(min_log_level()):
            self._loader.exec_module(module)


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` once, with a loader that filters the native start-up lines."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tensorflow":
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None and min_log_level() > 0:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def install() -> None:
    """Make the first ``import tensorflow`` of this process quiet (a no-op once TensorFlow is loaded)."""
    if "tensorflow" in sys.modules or any(isinstance(f, _QuietTensorFlowFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _QuietTensorFlowFinder())
