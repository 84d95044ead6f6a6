"""Catalog page: ingest a folder or manifest in the background, watch it, and look at what is indexed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import charts, resources
from dashboard.access import NO_ROOTS, library_path, save_uploads
from dashboard.guard import guard
from dashboard.jobs import Job, ProgressFn
from dashboard.text import plain
from ingest.catalog import JobStatus
from ingest.pipeline import JobSummary
from ingest.sources import DECODABLE_EXTENSIONS
from recommender.emotion import BUILTIN_VA
from recommender.errors import UsageError
from recommender.settings import Settings

st.title("Catalog")
st.caption("Add music to your catalog and see how its emotions spread over the valence-arousal plane.")


def check_idle() -> None:
    """One writer at a time keeps the progress bars honest and the machine responsive."""
    if resources.job_board().running():
        raise UsageError("An ingestion is already running; start the next one when it has finished.")


def start_ingest(path: Path, title: str) -> None:
    """Start ingesting ``path`` (already checked to lie inside the library roots) in a background thread of this process."""
    settings = resources.current_settings()
    board = resources.job_board(settings)
    check_idle()
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

    board.start(title, work)


def show_job(job: Job) -> None:
    if job.state == "running":
        total = f"{job.done}/{job.total}" if job.total else "listing files…"
        st.progress(job.fraction, text=f"**{plain(job.title)}** — {total} · {job.elapsed:.0f} s")
        if job.message:
            st.caption(plain(job.message))
    elif job.state == "failed":
        st.error(f"**{plain(job.title)}** failed: {plain(job.error)}")
    else:
        summary = job.result
        st.success(
            f"**{plain(job.title)}** finished in {summary.seconds:.1f} s: {summary.ingested} ingested, "
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


def library_help(settings: Settings) -> str:
    roots = ", ".join(f"`{root}`" for root in settings.library_roots)
    return (
        f"A folder or manifest inside the music library ({roots}). A folder is searched recursively for audio files. "
        "A manifest (.csv, .tsv or .jsonl) has a `path` column plus any metadata columns (title, artist, genre, "
        "licence, year …) you want to filter on."
    )


with guard("starting the ingestion"):
    settings = resources.current_settings()
    with st.form("ingest", border=True):
        st.subheader("Add music")
        if not settings.library_roots:
            st.caption(NO_ROOTS)
        source = st.text_input(
            "Folder or manifest",
            placeholder=str(settings.library_roots[0] if settings.library_roots else "/music/library"),
            help=library_help(settings) if settings.library_roots else NO_ROOTS,
            disabled=not settings.library_roots,
        )
        if st.form_submit_button("Start ingesting", type="primary", disabled=not settings.library_roots):
            path = library_path(source, settings)
            start_ingest(path, f"Ingest {path}")
    with st.form("upload", border=True, clear_on_submit=True):
        uploads = st.file_uploader(
            "Or upload tracks", type=sorted(DECODABLE_EXTENSIONS), accept_multiple_files=True,
            help="The files are kept with the catalog on the server, so the Search page can play them.",
        )
        if st.form_submit_button("Upload and ingest"):
            check_idle()  # before anything is written
            folder = save_uploads([(upload.name, upload.getvalue()) for upload in uploads or []], settings)
            start_ingest(folder, f"Ingest {len(uploads)} uploaded file(s)")

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

BARS = 25  # categories drawn as bars; the rest are summed into one "others" bar
PAGE_SIZE = 100  # rows of the track table per page


def track_table() -> None:
    """The indexed tracks, a page at a time (a million rows never reach the browser)."""
    moods = ["every mood", *sorted(stats.moods)]
    left, right = st.columns([2, 1])
    choice = left.selectbox("Strongest mood", moods, help="Only tracks whose strongest mood is this.")
    mood = None if choice == moods[0] else choice
    total = stats.tracks if mood is None else stats.moods[mood]
    pages = max(1, -(-total // PAGE_SIZE))
    page = int(right.number_input(f"Page (of {pages:,})", min_value=1, max_value=pages, value=1, step=1))
    rows = resources.catalog().track_page(limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, mood=mood)
    frame = resources.track_frame(rows.tracks)
    first = (page - 1) * PAGE_SIZE
    st.caption(f"Tracks {first + 1:,}–{first + len(frame):,} of {rows.total:,}, by path.")
    st.dataframe(
        frame[[c for c in resources.TRACK_COLUMNS if c in frame]],
        hide_index=True,
        width="stretch",
        column_config={
            "duration": st.column_config.NumberColumn("duration (s)", format="%.0f"),
            "valence": st.column_config.ProgressColumn("valence", min_value=0.0, max_value=1.0, format="%.2f"),
            "arousal": st.column_config.ProgressColumn("arousal", min_value=0.0, max_value=1.0, format="%.2f"),
        },
    )


def top(counts: dict[str, int]) -> dict[str, int]:
    """The :data:`BARS` largest categories, and the rest summed as "(N others)"."""
    ranked = sorted(counts.items(), key=lambda item: item[1], reverse=True)
    shown = dict(ranked[:BARS])
    if len(ranked) > BARS:
        shown[f"({len(ranked) - BARS} others)"] = sum(count for _, count in ranked[BARS:])
    return shown


with guard("loading the catalog"):
    stats = resources.catalog_stats()
    tracks = resources.catalog_sample()  # every track of a small catalog, a uniform sample of a big one
    counts = resources.catalog().counts()
    st.subheader("What is in the catalog")
    columns = st.columns(5)
    columns[0].metric("Tracks", f"{stats.tracks:,}")
    columns[1].metric("Hours of music", f"{stats.seconds / 3600:.1f}" if stats.tracks else "0")
    columns[2].metric("Genres", f"{len(stats.genres):,}")
    columns[3].metric("Artists", f"{stats.artists:,}")
    columns[4].metric("Failed files", f"{counts['failed']:,}", help="Files whose latest ingestion attempt failed (listed below).")

    if stats.tracks == 0:
        st.info("The catalog is empty. Add a folder of music above to start.")
    else:
        sampled = len(tracks) < stats.tracks
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
                density=stats.va_counts if sampled else None,
            )
            st.altair_chart(plane, width="stretch")
            if sampled:
                st.caption(
                    f"The shading counts all {stats.tracks:,} tracks; the {len(tracks):,} points are a uniform sample of them."
                )
        with right:
            if stats.genres:
                st.altair_chart(charts.count_bars(top(stats.genres), title="Genres", field="genre"), width="stretch")
            if stats.moods:
                st.altair_chart(charts.count_bars(top(stats.moods), title="Strongest mood", field="mood"), width="stretch")
        with st.expander(f"All {stats.tracks:,} tracks"):
            track_table()

with guard("listing failed files"):
    failures = resources.catalog().latest_failures(limit=500)
    if failures:
        st.subheader("Files that could not be ingested")
        st.caption("Their latest attempt failed; fix or remove them and ingest the folder again.")
        st.dataframe(pd.DataFrame([vars(f) for f in failures]), hide_index=True, width="stretch")
