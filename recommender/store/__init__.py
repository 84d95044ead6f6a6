"""Vector stores: one interface (:mod:`.base`), two backends (:mod:`.embedded`, :mod:`.remote`), one filter
translation (:mod:`.conversions`). See :mod:`recommender.store.base` for the filter language."""

from recommender.errors import DimensionMismatchError, InvalidFilterError, StoreBusyError, StoreError
from recommender.settings import Settings
from recommender.store.base import Hit, TrackPoint, VectorStore, Where
from recommender.store.conversions import parse_where
from recommender.store.embedded import EdgeVectorStore
from recommender.store.remote import ServerVectorStore

__all__ = [
    "DimensionMismatchError",
    "EdgeVectorStore",
    "Hit",
    "InvalidFilterError",
    "ServerVectorStore",
    "StoreBusyError",
    "StoreError",
    "TrackPoint",
    "VectorStore",
    "Where",
    "open_vector_store",
    "parse_where",
]


def open_vector_store(settings: Settings) -> VectorStore:
    """The store ``settings`` describe: a server when ``qdrant_url`` is set (``":memory:"`` allowed), else embedded.

    Raises:
        StoreBusyError: Another process owns the embedded store.
    """
    if settings.qdrant_url:
        return ServerVectorStore(settings.qdrant_url, settings.collection)
    return EdgeVectorStore(settings.vectors_path, settings.collection)
