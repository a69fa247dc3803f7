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
    from myst_nb import glue as _glue

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
