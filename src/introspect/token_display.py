"""A sentence as HTML with each token's background coloured by its score (re-exported by :mod:`introspect.plotting`).

Inline CSS only (no stylesheet, no script), so that the output renders the same in Jupyter, on
nbviewer and on GitHub.
"""
from __future__ import annotations

import html

import numpy as np

#: The diverging colormap of signed maps (``introspect.plotting.SIGNED_CMAP``).
TOKEN_CMAP = "RdBu_r"


class TokenHTML(str):
    """HTML text that notebooks display as HTML (``_repr_html_``); it is also a plain ``str``."""

    def _repr_html_(self) -> str:
        return str(self)


def _colour(value: float, limit: float) -> tuple[str, str]:
    """Background ``#rrggbb`` of ``value`` on the diverging map from ``-limit`` to ``limit``, and a readable text colour."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    red, green, blue, _ = colormaps[TOKEN_CMAP](0.5 + 0.5 * float(np.clip(value / limit, -1.0, 1.0)))
    luminance = 0.2126 * red + 0.7152 * green + 0.0722 * blue
    return to_hex((red, green, blue)), ("#000000" if luminance > 0.5 else "#ffffff")


def _span(text: str, value: float, limit: float, tooltip: str) -> str:
    background, foreground = _colour(value, limit)
    return (f'<span title="{html.escape(tooltip)}" style="background-color:{background};color:{foreground};'
            f'padding:1px 3px;margin:1px 1px;border-radius:3px;display:inline-block;'
            f'font-family:monospace;white-space:pre">{html.escape(text)}</span>')


def show_tokens(tokens, scores, *, title: str | None = None, limit: float | None = None,
                legend: bool = True) -> TokenHTML:
    """A text as HTML, each token's background coloured by its score on a diverging scale centred on 0.

    Red is positive, blue negative, white 0 (``RdBu_r``, as the package's signed maps), with
    symmetric limits ``[-limit, limit]``; hovering a token shows its score.

    Parameters
    ----------
    tokens : list of str, (T,)
        The tokens, in order.
    scores : array-like, (T,)
        One finite score per token, e.g. a row of :func:`introspect.saliency.token_saliency`.
    title : str, optional
        A line shown above the text.
    limit : float, optional
        The score shown at full colour; default the largest ``|score|`` (scores beyond it are clipped).
        Pass the same limit to compare several texts on one scale.
    legend : bool
        Add a line with the colour of ``-limit``, 0 and ``+limit``.

    Returns
    -------
    TokenHTML
        A ``str`` of HTML that Jupyter displays as HTML (``IPython.display.HTML(result)`` works too).
    """
    if isinstance(tokens, str) or not all(isinstance(token, str) for token in tokens):
        raise ValueError("`tokens` must be a list of strings, one per token.")
    values = np.asarray(scores, dtype=np.float64)
    if values.ndim != 1 or len(values) != len(tokens):
        raise ValueError(f"`scores` must have shape ({len(tokens)},), one per token; got shape {values.shape}.")
    if not np.all(np.isfinite(values)):
        raise ValueError("`scores` contains NaN or inf values.")
    if limit is None:
        limit = float(np.max(np.abs(values))) if values.size else 0.0
        limit = limit if limit > 0 else 1.0
    elif isinstance(limit, bool) or not np.isfinite(float(limit)) or float(limit) <= 0:
        raise ValueError(f"`limit` must be a finite number > 0; got {limit!r}.")
    limit = float(limit)
    parts = ['<div style="line-height:1.9;font-size:13px">']
    if title is not None:
        parts.append(f'<div style="font-weight:bold;margin-bottom:2px">{html.escape(str(title))}</div>')
    parts.append("".join(_span(token, value, limit, f"{value:.4g}") for token, value in zip(tokens, values)))
    if legend:
        swatches = " ".join(_span(f"{value:+.3g}", value, limit, "scale") for value in (-limit, 0.0, limit))
        parts.append(f'<div style="font-size:11px;color:#555555">scale: {swatches}</div>')
    parts.append("</div>")
    return TokenHTML("".join(parts))
