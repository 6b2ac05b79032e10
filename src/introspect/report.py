"""The notebooks' toolkit: checked claims, tables, bootstrap intervals and figure defaults.

A notebook is a paper you can run: every number its prose quotes is checked by :func:`check`
right after it is computed, compared rates carry a :func:`bootstrap_ci` (or, for two methods
on the same images, a :func:`paired_bootstrap_ci`; for items in correlated groups, such as
views of one photo, a :func:`cluster_bootstrap_ci`), tables are DataFrames shown by
:func:`table`, and figures are PNG at 150 dpi or more, inline (:func:`setup_notebook`) and in
``figures/`` (:func:`save`). Maps that are compared share one colour scale (:func:`shared_norm`).

Quick mode is ``INTROSPECT_QUICK=1`` in the environment (``scripts/run_notebooks.py --quick``):
fewer samples and steps, so a claim may not hold and is reported instead of raised.

This module imports numpy, pandas and matplotlib only, never TensorFlow.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd

from . import _progress, plotting

FIGURE_DPI = 150
_CHUNK_ELEMENTS = 4_000_000  # resampled values held at once (32 MB of float64)


class ClaimError(AssertionError):
    """A claim made in a notebook's prose does not hold for the numbers of this run."""


def quick_mode() -> bool:
    """Whether ``INTROSPECT_QUICK=1`` is set (read at call time)."""
    return os.environ.get("INTROSPECT_QUICK", "0") == "1"


def check(claim: str, holds: bool) -> None:
    """Verify a claim that the prose around it makes, e.g. ``check("square flips >= 99%", flip >= 0.99)``.

    Prints ``✓ <claim>`` when it holds. When it does not, a full run raises :class:`ClaimError`
    naming the claim, so that an executed notebook never contradicts its own text; quick mode
    prints ``claim not checked in quick mode: <claim>`` and goes on.

    Parameters
    ----------
    claim : str
        The claim as the prose states it, with its numbers and tolerance.
    holds : bool or numpy.bool_
        Whether it holds. Arrays are refused: reduce them first with ``.all()`` or ``.any()``.

    Returns nothing, so that a check ending a cell adds no ``Out[]`` line.
    """
    if not isinstance(claim, str) or not claim.strip():
        raise ValueError(f"`claim` must be a non-empty string; got {claim!r}.")
    if not isinstance(holds, (bool, np.bool_)):
        raise ValueError(f"`holds` must be a bool (e.g. `x >= 0.99` or `(a > b).all()`); got "
                         f"{type(holds).__name__} for the claim {claim!r}.")
    if holds:
        print(f"✓ {claim}")
    elif quick_mode():
        print(f"claim not checked in quick mode: {claim}")
    else:
        raise ClaimError(f"claim does not hold: {claim}")


def _as_frame(data) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data.copy()
    if isinstance(data, Mapping):
        return pd.DataFrame(dict(data))
    if isinstance(data, Iterable) and not isinstance(data, (str, bytes)):
        rows = list(data)
        if rows and all(isinstance(row, Mapping) for row in rows):
            return pd.DataFrame(rows)
    raise ValueError("`data` must be a DataFrame, a dict of columns or a non-empty list of dicts (one per row); "
                     f"got {type(data).__name__}.")


def _columns(names, frame: pd.DataFrame, argument: str) -> list:
    names = [names] if isinstance(names, str) else list(names)
    missing = [name for name in names if name not in frame.columns]
    if missing:
        raise ValueError(f"`{argument}` names columns that the table does not have: {missing}; "
                         f"columns are {list(frame.columns)}.")
    return names


def _formatter(spec: str) -> Callable:
    def format_value(value) -> str:
        if isinstance(value, tuple) and len(value) == 2:  # an interval (low, high)
            return f"{format(value[0], spec)} – {format(value[1], spec)}"
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return "–"
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
            return format(value, spec)
        return str(value)
    return format_value


def table(data, *, percent: Iterable[str] | str = (), decimals: int | Mapping[str, int] = 3,
          units: Mapping[str, str] | None = None, index: str | None = None, caption: str | None = None):
    """A table for nbviewer: percentages as ``12.3%``, units in the headers, no row numbers.

    Parameters
    ----------
    data : DataFrame, dict column -> values, or list of dicts (one per row)
        Not modified. A cell may hold an interval ``(low, high)``, e.g. from
        :func:`bootstrap_ci`; it is shown as ``low – high`` in its column's format.
    percent : column name or names
        Columns of fractions (0.123) shown as percentages (``12.3%``, one decimal unless
        ``decimals`` names the column).
    decimals : int or dict column -> int
        Decimals of the other non-integer numbers (a dict sets them per column, others keep 3).
        Integers are shown with a thousands separator (``60,000``).
    units : dict column -> unit, optional
        Written into the header: ``{"time": "s"}`` shows the column ``time`` as ``time (s)``.
    index : str, optional
        A column whose values label the rows (shown in bold, left); by default the rows are
        not labelled, the DataFrame's own index is hidden.
    caption : str, optional
        Shown above the table.

    Returns
    -------
    pandas.io.formats.style.Styler
        Renders as HTML in Jupyter and nbviewer; the data are in ``.data`` (a DataFrame).
    """
    frame = _as_frame(data)
    if frame.columns.has_duplicates:
        raise ValueError(f"`data` has duplicate column names: {list(frame.columns)}.")
    percent = _columns(percent, frame, "percent")
    units = {} if units is None else dict(units)
    _columns(units, frame, "units")
    digits = dict(decimals) if isinstance(decimals, Mapping) else {column: decimals for column in frame.columns
                                                                     if column not in percent}
    _columns(digits, frame, "decimals")
    if any(not isinstance(d, (int, np.integer)) or isinstance(d, bool) or d < 0 for d in digits.values()):
        raise ValueError(f"`decimals` must be a non-negative int or a dict column -> int; got {decimals!r}.")
    if index is not None:
        frame = frame.set_index(_columns(index, frame, "index")[0])
    else:
        frame = frame.reset_index(drop=True)

    formats = {}
    for column in frame.columns:
        values = frame[column]
        if column in percent:
            formats[column] = _formatter(f".{digits.get(column, 1)}%")
        elif pd.api.types.is_integer_dtype(values) and not pd.api.types.is_bool_dtype(values):
            formats[column] = _formatter(",d")
        else:
            formats[column] = _formatter(f",.{digits.get(column, 3)}f")
    frame = frame.rename(columns={column: f"{column} ({unit})" for column, unit in units.items()})
    formats = {f"{column} ({units[column]})" if column in units else column: f for column, f in formats.items()}

    # A uuid from the content keeps the HTML of a re-executed notebook unchanged when its numbers are.
    digest = hashlib.sha1(pd.util.hash_pandas_object(frame.astype(str), index=True).values.tobytes()
                          + repr((list(frame.columns), caption)).encode()).hexdigest()[:10]
    styler = frame.style.set_uuid(f"introspect_{digest}").format(formats)
    styler = styler.set_table_styles([
        {"selector": "th", "props": "text-align: right; padding: 0.2em 0.7em;"},
        {"selector": "td", "props": "text-align: right; padding: 0.2em 0.7em;"},
        {"selector": "th.row_heading", "props": "text-align: left; font-weight: bold;"},
        {"selector": "caption", "props": "caption-side: top; text-align: left; font-weight: bold;"},
    ])
    left = [{"selector": "th.col_heading, td", "props": "text-align: left;"}]
    text_columns = [column for column in frame.columns if pd.api.types.is_string_dtype(frame[column])]
    if text_columns:
        styler = styler.set_table_styles({column: left for column in text_columns}, overwrite=False)
    if index is None:
        styler = styler.hide(axis="index")
    if caption is not None:
        styler = styler.set_caption(str(caption))
    return styler


def with_intervals(frame: pd.DataFrame, columns, *, label: str = "95% interval") -> pd.DataFrame:
    """Each ``c_low, c_high`` column pair of ``frame`` as one column ``f"{c} {label}"`` of ``(low, high)`` cells.

    Made for :func:`table` (which shows such a cell as ``low – high``) on the output of
    :func:`introspect.metrics.compare.summarize`; the new column sits right after ``c``.
    """
    columns = [columns] if isinstance(columns, str) else list(columns)
    _columns([*columns, *(f"{c}_{end}" for c in columns for end in ("low", "high"))], frame, "columns")
    out = frame.copy()
    for column in columns:
        out[column + "_low"] = list(zip(out.pop(column + "_low"), out.pop(column + "_high")))
        out = out.rename(columns={column + "_low": f"{column} {label}"})
        order = [c for c in out.columns if c != f"{column} {label}"]
        order.insert(order.index(column) + 1, f"{column} {label}")
        out = out[order]
    return out


def _check_sample(values, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype == bool:
        array = array.astype(np.float64)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"`{name}` must be a 1-D array of numbers (N,); got {array.dtype} of shape {array.shape}.")
    if len(array) < 2:
        raise ValueError(f"`{name}` must hold at least 2 values to resample; got {len(array)}.")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"`{name}` contains NaN or inf values.")
    return array.astype(np.float64)


def _per_row(statistic: Callable) -> Callable:
    """``statistic`` applied to each row of a 2-D array, with ``axis=-1`` when it takes one."""
    def apply(samples: np.ndarray) -> np.ndarray:
        try:
            result = np.asarray(statistic(samples, axis=-1), dtype=np.float64)
            if result.shape == samples.shape[:1]:
                return result
        except TypeError:
            pass
        return np.array([statistic(row) for row in samples], dtype=np.float64)
    return apply


def _bootstrap(samples: list[np.ndarray], estimate: Callable, confidence: float, n_resamples: int, seed,
               method: str) -> tuple[float, float]:
    """Interval of ``estimate(*rows)`` over resamples of the same indices of every sample.

    ``estimate`` maps arrays ``(B, n)`` (one per sample) to ``(B,)``.
    """
    if not isinstance(confidence, (float, int)) or isinstance(confidence, bool) or not 0 < confidence < 1:
        raise ValueError(f"`confidence` must be a number strictly between 0 and 1, e.g. 0.95; got {confidence!r}.")
    if not isinstance(n_resamples, (int, np.integer)) or isinstance(n_resamples, bool) or n_resamples < 100:
        raise ValueError(f"`n_resamples` must be an integer >= 100; got {n_resamples!r}.")
    if method not in ("percentile", "bca"):
        raise ValueError(f"`method` must be 'percentile' or 'bca'; got {method!r}.")
    if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool)):
        raise ValueError(f"`seed` must be an integer or None; got {seed!r}.")
    n = len(samples[0])
    rng = np.random.default_rng(seed)
    observed = float(estimate(*(s[None] for s in samples))[0])
    if not np.isfinite(observed):
        raise ValueError(f"`statistic` returned {observed} on the data; it must return a finite number.")
    chunk = max(1, _CHUNK_ELEMENTS // (n * len(samples)))
    replicates = np.empty(n_resamples)
    for start in range(0, n_resamples, chunk):
        stop = min(start + chunk, n_resamples)
        indices = rng.integers(0, n, size=(stop - start, n))
        replicates[start:stop] = estimate(*(s[indices] for s in samples))

    alpha = (1 - confidence) / 2
    if np.ptp(replicates) == 0:  # e.g. all values equal: every resample gives the same number
        return observed, observed
    levels = np.array([alpha, 1 - alpha])
    if method == "bca":
        normal = NormalDist()
        # Bias correction: where the estimate sits in its bootstrap distribution (ties count half).
        below = (np.sum(replicates < observed) + 0.5 * np.sum(replicates == observed)) / n_resamples
        below = np.clip(below, 1 / (2 * n_resamples), 1 - 1 / (2 * n_resamples))
        bias = normal.inv_cdf(float(below))
        # Acceleration from the jackknife (leave-one-out) estimates, built in chunks of rows.
        jackknife = np.empty(n)
        for start in range(0, n, chunk):
            left_out = np.arange(start, min(start + chunk, n))
            keep = np.ones((len(left_out), n), dtype=bool)
            keep[np.arange(len(left_out)), left_out] = False
            jackknife[left_out] = estimate(*(np.broadcast_to(s, keep.shape)[keep].reshape(len(keep), n - 1)
                                             for s in samples))
        deviation = jackknife.mean() - jackknife
        spread = np.sum(deviation ** 2)
        acceleration = np.sum(deviation ** 3) / (6 * spread ** 1.5) if spread > 0 else 0.0
        z = np.array([normal.inv_cdf(float(level)) for level in levels])
        levels = np.array([normal.cdf(float(bias + (bias + zi) / (1 - acceleration * (bias + zi)))) for zi in z])
    low, high = np.quantile(replicates, levels)
    return float(low), float(high)


def bootstrap_ci(values, statistic: Callable = np.mean, confidence: float = 0.95, n_resamples: int = 2000,
                 seed: int | None = 0, method: str = "percentile") -> tuple[float, float]:
    """Bootstrap confidence interval of ``statistic(values)``.

    Parameters
    ----------
    values : array (N,)
        The per-item numbers, e.g. 0/1 outcomes per image for a rate (bools are accepted).
    statistic : callable
        ``statistic(array (B, N), axis=-1) -> (B,)`` is used when it accepts ``axis`` (``np.mean``,
        ``np.median``, ...), so that all resamples are computed at once; otherwise it is called on
        each resample ``(N,)`` and must return a number.
    confidence : float
        Coverage of the interval, strictly between 0 and 1.
    n_resamples : int
        Bootstrap resamples (>= 100); drawn in chunks of at most a few million values.
    seed : int or None
        Seed of the resampling: the same seed gives the same interval.
    method : {"percentile", "bca"}
        ``"percentile"``: the quantiles of the resampled statistic. ``"bca"``: bias-corrected and
        accelerated (Efron 1987), better on skewed statistics and small samples; it also
        computes the N leave-one-out values of the statistic.

    Returns
    -------
    (low, high) : tuple of float
    """
    if not callable(statistic):
        raise ValueError(f"`statistic` must be callable, e.g. np.mean; got {statistic!r}.")
    sample = _check_sample(values, "values")
    return _bootstrap([sample], _per_row(statistic), confidence, n_resamples, seed, method)


def paired_bootstrap_ci(a, b, statistic: Callable = np.mean, confidence: float = 0.95, n_resamples: int = 2000,
                        seed: int | None = 0, method: str = "percentile") -> tuple[float, float]:
    """Bootstrap interval of ``statistic(a) - statistic(b)`` when ``a[i]`` and ``b[i]`` are paired.

    For "is method A better than method B on the same images": every resample draws the same
    images for both, so the variation between images common to both cancels. A is better than
    B where the interval lies above zero (for a score where higher is better).

    Parameters
    ----------
    a, b : arrays (N,)
        The two methods' numbers on the same N items, in the same order.
    statistic, confidence, n_resamples, seed, method
        As in :func:`bootstrap_ci`.

    Returns
    -------
    (low, high) : tuple of float
    """
    if not callable(statistic):
        raise ValueError(f"`statistic` must be callable, e.g. np.mean; got {statistic!r}.")
    first, second = _check_sample(a, "a"), _check_sample(b, "b")
    if len(first) != len(second):
        raise ValueError(f"`a` and `b` must be paired, with the same length; got {len(first)} and {len(second)}.")
    per_row = _per_row(statistic)
    return _bootstrap([first, second], lambda x, y: per_row(x) - per_row(y), confidence, n_resamples, seed,
                      method)


def cluster_bootstrap_ci(values, groups, confidence: float = 0.95, n_resamples: int = 2000,
                         seed: int | None = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` when items come in correlated groups.

    Items of one group (views of one photo) are not independent, so each resample draws *groups*
    with replacement and takes all their items: the interval of the pooled mean
    ``sum(values) / count`` over the drawn groups (a cluster bootstrap). For a paired difference,
    pass the per-item differences. ``values`` ``(N,)``, ``groups`` ``(N,)`` labels (any hashable);
    at least 2 groups; other arguments as in :func:`bootstrap_ci`.
    """
    sample = _check_sample(values, "values")
    labels = np.asarray(groups)
    if labels.shape != sample.shape:
        raise ValueError(f"`groups` must give one group per value, shape {sample.shape}; got {labels.shape}.")
    _, index = np.unique(labels, return_inverse=True)
    if index.max(initial=0) < 1:
        raise ValueError("`groups` must hold at least 2 different groups to resample.")
    sums = np.bincount(index, weights=sample)
    counts = np.bincount(index).astype(np.float64)
    return _bootstrap([sums, counts], lambda s, c: s.sum(axis=-1) / c.sum(axis=-1), confidence, n_resamples, seed,
                      "percentile")


def t_interval(values, confidence: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean of a few independent runs, e.g. one accuracy per training seed.

    A bootstrap cannot resample three seeds meaningfully; the t interval assumes the runs vary
    normally around their mean and widens for small samples (with 3 runs it is the mean
    ± 4.30 standard errors at 95%). ``values`` ``(N,)`` with N >= 2.
    """
    from scipy import stats

    sample = _check_sample(values, "values")
    if not 0 < confidence < 1:
        raise ValueError(f"`confidence` must be in (0, 1), e.g. 0.95; got {confidence!r}.")
    half = stats.t.ppf(0.5 + confidence / 2, len(sample) - 1) * sample.std(ddof=1) / np.sqrt(len(sample))
    return float(sample.mean() - half), float(sample.mean() + half)


def setup_notebook(dpi: int = FIGURE_DPI) -> None:
    """Figure defaults for a notebook: PNG only (never JPEG), at ``dpi`` (>= 150) inline and when saved.

    Also turns off the line a long call's progress bar leaves when it finishes ("... in 12.3 s"), so
    that an executed notebook keeps no timing lines.

    Call it once, in the first code cell. Outside IPython it only sets matplotlib's rc.
    """
    if not isinstance(dpi, (int, np.integer)) or isinstance(dpi, bool) or dpi < FIGURE_DPI:
        raise ValueError(f"`dpi` must be an integer >= {FIGURE_DPI}; got {dpi!r}.")
    import matplotlib
    import matplotlib.pyplot  # noqa: F401  -- activates the inline backend, which resets figure.dpi

    matplotlib.rcParams.update({"figure.dpi": int(dpi), "savefig.dpi": int(dpi), "savefig.format": "png"})
    _progress.SUMMARY = False  # a finished progress bar leaves no line (no timing lines in a notebook)
    try:
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:
        return
    if get_ipython() is not None:
        set_matplotlib_formats("png")


def figures_folder() -> Path:
    """Where :func:`save` writes: ``$INTROSPECT_FIGURES``, else ``../figures`` (from a notebook's folder)."""
    return Path(os.environ.get("INTROSPECT_FIGURES", "../figures"))


def save(fig, name: str, folder: str | os.PathLike | None = None) -> Path:
    """Save ``fig`` as ``<folder>/<name>.png`` at ``savefig.dpi`` (150 or more) and return the path.

    ``folder`` defaults to :func:`figures_folder`, so that a quick run (``--out``) never
    overwrites the committed figures. The rest is :func:`introspect.plotting.save_figure`.
    """
    import matplotlib

    dpi = matplotlib.rcParams["savefig.dpi"]
    if dpi == "figure":
        dpi = matplotlib.rcParams["figure.dpi"]
    return plotting.save_figure(fig, name, figures_folder() if folder is None else folder,
                                dpi=max(FIGURE_DPI, int(dpi)))


def shared_limit(maps, percentile: float | None = 99.5) -> float:
    """One colour limit for maps that are compared: that percentile of ``|values|`` over all of them.

    Parameters
    ----------
    maps : array or sequence of arrays (any shapes)
    percentile : float or None
        In (0, 100]; None takes the maximum. Values beyond the limit saturate.

    Returns
    -------
    float
        Positive; use ``-limit, limit`` for signed maps and ``0, limit`` for magnitudes.
    """
    if percentile is not None and not (isinstance(percentile, (int, float)) and 0 < percentile <= 100):
        raise ValueError(f"`percentile` must be in (0, 100] or None; got {percentile!r}.")
    try:
        values = np.concatenate([np.asarray(m, dtype=np.float64).ravel() for m in
                                 (maps if isinstance(maps, (list, tuple)) else [maps])])
    except (TypeError, ValueError):
        raise ValueError("`maps` must be an array or a sequence of numeric arrays.") from None
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError("`maps` must be non-empty and contain no NaN or inf values.")
    return plotting._limit(values, percentile)


def shared_norm(maps, percentile: float | None = 99.5, signed: bool | None = None):
    """A matplotlib norm for ``imshow(..., norm=norm)`` shared by every panel showing ``maps``.

    ``signed`` (default: whether any value is negative) centres a diverging scale on zero
    (``TwoSlopeNorm(-limit, 0, limit)``); otherwise the scale runs from 0 to the limit. The
    limit is :func:`shared_limit`; pass the norm to one colorbar for the whole figure.
    """
    from matplotlib.colors import Normalize

    limit = shared_limit(maps, percentile)
    if signed is None:
        signed = any(np.min(m) < 0 for m in (maps if isinstance(maps, (list, tuple)) else [maps]))
    return plotting._signed_norm(limit) if signed else Normalize(vmin=0.0, vmax=limit)
