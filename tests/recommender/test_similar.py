"""More like this: catalog tracks and music files as examples, liked and unliked, filtered and explained."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from recommender import cli
from recommender.errors import AudioNotFoundError, UnknownTrackError, UsageError
from recommender.examples import cosines, resolve_example
from recommender.search import Recommender
from recommender.store import EdgeVectorStore, TrackPoint


def ids_by_title(catalog) -> dict[str, str]:
    return {point.payload["title"]: point.id for point in catalog["points"]}


def test_like_a_catalog_track(recommender, catalog):
    ids = ids_by_title(catalog)
    response = recommender.similar(ids["Sunrise Run"], k=4, rerank=0.0)
    assert len(response.results) == 4 and ids["Sunrise Run"] not in [r.track_id for r in response.results]
    liked = [r.parts["liked"][0] for r in response.results]
    assert liked == sorted(liked, reverse=True)  # alpha 0: cosine to the one example orders the list
    assert response.results[0].why.startswith("like “Sunrise Run - Ada”")
    assert "closest to “Sunrise Run - Ada” (cosine" in response.results[0].why
    assert response.to_dict()["results"][0]["parts"]["unliked"] == []


def test_unliked_examples_push_results_away(recommender, catalog, model):
    ids = ids_by_title(catalog)
    like, unlike = ids["Night Drive"], ids["Storm Front"]
    beta = 1.0
    pushed = recommender.similar([like], [unlike], k=6, rerank=0.0, beta=beta)
    a, b = (resolve_example(model, recommender.store, track).embedding for track in (like, unlike))
    norm = np.linalg.norm(a - beta * b)
    for result in pushed.results:
        cos_a, cos_b = result.parts["liked"][0], result.parts["unliked"][0]
        # Rocchio: one store search ranks by the liked cosine minus beta x the unliked one.
        assert result.parts["cosine"] == pytest.approx((cos_a - beta * cos_b) / norm, abs=1e-4)
        assert "away from “Storm Front - Bram”" in result.why
    plain = recommender.similar([like], k=6, rerank=0.0)
    storm = resolve_example(model, recommender.store, unlike)
    to_storm = {point.id: cosines(point.vector, [storm])[0] for point in recommender.store.retrieve([r.track_id for r in plain.results])}
    stormiest = max((track for track in to_storm if track != unlike), key=to_storm.get)
    ranks = [[r.track_id for r in response.results].index(stormiest) for response in (plain, pushed)]
    assert ranks[1] > ranks[0]
    assert unlike not in [r.track_id for r in pushed.results]


def test_music_files_filters_and_errors(recommender, catalog, tmp_path):
    by_title = {point.payload["title"]: point for point in catalog["points"]}
    response = recommender.similar(Path(by_title["Grey Harbour"].payload["path"]), k=3, where={"genre": ["ambient", "folk"]})
    assert response.results and all(r.payload["genre"] in ("ambient", "folk") for r in response.results)
    assert "like “00.wav”" not in response.results[0].why and "closest to “02.wav”" in response.results[0].why
    with pytest.raises(UnknownTrackError, match="no track with id 00000000-0000-0000-0000-000000000000"):
        recommender.similar("00000000-0000-0000-0000-000000000000")
    with pytest.raises(AudioNotFoundError):
        recommender.similar(tmp_path / "missing.flac")
    with pytest.raises(UsageError, match="cancel out"):
        recommender.similar(by_title["Snowfall"].id, by_title["Snowfall"].id, beta=1.0)
    with pytest.raises(UsageError, match="at least one liked"):
        recommender.similar([])


def test_a_file_that_is_in_the_catalog_is_that_track(model, catalog, tmp_path):
    """Recognised by its content hash (as ingestion ids tracks), so it is not recommended back to itself."""
    points = []
    for point in catalog["points"]:
        digest = hashlib.sha256(Path(point.payload["path"]).read_bytes()).hexdigest()
        points.append(TrackPoint(point.id, point.vector, {**point.payload, "content_hash": digest}))
    store = EdgeVectorStore(tmp_path / "vectors")
    store.upsert(points)
    with Recommender(model, store, catalog["settings"]) as recommender:
        example = Path(points[0].payload["path"]).read_bytes()
        response = recommender.similar(example, k=3)
        assert points[0].id not in [r.track_id for r in response.results]
        assert "closest to “Sunrise Run - Ada”" in response.results[0].why


def test_cli_like_and_unlike(catalog, model, monkeypatch, capsys):
    from recommender.model import EmotionModel

    monkeypatch.setattr(EmotionModel, "load", staticmethod(lambda *a, **k: model))
    ids = ids_by_title(catalog)
    path = next(p.payload["path"] for p in catalog["points"] if p.payload["title"] == "Storm Front")
    argv = ["search", "--emotion", "calm", "--like", ids["Still Meadow"], "--like", ids["Snowfall"], "--unlike", path,
            "--store", str(catalog["store"]), "-k", "2", "--json"]
    assert cli.main(argv) == 0
    calm, like = (json.loads(line) for line in capsys.readouterr().out.strip().splitlines())
    assert calm["kind"] == "emotion"
    assert like["kind"] == "like" and like["query"] == f"{ids['Still Meadow']}, {ids['Snowfall']}" and like["unlike"] == [path]
    assert len(like["results"]) == 2 and len(like["results"][0]["parts"]["liked"]) == 2
    assert cli.main(["search", "--like", ids["Snowfall"], "--store", str(catalog["store"]), "-k", "1"]) == 0
    assert "  examples: " in capsys.readouterr().out
    assert cli.main(["search", "--unlike", path, "--store", str(catalog["store"])]) == 1
    assert "--unlike needs at least one --like" in capsys.readouterr().err
