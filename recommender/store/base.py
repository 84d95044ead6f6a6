"""Vector stores: where track embeddings and their metadata live.

One interface, :class:`VectorStore`, two backends (in the spirit of qdrant-client's local/remote split):

* :class:`~recommender.store.embedded.EdgeVectorStore` -- the embedded default. Qdrant's own engine
  (``qdrant-edge-py``) runs in-process on a directory: nothing to install or start. An embedded engine
  has exactly one owning process, so the store takes an exclusive lock and a second process gets
  :class:`~recommender.errors.StoreBusyError`.
* :class:`~recommender.store.remote.ServerVectorStore` -- a Qdrant server reached through
  ``qdrant-client`` (``":memory:"`` runs the same API in-process, for tests and throwaway catalogs).
  Many processes may share a server.

Both use cosine similarity on one collection (``Settings.collection``), keep payload indexes on the
fields users filter by (:data:`PAYLOAD_INDEXES`), and accept the same :data:`Where` filters, translated
once in :mod:`recommender.store.conversions`::

    {"genre": "rock"}                      # equality
    {"genre": ["rock", "pop"]}             # any of
    {"duration": {"gte": 30, "lte": 300}}  # range: gt / gte / lt / lte
    {"genre": "rock", "year": {"gte": 2000}}  # several keys: all must hold

Numbers compare numerically whatever their stored type (``{"year": 2001}`` matches ``2001`` and
``2001.0``). Track ids are UUID strings.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from recommender.errors import ConfigError

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

IndexMode = Literal["auto", "exact", "hnsw"]


@dataclass(frozen=True)
class VectorIndex:
    """How a store finds the nearest tracks: an exact scan, or an HNSW graph once the catalog is large.

    Measured on 2 cores (``benchmarks/search_scale.py``, docs/benchmarks.md "Search at 1M tracks").

    Attributes:
        mode: ``auto``: exact scan while a segment holds fewer than ``hnsw_from`` tracks, HNSW graph above;
            ``exact``: never build a graph and always scan exactly; ``hnsw``: every segment gets a graph
            when one is built, whatever its size (tests, or to pay the build early with ``build_index``).
        hnsw_from: Tracks from which ``auto`` gives a segment a graph (the exact scan is fast enough
            below); in both graph modes, an upsert that leaves this many tracks unindexed builds.
        ef: Candidates HNSW keeps while searching: the recall/latency knob (the product asks for 100
            candidates, and the engine never uses fewer candidates than it is asked for).
        m: Links per node of the graph.
        ef_construct: Candidates while building the graph (build time grows with it).
        exact_below: A filter the payload index says matches fewer tracks than this is answered by
            scoring exactly those tracks instead of walking the graph.
        acorn: Walk the graph ACORN-style (through neighbours' neighbours) when a filter passes few
            tracks: without it, a filter combining fields (``genre`` + ``duration``) can cut the graph
            into pieces the walk never reaches, and results go missing. It stands in for Qdrant's
            per-value payload graphs (``payload_m``), which add an extra graph over the tracks of every
            value matching more than ``exact_below`` tracks at build time (a field with one value
            everywhere, such as ``model`` or ``licence``, would add a whole second graph), so payload
            indexes are created with ``enable_hnsw=False``.
    """

    mode: IndexMode = "auto"
    hnsw_from: int = 200_000
    ef: int = 128
    m: int = 16
    ef_construct: int = 100
    exact_below: int = 40_000
    acorn: bool = True

    def __post_init__(self) -> None:
        if self.mode not in ("auto", "exact", "hnsw"):
            raise ConfigError(f"vector index mode must be auto, exact or hnsw, not {self.mode!r}")
        if min(self.hnsw_from, self.ef, self.m, self.ef_construct, self.exact_below) < 1:
            raise ConfigError(f"vector index sizes must be positive: {self}")

    @property
    def graph_from(self) -> int | None:
        """Tracks from which a segment gets a graph (None: never)."""
        return {"auto": self.hnsw_from, "exact": None, "hnsw": 1}[self.mode]

    def engine_thresholds(self, dim: int) -> tuple[int, int]:
        """Qdrant's ``full_scan_threshold`` and ``indexing_threshold`` for ``dim``-d vectors.

        Qdrant sizes both in KB of float32 vector storage rather than in points; an indexing
        threshold of 0 turns indexing off.
        """
        def kilobytes(tracks: int) -> int:
            return max(1, -(-tracks * dim * 4 // 1024))

        graph_from = self.graph_from
        return kilobytes(self.exact_below), 0 if graph_from is None else kilobytes(graph_from)


@dataclass(frozen=True)
class ServerLayout:
    """How a Qdrant server stores a collection Undertone creates; the embedded store ignores it.

    Applied only when the collection is created: an existing collection keeps its layout (change it
    on the server, or re-create the collection and re-ingest). Per track, with 64-d vectors: 256 B of
    float32 vector, ~2.5 KB of payload and payload indexes, ~160 B of HNSW graph (docs/scaling.md).

    Attributes:
        shards: Pieces the collection is split into (None: the server's default, 1 standalone and one per
            node in a cluster); one or more on every node, so each holds and searches its share.
            Fixed at creation.
        replicas: Copies of every shard on different nodes (None: the server's default, 1). Buys
            availability and read throughput; costs that many times the RAM and disk, and buys
            nothing beyond the number of nodes.
        on_disk: Payloads and original float32 vectors stay on disk (memory-mapped), and a scalar
            int8 copy of the vectors (64 B instead of 256 B per track) is kept in RAM: RAM per track
            falls from ~3 KB to roughly the int8 vector, the graph and the payload indexes. Searches
            score the int8 copies, then rescore twice the asked-for candidates with the originals
            read from disk (so results keep full-precision order); payload fetches and rescoring cost
            disk reads, so use SSDs.
    """

    shards: int | None = None
    replicas: int | None = None
    on_disk: bool = False

    def __post_init__(self) -> None:
        if any(count is not None and count < 1 for count in (self.shards, self.replicas)):
            raise ConfigError(f"shards and replicas must be positive: {self}")


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

    def build_index(self) -> bool:
        """Build the search index now, blocking, if the store's settings call for one; True if anything was built.

        Stores that index by themselves (a Qdrant server) return False at once.
        """
        return False

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

    def __enter__(self) -> VectorStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
