"""Undertone dashboard: ``streamlit run dashboard/app.py`` (or ``undertone dashboard``).

One Streamlit process serves every page and owns the catalog's store (see ``dashboard.resources``).
The page scripts live in ``views/``, not ``pages/``: Streamlit would otherwise also serve a ``pages/``
folder as a legacy multipage app when a browser opens a page URL directly.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard.access import require_login
from dashboard.resources import current_settings

HERE = Path(__file__).resolve().parent

st.set_page_config(page_title="Undertone", page_icon=":material/graphic_eq:", layout="wide", initial_sidebar_state="expanded")
require_login(current_settings())  # before any page runs: a page could otherwise read the catalog

navigation = st.navigation(
    [
        st.Page(HERE / "views" / "search.py", title="Search", icon=":material/search:", default=True),
        st.Page(HERE / "views" / "timeline.py", title="Timeline", icon=":material/movie:"),
        st.Page(HERE / "views" / "shortlists.py", title="Shortlists", icon=":material/playlist_add_check:"),
        st.Page(HERE / "views" / "catalog.py", title="Catalog", icon=":material/library_music:"),
        st.Page(HERE / "views" / "evaluation.py", title="Evaluation", icon=":material/analytics:"),
    ]
)
st.sidebar.caption("Undertone finds music in your catalog whose emotion matches a piece of speech.")
navigation.run()
