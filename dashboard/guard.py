"""Turn every failure inside a page into a clear message: users never see a traceback.

Errors a user can cause (a bad upload, an unknown emotion word, missing corpora, a store in use) are
shown with their own message; anything else is logged with its traceback and reported briefly.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from dashboard.text import plain
from recommender.errors import UndertoneError

logger = logging.getLogger("dashboard")


@contextmanager
def guard(activity: str) -> Iterator[None]:
    """Run a page section; on failure show ``st.error`` instead of the exception.

    Args:
        activity: What the section does, for the message ("searching", "loading the catalog").
    """
    try:
        yield
    except UndertoneError as error:
        st.error(plain(error), icon=":material/warning:")  # messages name files, which may hold Markdown
    except Exception as error:  # noqa: BLE001 -- the page must survive anything; the log keeps the details
        logger.exception("dashboard failed while %s", activity)
        st.error(f"Something went wrong while {activity} ({type(error).__name__}). The details are in the server log.", icon=":material/error:")
