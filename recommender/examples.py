"""Music as the query ("more like this"): example tracks in, one point of the joint emotion space out.

An example is a catalog track (its id: the stored embedding and analysis are used) or a music file
(analysed by the music tower; a file whose bytes are in the catalog is recognised by its content hash
and used as that track). The query follows Rocchio's relevance feedback::

    q = normalise(mean(liked) - beta * mean(unliked))     (each mean normalised first)

so ranking by cosine to ``q`` rewards closeness to the liked examples and distance from the unliked
ones in one store search (``cos(q, t)`` is proportional to ``cos(liked, t) - beta * cos(unliked, t)``).
The valence-arousal target of the re-ranker is the liked examples' mean VA. Example tracks from the
catalog are never recommended back.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from recommender.audio import load_audio
from recommender.errors import UnknownTrackError, UsageError
from recommender.explain import describe_va, payload_va
from recommender.model import Analysis, EmotionModel
from recommender.store import VectorStore

ExampleInput = str | os.PathLike | bytes | BinaryIO
DEFAULT_BETA = 0.5


@dataclass(frozen=True)
class Example:
    """One liked or unliked piece of music, analysed.

    Attributes:
        name: ``Title - Artist`` for catalog tracks, else the file name.
        embedding: Unit vector in the joint space.
        valence: 0-1.
        arousal: 0-1.
        moods: Mood label -> probability.
        track_id: The catalog track it is (None for a file outside the catalog).
    """

    name: str
    embedding: np.ndarray
    valence: float
    arousal: float
    moods: dict[str, float]
    track_id: str | None = None


def resolve_example(model: EmotionModel, store: VectorStore, example: ExampleInput, *, max_seconds: float | None = None) -> Example:
    """A catalog track id, or a music file (path, bytes or open binary file), as an :class:`Example`.

    Raises:
        UnknownTrackError: A track id (UUID) that is neither in the catalog nor a file.
        AudioError: A file that cannot be used as music.
    """
    if isinstance(example, str) and _is_uuid(example) and not Path(example).exists():
        points = store.retrieve([example])
        if not points:
            raise UnknownTrackError(f"no track with id {example} in the catalog (see undertone catalog, or give a music file)")
        return _from_point(points[0].id, points[0].vector, points[0].payload)
    digest, source = _digest(example)
    known, _ = store.scroll({"content_hash": digest}, limit=1) if digest else ([], None)
    if known:
        return _from_point(known[0].id, known[0].vector, known[0].payload)
    analysis = model.analyze_music(load_audio(source, model.music_sample_rate, max_seconds=max_seconds), model.music_sample_rate)
    return Example(_name_of(example), analysis.embedding, analysis.valence, analysis.arousal, analysis.emotions)


def example_query(liked: Sequence[Example], unliked: Sequence[Example] = (), beta: float = DEFAULT_BETA) -> Analysis:
    """The Rocchio query point of ``liked`` minus ``beta`` x ``unliked`` (see the module docstring).

    Raises:
        UsageError: No liked example, a negative ``beta``, or examples that cancel out.
    """
    if not liked:
        raise UsageError("give at least one liked example (--like TRACK_ID_OR_FILE)")
    if beta < 0:
        raise UsageError(f"beta must be at least 0, got {beta}")
    query = _unit(np.mean([example.embedding for example in liked], axis=0))
    if unliked:
        query = query - beta * _unit(np.mean([example.embedding for example in unliked], axis=0))
    norm = float(np.linalg.norm(query))
    if norm < 1e-6:
        raise UsageError("the liked and unliked examples cancel out: nothing is left to search for")
    moods: dict[str, float] = {}
    for example in liked:
        for label, probability in example.moods.items():
            moods[label] = moods.get(label, 0.0) + float(probability) / len(liked)
    return Analysis(
        embedding=(query / norm).astype(np.float32),
        valence=float(np.mean([example.valence for example in liked])),
        arousal=float(np.mean([example.arousal for example in liked])),
        emotions=dict(sorted(moods.items(), key=lambda item: -item[1])),
    )


def explain_examples(
    analysis: Analysis, payload: Mapping[str, Any], parts: Mapping[str, Any], liked: Sequence[Example], unliked: Sequence[Example]
) -> str:
    """Why a track is like the examples, e.g. ``like "Sunrise Run - Ada" (positive, high-arousal) -> track
    predicted happiness (V 0.80, A 0.71); closest to "Sunrise Run - Ada" (cosine 0.93), away from "Storm Front" (0.12)``."""
    moods = "/".join(list(payload.get("moods") or {})[:1]) or str(payload.get("mood") or "(no mood stored)")
    valence, arousal = payload_va(payload)
    track = f"track predicted {moods}" + ("" if np.isnan(valence) else f" (V {valence:.2f}, A {arousal:.2f})")
    names = ", ".join(f"“{example.name}”" for example in liked)
    sentence = f"like {names} ({describe_va(analysis.valence, analysis.arousal)}) -> {track}"
    closest = int(np.argmax(parts["liked"]))
    sentence += f"; closest to “{liked[closest].name}” (cosine {parts['liked'][closest]:.2f})"
    if unliked:
        sentence += ", away from " + ", ".join(f"“{example.name}” ({cosine:.2f})" for example, cosine in zip(unliked, parts["unliked"]))
    if parts.get("va_similarity") is not None:
        sentence += f"; VA match {parts['va_similarity']:.2f}"
    return sentence


def annotate(results: Sequence[Any], store: VectorStore, analysis: Analysis, liked: Sequence[Example], unliked: Sequence[Example]) -> None:
    """Add each result's cosine to every example (``parts["liked"]``, ``parts["unliked"]``) and say why it matches."""
    vectors = {point.id: point.vector for point in store.retrieve([result.track_id for result in results])}
    for result in results:
        if result.track_id in vectors:
            result.parts["liked"] = cosines(vectors[result.track_id], liked)
            result.parts["unliked"] = cosines(vectors[result.track_id], unliked)
            result.why = explain_examples(analysis, result.payload, result.parts, liked, unliked)


def cosines(vector: np.ndarray, examples: Sequence[Example]) -> list[float]:
    """Cosine of a (unit) track vector to each example."""
    unit = _unit(np.asarray(vector, np.float64))
    return [float(unit @ _unit(np.asarray(example.embedding, np.float64))) for example in examples]


def _from_point(track_id: str, vector: np.ndarray, payload: Mapping[str, Any]) -> Example:
    valence, arousal = payload_va(payload)
    title = payload.get("title") or (Path(str(payload["path"])).name if payload.get("path") else track_id)
    name = f"{title} - {payload['artist']}" if payload.get("artist") else str(title)
    moods = payload.get("moods") if isinstance(payload.get("moods"), dict) else {}
    return Example(name, _unit(np.asarray(vector, np.float64)).astype(np.float32), valence, arousal, dict(moods), track_id)


def _digest(example: ExampleInput) -> tuple[str | None, ExampleInput]:
    """SHA-256 of the example's bytes (as ingestion hashes tracks) and what to decode it from.

    None for a path that cannot be read: the loader then says what is wrong with it.
    """
    if isinstance(example, (str, os.PathLike)):
        digest = hashlib.sha256()
        try:
            with Path(example).open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
        except OSError:
            return None, example
        return digest.hexdigest(), example
    data = bytes(example) if isinstance(example, (bytes, bytearray)) else example.read()
    return hashlib.sha256(data).hexdigest(), data


def _name_of(example: ExampleInput) -> str:
    if isinstance(example, (str, os.PathLike)):
        return Path(example).name
    return getattr(example, "name", None) or "uploaded music"


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector
