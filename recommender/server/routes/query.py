"""Query endpoints: search, analyze, recommend for an analysed query, the timeline of a long clip.

Queries come as a form (``multipart/form-data`` with an optional ``speech`` file, or urlencoded), the
same fields as ``undertone search``: ``curl -F speech=@clip.wav -F k=5 http://127.0.0.1:8765/search``.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from pydantic import BaseModel, Field

from recommender.errors import UsageError
from recommender.model import Analysis
from recommender.search import SearchResponse
from recommender.server.errors import UnsupportedMediaError
from recommender.server.routes import where_from_json
from recommender.server.state import ServerState, server_state
from recommender.store import parse_where
from recommender.timeline import TimelineConfig, build_timeline

FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


def form_body(request: Request) -> None:
    """Queries are forms: anything else is refused with 415 rather than read as an empty query."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type and content_type not in FORM_TYPES:
        raise UnsupportedMediaError(f"send the query as a form (multipart/form-data or urlencoded), not {content_type}")


router = APIRouter(tags=["queries"])
FORM = [Depends(form_body)]
State = Annotated[ServerState, Depends(server_state)]
Speech = Annotated[UploadFile | None, File(description="speech clip (wav, flac, ogg, opus, mp3, aiff)")]
Text = Annotated[str | None, Form(description="free text, or the transcript of the speech")]
Emotion = Annotated[str | None, Form(description="an emotion word")]
VA = Annotated[str | None, Form(description="valence,arousal in 0-1, e.g. 0.2,0.8")]
Where = Annotated[str | None, Form(description='payload filter as JSON, e.g. {"genre": ["rock", "pop"], "year": {"gte": 2000}}')]
Rerank = Annotated[float | None, Form(description="weight of valence-arousal similarity in the score (0-1)")]
PerArtist = Annotated[int | None, Form(description="at most this many tracks per artist")]


@router.post("/search", dependencies=FORM)
def search(
    state: State, speech: Speech = None, text: Text = None, emotion: Emotion = None, va: VA = None,
    k: Annotated[int, Form()] = 10, where: Where = None, rerank: Rerank = None, per_artist: PerArtist = None,
    visual_weight: Annotated[float | None, Form(ge=0, le=1, description="video queries: weight of the picture's emotion")] = None,
) -> dict[str, Any]:
    """Tracks whose emotion matches the query, best first: the ``undertone search --json`` object of the query
    (plus the query's ``embedding`` and ``duration``)."""
    kind, label = _kind_and_label(speech, text, emotion, va)
    response = state.recommender.search(
        _audio(speech), text=text, emotion=emotion, va=_va(va), k=k, where=where_from_json(where), rerank=rerank, per_artist=per_artist,
        visual_weight=visual_weight,
    )
    return {"query": label, "kind": kind, **_search_record(response)}


@router.post("/similar", dependencies=FORM)
def similar(
    state: State,
    like: Annotated[list[str], Form(description="catalog track ids of music the results should resemble")] = [],  # noqa: B006 (FastAPI copies it)
    unlike: Annotated[list[str], Form(description="catalog track ids of music the results should not resemble")] = [],  # noqa: B006
    like_file: Annotated[list[UploadFile], File(description="music files the results should resemble")] = [],  # noqa: B006
    unlike_file: Annotated[list[UploadFile], File(description="music files the results should not resemble")] = [],  # noqa: B006
    k: Annotated[int, Form()] = 10, where: Where = None, rerank: Rerank = None, per_artist: PerArtist = None,
) -> dict[str, Any]:
    """More like this (``undertone search --like ... --unlike ...``): tracks near the liked examples, away from the others."""
    liked = [*like, *(_audio(upload) for upload in like_file)]
    unliked = [*unlike, *(_audio(upload) for upload in unlike_file)]
    response = state.recommender.similar(liked, unliked, k=k, where=where_from_json(where), rerank=rerank, per_artist=per_artist)
    return {"query": ", ".join(str(getattr(e, "name", e)) for e in liked), "kind": "like", **_search_record(response)}


@router.post("/analyze", dependencies=FORM)
def analyze(state: State, speech: Speech = None, text: Text = None, emotion: Emotion = None, va: VA = None) -> dict[str, Any]:
    """The emotion of a query (speech, optionally with its transcript in ``text``; or text, a word, a VA point)."""
    return analysis_record(state.recommender.query_analysis(_audio(speech), text=text, emotion=emotion, va=_va(va)))


class RecommendRequest(BaseModel):
    """An already analysed query (``/analyze``'s answer) and the ranking options."""

    embedding: list[float]
    valence: float
    arousal: float
    emotions: dict[str, float] = Field(default_factory=dict)
    k: int = 10
    where: dict[str, Any] | None = None
    rerank: float | None = None
    per_artist: int | None = None
    exclude: list[str] = Field(default_factory=list)
    query_kind: str = "query"


@router.post("/recommend")
def recommend(state: State, request: RecommendRequest) -> dict[str, Any]:
    """Rank the catalog for an analysed query (for clients that analyse once and re-rank often, like the dashboard)."""
    analysis = Analysis(np.asarray(request.embedding, dtype=np.float32), request.valence, request.arousal, request.emotions)
    where = request.where or None
    if where is not None:
        parse_where(where)
    results = state.recommender.recommend(
        analysis, k=request.k, where=where, rerank=request.rerank, per_artist=request.per_artist,
        exclude=request.exclude, query_kind=request.query_kind,
    )
    return {"results": [result.to_dict() for result in results]}


@router.post("/timeline", dependencies=FORM)
def timeline(
    state: State,
    speech: Annotated[UploadFile, File(description="long speech recording (audiobook chapter, podcast)")],
    segment_seconds: Annotated[float, Form(gt=0)] = 10.0,
    min_cue_seconds: Annotated[float, Form(gt=0)] = 60.0,
    smoothing_seconds: Annotated[float, Form()] = 20.0,
    change_threshold: Annotated[float, Form(gt=0)] = 0.15,
    alternatives: Annotated[int, Form()] = 2,
    snap_seconds: Annotated[float, Form(ge=0, description="videos: how far a cue may move to start on a shot cut")] = 10.0,
    visual_weight: Annotated[float, Form(ge=0, le=1, description="videos: weight of the picture's emotion")] = 0.0,
    where: Where = None, rerank: Rerank = None, per_artist: PerArtist = None,
) -> dict[str, Any]:
    """The emotion timeline and cue sheet of a long recording or a video (``undertone timeline --json``)."""
    config = TimelineConfig.from_options(
        segment_seconds, min_cue_seconds, smoothing_seconds, change_threshold, alternatives, snap_seconds, visual_weight
    )
    name = Path(speech.filename or "speech").name
    # The timeline streams its source from disk in chunks: the upload goes to a temporary file first.
    with tempfile.TemporaryDirectory(prefix="undertone-timeline-") as directory:
        path = Path(directory) / name
        with open(path, "wb") as handle:
            while chunk := speech.file.read(1 << 20):
                handle.write(chunk)
        result = build_timeline(state.recommender, path, config, where=where_from_json(where), rerank=rerank, per_artist=per_artist)
    record = result.to_dict()
    record["source"] = name
    return record


def analysis_record(analysis: Analysis) -> dict[str, Any]:
    """The query part of a search record, with what a client needs to rebuild the :class:`Analysis`."""
    return {
        "emotion": dict(analysis.emotions), "valence": analysis.valence, "arousal": analysis.arousal,
        "duration": analysis.duration, "embedding": np.asarray(analysis.embedding, dtype=float).tolist(),
    }


def _search_record(response: SearchResponse) -> dict[str, Any]:
    record = {key: value for key, value in response.to_dict().items() if key != "query"}
    extra = analysis_record(response.query)
    return {**record, "duration": extra["duration"], "embedding": extra["embedding"]}


def _kind_and_label(speech: UploadFile | None, text: str | None, emotion: str | None, va: str | None) -> tuple[str, str | None]:
    if speech is not None:
        return "speech", speech.filename
    if text is not None:
        return "text", text
    if emotion is not None:
        return "emotion", emotion
    return "va", va


class _NamedBuffer(io.BytesIO):
    """An upload's bytes under the client's file name, so audio errors name the file the user sent."""

    def __init__(self, data: bytes, name: str) -> None:
        super().__init__(data)
        self.name = name


def _audio(speech: UploadFile | None) -> io.BytesIO | None:
    if speech is None:
        return None
    return _NamedBuffer(speech.file.read(), os.path.basename(speech.filename or "upload"))


def _va(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        valence, arousal = (float(part) for part in text.split(","))
    except ValueError:
        raise UsageError(f"va {text!r}: expected VALENCE,AROUSAL, e.g. 0.2,0.8") from None
    return valence, arousal
