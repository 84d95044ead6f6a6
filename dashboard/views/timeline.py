"""Timeline page: a video (or a long recording) -> emotion over time, cues on shot cuts, a track per cue, cue sheets."""

from __future__ import annotations

import hashlib
import re
import tempfile
from pathlib import Path

import streamlit as st

from dashboard import resources
from dashboard.guard import guard
from dashboard.workflow import emotion_over_time
from recommender.audio import QUERY_SUFFIXES
from recommender.cuesheet import Timecode, to_csv, to_edl, to_json
from recommender.explain import describe_va
from recommender.timeline import Timeline, TimelineConfig, build_timeline, describe_track
from recommender.visual import explain_visual


def settings_row() -> TimelineConfig:
    left, middle, right = st.columns(3)
    min_cue = left.slider("Shortest cue (s)", 5, 300, 30, 5, help="Every cue lasts at least this long.")
    snap = middle.slider("Move cues onto cuts within (s)", 0, 30, 10, help="Cues start on the video's shot cuts when one is this close.")
    weight = right.slider("Weight of the picture", 0.0, 1.0, 0.0, 0.05, help="0: the music follows what is heard only; more: also what is seen.")
    return TimelineConfig(min_cue_seconds=float(min_cue), snap_seconds=float(snap), visual_weight=float(weight))


def upload_path(name: str, data: bytes) -> Path:
    """The upload as a file of this session (the timeline decodes it chunk by chunk, several times)."""
    folder = Path(st.session_state.setdefault("timeline_dir", tempfile.mkdtemp(prefix="undertone-timeline-")))
    path = folder / (re.sub(r"[^\w.\-]+", "_", Path(name).name) or "upload")
    if not path.exists() or path.stat().st_size != len(data):
        path.write_bytes(data)
    return path


def show_cue(timeline: Timeline, cue, timecode: Timecode) -> None:
    with st.container(border=True):
        text, player = st.columns([3, 2])
        start, end = (timecode.label(timecode.frames(t)) for t in (cue.start, cue.end))
        top = next(iter(cue.analysis.emotions), "?")
        with text:
            st.markdown(f"**Cue {cue.index}** · {start} – {end}" + (" · starts on a cut" if cue.on_cut and cue.index > 1 else ""))
            st.caption(f"Heard: {top} ({describe_va(cue.analysis.valence, cue.analysis.arousal)}){explain_visual(cue.analysis.visual)}")
            st.markdown(f"**{describe_track(cue.track)}**" + (" (repeat)" if cue.repeated else ""))
            if cue.track:
                st.caption(cue.track.why)
            if cue.alternatives:
                st.caption("Or: " + "; ".join(describe_track(alternative) for alternative in cue.alternatives))
        with player:
            if cue.track and cue.track.path and Path(cue.track.path).is_file():
                st.audio(cue.track.path)


st.title("Cue a video")
st.caption(
    "Upload a video (mp4, mov, mkv, webm) or a long recording. Undertone follows the emotion of what is said, "
    "groups it into cues that start on the video's cuts, proposes a track for each, and writes the cue sheet."
)

with guard("opening the catalog"):
    recommender = resources.recommender()
    upload = st.file_uploader("Video or long recording", type=[suffix.lstrip(".") for suffix in QUERY_SUFFIXES])
    config = settings_row()
    if upload is not None:
        with guard("building the timeline"):
            data = upload.getvalue()
            key = (hashlib.sha256(data).hexdigest(), config)
            cached = st.session_state.get("timeline")
            if cached is None or cached[0] != key:
                with st.spinner("Listening and watching…"):
                    timeline = build_timeline(recommender, upload_path(upload.name, data), config)
                    timeline.source = upload.name
                st.session_state.timeline = (key, timeline)
            timeline = st.session_state.timeline[1]
            timecode = Timecode(timeline.frame_rate or 25)
            columns = st.columns(4)
            columns[0].metric("Length", f"{timeline.duration:.0f} s")
            columns[1].metric("Shots", len(timeline.cuts) + 1 if timeline.frame_rate else "—")
            columns[2].metric("Cues", len(timeline.cues))
            columns[3].metric("Frame rate", f"{float(timecode.rate):.3g} fps")
            st.altair_chart(emotion_over_time(timeline), width="stretch")
            stem = Path(upload.name).stem
            downloads = st.columns(3)
            downloads[0].download_button("Cue sheet (EDL)", to_edl(timeline, timecode, f"{stem} music cues"), f"{stem}.edl", "text/plain")
            downloads[1].download_button("Cue sheet (CSV)", to_csv(timeline, timecode), f"{stem}_cues.csv", "text/csv")
            downloads[2].download_button("Cue sheet (JSON)", to_json(timeline, timecode), f"{stem}_cues.json", "application/json")
            for cue in timeline.cues:
                show_cue(timeline, cue, timecode)
