"""The server store: a Qdrant collection reached through ``qdrant-client``, shared by many processes."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from recommender.errors import DimensionMismatchError, ServiceUnavailableError, StoreError
from recommender.settings import without_secrets
from recommender.store.base import PAYLOAD_INDEXES, Hit, ServerLayout, TrackPoint, VectorIndex, VectorStore, Where
from recommender.store.conversions import as_vector, canonical_id, jsonable, to_client_filter, to_track_point

Method = TypeVar("Method", bound=Callable[..., Any])

OVERSAMPLING = 2.0
"""With ``ServerLayout.on_disk``, int8 search keeps this many times the asked-for candidates for rescoring."""


def collection_args(dim: int, index: VectorIndex, layout: ServerLayout) -> dict[str, Any]:
    """Keyword arguments of ``QdrantClient.create_collection`` for a ``dim``-d collection.

    Settings left at None are not sent, so the server applies its own defaults.
    """
    from qdrant_client import models as m

    full_scan_kb, indexing_kb = index.engine_thresholds(int(dim))
    args: dict[str, Any] = {
        "vectors_config": m.VectorParams(size=int(dim), distance=m.Distance.COSINE, on_disk=layout.on_disk or None),
        "hnsw_config": m.HnswConfigDiff(m=index.m, ef_construct=index.ef_construct, full_scan_threshold=full_scan_kb),
        "optimizers_config": m.OptimizersConfigDiff(indexing_threshold=indexing_kb),
    }
    if layout.shards is not None:
        args["shard_number"] = layout.shards
    if layout.replicas is not None:
        args["replication_factor"] = layout.replicas
    if layout.on_disk:
        args["on_disk_payload"] = True
        args["quantization_config"] = m.ScalarQuantization(
            scalar=m.ScalarQuantizationConfig(type=m.ScalarType.INT8, quantile=0.99, always_ram=True)
        )
    return args


def search_params(index: VectorIndex, layout: ServerLayout) -> Any:
    """``SearchParams`` for every search of a server collection (a ``qdrant_client.models.SearchParams``)."""
    from qdrant_client import models as m

    exact = index.mode == "exact"
    acorn = m.AcornSearchParams(enable=True) if index.acorn and not exact else None
    # Rescoring reads the original vectors of the oversampled candidates, so the order is float32's.
    quantization = m.QuantizationSearchParams(rescore=True, oversampling=OVERSAMPLING) if layout.on_disk else None
    return m.SearchParams(exact=exact, hnsw_ef=None if exact else index.ef, acorn=acorn, quantization=quantization)


def _reachable(method: Method) -> Method:
    """Report a server that cannot be reached as one clear :class:`ServiceUnavailableError`."""

    @functools.wraps(method)
    def wrapper(self: ServerVectorStore, *args: Any, **kwargs: Any) -> Any:
        from qdrant_client.http.exceptions import ResponseHandlingException  # wraps every transport error

        try:
            return method(self, *args, **kwargs)
        except ResponseHandlingException as error:
            raise ServiceUnavailableError(
                f"cannot reach the Qdrant server {without_secrets(self.url)}: {error} "
                "(is it running? check --qdrant-url / UNDERTONE_QDRANT_URL)"
            ) from None

    return wrapper  # type: ignore[return-value]


class ServerVectorStore(VectorStore):
    """A collection on a Qdrant server (or qdrant-client's in-process ``":memory:"`` mode).

    A collection this store creates gets the same index settings as the embedded store (HNSW
    parameters, indexing threshold, payload indexes without per-value graphs);
    the server builds the graph in the background. An existing collection keeps the configuration it
    was created with (it may be shared); ``index.ef`` and ``mode="exact"`` apply to every search.
    ``":memory:"`` ignores indexes and always scans exactly.

    ``layout`` (shards, replicas, on-disk storage with int8 quantisation) likewise applies only to a
    collection this store creates; ``":memory:"`` records only the vectors' ``on_disk`` of it.

    Args:
        url: ``http(s)://host:port`` of the server, or ``":memory:"``.
        collection: Collection name.
        api_key: For Qdrant Cloud / secured servers.
        timeout: Seconds per request.
        index: Exact scan or HNSW, and the graph's parameters (default: :class:`VectorIndex`).
        layout: Shards, replicas and what stays on disk (default: :class:`ServerLayout`, the server's defaults).
    """

    def __init__(
        self,
        url: str,
        collection: str = "tracks",
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        index: VectorIndex | None = None,
        layout: ServerLayout | None = None,
    ) -> None:
        from qdrant_client import QdrantClient, models

        self._m = models
        self.url = url
        self.collection = collection
        self.index = index or VectorIndex()
        self.layout = layout or ServerLayout()
        if url == ":memory:":
            self._client = QdrantClient(location=":memory:")
        else:
            self._client = QdrantClient(url=url, api_key=api_key, timeout=int(timeout))
        self._dim: int | None = None
        self._closed = False
        # ":memory:" always scans exactly (and warns about search parameters on every search).
        self._search_params = None if url == ":memory:" else search_params(self.index, self.layout)
        self._read_dim()

    @_reachable
    def _read_dim(self) -> None:
        if self._client.collection_exists(self.collection):
            self._dim = int(self._client.get_collection(self.collection).config.params.vectors.size)

    @property
    def dim(self) -> int | None:
        return self._dim

    @_reachable
    def ensure_collection(self, dim: int) -> None:
        self._check_open()
        if self._dim is not None:
            if dim != self._dim:
                raise DimensionMismatchError(
                    f"collection {self.collection!r} on {self.url} holds {self._dim}-d vectors but {dim}-d were given "
                    "(a different model?); use another collection or re-ingest"
                )
            return
        self._client.create_collection(self.collection, **collection_args(dim, self.index, self.layout))
        with warnings.catch_warnings():
            # ":memory:" warns that it ignores payload indexes; a server builds them.
            warnings.filterwarnings("ignore", message="Payload indexes have no effect", category=UserWarning)
            for name, kind in PAYLOAD_INDEXES.items():
                self._client.create_payload_index(self.collection, name, self._index_params(kind))
        self._dim = int(dim)

    def _index_params(self, kind: str) -> Any:
        # No per-value payload graphs: ACORN keeps filtered searches complete (VectorIndex.acorn).
        m = self._m
        if kind == "keyword":
            return m.KeywordIndexParams(type=m.KeywordIndexType.KEYWORD, enable_hnsw=False)
        if kind == "integer":
            return m.IntegerIndexParams(type=m.IntegerIndexType.INTEGER, lookup=True, range=True, enable_hnsw=False)
        return m.FloatIndexParams(type=m.FloatIndexType.FLOAT, enable_hnsw=False)

    @_reachable
    def upsert(self, points: Sequence[TrackPoint]) -> None:
        self._check_open()
        if not points:
            return
        if self._dim is None:
            self.ensure_collection(int(np.asarray(points[0].vector).size))
        native = [
            self._m.PointStruct(
                id=canonical_id(p.id), vector=as_vector(p.vector, self._dim, f"vector of {p.id}"), payload=jsonable(p.payload)
            )
            for p in points
        ]
        self._client.upsert(self.collection, native, wait=True)

    @_reachable
    def search(self, vector: np.ndarray, limit: int, where: Where | None = None) -> list[Hit]:
        self._check_open()
        native_filter = to_client_filter(where, self._m)
        if self._dim is None or limit <= 0:
            return []
        response = self._client.query_points(
            self.collection,
            query=as_vector(vector, self._dim, "query vector"),
            query_filter=native_filter,
            search_params=self._search_params,
            limit=int(limit),
            with_payload=True,
        )
        return [Hit(str(point.id), float(point.score), dict(point.payload or {})) for point in response.points]

    @_reachable
    def retrieve(self, ids: Sequence[str]) -> list[TrackPoint]:
        self._check_open()
        wanted = [canonical_id(point_id) for point_id in ids]
        if self._dim is None or not wanted:
            return []
        records = self._client.retrieve(self.collection, wanted, with_payload=True, with_vectors=True)
        by_id = {str(record.id): to_track_point(record) for record in records}
        return [by_id[point_id] for point_id in wanted if point_id in by_id]

    @_reachable
    def delete(self, ids: Sequence[str]) -> None:
        self._check_open()
        doomed = [canonical_id(point_id) for point_id in ids]
        if self._dim is not None and doomed:
            self._client.delete(self.collection, points_selector=self._m.PointIdsList(points=doomed), wait=True)

    @_reachable
    def count(self, where: Where | None = None) -> int:
        self._check_open()
        native_filter = to_client_filter(where, self._m)
        if self._dim is None:
            return 0
        return int(self._client.count(self.collection, count_filter=native_filter, exact=True).count)

    @_reachable
    def scroll(
        self, where: Where | None = None, limit: int = 1000, offset: str | None = None
    ) -> tuple[list[TrackPoint], str | None]:
        self._check_open()
        native_filter = to_client_filter(where, self._m)
        if self._dim is None:
            return [], None
        records, next_offset = self._client.scroll(
            self.collection,
            scroll_filter=native_filter,
            limit=int(limit),
            offset=canonical_id(offset) if offset is not None else None,
            with_payload=True,
            with_vectors=True,
        )
        return [to_track_point(record) for record in records], (str(next_offset) if next_offset is not None else None)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._client.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"connection to {self.url} is closed")
