"""One plotting style for the whole book: colour-blind-safe colours, readable sizes, no chart junk.

Every chapter calls :func:`use_style` once in its setup cell. Colours are the Okabe–Ito palette
(Okabe & Ito 2008), distinguishable under the common colour-vision deficiencies; lines also differ by marker
so a figure survives greyscale printing.
"""

from __future__ import annotations

import html

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from cycler import cycler

OKABE_ITO = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "green": "#009E73",
    "vermillion": "#D55E00",
    "sky": "#56B4E9",
    "purple": "#CC79A7",
    "yellow": "#F0E442",
    "black": "#000000",
}
"""The Okabe–Ito palette by name."""

COLORS = [OKABE_ITO[k] for k in ("blue", "orange", "green", "vermillion", "sky", "purple", "black", "yellow")]
"""The colour cycle, in order of use."""

MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
"""The marker cycle, paired with :data:`COLORS`."""

FIGSIZE = (6.4, 3.8)
"""Default size of a one-panel figure, in inches; two panels use ``wide()``."""


def wide(n_panels: int = 2) -> tuple[float, float]:
    """Figure size for ``n_panels`` side-by-side panels that still fits the book's text column."""
    return (min(3.6 * n_panels, 10.0), 3.6)


def use_style() -> None:
    """Set matplotlib's defaults to the book's style (idempotent)."""
    mpl.rcParams.update(
        {
            "figure.figsize": FIGSIZE,
            "figure.dpi": 110,
            "savefig.dpi": 150,
            "savefig.bbox": "tight",
            "axes.prop_cycle": cycler(color=COLORS),
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.titlesize": 11,
            "axes.labelsize": 10,
            "legend.fontsize": 9,
            "legend.frameon": False,
            "xtick.labelsize": 9,
            "ytick.labelsize": 9,
            "lines.linewidth": 1.8,
            "lines.markersize": 5,
            "image.cmap": "viridis",
            "font.family": "DejaVu Sans",
        }
    )


def shaded_tokens(tokens, values, label: str = "value", scale: float | None = None) -> str:
    """HTML for a text whose tokens are shaded by ``values`` (cividis, colour-blind safe; light = high).

    Parameters
    ----------
    tokens : list of str, as decoded one by one
    values : array ``[len(tokens)]``; NaN leaves a token unshaded (e.g. the sink token, not a candidate)
    label : the name shown with the value when hovering over a token
    scale : the value that gets the lightest colour (default: the 99th percentile of the finite values)

    Used by chapters 4–5 (gains, Lasso entry, attention, erasure effects).
    """
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    low = min(0.0, float(finite.min())) if finite.size else 0.0
    top = scale if scale is not None else (float(np.percentile(finite, 99)) if finite.size else 1.0)
    cmap = plt.get_cmap("cividis")
    spans = []
    for token, value in zip(tokens, values):
        text = html.escape(token)
        if not np.isfinite(value):
            spans.append(f'<span style="padding: 0 1px; color: #666" title="{label}: none">{text}</span>')
            continue
        r, g, b, _ = cmap(min(max((value - low) / max(top - low, 1e-12), 0.0), 1.0))
        ink = "#000" if (0.299 * r + 0.587 * g + 0.114 * b) > 0.5 else "#fff"
        spans.append(f'<span style="background: rgb({r*255:.0f},{g*255:.0f},{b*255:.0f}); color: {ink}; '
                     f'padding: 0 1px" title="{label} = {value:.3g}">{text}</span>')
    return ('<div style="line-height: 1.9; font-family: monospace; white-space: pre-wrap; overflow-wrap: anywhere">'
            + "".join(spans) + "</div>")


def interval_panels(panels, rows, series: dict, interval, reference=None, figsize=(13, 4.2)):
    """Dot-and-whisker panels: one panel per item of ``panels``, one line per item of ``rows``, one marker per series.

    ``rows`` is one list for every panel (which then share their lines) or a dict ``{panel: rows}``. ``series``
    maps a series (a model) to its legend label; ``interval(series, panel, row)`` gives ``(value, low, high)`` or
    ``None`` (nothing drawn); ``reference(panel)`` places a dotted vertical line, or one per value of a tuple
    (chance, zero, thresholds). Chapter 5 draws its cells and its differences from the strongest trivial baseline
    with it; chapter 6 its controls, oracles and shares. Returns the figure.
    """
    own = isinstance(rows, dict)
    fig, axes = plt.subplots(1, len(panels), figsize=figsize, sharey=not own, squeeze=False)
    for ax, panel in zip(axes[0], panels):
        lines = rows[panel] if own else rows
        for i, (key, label) in enumerate(series.items()):
            for j, row in enumerate(lines):
                if (cell := interval(key, panel, row)) is not None:
                    value, low, high = cell
                    ax.errorbar(value, j + 0.2 * i - 0.1, xerr=[[value - low], [high - value]], fmt=MARKERS[i],
                                color=COLORS[i], ms=4, label=label if j == 0 else None)
        for x in np.atleast_1d(reference(panel)) if reference is not None else ():
            ax.axvline(x, color="0.4", ls=":", lw=1)
        ax.set_title(panel, fontsize=9)
        if own or ax is axes[0, 0]:
            ax.set_yticks(range(len(lines)), lines)
            ax.invert_yaxis()
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig
