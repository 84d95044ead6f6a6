"""Pieces of the creator's workflow shared by the dashboard pages: the timeline chart and result actions.

The chart is a plain function (data in, Altair chart out, checkable without Streamlit); the actions
render the "More like this" and "Add to shortlist" controls under every search result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import resources
from dashboard.guard import guard
from recommender.search import Recommender, Result
from recommender.timeline import Timeline, describe_track


def emotion_over_time(timeline: Timeline) -> alt.Chart:
    """Smoothed valence and arousal over time, cue starts as dashed rules, shot cuts as grey ticks."""
    rows = []
    for segment in timeline.segments:
        middle = (segment.start + segment.end) / 2
        rows.append({"seconds": middle, "dimension": "valence", "value": segment.smoothed_valence})
        rows.append({"seconds": middle, "dimension": "arousal", "value": segment.smoothed_arousal})
    lines = (
        alt.Chart(pd.DataFrame(rows, columns=["seconds", "dimension", "value"]))
        .mark_line(point=True)
        .encode(
            x=alt.X("seconds:Q", title="time (s)", scale=alt.Scale(domain=[0, max(timeline.duration, 1.0)])),
            y=alt.Y("value:Q", scale=alt.Scale(domain=[0, 1]), title=None),
            color=alt.Color("dimension:N", scale=alt.Scale(domain=["valence", "arousal"], range=["#7d53de", "#e4572e"]), title=None),
            tooltip=["dimension", alt.Tooltip("seconds:Q", format=".1f"), alt.Tooltip("value:Q", format=".2f")],
        )
    )
    cues = pd.DataFrame([{"seconds": cue.start, "cue": f"cue {cue.index}: {describe_track(cue.track)}"} for cue in timeline.cues])
    rules = alt.Chart(cues).mark_rule(strokeDash=[6, 3], color="#444").encode(x="seconds:Q", tooltip=["cue"])
    layers = [lines, rules]
    if timeline.cuts:
        cuts = pd.DataFrame({"seconds": timeline.cuts})
        layers.append(alt.Chart(cuts).mark_tick(color="#999", thickness=1, size=14).encode(x="seconds:Q", y=alt.value(0)))
    return alt.layer(*layers).properties(title="Emotion over time (dashed: cues, ticks: shot cuts)", height=260)


def result_actions(recommender: Recommender, result: Result, rank: int, *, where: dict[str, Any] | None = None) -> None:
    """"More like this" (a dialog with similar tracks) and "Add to shortlist" for one search result."""
    like, keep = st.columns(2)
    if like.button("More like this", key=f"like-{rank}-{result.track_id}", icon=":material/library_add:"):
        more_like_this(recommender, result, where)
    with keep.popover("Add to shortlist", icon=":material/playlist_add:"):
        name = st.text_input("Shortlist", value=st.session_state.get("shortlist_name", ""), key=f"list-{rank}-{result.track_id}",
                             placeholder="Episode 3")
        if st.button("Add", key=f"add-{rank}-{result.track_id}") and name.strip():
            with guard("adding to the shortlist"):
                from ingest.shortlists import Shortlists

                added = Shortlists(resources.catalog()).add(name, [result.track_id])
                st.session_state.shortlist_name = name
                st.success(f"Added to “{name}”." if added else f"Already on “{name}”.")


@st.dialog("More like this", width="large")
def more_like_this(recommender: Recommender, result: Result, where: dict[str, Any] | None) -> None:
    title = result.payload.get("title") or Path(result.path or result.track_id).name
    st.markdown(f"Tracks whose emotion is closest to **{title}** (the sidebar's filters apply).")
    with guard("finding similar tracks"):
        response = recommender.similar(result.track_id, k=5, where=where)
        for rank, similar in enumerate(response.results, 1):
            st.markdown(f"**{rank}. {describe_track(similar)}** · match {similar.score:.2f}")
            st.caption(similar.why)
            if similar.path and Path(similar.path).is_file():
                st.audio(similar.path)
