"""Show text from the catalog (titles, artists, file names, error messages) as text, never as Markdown.

Streamlit renders Markdown in ``st.markdown``, ``st.caption``, alerts, progress texts and widget labels,
and Markdown images are fetched by every viewer's browser: a title ``![x](http://host/p.png)`` would
make each visitor request that URL. CommonMark lets any ASCII punctuation be escaped with a backslash,
so escaping all of it leaves no link, image, emphasis, LaTeX or Streamlit directive (``:red[...]``).
"""

from __future__ import annotations

import re
import string

_PUNCTUATION = re.compile("([" + re.escape(string.punctuation) + "])")
_ESCAPED = re.compile(r"\\([" + re.escape(string.punctuation) + "])")


def plain(value: object) -> str:
    """``str(value)`` escaped so that Streamlit's Markdown shows it literally, on one line."""
    return _PUNCTUATION.sub(r"\\\1", " ".join(str(value).split()))


def shown(markdown: str) -> str:
    """What a reader sees of text escaped by :func:`plain` (the escapes removed)."""
    return _ESCAPED.sub(r"\1", markdown)
