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
from typing import Any

import numpy as np

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
