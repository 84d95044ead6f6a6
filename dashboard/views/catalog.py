"""Catalog page: ingest a folder or manifest in the background, watch it, and look at what is indexed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import charts, resources
from dashboard.guard import guard
from dashboard.jobs import Job, ProgressFn
from ingest.catalog import JobStatus
from ingest.pipeline import JobSummary
from recommender.emotion import BUILTIN_VA
from recommender.errors import UsageError

st.title("Catalog")
st.caption("Add music to your catalog and see how its emotions spread over the valence-arousal plane.")


def start_ingest(source: str) -> None:
    """Validate ``source`` and start ingesting it in a background thread of this process."""
    path = Path(source.strip()).expanduser()
    if not source.strip():
        raise UsageError("Give the path of a folder of audio files or of a manifest (.csv, .tsv, .jsonl).")
    if not path.exists():
        raise UsageError(f"{path} does not exist on the server running the dashboard.")
    settings = resources.current_settings()
    board = resources.job_board(settings)
    if board.running():
        # One writer at a time keeps the progress bars honest and the machine responsive.
        raise UsageError("An ingestion is already running; start the next one when it has finished.")
    recommender = resources.recommender(settings)

    def work(progress: ProgressFn) -> JobSummary:
        def report(status: JobStatus) -> None:
            counts = status.counts
            progress(
                status.processed,
                status.total or 0,
                f"{counts.get('ingested', 0)} ingested · {counts.get('skipped', 0)} unchanged · {counts.get('failed', 0)} failed",
            )

        return resources.ingest(str(path), settings, report, recommender)

    board.start(f"Ingest {path}", work)


def show_job(job: Job) -> None:
    if job.state == "running":
        total = f"{job.done}/{job.total}" if job.total else "listing files…"
        st.progress(job.fraction, text=f"**{job.title}** — {total} · {job.elapsed:.0f} s")
        if job.message:
            st.caption(job.message)
    elif job.state == "failed":
        st.error(f"**{job.title}** failed: {job.error}")
    else:
        summary = job.result
        st.success(
            f"**{job.title}** finished in {summary.seconds:.1f} s: {summary.ingested} ingested, "
            f"{summary.skipped} unchanged, {summary.failed} failed."
        )
        if summary.failures:
            with st.expander(f"{len(summary.failures)} file(s) could not be ingested"):
                st.dataframe(pd.DataFrame([vars(f) for f in summary.failures]), hide_index=True, width="stretch")


def job_row(status: JobStatus) -> dict[str, object]:
    counts = status.counts
    return {
        "started": status.created_at, "source": status.source, "mode": status.mode, "state": status.state,
        "files": status.total, "ingested": counts.get("ingested", 0), "unchanged": counts.get("skipped", 0),
        "failed": counts.get("failed", 0), "error": status.error or "",
    }


def jobs_section() -> None:
    board = resources.job_board()
    # A full run shows the catalog as of this revision; the fragment reruns the page when a job ends.
    st.session_state.seen_revision = board.revision

    @st.fragment(run_every=1.0 if board.running() else None)
    def progress_panel() -> None:
        if board.revision != st.session_state.seen_revision:
            st.rerun(scope="app")
        for job in board.jobs()[:5]:
            show_job(job)

    progress_panel()


with guard("starting the ingestion"):
    with st.form("ingest", border=True):
        st.subheader("Add music")
        source = st.text_input(
            "Folder or manifest",
            placeholder="/music/library  or  /music/manifest.csv",
            help="A folder is searched recursively for audio files. A manifest (.csv, .tsv or .jsonl) has a "
            "`path` column plus any metadata columns (title, artist, genre, licence, year …) you want to filter on.",
        )
        if st.form_submit_button("Start ingesting", type="primary"):
            start_ingest(source)

with guard("showing ingestion progress"):
    jobs_section()
    history = resources.catalog().jobs(limit=20)
    if history:
        with st.expander("Ingestion history", icon=":material/history:"):
            st.caption("Every ingestion of this catalog: from this page, `undertone ingest` or the workers.")
            st.dataframe(
                pd.DataFrame([job_row(status) for status in history]), hide_index=True, width="stretch",
                column_config={"started": st.column_config.DatetimeColumn("started", format="YYYY-MM-DD HH:mm:ss")},
            )

with guard("loading the catalog"):
    tracks = resources.catalog_tracks()
    counts = resources.catalog().counts()
    st.subheader("What is in the catalog")
    columns = st.columns(5)
    columns[0].metric("Tracks", f"{len(tracks):,}")
    columns[1].metric("Hours of music", f"{tracks['duration'].sum() / 3600:.1f}" if len(tracks) else "0")
    columns[2].metric("Genres", tracks["genre"].nunique() if "genre" in tracks else 0)
    columns[3].metric("Artists", tracks["artist"].nunique() if "artist" in tracks else 0)
    columns[4].metric("Failed files", counts["failed"], help="Files whose latest ingestion attempt failed (listed below).")

    if tracks.empty:
        st.info("The catalog is empty. Add a folder of music above to start.")
    else:
        left, right = st.columns([3, 2])
        with left:
            colour_fields = [c for c in ("genre", "mood", "licence", "artist", "album") if c in tracks and tracks[c].nunique() > 1]
            colour = st.selectbox("Colour by", colour_fields or ["mood"], help="Payload field that colours the points.")
            tooltip = [c for c in ("title", "artist", "genre", "mood") if c in tracks] + ["valence", "arousal"]
            plane = charts.va_plane(
                tracks[[c for c in dict.fromkeys(["valence", "arousal", colour, *tooltip]) if c in tracks]],
                color=colour if colour in tracks else None,
                tooltip=tooltip,
                landmarks={word: BUILTIN_VA[word] for word in charts.VA_LANDMARKS},
                title="Tracks on the valence-arousal plane",
            )
            st.altair_chart(plane, width="stretch")
        with right:
            if "genre" in tracks:
                st.altair_chart(charts.count_bars(tracks["genre"].value_counts().to_dict(), title="Genres", field="genre"), width="stretch")
            if "mood" in tracks:
                st.altair_chart(charts.count_bars(tracks["mood"].value_counts().to_dict(), title="Strongest mood", field="mood"), width="stretch")
        with st.expander(f"All {len(tracks):,} tracks"):
            shown = [c for c in resources.TRACK_COLUMNS if c in tracks]
            st.dataframe(
                tracks[shown],
                hide_index=True,
                width="stretch",
                column_config={
                    "duration": st.column_config.NumberColumn("duration (s)", format="%.0f"),
                    "valence": st.column_config.ProgressColumn("valence", min_value=0.0, max_value=1.0, format="%.2f"),
                    "arousal": st.column_config.ProgressColumn("arousal", min_value=0.0, max_value=1.0, format="%.2f"),
                },
            )

with guard("listing failed files"):
    failures = resources.catalog().latest_failures(limit=500)
    if failures:
        st.subheader("Files that could not be ingested")
        st.caption("Their latest attempt failed; fix or remove them and ingest the folder again.")
        st.dataframe(pd.DataFrame([vars(f) for f in failures]), hide_index=True, width="stretch")
