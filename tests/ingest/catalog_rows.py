"""Big catalogs for tests, written in bulk through the catalog's own schema (no analysis: rows as ingestion stages them)."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path

import numpy as np
from sqlalchemy import insert

from ingest.catalog import INDEXED, INGESTED, Catalog, IngestItem, IngestJob, Track, label_of
from ingest.identity import metadata_signature, track_id

GENRES = ("ambient", "piano", "folk", "synthpop", "jazz", "rock", "cinematic")
MOODS = ("calmness", "sadness", "tension", "power", "tenderness")
JOB_ID = "00000000-0000-4000-8000-000000000001"


def fill_catalog(catalog: Catalog, count: int, *, model: str = "test-model", files: list[Path] | None = None, seed: int = 0) -> dict[str, np.ndarray]:
    """Add ``count`` indexed tracks (and one finished job with an item each); the first ``len(files)`` tracks are
    those files, with their current size and mtime and no manifest metadata, as a folder ingest leaves them.

    Returns the arrays the rows were made from (valence, arousal, duration, genre index, artist index, mood index).
    """
    rng = np.random.default_rng(seed)
    files = files or []
    valence, arousal = rng.uniform(0, 1, count), rng.uniform(0, 1, count)
    valence[:3] = (0.0, 1.0, 0.5)  # the edges of the histogram
    duration = rng.uniform(60, 400, count)
    genre, artist, mood = rng.integers(0, len(GENRES), count), rng.integers(0, count // 10 + 1, count), rng.integers(0, len(MOODS), count)
    vectors = rng.standard_normal((count, 64)).astype(np.float32)
    now = dt.datetime.now(dt.UTC)
    rows, items = [], []
    for i in range(count):
        sha = hashlib.sha256(f"{seed}:{i}".encode()).hexdigest()
        if i < len(files):
            info = os.stat(files[i])
            path, size, mtime_ns, meta = str(files[i]), info.st_size, info.st_mtime_ns, {}
        else:
            path, size, mtime_ns = f"/music/{artist[i]:05d}/{i:07d}.flac", 1000 + i, 10**18 + i
            meta = {"title": f"Song {i}", "artist": f"Artist {artist[i]}", "genre": GENRES[genre[i]]}
        rows.append({
            "id": track_id(sha), "content_hash": sha, "path": path, "size": size, "mtime_ns": mtime_ns, "state": INDEXED,
            "revision": 1, "model": model, "duration": float(duration[i]), "valence": float(valence[i]), "arousal": float(arousal[i]),
            "mood": MOODS[mood[i]], "moods": {MOODS[mood[i]]: 0.9}, "meta": meta, "genre": label_of(meta, "genre"),
            "artist": label_of(meta, "artist"), "metadata_signature": metadata_signature(meta),
            "vector": vectors[i].tobytes(), "job_id": JOB_ID, "ingested_at": now, "updated_at": now,
        })
        items.append({"job_id": JOB_ID, "path": path, "meta": meta, "status": INGESTED, "track_id": track_id(sha), "updated_at": now})
    with catalog.session() as session:
        if session.get(IngestJob, JOB_ID) is None:
            session.add(IngestJob(id=JOB_ID, source="/music", mode="local", state="done", total=count, created_at=now, finished_at=now))
            session.flush()
        session.execute(insert(Track), rows)
        session.execute(insert(IngestItem), items)
    return {"valence": valence, "arousal": arousal, "duration": duration, "genre": genre, "artist": artist, "mood": mood}
