"""The same operations on both vector stores: embedded (qdrant-edge) and server API (qdrant-client :memory:)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid

import numpy as np
import pytest

from recommender.settings import Settings
from recommender.store import (
    DimensionMismatchError,
    EdgeVectorStore,
    InvalidFilterError,
    ServerVectorStore,
    StoreBusyError,
    StoreError,
    TrackPoint,
    open_vector_store,
    parse_where,
)

DIM = 8

CATALOG = [
    # name, genre, artist, year, duration
    ("a", "rock", "alpha", 1975, 180.0),
    ("b", "rock", "beta", 2001, 320.5),
    ("c", "pop", "alpha", 2010, 200.0),
    ("d", "jazz", "gamma", 1959, 410.0),
    ("e", "pop", "delta", 2020, 95.0),
    ("f", "ambient", "beta", 2005, 600.0),
]


def track_id(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"track:{name}"))


def basis(index: int, dim: int = DIM) -> np.ndarray:
    vector = np.full(dim, 0.01, np.float32)
    vector[index % dim] = 1.0
    return vector


def catalog_points() -> list[TrackPoint]:
    return [
        TrackPoint(
            track_id(name),
            basis(index),
            {"title": name, "genre": genre, "artist": artist, "year": year, "duration": duration, "valence": 0.1 * index},
        )
        for index, (name, genre, artist, year, duration) in enumerate(CATALOG)
    ]



@pytest.fixture(params=["edge", "server"])
def store(request, store_dir):
    if request.param == "edge":
        opened = EdgeVectorStore(store_dir / "vectors", "tracks")
    else:
        opened = ServerVectorStore(":memory:", "tracks")
    opened.ensure_collection(DIM)
    opened.upsert(catalog_points())
    yield opened
    opened.close()


def titles(points) -> set[str]:
    return {point.payload["title"] for point in points}


def test_search_is_best_first_by_cosine(store):
    query = basis(2) + 0.5 * basis(3) + 0.2 * basis(0)
    hits = store.search(query, limit=3)
    assert [hit.payload["title"] for hit in hits] == ["c", "d", "a"]
    assert hits[0].score > hits[1].score > hits[2].score
    expected = float(query @ basis(2) / np.linalg.norm(query) / np.linalg.norm(basis(2)))
    assert hits[0].score == pytest.approx(expected, abs=1e-5)
    assert hits[0].id == track_id("c")


def test_limit_beyond_catalog_returns_everything(store):
    assert len(store.search(basis(0), limit=100)) == len(CATALOG)


def test_upsert_is_idempotent_and_replaces(store):
    store.upsert(catalog_points())
    assert store.count() == len(CATALOG)
    changed = TrackPoint(track_id("a"), basis(5), {"title": "a2", "genre": "folk"})
    store.upsert([changed])
    assert store.count() == len(CATALOG)
    (point,) = store.retrieve([track_id("a")])
    assert point.payload == {"title": "a2", "genre": "folk"}
    assert store.search(basis(5), limit=1, where={"genre": "folk"})[0].id == track_id("a")


@pytest.mark.parametrize(
    "where, expected",
    [
        ({"genre": "rock"}, {"a", "b"}),
        ({"genre": ["rock", "pop"]}, {"a", "b", "c", "e"}),
        ({"duration": {"lte": 200}}, {"a", "c", "e"}),
        ({"duration": {"gt": 200, "lt": 600}}, {"b", "d"}),
        ({"year": {"gte": 2000}}, {"b", "c", "e", "f"}),
        ({"year": 2001}, {"b"}),
        ({"duration": 320.5}, {"b"}),
        ({"year": [1959, 2020]}, {"d", "e"}),
        ({"genre": ["rock", "pop"], "year": {"gte": 2000}, "artist": "alpha"}, {"c"}),
        ({"genre": "classical"}, set()),
        ({"no_such_field": "x"}, set()),
    ],
)
def test_filters_filter_search_count_and_scroll(store, where, expected):
    assert titles(store.search(basis(0), limit=50, where=where)) == expected
    assert store.count(where) == len(expected)
    points, next_offset = store.scroll(where, limit=50)
    assert titles(points) == expected and next_offset is None


def test_scroll_pages_through_everything_once(store):
    seen: list[str] = []
    offset = None
    while True:
        points, offset = store.scroll(limit=4, offset=offset)
        assert len(points) <= 4
        seen.extend(point.id for point in points)
        if offset is None:
            break
    assert sorted(seen) == sorted(track_id(name) for name, *_ in CATALOG)
    assert len(list(store.iter_points(page_size=2))) == len(CATALOG)


def test_retrieve_keeps_order_skips_unknown_and_returns_unit_vectors(store):
    unknown = str(uuid.uuid4())
    points = store.retrieve([track_id("d"), unknown, track_id("a")])
    assert [point.payload["title"] for point in points] == ["d", "a"]
    # Cosine collections store normalised vectors.
    assert np.linalg.norm(points[0].vector) == pytest.approx(1.0, abs=1e-5)
    assert int(np.argmax(points[0].vector)) == 3


def test_delete(store):
    store.delete([track_id("a"), track_id("b"), str(uuid.uuid4())])
    assert store.count() == len(CATALOG) - 2
    assert store.retrieve([track_id("a")]) == []
    assert store.count({"genre": "rock"}) == 0


def test_payload_numpy_values_are_stored_as_plain_json(store):
    point = TrackPoint(track_id("np"), basis(1), {"title": "np", "valence": np.float32(0.25), "year": np.int64(1999), "moods": {"calm": np.float64(0.7)}})
    store.upsert([point])
    (stored,) = store.retrieve([track_id("np")])
    assert stored.payload["valence"] == pytest.approx(0.25) and stored.payload["year"] == 1999
    assert stored.payload["moods"] == {"calm": pytest.approx(0.7)}
    assert titles(store.search(basis(1), 10, where={"year": 1999})) == {"np"}


def test_bad_input_raises_clear_errors(store):
    with pytest.raises(DimensionMismatchError, match="8-d"):
        store.search(np.ones(DIM + 1), limit=1)
    with pytest.raises(DimensionMismatchError):
        store.upsert([TrackPoint(track_id("x"), np.ones(3), {})])
    with pytest.raises(DimensionMismatchError):
        store.ensure_collection(DIM * 2)
    with pytest.raises(ValueError, match="not a UUID"):
        store.upsert([TrackPoint("not-a-uuid", basis(0), {})])
    with pytest.raises(ValueError, match="non-zero"):
        store.search(np.zeros(DIM), limit=1)
    with pytest.raises(InvalidFilterError, match="range filter"):
        store.search(basis(0), 5, where={"year": {"from": 2000}})
    store.ensure_collection(DIM)  # same size: a no-op


def test_closed_store_refuses_work(store):
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.count()


@pytest.mark.parametrize("backend", ["edge", "server"])
def test_empty_store_before_first_upsert(store_dir, backend):
    opened = EdgeVectorStore(store_dir / "v") if backend == "edge" else ServerVectorStore(":memory:")
    with opened:
        assert opened.dim is None
        assert opened.count() == 0 and opened.search(np.ones(4), 5) == [] and opened.scroll() == ([], None)
        opened.upsert([TrackPoint(track_id("first"), np.ones(4), {"genre": "rock"})])  # creates the collection
        assert opened.dim == 4 and opened.count({"genre": "rock"}) == 1


def test_parse_where_rejects_nonsense():
    for bad in ({"genre": []}, {"year": {"gte": "2000"}}, {"year": {"lt": float("nan")}}, {"genre": object()}, {"x": {}}):
        with pytest.raises(InvalidFilterError):
            parse_where(bad)
    assert parse_where(None) == [] and parse_where({}) == []


def test_edge_store_persists_across_reopen(store_dir):
    with EdgeVectorStore(store_dir / "vectors") as first:
        first.upsert(catalog_points())
    with EdgeVectorStore(store_dir / "vectors") as reopened:
        assert reopened.dim == DIM
        assert reopened.count() == len(CATALOG)
        assert titles(reopened.search(basis(0), 10, where={"genre": "rock"})) == {"a", "b"}


def test_second_process_gets_store_busy_error(store_dir):
    directory = store_dir / "vectors"
    with EdgeVectorStore(directory) as owner:
        owner.upsert(catalog_points())
        script = textwrap.dedent(
            f"""
            from recommender.store import EdgeVectorStore
            from recommender.errors import StoreBusyError
            try:
                EdgeVectorStore({str(directory)!r})
            except StoreBusyError as error:
                print(error)
                raise SystemExit(3)
            """
        )
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
        assert result.returncode == 3, result.stderr
        assert f"in use by process {__import__('os').getpid()}" in result.stdout
        assert "--qdrant-url" in result.stdout
    # Released on close: the next owner gets in.
    with EdgeVectorStore(directory) as next_owner:
        assert next_owner.count() == len(CATALOG)


def test_second_store_in_same_process_is_busy_too(store_dir):
    with EdgeVectorStore(store_dir / "vectors"):
        with pytest.raises(StoreBusyError, match="this process"):
            EdgeVectorStore(store_dir / "vectors")


def test_open_vector_store_picks_backend(store_dir):
    with open_vector_store(Settings(store=store_dir)) as embedded:
        assert isinstance(embedded, EdgeVectorStore) and embedded.directory == store_dir / "vectors"
    with open_vector_store(Settings(store=store_dir, qdrant_url=":memory:", collection="other")) as server:
        assert isinstance(server, ServerVectorStore) and server.collection == "other"
