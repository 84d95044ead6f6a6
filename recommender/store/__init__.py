"""Vector stores: one interface (:mod:`.base`), two backends (:mod:`.embedded`, :mod:`.remote`), one filter
translation (:mod:`.conversions`). See :mod:`recommender.store.base` for the filter language."""

from recommender.errors import DimensionMismatchError, InvalidFilterError, StoreBusyError, StoreCorruptError, StoreError
from recommender.settings import Settings
from recommender.store.base import Hit, ServerLayout, TrackPoint, VectorIndex, VectorStore, Where
from recommender.store.conversions import parse_where
from recommender.store.embedded import EdgeVectorStore
from recommender.store.remote import ServerVectorStore

__all__ = [
    "DimensionMismatchError",
    "EdgeVectorStore",
    "Hit",
    "InvalidFilterError",
    "ServerLayout",
    "ServerVectorStore",
    "StoreBusyError",
    "StoreCorruptError",
    "StoreError",
    "TrackPoint",
    "VectorIndex",
    "VectorStore",
    "Where",
    "open_vector_store",
    "parse_where",
]


def open_vector_store(settings: Settings, *, set_aside_unreadable: bool = False) -> VectorStore:
    """The store ``settings`` describe: a server when ``qdrant_url`` is set (``":memory:"`` allowed), else embedded.

    The ``qdrant_*`` layout settings go to the server store only (the embedded store has no shards).

    Args:
        set_aside_unreadable: An embedded store whose files cannot be read is moved aside and opened
            empty, to be rebuilt from the catalog (``undertone catalog --repair``).

    Raises:
        StoreBusyError: Another process owns the embedded store.
        StoreCorruptError: The embedded store's files cannot be read.
        ServiceUnavailableError: The Qdrant server cannot be reached.
    """
    tuned = {"hnsw_from": settings.hnsw_from, "ef": settings.hnsw_ef}
    index = VectorIndex(mode=settings.vector_index, **{name: value for name, value in tuned.items() if value is not None})
    if settings.qdrant_url:
        layout = ServerLayout(shards=settings.qdrant_shards, replicas=settings.qdrant_replicas, on_disk=settings.qdrant_on_disk)
        return ServerVectorStore(settings.qdrant_url, settings.collection, index=index, layout=layout)
    return EdgeVectorStore(settings.vectors_path, settings.collection, set_aside_unreadable=set_aside_unreadable, index=index)
