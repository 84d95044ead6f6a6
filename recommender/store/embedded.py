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
from recommender.store.base import PAYLOAD_INDEXES, Hit, TrackPoint, VectorIndex, VectorStore, Where
from recommender.store.conversions import as_vector, canonical_id, jsonable, to_edge_filter, to_track_point

LOCK_FILE_NAME = "owner.lock"
SERVER_FILE_NAME = "server.json"  # written by `undertone serve` while it owns the store (recommender.service)


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

    Vectors and payloads are kept in RAM. Small catalogs are scanned exactly (100k x 64-d in a few ms);
    from ``index.hnsw_from`` tracks on (``auto``) the store builds an HNSW graph. The embedded engine
    optimises only when told, so the graph is built by the :meth:`upsert` that brings the unindexed
    tracks to that size (blocking, tens of minutes for 1M tracks on 2 cores) or by :meth:`build_index`;
    tracks added later wait in a small exactly-scanned segment until they are numerous enough for a
    graph of their own. A store created before the index settings existed takes them when opened and
    builds its graph on its next write. ``ef`` and ``mode="exact"`` apply at once; new ``m``,
    ``ef_construct`` or ``exact_below`` reach existing graphs through the engine's config-mismatch
    optimizer at the next build (a rebuild).

    Args:
        directory: Store directory (``Settings.vectors_path``); created if missing.
        collection: Shard name inside ``directory``.
        set_aside_unreadable: When the shard's files cannot be read, move them to
            ``<collection>.unreadable-<time>`` (recorded in ``set_aside``) and start empty, for a rebuild.
        index: Exact scan or HNSW, and the graph's parameters (default: :class:`VectorIndex`).

    Raises:
        StoreBusyError: Another process (or another open store in this one) owns ``directory``.
        StoreCorruptError: The shard's files cannot be read (and ``set_aside_unreadable`` is off).
    """

    def __init__(
        self,
        directory: str | Path,
        collection: str = "tracks",
        *,
        set_aside_unreadable: bool = False,
        index: VectorIndex | None = None,
    ) -> None:
        import qdrant_edge

        self._q = qdrant_edge
        self.directory = Path(directory)
        self.collection = collection
        self.index = index or VectorIndex()
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
            self._shard = self._load_with_index_settings()
            self._dim = self._read_dim()
            self._ensure_payload_indexes()
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

    def _load_with_index_settings(self) -> Any:
        """The shard, opened with this store's index settings (persisted by the engine for its optimizers)."""
        q = self._q
        try:
            vectors = self._persisted_vectors()
            memory = {"pinned": q.Memory.Pinned, "cached": q.Memory.Cached, "cold": q.Memory.Cold}.get(str(vectors.get("memory")))
            params = q.EdgeVectorParams(size=int(vectors["size"]), distance=q.Distance.Cosine, memory=memory)
            return q.EdgeShard.load(str(self._shard_path), self._config(params, int(vectors["size"])))
        except Exception:  # noqa: BLE001 -- a config the engine refuses: open as it is (damage is reported below)
            return q.EdgeShard.load(str(self._shard_path))

    def _config(self, vectors: Any, dim: int) -> Any:
        q = self._q
        index = self.index
        full_scan_kb, indexing_kb = index.engine_thresholds(dim)
        return q.EdgeConfig(
            vectors=vectors,
            payload_memory=q.Memory.Cached,
            hnsw_config=q.HnswIndexConfig(
                m=index.m, ef_construct=index.ef_construct, full_scan_threshold=full_scan_kb, max_indexing_threads=0
            ),
            optimizers=q.EdgeOptimizersConfig(indexing_threshold=indexing_kb),
        )

    def _ensure_payload_indexes(self) -> None:
        """Create missing payload indexes; recreate older stores' ones, built with payload graphs, without them."""
        existing = self._shard.info().payload_schema
        for name, kind in PAYLOAD_INDEXES.items():
            wanted = self._index_params(kind)
            current = existing.get(name)
            current_params = getattr(current, "params", None)
            if current is None or current_params is None or current_params.enable_hnsw != wanted.enable_hnsw:
                self._shard.update(self._q.UpdateOperation.create_field_index(name, wanted))

    def _index_params(self, kind: str) -> Any:
        # No per-value payload graphs: ACORN keeps filtered searches complete (VectorIndex.acorn).
        q = self._q
        if kind == "keyword":
            return q.KeywordIndexParams(enable_hnsw=False)
        if kind == "integer":
            return q.IntegerIndexParams(lookup=True, range=True, enable_hnsw=False)
        return q.FloatIndexParams(enable_hnsw=False)

    @property
    def _shard_path(self) -> Path:
        return self.directory / self.collection

    def _persisted_vectors(self) -> dict[str, Any]:
        config = json.loads((self._shard_path / "edge_config.json").read_text(encoding="utf-8"))
        return dict(next(iter(config["vectors"].values())))

    def _read_dim(self) -> int:
        return int(self._persisted_vectors()["size"])

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
        # Vectors kept in RAM (100k x 64-d is 26 MB): the exact scan of 100k went from ~10 ms on mmap
        # pages to ~3 ms. Payloads cached: 100 candidates' payloads from cold pages tripled search time.
        vectors = q.EdgeVectorParams(size=int(dim), distance=q.Distance.Cosine, memory=q.Memory.Pinned)
        self._shard = q.EdgeShard.create(str(self._shard_path), self._config(vectors, int(dim)))
        self._ensure_payload_indexes()
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
        if self.index.graph_from is not None:
            info = self._shard.info()
            if info.points_count - info.indexed_vectors_count >= self.index.hnsw_from:
                self._shard.optimize()

    @property
    def indexed_points(self) -> int:
        """Tracks covered by an HNSW graph (the rest are scanned exactly)."""
        self._check_open()
        return 0 if self._shard is None else int(self._shard.info().indexed_vectors_count)

    def build_index(self) -> bool:
        self._check_open()
        if self._shard is None or self.index.graph_from is None:
            return False
        return bool(self._shard.optimize())

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
            params=self._search_params(),
            with_payload=True,
        )
        return [Hit(str(point.id), float(point.score), dict(point.payload or {})) for point in self._shard.query(request)]

    def _search_params(self) -> Any:
        q = self._q
        if self.index.mode == "exact":
            return q.SearchParams(exact=True)
        return q.SearchParams(hnsw_ef=self.index.ef, acorn=q.AcornSearchParams(enable=True) if self.index.acorn else None)

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
