"""Server collection layout (shards, replicas, on-disk storage with int8 quantisation) from the settings.

qdrant-client's ``":memory:"`` mode records only the vectors' ``on_disk`` of a created collection
(shard_number, replication_factor, on_disk_payload and quantization_config come back None), so the
rest is checked on the exact ``create_collection`` arguments the store sends.
"""

from __future__ import annotations

import pytest
from qdrant_client import models

from recommender.errors import ConfigError
from recommender.settings import Settings
from recommender.store import EdgeVectorStore, ServerLayout, ServerVectorStore, VectorIndex, open_vector_store
from recommender.store.remote import collection_args, search_params
from tests.recommender.test_store_index import DIM, FORCED, N, assert_same_as_exact, clustered, points

BIG = ServerLayout(shards=3, replicas=2, on_disk=True)


def test_collection_args_carry_the_layout():
    index = VectorIndex()
    args = collection_args(DIM, index, BIG)
    assert args["shard_number"] == 3
    assert args["replication_factor"] == 2
    assert args["on_disk_payload"] is True
    assert args["vectors_config"] == models.VectorParams(size=DIM, distance=models.Distance.COSINE, on_disk=True)
    assert args["quantization_config"] == models.ScalarQuantization(
        scalar=models.ScalarQuantizationConfig(type=models.ScalarType.INT8, quantile=0.99, always_ram=True)
    )
    # The index settings are the same whatever the layout.
    default_args = collection_args(DIM, index, ServerLayout())
    assert args["hnsw_config"] == default_args["hnsw_config"]
    assert args["optimizers_config"] == default_args["optimizers_config"]


def test_default_layout_leaves_the_server_defaults():
    args = collection_args(DIM, VectorIndex(), ServerLayout())
    assert set(args) == {"vectors_config", "hnsw_config", "optimizers_config"}
    assert args["vectors_config"].on_disk is None


def test_on_disk_searches_rescore_the_quantised_candidates():
    assert search_params(VectorIndex(), BIG).quantization == models.QuantizationSearchParams(rescore=True, oversampling=2.0)
    assert search_params(VectorIndex(), ServerLayout()).quantization is None
    exact = search_params(VectorIndex(mode="exact"), BIG)
    assert exact.exact is True and exact.quantization.rescore is True


def test_created_collection_records_the_layout_memory_mode_keeps():
    with ServerVectorStore(":memory:", layout=BIG) as store:
        store.ensure_collection(DIM)
        params = store._client.get_collection(store.collection).config.params
    assert params.vectors.size == DIM
    assert params.vectors.on_disk is True
    with ServerVectorStore(":memory:") as store:
        store.ensure_collection(DIM)
        assert not store._client.get_collection(store.collection).config.params.vectors.on_disk


def test_on_disk_store_returns_the_exact_answers():
    vectors = clustered(N)
    catalog = points(vectors)
    with ServerVectorStore(":memory:", index=FORCED, layout=BIG) as store:
        store.upsert(catalog)
        assert_same_as_exact(store, vectors, catalog)
        assert store.retrieve([catalog[7].id])[0].payload == catalog[7].payload


def test_layout_settings_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("UNDERTONE_QDRANT_URL", ":memory:")
    monkeypatch.setenv("UNDERTONE_QDRANT_SHARDS", "4")
    monkeypatch.setenv("UNDERTONE_QDRANT_REPLICAS", "2")
    monkeypatch.setenv("UNDERTONE_QDRANT_ON_DISK", "1")
    with open_vector_store(Settings.load(store=tmp_path)) as store:
        assert isinstance(store, ServerVectorStore)
        assert store.layout == ServerLayout(shards=4, replicas=2, on_disk=True)
    monkeypatch.setenv("UNDERTONE_QDRANT_SHARDS", "0")
    with pytest.raises(ConfigError, match="qdrant_shards"):
        Settings.load(store=tmp_path)
    with pytest.raises(ConfigError):
        ServerLayout(replicas=0)


def test_embedded_store_ignores_the_layout(tmp_path):
    with open_vector_store(Settings(store=tmp_path, qdrant_on_disk=True, qdrant_shards=2)) as store:
        assert isinstance(store, EdgeVectorStore)
