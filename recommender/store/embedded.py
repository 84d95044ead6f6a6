"""The embedded store: Qdrant's own engine (``qdrant-edge-py``) in-process, owned by one process."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from recommender.errors import DimensionMismatchError, StoreBusyError, StoreCorruptError, StoreError
from recommender.store.base import PAYLOAD_INDEXES, Hit, TrackPoint, VectorStore, Where
from recommender.store.conversions import as_vector, canonical_id, jsonable, to_edge_filter, to_track_point

LOCK_FILE_NAME = "owner.lock"
SERVER_FILE_NAME = "server.json"  # written by `undertone serve` while it owns the store (recommender.service)
_EDGE_INDEX_TYPES = {"keyword": "Keyword", "float": "Float", "integer": "Integer"}


class StoreLock:
    """Exclusive ownership of a store directory, held with ``flock`` on a file recording the owner PID.

    ``flock`` locks belong to the open file, so the kernel releases them when the owner exits or
    crashes: a stale lock file never blocks anyone.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / LOCK_FILE_NAME
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="ascii")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            handle.close()
            served = _served_at(self.directory, owner)
            if served:
                raise StoreBusyError(
                    f"store {self.directory} is served by `undertone serve` at {served} (process {owner}): use "
                    f"recommender.Client({served!r}); the undertone commands and the dashboard use it by themselves"
                ) from None
            this = " (this process: close the other VectorStore first)" if owner == str(os.getpid()) else ""
            raise StoreBusyError(
                f"store {self.directory} is in use by process {owner}{this}. An embedded store has one owner at a "
                "time: wait for that process (an `undertone ingest`, the dashboard, another search) to finish or "
                "stop it, or run a Qdrant server and point every process at it with --qdrant-url / UNDERTONE_QDRANT_URL."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def _served_at(directory: Path, owner: str) -> str | None:
    """The URL ``undertone serve`` recorded beside the lock, if the lock's owner is that server."""
    try:
        record = json.loads((directory / SERVER_FILE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return str(record.get("url")) if isinstance(record, dict) and str(record.get("pid")) == owner and record.get("url") else None


class EdgeVectorStore(VectorStore):
    """The embedded store: Qdrant Edge on ``directory/<collection>``, owned by this process.

    Vectors are pinned in RAM and scanned exactly: 100k x 64-d in ~3 ms, so the engine's optimizer is
    left alone (building an HNSW graph for 100k tracks took 100 s on 2 cores here).

    Args:
        directory: Store directory (``Settings.vectors_path``); created if missing.
        collection: Shard name inside ``directory``.
        set_aside_unreadable: When the shard's files cannot be read, move them to
            ``<collection>.unreadable-<time>`` (recorded in ``set_aside``) and start empty, for a rebuild.

    Raises:
        StoreBusyError: Another process (or another open store in this one) owns ``directory``.
        StoreCorruptError: The shard's files cannot be read (and ``set_aside_unreadable`` is off).
    """

    def __init__(self, directory: str | Path, collection: str = "tracks", *, set_aside_unreadable: bool = False) -> None:
        import qdrant_edge

        self._q = qdrant_edge
        self.directory = Path(directory)
        self.collection = collection
        self._lock = StoreLock(self.directory)
        self._lock.acquire()
        self._shard: Any = None
        self._dim: int | None = None
        self._closed = False
        self.set_aside: Path | None = None
        try:
            if self._shard_path.is_dir() and any(self._shard_path.iterdir()):
                self._load(set_aside_unreadable)
        except BaseException:
            self._lock.release()
            raise

    def _load(self, set_aside_unreadable: bool) -> None:
        try:
            self._shard = self._q.EdgeShard.load(str(self._shard_path))
            self._dim = self._read_dim()
        except Exception as error:  # noqa: BLE001 -- the engine raises bare Exception for every damaged file
            if self._shard is not None:
                self._shard.close()
                self._shard = None
            if not set_aside_unreadable:
                cause = " ".join(str(error).split())[:300]
                raise StoreCorruptError(
                    f"the vector store {self._shard_path} cannot be read ({cause}). The catalog keeps every track's "
                    "vector: run `undertone catalog --repair` with the same --store to rebuild the store from it."
                ) from None
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
            self.set_aside = self._shard_path.with_name(f"{self.collection}.unreadable-{stamp}")
            self._shard_path.rename(self.set_aside)
            self._dim = None

    @property
    def _shard_path(self) -> Path:
        return self.directory / self.collection

    def _read_dim(self) -> int:
        config = json.loads((self._shard_path / "edge_config.json").read_text(encoding="utf-8"))
        vectors = config["vectors"]
        return int(next(iter(vectors.values()))["size"])

    @property
    def dim(self) -> int | None:
        return self._dim

    def ensure_collection(self, dim: int) -> None:
        self._check_open()
        if self._shard is not None:
            if dim != self._dim:
                raise DimensionMismatchError(
                    f"store {self.directory} holds {self._dim}-d vectors but {dim}-d were given (a different model?); "
                    "use another --store or re-ingest into a fresh one"
                )
            return
        q = self._q
        # Vectors pinned in RAM (100k x 64-d is 26 MB): the exact scan of 100k went from ~10 ms on mmap
        # pages to ~3 ms. Payloads cached: 100 candidates' payloads from cold pages tripled search time.
        vectors = q.EdgeVectorParams(size=int(dim), distance=q.Distance.Cosine, memory=q.Memory.Pinned)
        config = q.EdgeConfig(vectors=vectors, payload_memory=q.Memory.Cached)
        self._shard = q.EdgeShard.create(str(self._shard_path), config)
        for name, kind in PAYLOAD_INDEXES.items():
            schema = getattr(q.PayloadSchemaType, _EDGE_INDEX_TYPES[kind])
            self._shard.update(q.UpdateOperation.create_field_index(name, schema))
        self._dim = int(dim)

    def upsert(self, points: Sequence[TrackPoint]) -> None:
        self._check_open()
        if not points:
            return
        if self._shard is None:
            self.ensure_collection(int(np.asarray(points[0].vector).size))
        q = self._q
        native = [
            q.Point(canonical_id(p.id), as_vector(p.vector, self._dim, f"vector of {p.id}"), jsonable(p.payload))
            for p in points
        ]
        self._shard.update(q.UpdateOperation.upsert_points(native))

    def search(self, vector: np.ndarray, limit: int, where: Where | None = None) -> list[Hit]:
        self._check_open()
        native_filter = to_edge_filter(where, self._q)
        if self._shard is None or limit <= 0:
            return []
        q = self._q
        request = q.QueryRequest(
            limit=int(limit),
            query=q.Query.Nearest(as_vector(vector, self._dim, "query vector")),
            filter=native_filter,
            with_payload=True,
        )
        return [Hit(str(point.id), float(point.score), dict(point.payload or {})) for point in self._shard.query(request)]

    def retrieve(self, ids: Sequence[str]) -> list[TrackPoint]:
        self._check_open()
        wanted = [canonical_id(point_id) for point_id in ids]
        if self._shard is None or not wanted:
            return []
        records = self._shard.retrieve(wanted, with_payload=True, with_vector=True)
        by_id = {str(record.id): to_track_point(record) for record in records}
        return [by_id[point_id] for point_id in wanted if point_id in by_id]

    def delete(self, ids: Sequence[str]) -> None:
        self._check_open()
        doomed = [canonical_id(point_id) for point_id in ids]
        if self._shard is not None and doomed:
            self._shard.update(self._q.UpdateOperation.delete_points(doomed))

    def count(self, where: Where | None = None) -> int:
        self._check_open()
        native_filter = to_edge_filter(where, self._q)
        if self._shard is None:
            return 0
        return int(self._shard.count(self._q.CountRequest(exact=True, filter=native_filter)))

    def scroll(
        self, where: Where | None = None, limit: int = 1000, offset: str | None = None
    ) -> tuple[list[TrackPoint], str | None]:
        self._check_open()
        native_filter = to_edge_filter(where, self._q)
        if self._shard is None:
            return [], None
        request = self._q.ScrollRequest(
            offset=canonical_id(offset) if offset is not None else None,
            limit=int(limit),
            filter=native_filter,
            with_payload=True,
            with_vector=True,
        )
        records, next_offset = self._shard.scroll(request)
        return [to_track_point(record) for record in records], (str(next_offset) if next_offset is not None else None)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._shard is not None:
                self._shard.flush()
                self._shard.close()
                self._shard = None
        finally:
            self._lock.release()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"store {self.directory} is closed")
