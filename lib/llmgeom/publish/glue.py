"""Getting computed numbers into the book's prose: every number in the text goes through :func:`glue`.

``myst_nb.glue`` formats a value from its ``text/plain`` repr; NumPy 2 scalars repr as ``np.float64(…)``, which
its number formatting cannot parse. :func:`glue` turns NumPy and torch scalars into Python numbers first and
never displays the value where it is computed.
"""

from __future__ import annotations

import numbers

import numpy as np


def as_plain(value):
    """Return ``value`` as a plain Python ``int``/``float``/``bool``/``str`` where it is a scalar."""
    if hasattr(value, "item") and np.ndim(value) == 0:
        value = value.item()
    if isinstance(value, bool | str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return value


def glue(name: str, value, display: bool = False) -> None:
    """Store ``value`` under ``name``: numbers for ``{glue:text}`name:fmt```, strings for ``{glue:md}`name```.

    A string is stored as Markdown, so the page shows it without quotes (``{glue:text}`` would show its repr).
    Returns nothing, so a ``glue`` call on a cell's last line adds no output to it.
    """
    try:
        from myst_nb import glue as _glue
    except ImportError as err:  # the library measures without it; only a book build glues
        raise ImportError("glue() stores values for a Jupyter Book build and needs MyST-NB: "
                          "pip install 'llmgeom[book]' (or the book's requirements.txt)") from err

    plain = as_plain(value)
    _glue(name, GluedMarkdown(plain) if isinstance(plain, str) else plain, display=display)


class GluedMarkdown:
    """A glued string: Markdown for ``{glue:md}`` on its own page, and plain text (emphasis and code marks removed)
    for ``{glue:text}`path::key``` on another page — MyST-NB pastes only plain text across pages, which is how
    the reproduction report quotes each chapter's verdict."""

    def __init__(self, markdown: str):
        self.markdown = markdown

    def _repr_markdown_(self) -> str:
        return self.markdown

    def __repr__(self) -> str:
        return self.markdown.replace("**", "").replace("`", "")


def format_interval(value, low, high, spec: str = "+.4f") -> str:
    """``"value [low, high]"`` with one format spec for all three: how every table in the book shows an estimate
    with its interval (e.g. ``+0.0166 [+0.0158, +0.0173]``; ``spec=".0%"`` for shares)."""
    return f"{value:{spec}} [{low:{spec}}, {high:{spec}}]"


def glue_interval(name: str, value, low, high, value_name: str | None = None) -> None:
    """Glue an estimate and its interval as ``name`` (or ``value_name``), ``name_lo`` and ``name_hi``: the block
    every chapter's prose reads as {glue:text}`name` (CI {glue:text}`name_lo` to {glue:text}`name_hi`)."""
    glue(value_name or name, value)
    glue(f"{name}_lo", low)
    glue(f"{name}_hi", high)
