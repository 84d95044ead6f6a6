"""Shortlists page: the named lists of chosen tracks (saved from the Search page), to review, trim and export."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import resources
from dashboard.guard import guard
from ingest.shortlists import Shortlists, to_csv, to_m3u

st.title("Shortlists")
st.caption("Tracks saved with “Add to shortlist” on the Search page (or `undertone shortlist add`), kept in the catalog database.")

with guard("reading the shortlists"):
    shortlists = Shortlists(resources.catalog())
    summaries = shortlists.summaries()
    if not summaries:
        st.info("No shortlists yet. Search, then use “Add to shortlist” under a result.", icon=":material/playlist_add:")
        st.stop()
    names = [summary.name for summary in summaries]
    name = st.selectbox("Shortlist", names, format_func=lambda n: f"{n} ({next(s.tracks for s in summaries if s.name == n)} tracks)")
    entries = shortlists.entries(name)
    table = pd.DataFrame([entry.row() for entry in entries])
    shown = [column for column in ("position", "title", "artist", "licence", "duration", "mood", "note", "path", "in_catalog") if column in table]
    st.dataframe(table[shown] if len(table) else table, hide_index=True, width="stretch")
    left, middle, right = st.columns(3)
    left.download_button("Download CSV", to_csv(entries), f"{name}.csv", "text/csv", disabled=not entries)
    middle.download_button("Download M3U", to_m3u(name, entries), f"{name}.m3u8", "audio/x-mpegurl", disabled=not entries)
    with right.popover("Remove tracks", disabled=not entries):
        labels = {f"{entry.position}. {entry.payload.get('title') or entry.track_id}": entry.track_id for entry in entries}
        chosen = st.multiselect("Tracks to remove", list(labels))
        if st.button("Remove", disabled=not chosen):
            shortlists.remove(name, [labels[label] for label in chosen])
            st.rerun()
    if st.button("Delete this shortlist", type="secondary"):
        shortlists.delete(name)
        st.rerun()
