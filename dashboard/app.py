"""Undertone dashboard: ``streamlit run dashboard/app.py`` (or ``undertone dashboard``).

One Streamlit process serves every page and owns the catalog's store (see ``dashboard.resources``).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

HERE = Path(__file__).resolve().parent

st.set_page_config(page_title="Undertone", page_icon=":material/graphic_eq:", layout="wide", initial_sidebar_state="expanded")

navigation = st.navigation(
    [
        st.Page(HERE / "pages" / "search.py", title="Search", icon=":material/search:", default=True),
        st.Page(HERE / "pages" / "catalog.py", title="Catalog", icon=":material/library_music:"),
        st.Page(HERE / "pages" / "evaluation.py", title="Evaluation", icon=":material/analytics:"),
    ]
)
st.sidebar.caption("Undertone finds music in your catalog whose emotion matches a piece of speech.")
navigation.run()
