"""The dashboard's plain-Python parts: filters from payloads, background jobs, chart builders."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

from dashboard import charts
from dashboard.filters import FilterChoice, build_where, catalog_facets, describe_where
from dashboard.jobs import JobBoard
from recommender.errors import UsageError

PAYLOADS = [
    {"path": "/m/a.flac", "genre": "rock", "licence": "CC-BY", "duration": 30.0, "year": 1999, "title": "A", "moods": {"power": 0.7}},
    {"path": "/m/b.flac", "genre": "pop", "licence": "CC-BY", "duration": 95.5, "year": 2004, "title": "B", "moods": {"sadness": 0.6}},
    {"path": "/m/c.flac", "genre": "jazz", "licence": "CC0", "duration": 240.0, "year": 2010, "title": "C", "moods": {"calmness": 0.5}},
]


def test_facets_offer_choices_and_ranges_but_not_bookkeeping() -> None:
    facets = {facet.field: facet for facet in catalog_facets(PAYLOADS)}
    assert [f.field for f in catalog_facets(PAYLOADS)][:2] == ["genre", "licence"]
    assert set(facets) == {"genre", "licence", "duration", "year"}
    assert set(facets["genre"].choices) == {"rock", "pop", "jazz"}
    assert facets["licence"].choices[0] == "CC-BY"  # most common first
    assert (facets["duration"].low, facets["duration"].high, facets["duration"].integer) == (30.0, 240.0, False)
    assert facets["year"].integer


def test_a_field_with_one_value_is_no_filter() -> None:
    assert catalog_facets([{"genre": "rock", "duration": 3.0}, {"genre": "rock", "duration": 3.0}]) == []


def test_where_only_holds_narrowed_facets() -> None:
    facets = catalog_facets(PAYLOADS)
    untouched = FilterChoice(selected={"genre": ["rock", "pop", "jazz"]}, ranges={"duration": (30.0, 240.0)})
    assert build_where(facets, untouched) is None
    narrowed = FilterChoice(selected={"genre": ["rock", "pop"]}, ranges={"duration": (60.0, 240.0), "year": (1990, 2005)})
    assert build_where(facets, narrowed) == {"genre": ["rock", "pop"], "duration": {"gte": 60.0}, "year": {"lte": 2005}}
    assert describe_where({"genre": ["rock", "pop"], "duration": {"gte": 60.0}}) == "genre: rock or pop; duration ≥ 60"


def test_job_board_reports_progress_results_and_errors() -> None:
    board = JobBoard()
    release = threading.Event()

    def work(progress):
        progress(1, 4, "first file")
        release.wait(5)
        return "summary"

    job = board.start("Ingest", work)
    while job.done == 0:
        threading.Event().wait(0.01)
    assert (job.state, job.fraction, job.message) == ("running", 0.25, "first file")
    release.set()

    def refuse(progress):
        raise UsageError("no such folder")

    def crash(progress):
        raise ZeroDivisionError

    refused, crashed = board.start("Refused", refuse), board.start("Crashed", crash)
    assert board.wait(timeout=10)
    assert (job.state, job.result, job.fraction) == ("done", "summary", 1.0)
    assert (refused.state, refused.error) == ("failed", "no such folder")
    assert crashed.state == "failed" and "ZeroDivisionError" in crashed.error
    assert board.revision == 3
    assert board.jobs()[0] is crashed


def test_va_plane_layers_points_query_and_landmarks() -> None:
    points = pd.DataFrame({"valence": [0.2, 0.8], "arousal": [0.3, 0.9], "genre": ["rock", "pop"], "score": [0.5, 0.9]})
    spec = charts.va_plane(points, color="genre", size="score", query=(0.7, 0.6), landmarks={"happy": (1.0, 0.735)}).to_dict()
    marks = [layer["mark"]["type"] for layer in spec["layer"]]
    assert marks == ["rule", "rule", "text", "circle", "point"]
    assert spec["layer"][3]["encoding"]["color"]["field"] == "genre"


def test_heatmap_keeps_label_order() -> None:
    spec = charts.similarity_heatmap(np.array([[1.0, 0.2], [0.1, 0.9]]), ["happy", "sad"], ["power", "sadness"]).to_dict()
    assert spec["layer"][0]["encoding"]["y"]["sort"] == ["happy", "sad"]
    assert spec["layer"][0]["encoding"]["x"]["sort"] == ["power", "sadness"]


def test_projection_keeps_the_main_direction_and_is_deterministic() -> None:
    rng = np.random.default_rng(0)
    direction = rng.normal(size=16)
    vectors = np.outer(np.linspace(-1, 1, 40), direction) + 0.01 * rng.normal(size=(40, 16))
    projected = charts.project_2d(vectors)
    assert projected.shape == (40, 2)
    assert abs(np.corrcoef(projected[:, 0], np.linspace(-1, 1, 40))[0, 1]) > 0.99
    np.testing.assert_allclose(projected, charts.project_2d(vectors))
    assert charts.project_2d(vectors[:1]).shape == (1, 2)


@pytest.mark.parametrize("rows", [10, charts.MAX_POINTS + 10])
def test_big_catalogs_are_sampled_for_the_browser(rows: int) -> None:
    points = pd.DataFrame({"valence": np.linspace(0, 1, rows), "arousal": 0.5, "genre": "rock"})
    spec = charts.va_plane(points, color="genre").to_dict()
    (dataset,) = [values for name, values in spec["datasets"].items() if len(values) > 1]
    assert len(dataset) == min(rows, charts.MAX_POINTS)


def test_dashboard_command_exports_the_store_and_runs_the_packaged_app(tmp_path, monkeypatch) -> None:
    from recommender.cli import build_parser, main
    from recommender.cli.dashboard import APP, dashboard_environment, streamlit_command

    monkeypatch.chdir(tmp_path)
    args = build_parser().parse_args(["dashboard", "--store", "catalog", "--qdrant-url", "http://qdrant:6333", "--port", "8600"])
    env = dashboard_environment(args)
    assert env["UNDERTONE_STORE"] == str(tmp_path / "catalog")  # absolute: streamlit may change directory
    assert env["UNDERTONE_QDRANT_URL"] == "http://qdrant:6333"
    command = streamlit_command(args.port, args.address)
    assert command[1:5] == ["-m", "streamlit", "run", str(APP)] and APP.is_file()
    assert command[command.index("--server.port") + 1] == "8600"
    assert command[command.index("--server.address") + 1] == "127.0.0.1"
    assert command[command.index("--client.showErrorDetails") + 1] == "none"
    assert main(["dashboard", "--port", "70000"]) == 1
