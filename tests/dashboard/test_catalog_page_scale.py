"""The Catalog page on a catalog too big to draw point by point: true totals, capped points, paged table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard.charts import MAX_POINTS
from ingest.catalog import Catalog
from recommender.settings import Settings
from tests.ingest.catalog_rows import fill_catalog

PAGE = Path(__file__).resolve().parents[2] / "dashboard" / "views" / "catalog.py"
ROWS = 8000


@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    store = tmp_path_factory.mktemp("big") / "store"
    with Catalog(Settings(store=store).catalog_url) as catalog:
        made = fill_catalog(catalog, ROWS)
    yield store, made
    st.cache_resource.clear()


def datasets(chart) -> list[pa.Table]:
    return [pa.ipc.open_stream(dataset.data.data).read_all() for dataset in chart.proto.datasets]


def test_a_big_catalog_shows_true_totals_but_draws_at_most_the_cap(big_store, monkeypatch: pytest.MonkeyPatch) -> None:
    store, made = big_store
    monkeypatch.setenv("UNDERTONE_STORE", str(store))
    monkeypatch.setenv("UNDERTONE_CONFIG", str(store.parent / "no-config.toml"))
    app = AppTest.from_file(str(PAGE), default_timeout=300).run()  # the page alone: no model, no vector store
    assert not app.exception
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Tracks"] == f"{ROWS:,}" and metrics["Genres"] == "7" and metrics["Artists"] == f"{len(np.unique(made['artist'])):,}"
    assert metrics["Hours of music"] == f"{made['duration'].sum() / 3600:.1f}"

    plane = app.get("vega_lite_chart")[0]
    assert json.loads(plane.proto.spec)["title"] == "Tracks on the valence-arousal plane"
    tables = datasets(plane)
    (cells,) = [table for table in tables if "tracks" in table.column_names]
    (points,) = [table for table in tables if "genre" in table.column_names]
    assert cells.column("tracks").to_numpy().sum() == ROWS  # the shading counts every track ...
    assert points.num_rows == MAX_POINTS  # ... the points are a capped sample
    assert f"The shading counts all {ROWS:,} tracks" in " ".join(c.value for c in app.caption)

    (table,) = [frame.value for frame in app.dataframe if "valence" in frame.value]
    assert len(table) == 100 and list(table["path"]) == sorted(table["path"])
    pages = app.number_input[0]
    assert pages.label == f"Page (of {ROWS // 100:,})"
    pages.set_value(80).run()
    (table,) = [frame.value for frame in app.dataframe if "valence" in frame.value]
    assert len(table) == 100 and f"Tracks 7,901–8,000 of {ROWS:,}, by path." in [c.value for c in app.caption]


def test_search_filters_come_from_the_sql_catalog_without_reading_every_track(big_store, monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboard import resources
    from tests.ingest.catalog_rows import GENRES

    store, _ = big_store
    monkeypatch.setattr(resources, "FACET_SAMPLE", 1000)
    st.cache_data.clear()
    read = []
    real = Catalog.sample_tracks
    monkeypatch.setattr(Catalog, "sample_tracks", lambda self, limit: read.append(tracks := real(self, limit)) or tracks)
    facets = {facet.field: facet for facet in resources.catalog_facets(Settings(store=store))}
    assert set(facets["genre"].choices) == set(GENRES) and facets["duration"].kind == "range"
    assert [len(tracks) for tracks in read] == [1000]
