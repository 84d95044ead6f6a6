"""Exact scan vs HNSW graph in the vector stores: same answers, filters honoured, old stores still open."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest

from recommender.errors import ConfigError
from recommender.settings import Settings
from recommender.store import EdgeVectorStore, ServerVectorStore, TrackPoint, VectorIndex, open_vector_store

DIM = 16
GENRES = ("rock", "pop", "jazz", "ambient")
N = 400
# A graph over all N tracks, walked for filtered searches too (exact_below=1), with ef >= N so the
# walk reaches every track: any difference from the exact answer is a wrong id or a lost filter.
FORCED = VectorIndex(mode="hnsw", ef=N, exact_below=1)



def clustered(n: int, seed: int = 0) -> np.ndarray:
    """Unit vectors around a few centres, like real embeddings (many near neighbours)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((6, DIM))
    vectors = centres[rng.integers(0, 6, n)] + 0.3 * rng.standard_normal((n, DIM))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def points(vectors: np.ndarray, start: int = 0) -> list[TrackPoint]:
    return [
        TrackPoint(str(uuid.UUID(int=start + i + 1)), vector,
                   {"genre": GENRES[(start + i) % len(GENRES)], "duration": float(60 + ((start + i) * 37) % 540)})
        for i, vector in enumerate(vectors)
    ]


def exact_top(vectors: np.ndarray, catalog: list[TrackPoint], query: np.ndarray, k: int, keep=lambda payload: True) -> list[str]:
    allowed = np.array([keep(point.payload) for point in catalog])
    scores = np.where(allowed, vectors @ (query / np.linalg.norm(query)), -np.inf)
    order = np.argsort(-scores, kind="stable")[:k]
    return [catalog[i].id for i in order if allowed[i]]


def assert_same_as_exact(store, vectors: np.ndarray, catalog: list[TrackPoint]) -> None:
    queries = clustered(12, seed=99)
    where = {"genre": ["rock", "jazz"], "duration": {"lte": 300}}
    for query in queries:
        assert [hit.id for hit in store.search(query, 10)] == exact_top(vectors, catalog, query, 10)
        filtered = store.search(query, 10, where)
        assert [hit.id for hit in filtered] == exact_top(
            vectors, catalog, query, 10, lambda p: p["genre"] in ("rock", "jazz") and p["duration"] <= 300
        )
        assert all(hit.payload["genre"] in ("rock", "jazz") and hit.payload["duration"] <= 300 for hit in filtered)


def test_forced_graph_returns_the_exact_answers_with_and_without_filters(store_dir):
    vectors = clustered(N)
    catalog = points(vectors)
    with EdgeVectorStore(store_dir / "vectors", index=FORCED) as store:
        store.upsert(catalog)
        assert store.indexed_points == 0  # fewer than hnsw_from new tracks: no build on upsert
        assert store.build_index() is True
        assert store.indexed_points == N
        assert_same_as_exact(store, vectors, catalog)
    with EdgeVectorStore(store_dir / "vectors", index=FORCED) as reopened:
        assert reopened.indexed_points == N
        assert_same_as_exact(reopened, vectors, catalog)


def test_server_store_returns_the_exact_answers_with_index_settings(store_dir):
    vectors = clustered(N)
    catalog = points(vectors)
    with ServerVectorStore(":memory:", index=FORCED) as store:
        store.upsert(catalog)
        assert_same_as_exact(store, vectors, catalog)


def test_auto_builds_the_graph_once_the_catalog_is_large_and_keeps_later_tracks_searchable(store_dir):
    vectors = clustered(N + 40)
    catalog = points(vectors)
    index = VectorIndex(mode="auto", hnsw_from=300, ef=N + 40, exact_below=1)
    with EdgeVectorStore(store_dir / "vectors", index=index) as store:
        store.upsert(catalog[:200])
        assert store.indexed_points == 0  # below hnsw_from: exact scan, no build
        store.upsert(catalog[200:N])
        assert store.indexed_points >= 300
        store.upsert(catalog[N:])  # few new tracks wait, unindexed but searchable
        assert store.count() == N + 40
        assert_same_as_exact(store, vectors, catalog)
        store.delete([catalog[0].id])
        assert catalog[0].id not in [hit.id for hit in store.search(vectors[0], 5)]


def test_exact_mode_never_builds_a_graph(store_dir):
    vectors = clustered(N)
    catalog = points(vectors)
    with EdgeVectorStore(store_dir / "vectors", index=VectorIndex(mode="exact")) as store:
        store.upsert(catalog)
        assert store.build_index() is False
        assert store.indexed_points == 0
        assert_same_as_exact(store, vectors, catalog)


def test_store_created_before_index_settings_opens_searches_and_gets_its_graph(store_dir):
    """A shard written the way the previous version wrote it: no HNSW/optimizer config, plain payload indexes."""
    import qdrant_edge as q

    vectors = clustered(N)
    catalog = points(vectors)
    shard_path = store_dir / "vectors" / "tracks"
    params = q.EdgeVectorParams(size=DIM, distance=q.Distance.Cosine, memory=q.Memory.Pinned)
    shard = q.EdgeShard.create(str(shard_path), q.EdgeConfig(vectors=params, payload_memory=q.Memory.Cached))
    shard.update(q.UpdateOperation.create_field_index("genre", q.PayloadSchemaType.Keyword))
    shard.update(q.UpdateOperation.create_field_index("duration", q.PayloadSchemaType.Float))
    shard.update(q.UpdateOperation.upsert_points([q.Point(p.id, p.vector.tolist(), p.payload) for p in catalog]))
    shard.flush()
    shard.close()

    with EdgeVectorStore(store_dir / "vectors", index=FORCED) as store:
        assert store.dim == DIM and store.count() == N
        assert store.indexed_points == 0  # opening never blocks on a build
        assert_same_as_exact(store, vectors, catalog)
        assert store.build_index() is True
        assert store.indexed_points == N
        assert_same_as_exact(store, vectors, catalog)
        assert store.retrieve([catalog[5].id])[0].payload == catalog[5].payload
    persisted = json.loads((shard_path / "edge_config.json").read_text(encoding="utf-8"))
    assert persisted["hnsw_config"]["ef_construct"] == FORCED.ef_construct
    assert persisted["vectors"][""]["memory"] == "pinned"


def test_settings_choose_the_index(store_dir):
    settings = Settings(store=store_dir, vector_index="exact", hnsw_ef=64)
    with open_vector_store(settings) as store:
        assert store.index == VectorIndex(mode="exact", ef=64)
    with pytest.raises(ConfigError):
        Settings.load(store=store_dir, vector_index="graph")
    with pytest.raises(ConfigError):
        VectorIndex(ef=0)
