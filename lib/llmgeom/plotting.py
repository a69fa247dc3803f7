"""One plotting style for the whole book: colour-blind-safe colours, readable sizes, no chart junk.

Every chapter calls :func:`use_style` once in its setup cell. Colours are the Okabe–Ito palette
(Okabe & Ito 2008), distinguishable under the common colour-vision deficiencies; lines also differ by marker
so a figure survives greyscale printing.
"""

from __future__ import annotations

import matplotlib as mpl
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
