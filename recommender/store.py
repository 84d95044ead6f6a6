"""Vector stores: where track embeddings and their metadata live.

One interface, :class:`VectorStore`, two backends (in the spirit of qdrant-client's local/remote split):

* :class:`EdgeVectorStore` -- the embedded default. Qdrant's own engine (``qdrant-edge-py``) runs
  in-process on a directory: nothing to install or start. An embedded engine has exactly one owning
  process, so the store takes an exclusive lock and a second process gets :class:`StoreBusyError`.
* :class:`ServerVectorStore` -- a Qdrant server reached through ``qdrant-client`` (``":memory:"`` runs
  the same API in-process, for tests and throwaway catalogs). Many processes may share a server.

Both use cosine similarity on one collection (``Settings.collection``), keep payload indexes on the
fields users filter by, and accept the same :data:`Where` filters::

    {"genre": "rock"}                      # equality
    {"genre": ["rock", "pop"]}             # any of
    {"duration": {"gte": 30, "lte": 300}}  # range: gt / gte / lt / lte
    {"genre": "rock", "year": {"gte": 2000}}  # several keys: all must hold

Numbers compare numerically whatever their stored type (``{"year": 2001}`` matches ``2001`` and
``2001.0``). Track ids are UUID strings.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import uuid
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence, Union

import numpy as np

from recommender.settings import Settings

Where = Mapping[str, Any]
"""A user-facing filter: payload key -> value, list of values (any of), or ``{"gte": ..}`` range."""

PAYLOAD_INDEXES: dict[str, str] = {
    "genre": "keyword",
    "artist": "keyword",
    "album": "keyword",
    "licence": "keyword",
    "mood": "keyword",
    "model": "keyword",
    "content_hash": "keyword",
    "duration": "float",
    "valence": "float",
    "arousal": "float",
    "year": "integer",
}
"""Payload fields indexed for filtering, with their index type (``year`` should be stored as an int)."""

RANGE_OPERATORS = ("gt", "gte", "lt", "lte")
LOCK_FILE_NAME = "owner.lock"


class StoreError(RuntimeError):
    """A vector store cannot do what was asked."""


class StoreBusyError(StoreError):
    """Another process owns the embedded store."""


class DimensionMismatchError(StoreError, ValueError):
    """A vector's size differs from the collection's."""


class InvalidFilterError(ValueError):
    """A :data:`Where` filter that cannot be understood."""


@dataclass
class TrackPoint:
    """One track as stored: its id, joint-space embedding and payload (metadata + analysis)."""

    id: str
    vector: np.ndarray
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass
class Hit:
    """A search result: cosine similarity ``score`` (best first) and the track's payload."""

    id: str
    score: float
    payload: dict[str, Any]


# -- filters ----------------------------------------------------------------------------------------

Scalar = Union[str, int, float, bool]


@dataclass(frozen=True)
class Match:
    """``key`` equals ``value`` (strings, bools)."""

    key: str
    value: str | bool


@dataclass(frozen=True)
class MatchAnyText:
    """``key`` is one of ``values`` (strings)."""

    key: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Range:
    """``key`` lies in a numeric range; unset bounds are open."""

    key: str
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None


@dataclass(frozen=True)
class AnyOf:
    """At least one of ``conditions`` holds (any-of lists that are not all strings)."""

    conditions: tuple["Condition", ...]


Condition = Union[Match, MatchAnyText, Range, AnyOf]


def parse_where(where: Where | None) -> list[Condition]:
    """Normalise a :data:`Where` filter into backend-neutral conditions (all must hold).

    Raises:
        InvalidFilterError: Unknown range operators, empty lists, values of unsupported types.
    """
    if not where:
        return []
    if not isinstance(where, Mapping):
        raise InvalidFilterError(f"a filter is a mapping of payload key -> value, got {type(where).__name__}")
    return [_parse_condition(str(key), value) for key, value in where.items()]


def _parse_condition(key: str, value: Any) -> Condition:
    if not key:
        raise InvalidFilterError("filter keys must be non-empty payload field names")
    if isinstance(value, Mapping):
        unknown = set(value) - set(RANGE_OPERATORS)
        if unknown or not value:
            raise InvalidFilterError(
                f"range filter on {key!r} takes {', '.join(RANGE_OPERATORS)}; got {sorted(map(str, value)) or 'nothing'}"
            )
        bounds = {operator: _number(key, bound) for operator, bound in value.items()}
        return Range(key, **bounds)
    if isinstance(value, (list, tuple, set, frozenset)):
        values = list(value)
        if not values:
            raise InvalidFilterError(f"any-of filter on {key!r} is an empty list (nothing could match)")
        if all(isinstance(item, str) for item in values):
            return MatchAnyText(key, tuple(values))
        return AnyOf(tuple(_equality(key, item) for item in values))
    return _equality(key, value)


def _equality(key: str, value: Any) -> Condition:
    if isinstance(value, (str, bool, np.bool_)):
        return Match(key, value if isinstance(value, str) else bool(value))
    if isinstance(value, (int, float, np.integer, np.floating)):
        # Qdrant matches integers only against integers; a closed range matches 120 and 120.0 alike.
        number = _number(key, value)
        return Range(key, gte=number, lte=number)
    raise InvalidFilterError(f"filter value for {key!r} must be a string, number, bool, list or range; got {value!r}")


def _number(key: str, value: Any) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidFilterError(f"range bound for {key!r} must be a number, got {value!r}")
    if not math.isfinite(float(value)):
        raise InvalidFilterError(f"range bound for {key!r} must be finite, got {value!r}")
    return float(value)


# -- shared helpers ---------------------------------------------------------------------------------


def _canonical_id(point_id: Any) -> str:
    """Track ids are UUIDs; Qdrant accepts nothing else that is not an integer."""
    try:
        return str(uuid.UUID(str(point_id)))
    except ValueError:
        raise ValueError(f"track id {point_id!r} is not a UUID (see ingest.identity.track_id)") from None


def _jsonable(value: Any) -> Any:
    """Payloads go to Qdrant as JSON: turn numpy scalars/arrays, paths and dates into plain values."""
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (Path, os.PathLike)):
        return os.fspath(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def _as_vector(vector: np.ndarray, dim: int | None, what: str) -> list[float]:
    array = np.asarray(vector, dtype=np.float32).reshape(-1)
    if dim is not None and array.size != dim:
        raise DimensionMismatchError(f"{what} has {array.size} dimensions; the collection holds {dim}-d vectors")
    if not np.isfinite(array).all() or not np.any(array):
        raise ValueError(f"{what} must be finite and non-zero (cosine similarity is undefined otherwise)")
    return array.tolist()


class VectorStore(ABC):
    """Track embeddings + payloads with filtered cosine search. Use as a context manager or ``close()``."""

    collection: str

    @property
    @abstractmethod
    def dim(self) -> int | None:
        """Size of the stored vectors, or None before :meth:`ensure_collection`."""

    @abstractmethod
    def ensure_collection(self, dim: int) -> None:
        """Create the collection and its payload indexes if missing; check ``dim`` if present.

        Raises:
            DimensionMismatchError: The existing collection holds vectors of another size.
        """

    @abstractmethod
    def upsert(self, points: Sequence[TrackPoint]) -> None:
        """Insert or replace points by id (creates the collection on first use)."""

    @abstractmethod
    def search(self, vector: np.ndarray, limit: int, where: Where | None = None) -> list[Hit]:
        """The ``limit`` most cosine-similar tracks passing ``where``, best first."""

    @abstractmethod
    def retrieve(self, ids: Sequence[str]) -> list[TrackPoint]:
        """Stored points for ``ids``, in the order asked; unknown ids are skipped."""

    @abstractmethod
    def delete(self, ids: Sequence[str]) -> None:
        """Remove points (unknown ids are ignored)."""

    @abstractmethod
    def count(self, where: Where | None = None) -> int:
        """Number of points passing ``where``."""

    @abstractmethod
    def scroll(
        self, where: Where | None = None, limit: int = 1000, offset: str | None = None
    ) -> tuple[list[TrackPoint], str | None]:
        """One page of points passing ``where`` (in id order) and the offset of the next page (None at the end)."""

    @abstractmethod
    def close(self) -> None:
        """Flush and release the store; further calls fail."""

    def iter_points(self, where: Where | None = None, page_size: int = 1000) -> Iterator[TrackPoint]:
        """Every point passing ``where``, page by page."""
        offset: str | None = None
        while True:
            points, offset = self.scroll(where, limit=page_size, offset=offset)
            yield from points
            if offset is None:
                return

    def __enter__(self) -> "VectorStore":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# -- embedded: qdrant-edge ------------------------------------------------------------------------


class StoreLock:
    """Exclusive ownership of a store directory, held with ``flock`` on a file recording the owner PID.

    ``flock`` locks belong to the open file, so the kernel releases them when the owner exits or
    crashes: a stale lock file never blocks anyone.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / LOCK_FILE_NAME
        self._handle: Any = None

    def acquire(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="ascii")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            handle.close()
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


_EDGE_INDEX_TYPES = {"keyword": "Keyword", "float": "Float", "integer": "Integer"}


class EdgeVectorStore(VectorStore):
    """The embedded store: Qdrant Edge on ``directory/<collection>``, owned by this process.

    Vectors are pinned in RAM and scanned exactly: 100k x 64-d in ~3 ms, so the engine's optimizer is
    left alone (building an HNSW graph for 100k tracks took 100 s on 2 cores here).

    Args:
        directory: Store directory (``Settings.vectors_path``); created if missing.
        collection: Shard name inside ``directory``.

    Raises:
        StoreBusyError: Another process (or another open store in this one) owns ``directory``.
    """

    def __init__(self, directory: str | Path, collection: str = "tracks") -> None:
        import qdrant_edge

        self._q = qdrant_edge
        self.directory = Path(directory)
        self.collection = collection
        self._lock = StoreLock(self.directory)
        self._lock.acquire()
        self._shard: Any = None
        self._dim: int | None = None
        self._closed = False
        try:
            if self._shard_path.is_dir() and any(self._shard_path.iterdir()):
                self._shard = qdrant_edge.EdgeShard.load(str(self._shard_path))
                self._dim = self._read_dim()
        except BaseException:
            self._lock.release()
            raise

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
            q.Point(_canonical_id(p.id), _as_vector(p.vector, self._dim, f"vector of {p.id}"), _jsonable(p.payload))
            for p in points
        ]
        self._shard.update(q.UpdateOperation.upsert_points(native))

    def search(self, vector: np.ndarray, limit: int, where: Where | None = None) -> list[Hit]:
        self._check_open()
        native_filter = self._filter(where)
        if self._shard is None or limit <= 0:
            return []
        q = self._q
        request = q.QueryRequest(
            limit=int(limit),
            query=q.Query.Nearest(_as_vector(vector, self._dim, "query vector")),
            filter=native_filter,
            with_payload=True,
        )
        return [Hit(str(point.id), float(point.score), dict(point.payload or {})) for point in self._shard.query(request)]

    def retrieve(self, ids: Sequence[str]) -> list[TrackPoint]:
        self._check_open()
        wanted = [_canonical_id(point_id) for point_id in ids]
        if self._shard is None or not wanted:
            return []
        records = self._shard.retrieve(wanted, with_payload=True, with_vector=True)
        by_id = {str(record.id): _edge_point(record) for record in records}
        return [by_id[point_id] for point_id in wanted if point_id in by_id]

    def delete(self, ids: Sequence[str]) -> None:
        self._check_open()
        doomed = [_canonical_id(point_id) for point_id in ids]
        if self._shard is not None and doomed:
            self._shard.update(self._q.UpdateOperation.delete_points(doomed))

    def count(self, where: Where | None = None) -> int:
        self._check_open()
        native_filter = self._filter(where)
        if self._shard is None:
            return 0
        return int(self._shard.count(self._q.CountRequest(exact=True, filter=native_filter)))

    def scroll(
        self, where: Where | None = None, limit: int = 1000, offset: str | None = None
    ) -> tuple[list[TrackPoint], str | None]:
        self._check_open()
        native_filter = self._filter(where)
        if self._shard is None:
            return [], None
        request = self._q.ScrollRequest(
            offset=_canonical_id(offset) if offset is not None else None,
            limit=int(limit),
            filter=native_filter,
            with_payload=True,
            with_vector=True,
        )
        records, next_offset = self._shard.scroll(request)
        return [_edge_point(record) for record in records], (str(next_offset) if next_offset is not None else None)

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

    def _filter(self, where: Where | None) -> Any:
        conditions = parse_where(where)
        return self._q.Filter(must=[self._condition(c) for c in conditions]) if conditions else None

    def _condition(self, condition: Condition) -> Any:
        q = self._q
        if isinstance(condition, Match):
            return q.FieldCondition(condition.key, match=q.MatchValue(condition.value))
        if isinstance(condition, MatchAnyText):
            return q.FieldCondition(condition.key, match=q.MatchAny(list(condition.values)))
        if isinstance(condition, Range):
            bounds = q.RangeFloat(gte=condition.gte, gt=condition.gt, lte=condition.lte, lt=condition.lt)
            return q.FieldCondition(condition.key, range=bounds)
        return q.Filter(should=[self._condition(c) for c in condition.conditions])


def _edge_point(record: Any) -> TrackPoint:
    return TrackPoint(str(record.id), np.asarray(record.vector, dtype=np.float32), dict(record.payload or {}))


# -- server: qdrant-client --------------------------------------------------------------------------


class ServerVectorStore(VectorStore):
    """A collection on a Qdrant server (or qdrant-client's in-process ``":memory:"`` mode).

    Args:
        url: ``http(s)://host:port`` of the server, or ``":memory:"``.
        collection: Collection name.
        api_key: For Qdrant Cloud / secured servers.
        timeout: Seconds per request.
    """

    def __init__(self, url: str, collection: str = "tracks", *, api_key: str | None = None, timeout: float = 30.0) -> None:
        from qdrant_client import QdrantClient, models

        self._m = models
        self.url = url
        self.collection = collection
        if url == ":memory:":
            self._client = QdrantClient(location=":memory:")
        else:
            self._client = QdrantClient(url=url, api_key=api_key, timeout=int(timeout))
        self._dim: int | None = None
        self._closed = False
        if self._client.collection_exists(collection):
            self._dim = int(self._client.get_collection(collection).config.params.vectors.size)

    @property
    def dim(self) -> int | None:
        return self._dim

    def ensure_collection(self, dim: int) -> None:
        self._check_open()
        if self._dim is not None:
            if dim != self._dim:
                raise DimensionMismatchError(
                    f"collection {self.collection!r} on {self.url} holds {self._dim}-d vectors but {dim}-d were given "
                    "(a different model?); use another collection or re-ingest"
                )
            return
        m = self._m
        self._client.create_collection(self.collection, vectors_config=m.VectorParams(size=int(dim), distance=m.Distance.COSINE))
        schemas = {"keyword": m.PayloadSchemaType.KEYWORD, "float": m.PayloadSchemaType.FLOAT, "integer": m.PayloadSchemaType.INTEGER}
        with warnings.catch_warnings():
            # ":memory:" warns that it ignores payload indexes; a server builds them.
            warnings.filterwarnings("ignore", message="Payload indexes have no effect", category=UserWarning)
            for name, kind in PAYLOAD_INDEXES.items():
                self._client.create_payload_index(self.collection, name, schemas[kind])
        self._dim = int(dim)

    def upsert(self, points: Sequence[TrackPoint]) -> None:
        self._check_open()
        if not points:
            return
        if self._dim is None:
            self.ensure_collection(int(np.asarray(points[0].vector).size))
        native = [
            self._m.PointStruct(
                id=_canonical_id(p.id), vector=_as_vector(p.vector, self._dim, f"vector of {p.id}"), payload=_jsonable(p.payload)
            )
            for p in points
        ]
        self._client.upsert(self.collection, native, wait=True)

    def search(self, vector: np.ndarray, limit: int, where: Where | None = None) -> list[Hit]:
        self._check_open()
        native_filter = self._filter(where)
        if self._dim is None or limit <= 0:
            return []
        response = self._client.query_points(
            self.collection,
            query=_as_vector(vector, self._dim, "query vector"),
            query_filter=native_filter,
            limit=int(limit),
            with_payload=True,
        )
        return [Hit(str(point.id), float(point.score), dict(point.payload or {})) for point in response.points]

    def retrieve(self, ids: Sequence[str]) -> list[TrackPoint]:
        self._check_open()
        wanted = [_canonical_id(point_id) for point_id in ids]
        if self._dim is None or not wanted:
            return []
        records = self._client.retrieve(self.collection, wanted, with_payload=True, with_vectors=True)
        by_id = {str(record.id): _client_point(record) for record in records}
        return [by_id[point_id] for point_id in wanted if point_id in by_id]

    def delete(self, ids: Sequence[str]) -> None:
        self._check_open()
        doomed = [_canonical_id(point_id) for point_id in ids]
        if self._dim is not None and doomed:
            self._client.delete(self.collection, points_selector=self._m.PointIdsList(points=doomed), wait=True)

    def count(self, where: Where | None = None) -> int:
        self._check_open()
        native_filter = self._filter(where)
        if self._dim is None:
            return 0
        return int(self._client.count(self.collection, count_filter=native_filter, exact=True).count)

    def scroll(
        self, where: Where | None = None, limit: int = 1000, offset: str | None = None
    ) -> tuple[list[TrackPoint], str | None]:
        self._check_open()
        native_filter = self._filter(where)
        if self._dim is None:
            return [], None
        records, next_offset = self._client.scroll(
            self.collection,
            scroll_filter=native_filter,
            limit=int(limit),
            offset=_canonical_id(offset) if offset is not None else None,
            with_payload=True,
            with_vectors=True,
        )
        return [_client_point(record) for record in records], (str(next_offset) if next_offset is not None else None)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._client.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"connection to {self.url} is closed")

    def _filter(self, where: Where | None) -> Any:
        conditions = parse_where(where)
        return self._m.Filter(must=[self._condition(c) for c in conditions]) if conditions else None

    def _condition(self, condition: Condition) -> Any:
        m = self._m
        if isinstance(condition, Match):
            return m.FieldCondition(key=condition.key, match=m.MatchValue(value=condition.value))
        if isinstance(condition, MatchAnyText):
            return m.FieldCondition(key=condition.key, match=m.MatchAny(any=list(condition.values)))
        if isinstance(condition, Range):
            bounds = m.Range(gte=condition.gte, gt=condition.gt, lte=condition.lte, lt=condition.lt)
            return m.FieldCondition(key=condition.key, range=bounds)
        return m.Filter(should=[self._condition(c) for c in condition.conditions])


def _client_point(record: Any) -> TrackPoint:
    return TrackPoint(str(record.id), np.asarray(record.vector, dtype=np.float32), dict(record.payload or {}))


def open_vector_store(settings: Settings) -> VectorStore:
    """The store ``settings`` describe: a server when ``qdrant_url`` is set (``":memory:"`` allowed), else embedded.

    Raises:
        StoreBusyError: Another process owns the embedded store.
    """
    if settings.qdrant_url:
        return ServerVectorStore(settings.qdrant_url, settings.collection)
    return EdgeVectorStore(settings.vectors_path, settings.collection)
