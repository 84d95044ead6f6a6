"""The query path: speech (or text, an emotion word, a valence-arousal point) in, ranked tracks out.

A query is analysed by the emotion model into a point of the joint emotion space plus a
valence-arousal (VA) estimate. The vector store returns a candidate pool of the tracks nearest by
cosine (``max(candidate_factor * k, min_candidates)``, after the user's filter), and the pool is
re-ranked by a blend of the two views of emotion the model gives::

    score = (1 - alpha) * cosine(query, track) + alpha * va_similarity(query VA, track VA)

where ``va_similarity = 1 - euclidean distance`` on the 0-1 VA plane (:mod:`recommender.emotion`).
``alpha = 0`` is pure embedding order, ``alpha = 1`` pure VA order. The default comes from
``benchmarks/tune_rerank.py`` (nDCG@5 on the dev split; see ``docs/search.md``). An optional
diversity pass then keeps at most ``per_artist`` tracks of any one artist.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from recommender.audio import load_audio, prepare_waveform
from recommender.emotion import va_similarity
from recommender.errors import EmptyCatalogError, ModelMismatchError, UsageError
from recommender.examples import DEFAULT_BETA, ExampleInput, annotate, example_query, resolve_example
from recommender.explain import explain, payload_va
from recommender.model import Analysis, EmotionModel
from recommender.settings import Settings
from recommender.store import Hit, VectorStore, Where, open_vector_store
from recommender.towers.base import torch_threads
from recommender.visual import check_weight, fuse_visual, picture_cues

logger = logging.getLogger(__name__)

SpeechInput = str | os.PathLike | bytes | BinaryIO | np.ndarray


@dataclass(frozen=True)
class SearchConfig:
    """How the query path ranks.

    Attributes:
        alpha: Weight of VA similarity in the re-ranking blend (0 = cosine only, 1 = VA only); 0.5 beats
            0.2 on every metric on both dev pools (Emotify, 4Q) with the current model (``docs/search.md``).
        candidate_factor: The store returns ``candidate_factor * k`` candidates for re-ranking ...
        min_candidates: ... and never fewer than this.
        analysis_threads: torch intra-op threads while a query is analysed (None: leave torch's
            setting alone). The builtin towers run many small ops, where extra threads cost more than
            they give: a 5 s clip took 25-43 ms with one thread and 118-2300 ms with two on the 2-core
            reference machine while other work ran. Raise it for large (Hugging Face) towers.
    """

    alpha: float = 0.5
    candidate_factor: int = 5
    min_candidates: int = 100
    analysis_threads: int | None = 1

    def __post_init__(self) -> None:
        _check_alpha(self.alpha)


@dataclass
class Result:
    """One recommended track.

    Attributes:
        track_id: Store id (UUID derived from the file's content).
        path: Where the audio file is (None when the payload has no path).
        score: Blended score the list is sorted by.
        valence: The track's predicted valence (None when not stored).
        arousal: The track's predicted arousal.
        payload: Everything stored with the track (metadata, moods, model fingerprint ...).
        parts: Score components: ``cosine``, ``va_similarity``, ``alpha`` (and for example queries the
            cosine to each ``liked`` and ``unliked`` example).
        why: One human sentence explaining the match.
    """

    track_id: str
    path: str | None
    score: float
    valence: float | None
    arousal: float | None
    payload: dict[str, Any]
    parts: dict[str, Any]
    why: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form: the core fields, then the payload's metadata, then ``parts`` and ``why``."""
        record: dict[str, Any] = {
            "track_id": self.track_id, "path": self.path, "score": self.score, "valence": self.valence, "arousal": self.arousal,
        }
        record.update({key: value for key, value in self.payload.items() if key not in record and key not in ("parts", "why")})
        record["parts"] = dict(self.parts)
        record["why"] = self.why
        return record

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Result:
        """The result back from its :meth:`to_dict` form (what the HTTP API sends)."""
        payload = {key: value for key, value in record.items() if key not in ("track_id", "score", "parts", "why") and value is not None}
        return cls(
            track_id=record["track_id"], path=record.get("path"), score=float(record["score"]),
            valence=record.get("valence"), arousal=record.get("arousal"), payload=payload,
            parts=dict(record.get("parts") or {}), why=record.get("why", ""),
        )


@dataclass
class SearchResponse:
    """The analysed query and its results, best first."""

    query: Analysis
    results: list[Result] = field(default_factory=list)

    def to_dict(self, query: str | None = None) -> dict[str, Any]:
        """The ``undertone search --json`` object (``query`` is how the user wrote it; ``visual`` for video queries)."""
        record = {"query": query, "emotion": dict(self.query.emotions), "valence": self.query.valence, "arousal": self.query.arousal}
        if self.query.visual is not None:
            record["visual"] = dict(self.query.visual)
        record["results"] = [result.to_dict() for result in self.results]
        return record


class Recommender:
    """Analyse queries with the emotion model and rank the catalog in the vector store.

    Build with :meth:`open`; close (or use as a context manager) to release an embedded store.

    Args:
        model: The emotion model that embedded the catalog.
        store: The catalog's vector store.
        settings: Limits (``max_query_seconds``) and where things are.
        config: Ranking parameters.
    """

    def __init__(self, model: EmotionModel, store: VectorStore, settings: Settings | None = None, config: SearchConfig | None = None) -> None:
        self.model = model
        self.store = store
        self.settings = settings or Settings.load()
        self.config = config or SearchConfig()
        if store.dim is not None and store.dim != model.joint_dim:
            raise ModelMismatchError(
                f"the store holds {store.dim}-d vectors but model {model.fingerprint} embeds in {model.joint_dim}-d; "
                "search with the model that built the catalog (--model) or re-ingest"
            )
        self._warn_about_other_models()

    @classmethod
    def open(
        cls,
        store: str | Path | None = None,
        *,
        settings: Settings | None = None,
        model: EmotionModel | None = None,
        config: SearchConfig | None = None,
    ) -> Recommender:
        """Load the model and open the store.

        Args:
            store: Embedded store directory (overrides ``settings``; forces embedded mode).
            settings: Everything else; ``Settings.load()`` when omitted (``qdrant_url`` -> server mode).
            model: An already loaded model (else ``EmotionModel.load(settings.model)``).
            config: Ranking parameters.

        Raises:
            StoreBusyError: Another process owns the embedded store.
        """
        settings = settings or Settings.load()
        if store is not None:
            settings = settings.replace(store=Path(store), qdrant_url=None)
        model = model or EmotionModel.load(settings.model, lexicon=settings.lexicon, music_max_windows=settings.music_max_windows)
        vector_store = open_vector_store(settings)
        try:
            return cls(model, vector_store, settings, config)
        except BaseException:
            vector_store.close()
            raise

    # -- queries ------------------------------------------------------------------------------------

    def analyze(self, speech: SpeechInput, *, sample_rate: int | None = None, transcript: str | None = None) -> Analysis:
        """The emotion heard in a speech clip.

        Args:
            speech: A path, the file's bytes, an open binary file, or a waveform array.
            sample_rate: Rate of a waveform array (default: the model's speech rate).
            transcript: What is said, late-fused with the voice (see ``EmotionModel.analyze_speech``).

        Raises:
            AudioError: Missing, unreadable, non-audio, silent or too long (``Settings.max_query_seconds``).
        """
        waveform, rate = self.decode(speech, sample_rate=sample_rate)
        with torch_threads(self.config.analysis_threads):
            return self.model.analyze_speech(waveform, rate, transcript=transcript)

    def decode(self, speech: SpeechInput, *, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
        """Validated mono float32 speech at the model's speech rate (raises ``AudioError``)."""
        rate = self.model.speech_sample_rate
        limit = self.settings.max_query_seconds
        if isinstance(speech, np.ndarray):
            return prepare_waveform(speech, sample_rate or rate, rate, source="speech waveform", max_seconds=limit), rate
        return load_audio(speech, rate, max_seconds=limit), rate

    def query_analysis(
        self,
        speech: SpeechInput | None = None,
        *,
        text: str | None = None,
        emotion: str | None = None,
        va: Sequence[float] | None = None,
        sample_rate: int | None = None,
    ) -> Analysis:
        """Analyse exactly one kind of query (speech may come with ``text`` as its transcript)."""
        self._check_single_kind(speech=speech, text=text, emotion=emotion, va=va)
        if speech is not None:
            return self.analyze(speech, sample_rate=sample_rate, transcript=text)
        with torch_threads(self.config.analysis_threads):
            if text is not None:
                return self.model.analyze_text(text)
            if emotion is not None:
                return self.model.analyze_emotion(emotion)
            valence, arousal = _va_pair(va)
            return self.model.analyze_va(valence, arousal)

    @staticmethod
    def _check_single_kind(**queries: Any) -> None:
        given = [name for name, value in queries.items() if value is not None]
        if not given:
            raise UsageError("nothing to search for: give speech, text, emotion or va")
        if len(given) > 1 and set(given) != {"speech", "text"}:
            raise UsageError(f"give one kind of query (speech, optionally with its text), not {' + '.join(given)}")

    def search(
        self,
        speech: SpeechInput | None = None,
        *,
        text: str | None = None,
        emotion: str | None = None,
        va: Sequence[float] | None = None,
        k: int = 10,
        where: Where | None = None,
        rerank: float | None = None,
        per_artist: int | None = None,
        sample_rate: int | None = None,
        timings: dict[str, float] | None = None,
        visual_weight: float | None = None,
    ) -> SearchResponse:
        """Tracks whose emotion matches the query, best first.

        Args:
            speech: Speech clip (path, bytes, binary file, or waveform array at ``sample_rate``).
            text: Free text, or the transcript of ``speech`` (late fusion).
            emotion: An emotion word (built-in vocabulary or the configured NRC-VAD lexicon).
            va: A ``(valence, arousal)`` point in 0-1.
            k: How many tracks (a larger ``k`` than the catalog returns the whole catalog ranked).
            where: Payload filter (see :mod:`recommender.store`).
            rerank: ``alpha`` of the blend; None uses ``config.alpha``.
            per_artist: Keep at most this many tracks of one artist.
            sample_rate: Rate of a waveform array given as ``speech``.
            timings: When given, receives the seconds spent in each stage: ``decode``, ``analyze``
                (towers + heads), ``search`` (vector store) and ``rerank``.
            visual_weight: For a video: also watch it (:mod:`recommender.visual`) and fuse the picture's
                emotion at this weight (0 = shown in the explanation, not used). None: listen only.

        Raises:
            AudioError: The speech cannot be used (missing, not audio, silent, too long).
            UnknownEmotionError: ``emotion`` is not a known word.
            EmptyCatalogError: No tracks in the store.
            ValueError: No query, several kinds of query, out-of-range ``va``/``k``/``rerank``.
        """
        self._check_single_kind(speech=speech, text=text, emotion=emotion, va=va)
        if visual_weight is not None:
            check_weight(visual_weight)
            if speech is None or isinstance(speech, np.ndarray):
                raise UsageError("visual_weight needs a video query (a file, its bytes or an open file)")
        clock = _Stopwatch(timings)
        if speech is not None:
            waveform, rate = self.decode(speech, sample_rate=sample_rate)
            clock.lap("decode")
            with torch_threads(self.config.analysis_threads):
                analysis = self.model.analyze_speech(waveform, rate, transcript=text)
                if visual_weight is not None:
                    analysis = fuse_visual(self.model, analysis, picture_cues(speech), visual_weight)
        else:
            analysis = self.query_analysis(text=text, emotion=emotion, va=va)
        clock.lap("analyze")
        kind = "speech" if speech is not None else "text" if text is not None else "word" if emotion is not None else "VA point"
        results = self.recommend(analysis, k=k, where=where, rerank=rerank, per_artist=per_artist, query_kind=kind, timings=timings)
        return SearchResponse(analysis, results)

    def similar(
        self,
        like: ExampleInput | Sequence[ExampleInput],
        unlike: ExampleInput | Sequence[ExampleInput] = (),
        *,
        k: int = 10,
        where: Where | None = None,
        rerank: float | None = None,
        per_artist: int | None = None,
        beta: float = DEFAULT_BETA,
    ) -> SearchResponse:
        """More like this: tracks close to the ``like`` examples and away from the ``unlike`` ones.

        Args:
            like: Catalog track ids and/or music files (paths, bytes, binary files); one or a list.
            unlike: The same, for music the results should not resemble.
            k, where, rerank, per_artist: As in :meth:`search`.
            beta: Weight of the unliked examples (see :mod:`recommender.examples`).

        Raises:
            UnknownTrackError: A track id that is not in the catalog.
            AudioError: A file that cannot be used as music.
            UsageError: No liked example, or examples that cancel out.
        """
        limit = self.settings.max_track_seconds
        with torch_threads(self.config.analysis_threads):
            liked = [resolve_example(self.model, self.store, example, max_seconds=limit) for example in _examples(like)]
            unliked = [resolve_example(self.model, self.store, example, max_seconds=limit) for example in _examples(unlike)]
        analysis = example_query(liked, unliked, beta)
        exclude = {example.track_id for example in liked + unliked if example.track_id}
        results = self.recommend(analysis, k=k, where=where, rerank=rerank, per_artist=per_artist, exclude=exclude, query_kind="examples")
        annotate(results, self.store, analysis, liked, unliked)
        return SearchResponse(analysis, results)

    def recommend(
        self,
        analysis: Analysis,
        *,
        k: int = 10,
        where: Where | None = None,
        rerank: float | None = None,
        per_artist: int | None = None,
        exclude: Iterable[str] = (),
        query_kind: str = "query",
        timings: dict[str, float] | None = None,
    ) -> list[Result]:
        """Rank the catalog for an already analysed query (``exclude``: track ids to leave out;
        ``timings`` receives ``search`` and ``rerank`` seconds)."""
        if k < 1:
            raise UsageError(f"k must be at least 1, got {k}")
        if per_artist is not None and per_artist < 1:
            raise UsageError(f"per_artist must be at least 1, got {per_artist}")
        alpha = self.config.alpha if rerank is None else _check_alpha(rerank)
        excluded = set(exclude)
        pool = max(self.config.candidate_factor * k, self.config.min_candidates) + len(excluded)
        clock = _Stopwatch(timings)
        while True:
            hits = self.store.search(analysis.embedding, pool, where)
            clock.lap("search")
            ranked = _blend([hit for hit in hits if hit.id not in excluded], analysis, alpha)
            if per_artist is not None:
                ranked = _cap_per_artist(ranked, per_artist)
            # The artist cap may leave fewer than k of a full pool: widen the pool until it does not.
            if len(ranked) >= k or len(hits) < pool:
                break
            pool *= 4
        if not hits and self.store.count() == 0:
            raise EmptyCatalogError(f"the catalog is empty: add music first (undertone ingest MUSIC_DIR){self._where_is_store()}")
        # Explanations only for what is returned: the pool is scored, the top k are described.
        results = [_result(candidate, analysis, alpha, query_kind) for candidate in ranked[:k]]
        clock.lap("rerank")
        return results

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Recommender:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals ----------------------------------------------------------------------------------

    def _warn_about_other_models(self) -> None:
        total = self.store.count()
        stale = total - self.store.count({"model": self.model.fingerprint}) if total else 0
        if stale:
            logger.warning(
                "%d of %d tracks were embedded by another model than %s (%s): their scores are not comparable; re-ingest them",
                stale, total, self.model.fingerprint, self.settings.model,
            )

    def _where_is_store(self) -> str:
        if self.settings.qdrant_url:
            return f" [collection {self.settings.collection!r} on {self.settings.qdrant_url}]"
        return f" [store {self.settings.store}]"


class _Stopwatch:
    """Adds the seconds since the previous lap to ``timings[stage]`` (does nothing without a dict)."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings
        self.last = time.perf_counter()

    def lap(self, stage: str) -> None:
        if self.timings is not None:
            now = time.perf_counter()
            self.timings[stage] = self.timings.get(stage, 0.0) + now - self.last
            self.last = now


def _check_alpha(alpha: float) -> float:
    if not 0.0 <= float(alpha) <= 1.0:
        raise UsageError(f"rerank alpha must be within [0, 1], got {alpha}")
    return float(alpha)


def _examples(given: ExampleInput | Sequence[ExampleInput]) -> list[ExampleInput]:
    return [given] if isinstance(given, (str, os.PathLike, bytes, bytearray)) or hasattr(given, "read") else list(given)


def _va_pair(va: Sequence[float]) -> tuple[float, float]:
    values = [float(x) for x in va]
    if len(values) != 2:
        raise UsageError(f"va is a (valence, arousal) pair, got {len(values)} numbers")
    return values[0], values[1]


@dataclass(frozen=True)
class _Candidate:
    hit: Hit
    score: float
    va_match: float | None


def _blend(hits: list[Hit], analysis: Analysis, alpha: float) -> list[_Candidate]:
    """Blended scores of the pool, best first (stable: ties keep the store's cosine order).

    Tracks without a stored VA estimate are ranked by cosine alone.
    """
    if not hits:
        return []
    cosine = np.array([hit.score for hit in hits])
    track_va = np.array([payload_va(hit.payload) for hit in hits])
    va_match = np.asarray(va_similarity((analysis.valence, analysis.arousal), track_va), dtype=np.float64).reshape(-1)
    scores = np.where(np.isnan(va_match), cosine, (1.0 - alpha) * cosine + alpha * va_match)
    order = np.argsort(-scores, kind="stable")
    return [_Candidate(hits[i], float(scores[i]), None if np.isnan(va_match[i]) else float(va_match[i])) for i in order]


def _result(candidate: _Candidate, analysis: Analysis, alpha: float, query_kind: str) -> Result:
    hit = candidate.hit
    parts = {"cosine": hit.score, "va_similarity": candidate.va_match, "alpha": alpha}
    has_va = candidate.va_match is not None
    return Result(
        track_id=hit.id,
        path=hit.payload.get("path"),
        score=candidate.score,
        valence=float(hit.payload["valence"]) if has_va else None,
        arousal=float(hit.payload["arousal"]) if has_va else None,
        payload=hit.payload,
        parts=parts,
        why=explain(analysis, hit.payload, parts, query_kind),
    )


def _cap_per_artist(candidates: list[_Candidate], limit: int) -> list[_Candidate]:
    """Keep at most ``limit`` per artist, in order (tracks without an artist are never capped)."""
    seen: dict[str, int] = {}
    kept = []
    for candidate in candidates:
        artist = candidate.hit.payload.get("artist")
        if artist:
            key = str(artist).casefold()
            if seen.get(key, 0) >= limit:
                continue
            seen[key] = seen.get(key, 0) + 1
        kept.append(candidate)
    return kept
