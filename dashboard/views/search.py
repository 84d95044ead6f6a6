"""Search page: a speech clip (uploaded or recorded), text, an emotion word or a VA point -> matching tracks."""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import charts, resources
from dashboard.access import playable
from dashboard.filters import Facet, FilterChoice, build_where, describe_where
from dashboard.guard import guard
from dashboard.text import plain
from dashboard.workflow import result_actions
from recommender.audio import QUERY_SUFFIXES
from recommender.emotion import BUILTIN_VA
from recommender.explain import describe_va
from recommender.model import Analysis
from recommender.search import Recommender, Result
from recommender.settings import Settings

QUERY_KINDS = ("Upload a clip", "Record", "Text", "Emotion word", "Valence-arousal")
SPEECH_TYPES = [suffix.lstrip(".") for suffix in QUERY_SUFFIXES]  # audio and video files
MAX_PLAYER_BYTES = 60 * 1024 * 1024  # larger files are not sent to the browser player
EXAMPLE_WORDS = ("happy", "sad", "angry", "calm", "fearful", "surprised", "tender", "nostalgia", "tension", "power", "amazement")
QUERY_KIND_WORDS = {"speech": "speech", "text": "text", "emotion": "word", "va": "VA point"}  # as in ``why``
AUDIO_MIME = {".flac": "audio/flac", ".ogg": "audio/ogg", ".opus": "audio/ogg", ".mp3": "audio/mpeg", ".wav": "audio/wav"}


@dataclass(frozen=True)
class Query:
    """One query as the user gave it: which kind, the value, and a label for headings."""

    kind: str
    value: Any
    label: str
    transcript: str | None = None

    @property
    def key(self) -> str:
        """Identity of the query, so its analysis is computed once however often the page reruns."""
        raw = self.value if isinstance(self.value, bytes) else repr(self.value).encode()
        return hashlib.sha256(raw + repr((self.kind, self.transcript)).encode()).hexdigest()


def read_query(kind: str) -> Query | None:
    """The input widgets of ``kind``; None until the user has given a complete query."""
    if kind in ("Upload a clip", "Record"):
        if kind == "Upload a clip":
            clip = st.file_uploader(
                "Speech clip or video", type=SPEECH_TYPES,
                help="A few seconds to a few minutes of someone speaking: a voice-over, a podcast excerpt, a story.",
            )
        else:
            clip = st.audio_input("Record your voice", sample_rate=16000, help="Speak for a few seconds, then stop the recording.")
        transcript = st.text_input(
            "What is said (optional)", placeholder="I can't believe we finally made it!",
            help="The words' emotion is blended with the voice's.",
        )
        if clip is None:
            return None
        return Query("speech", clip.getvalue(), f"speech “{clip.name}”", transcript.strip() or None)
    if kind == "Text":
        text = st.text_area(
            "Transcript or story", height=110,
            placeholder="The storm finally passed and the whole village came out to dance in the square.",
            help="Any text: a script, a scene description, a social-media post. Press Ctrl+Enter to search.",
        )
        return Query("text", text.strip(), "your text") if text.strip() else None
    if kind == "Emotion word":
        word = st.text_input(
            "Emotion word", placeholder="nostalgia",
            help=f"Built-in words include {', '.join(EXAMPLE_WORDS)}; any English word works when an NRC-VAD "
            "lexicon is configured (UNDERTONE_LEXICON).",
        )
        return Query("emotion", word.strip(), f"“{word.strip()}”") if word.strip() else None
    left, right = st.columns(2)
    valence = left.slider("Valence", 0.0, 1.0, 0.5, 0.01, help="0 = unpleasant, 1 = pleasant")
    arousal = right.slider("Arousal", 0.0, 1.0, 0.5, 0.01, help="0 = calm, 1 = energetic")
    return Query("va", (valence, arousal), f"valence {valence:.2f} · arousal {arousal:.2f}")


def analyse(recommender: Recommender, query: Query) -> Analysis:
    """The query's analysis, kept in the session until the query changes."""
    cached = st.session_state.get("query_analysis")
    if cached and cached[0] == query.key:
        return cached[1]
    with st.spinner("Listening…" if query.kind == "speech" else "Reading the query…"):
        if query.kind == "speech":
            analysis = recommender.analyze(query.value, transcript=query.transcript)
        else:
            analysis = recommender.query_analysis(**{query.kind: query.value})
    st.session_state.query_analysis = (query.key, analysis)
    return analysis


def filter_sidebar(facets: list[Facet]) -> tuple[dict[str, Any] | None, int, int | None]:
    """Filters, result count and artist cap from the sidebar."""
    with st.sidebar:
        st.header("Filters")
        choice = FilterChoice()
        if not facets:
            st.caption("Filters appear here once the catalog has tracks with metadata (genre, licence, year …).")
        for facet in facets:
            label = plain(facet.label.capitalize())  # widget labels render Markdown, images included
            if facet.kind == "choice":
                choice.selected[facet.field] = st.multiselect(label, facet.choices, placeholder="any")
            elif facet.integer:
                low, high = int(facet.low), int(facet.high)
                choice.ranges[facet.field] = st.slider(label, low, high, (low, high), step=1)
            else:
                step = max(round((facet.high - facet.low) / 100, 2), 0.01)
                choice.ranges[facet.field] = st.slider(label, facet.low, facet.high, (facet.low, facet.high), step=step)
        st.header("Results")
        k = st.slider("How many tracks", 1, 50, 10)
        per_artist = 1 if st.checkbox("At most one track per artist", help="Spread the list over more artists.") else None
    return build_where(facets, choice), k, per_artist


def show_query(analysis: Analysis) -> None:
    st.markdown(f"**What we heard:** {describe_va(analysis.valence, analysis.arousal)}")
    columns = st.columns(3 if analysis.duration else 2)
    columns[0].metric("Valence", f"{analysis.valence:.2f}", help="0 = unpleasant, 1 = pleasant")
    columns[1].metric("Arousal", f"{analysis.arousal:.2f}", help="0 = calm, 1 = energetic")
    if analysis.duration:
        columns[2].metric("Length", f"{analysis.duration:.1f} s")
    st.altair_chart(charts.emotion_bars(analysis.emotions, title="Emotions of the query"), width="stretch")


def show_plane(analysis: Analysis, results: list[Result]) -> None:
    points = pd.DataFrame(
        [
            {
                "rank": rank, "valence": r.valence, "arousal": r.arousal, "score": r.score,
                "title": r.payload.get("title") or Path(r.path or "?").name, "mood": r.payload.get("mood", ""),
            }
            for rank, r in enumerate(results, 1)
            if r.valence is not None and r.arousal is not None
        ]
    )
    st.altair_chart(
        charts.va_plane(
            points, color="mood" if len(points) else None, size="score" if len(points) else None,
            tooltip=["rank", "title", "mood", "score"] if len(points) else (),
            query=(analysis.valence, analysis.arousal),
            landmarks={word: BUILTIN_VA[word] for word in charts.VA_LANDMARKS},
            title="The query (◆) and the results on the valence-arousal plane",
        ),
        width="stretch",
    )


def mood_badges(moods: dict[str, float] | None, top: int = 3) -> str:
    ranked = sorted((moods or {}).items(), key=lambda item: -item[1])[:top]
    return " ".join(f":violet-badge[{plain(label.replace('_', ' '))} {p:.0%}]" for label, p in ranked)


def show_result(rank: int, result: Result, settings: Settings, actions: Callable[[], None] | None = None) -> None:
    """One result card. Every catalog field goes through :func:`plain`: metadata is text, never Markdown."""
    payload = result.payload
    path = Path(result.path) if result.path else None
    title = payload.get("title") or (path.stem if path else result.track_id)
    with st.container(border=True):
        text, player = st.columns([3, 2])
        with text:
            artist = f" · {plain(payload['artist'])}" if payload.get("artist") else ""
            st.markdown(f"**{rank}. {plain(title)}**{artist}")
            details = [plain(payload[k]) for k in ("genre", "album", "year", "licence") if payload.get(k)]
            if payload.get("duration"):
                seconds = int(round(float(payload["duration"])))
                details.append(f"{seconds // 60}:{seconds % 60:02d}")
            if details:
                st.caption(" · ".join(details))
            st.markdown(mood_badges(payload.get("moods")) or f":violet-badge[{plain(payload.get('mood', 'no mood stored'))}]")
            st.caption(f"Why: {plain(result.why)}")
            if actions is not None:
                actions()
        with player:
            st.metric("Match", f"{result.score:.2f}", help="(1 − α) · cosine + α · valence-arousal match")
            show_player(path, settings)


def show_player(path: Path | None, settings: Settings) -> None:
    """A player for ``path`` if it is an audio file inside the library roots (only those are streamed)."""
    audio = playable(path, settings)
    if path is None:
        st.caption("No audio path stored for this track.")
    elif audio is None:
        st.caption("Not playable here: the file is missing or outside the music library (UNDERTONE_LIBRARY_ROOTS).")
    elif audio.stat().st_size > MAX_PLAYER_BYTES:
        st.caption(f"{plain(audio.name)} is too large to play here.")
    else:
        st.audio(str(audio), format=AUDIO_MIME.get(audio.suffix.lower()) or mimetypes.guess_type(audio.name)[0] or "audio/wav")


def results_csv(results: list[Result]) -> bytes:
    rows = [
        {"rank": rank, "title": r.payload.get("title"), "artist": r.payload.get("artist"), "score": round(r.score, 4),
         "mood": r.payload.get("mood"), "valence": r.valence, "arousal": r.arousal, "path": r.path}
        for rank, r in enumerate(results, 1)
    ]
    return pd.DataFrame(rows).to_csv(index=False).encode()


st.title("Find music that feels like your words")
st.caption(
    "Give a piece of speech — or text, an emotion word, or a point on the valence-arousal plane — and get the "
    "tracks of your catalog whose emotion matches it."
)

with guard("opening the catalog"):
    recommender = resources.recommender()
    in_catalog = recommender.store.count()
    if in_catalog == 0:
        st.warning("The catalog is empty, so there is nothing to recommend yet. Add music on the Catalog page first.", icon=":material/library_music:")
        st.page_link(str(Path(__file__).with_name("catalog.py")), label="Go to the Catalog page", icon=":material/arrow_forward:")
    where, k, per_artist = filter_sidebar(resources.catalog_facets())

    kind = st.radio("Search with", QUERY_KINDS, horizontal=True, label_visibility="collapsed")
    with guard("searching"):
        query = read_query(kind)
        if query is not None:
            analysis = analyse(recommender, query)
            if in_catalog == 0:
                st.error("No tracks to recommend: the catalog is empty. Add music on the Catalog page, then search again.")
                show_query(analysis)
                st.stop()
            results = recommender.recommend(analysis, k=k, where=where, per_artist=per_artist, query_kind=QUERY_KIND_WORDS[query.kind])
            st.divider()
            left, right = st.columns([2, 3])
            with left:
                show_query(analysis)
            with right:
                show_plane(analysis, results)
            heading, download = st.columns([4, 1])
            heading.subheader(f"{len(results)} tracks for {query.label}")
            heading.caption(f"{in_catalog:,} tracks searched · {plain(describe_where(where))}")
            download.download_button("Download CSV", results_csv(results), "undertone-results.csv", "text/csv")
            if not results:
                st.info("No track passes these filters. Widen them in the sidebar.")
            settings = resources.current_settings()
            for rank, result in enumerate(results, 1):
                show_result(rank, result, settings, partial(result_actions, recommender, result, rank, where=where))
