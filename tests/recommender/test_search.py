"""The query path on a real (small) catalog: ranking, re-ranking, filters, diversity, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recommender.emotion import va_similarity
from recommender.errors import (
    AudioNotFoundError,
    AudioTooLongError,
    CorruptAudioError,
    EmptyCatalogError,
    ModelMismatchError,
    SilentAudioError,
    StoreBusyError,
    UnknownEmotionError,
)
from recommender.explain import explain
from recommender.search import Recommender, SearchConfig
from recommender.settings import Settings
from recommender.store import EdgeVectorStore, ServerVectorStore

N_TRACKS = 8  # tests/conftest.py: TRACKS


def test_speech_search_ranks_the_catalog_with_explained_scores(recommender, speech_clips, model):
    response = recommender.search(speech_clips["sad"], k=3)
    assert len(response.results) == 3
    scores = [result.score for result in response.results]
    assert scores == sorted(scores, reverse=True)
    query = response.query
    assert query.duration == pytest.approx(3.0, abs=0.01)
    for result in response.results:
        parts = result.parts
        assert parts["alpha"] == recommender.config.alpha
        assert parts["va_similarity"] == pytest.approx(va_similarity((query.valence, query.arousal), (result.valence, result.arousal)))
        assert result.score == pytest.approx((1 - parts["alpha"]) * parts["cosine"] + parts["alpha"] * parts["va_similarity"])
        stored = next(p for p in recommender.store.retrieve([result.track_id]))
        assert parts["cosine"] == pytest.approx(float(stored.vector @ query.embedding), abs=1e-4)
        assert result.path == result.payload["path"] and result.path.endswith(".wav")
        assert "speech -> track predicted" in result.why and f"cosine {parts['cosine']:.2f}" in result.why


def test_k_beyond_catalog_returns_whole_catalog_ranked(recommender, catalog):
    assert len(catalog["points"]) == N_TRACKS
    results = recommender.search(emotion="happy", k=50).results
    assert len(results) == N_TRACKS
    assert len({result.track_id for result in results}) == N_TRACKS
    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)


@pytest.mark.parametrize("query", [{"emotion": "sad"}, {"va": (0.9, 0.9)}, {"text": "I can't stop smiling, what a wonderful day"}])
def test_alpha_zero_is_cosine_order_and_alpha_one_is_va_order(recommender, query):
    by_cosine = recommender.search(**query, k=N_TRACKS, rerank=0.0).results
    cosines = [result.parts["cosine"] for result in by_cosine]
    assert cosines == sorted(cosines, reverse=True)
    assert [r.score for r in by_cosine] == pytest.approx(cosines)

    by_va = recommender.search(**query, k=N_TRACKS, rerank=1.0).results
    matches = [result.parts["va_similarity"] for result in by_va]
    assert matches == sorted(matches, reverse=True)
    analysis = recommender.query_analysis(**query)
    nearest = max(by_va, key=lambda r: va_similarity((analysis.valence, analysis.arousal), (r.valence, r.arousal)))
    assert by_va[0].track_id == nearest.track_id


def test_rerank_moves_tracks_between_the_two_orders(recommender):
    """Somewhere between pure cosine and pure VA order the ranking must change (else alpha does nothing)."""
    changed = False
    for query in ({"emotion": "sad"}, {"emotion": "happy"}, {"va": (0.1, 0.9)}, {"va": (0.9, 0.1)}):
        cosine_order = [r.track_id for r in recommender.search(**query, k=N_TRACKS, rerank=0.0).results]
        va_order = [r.track_id for r in recommender.search(**query, k=N_TRACKS, rerank=1.0).results]
        changed |= cosine_order != va_order
    assert changed


@pytest.mark.parametrize(
    "where, allowed",
    [
        ({"genre": "ambient"}, {"Still Meadow", "Snowfall"}),
        ({"genre": ["ambient", "piano"]}, {"Still Meadow", "Snowfall", "Grey Harbour"}),
        ({"year": {"gte": 2010}}, {"Sunrise Run", "Still Meadow", "Lost Signal", "Night Drive"}),
        ({"artist": "Ada", "year": {"lt": 2016}}, {"Still Meadow", "Night Drive"}),
        ({"genre": "reggae"}, set()),
    ],
)
def test_filters_filter(recommender, where, allowed):
    results = recommender.search(emotion="calm", k=20, where=where).results
    assert {result.payload["title"] for result in results} == allowed


def test_per_artist_caps_and_still_fills_k(recommender):
    uncapped = recommender.search(va=(0.7, 0.6), k=N_TRACKS).results
    assert max(sum(r.payload["artist"] == a for r in uncapped) for a in {"Ada", "Bram"}) > 1
    capped = recommender.search(va=(0.7, 0.6), k=5, per_artist=1).results
    artists = [result.payload["artist"] for result in capped]
    assert len(artists) == len(set(artists)) == 5  # 5 distinct artists exist
    # The cap keeps the best track of each artist, in the uncapped order.
    first_of_each = []
    for result in uncapped:
        if result.payload["artist"] not in {r.payload["artist"] for r in first_of_each}:
            first_of_each.append(result)
    assert [r.track_id for r in capped] == [r.track_id for r in first_of_each]


def test_speech_with_transcript_is_late_fused(recommender, speech_clips):
    voice = recommender.analyze(speech_clips["sad"])
    fused = recommender.analyze(speech_clips["sad"], transcript="This is the best news ever, I am thrilled!")
    assert not np.allclose(voice.embedding, fused.embedding)
    assert recommender.search(speech_clips["sad"], text="This is the best news ever", k=2).results


def test_waveform_and_bytes_queries_match_the_file(recommender, speech_clips):
    from recommender.audio import load_audio

    path = speech_clips["angry"]
    from_file = recommender.search(path, k=3)
    from_bytes = recommender.search(path.read_bytes(), k=3)
    waveform = load_audio(path, 16000)
    from_array = recommender.search(waveform, sample_rate=16000, k=3)
    ids = [r.track_id for r in from_file.results]
    assert [r.track_id for r in from_bytes.results] == ids
    assert [r.track_id for r in from_array.results] == ids


def test_bad_queries_raise_typed_errors(recommender, silent_clip, not_audio, tmp_path):
    with pytest.raises(SilentAudioError):
        recommender.search(silent_clip)
    with pytest.raises(CorruptAudioError):
        recommender.search(not_audio)
    with pytest.raises(CorruptAudioError):
        recommender.search(b"RIFF....WAVEfmt garbage" * 10)
    with pytest.raises(AudioNotFoundError):
        recommender.search(tmp_path / "missing.wav")
    with pytest.raises(UnknownEmotionError, match="flibbertigibbet"):
        recommender.search(emotion="flibbertigibbet")
    with pytest.raises(ValueError, match="one kind of query"):
        recommender.search(emotion="sad", va=(0.1, 0.1))
    with pytest.raises(ValueError, match="nothing to search"):
        recommender.search()
    with pytest.raises(ValueError, match="alpha"):
        recommender.search(emotion="sad", rerank=1.5)
    with pytest.raises(ValueError, match="valence"):
        recommender.search(va=(1.4, 0.2))


def test_too_long_speech_is_refused(model, catalog, speech_clips):
    settings = catalog["settings"].replace(max_query_seconds=1.0)
    with Recommender.open(catalog["store"], settings=settings, model=model) as short_limit:
        with pytest.raises(AudioTooLongError, match="limit"):
            short_limit.search(speech_clips["calm"])


def test_empty_catalog_and_busy_store(model, catalog, tmp_path):
    with Recommender(model, ServerVectorStore(":memory:")) as empty:
        with pytest.raises(EmptyCatalogError, match="ingest"):
            empty.search(emotion="sad")
    with Recommender.open(catalog["store"], settings=catalog["settings"], model=model):
        with pytest.raises(StoreBusyError):
            Recommender.open(catalog["store"], settings=catalog["settings"], model=model)


def test_store_of_another_model_is_refused(model, tmp_path):
    store = EdgeVectorStore(tmp_path / "vectors")
    store.ensure_collection(model.joint_dim + 1)
    with pytest.raises(ModelMismatchError, match="re-ingest"):
        Recommender(model, store)
    store.close()


def test_server_backend_gives_the_same_ranking(model, catalog, recommender):
    server = ServerVectorStore(":memory:")
    server.upsert(catalog["points"])
    with Recommender(model, server, Settings(qdrant_url=":memory:")) as remote:
        remote_ids = [r.track_id for r in remote.search(emotion="tender", k=5).results]
    assert remote_ids == [r.track_id for r in recommender.search(emotion="tender", k=5).results]


def test_search_reports_stage_timings(recommender, speech_clips):
    timings: dict[str, float] = {}
    recommender.search(speech_clips["happy"], k=3, timings=timings)
    assert set(timings) == {"decode", "analyze", "search", "rerank"}
    assert all(seconds >= 0 for seconds in timings.values())


def test_response_json_contract(recommender, speech_clips):
    record = recommender.search(speech_clips["calm"], k=2).to_dict("calm.wav")
    json.dumps(record)
    assert list(record) == ["query", "emotion", "valence", "arousal", "results"]
    first = record["results"][0]
    assert list(first)[:5] == ["track_id", "path", "score", "valence", "arousal"]
    assert {"title", "artist", "genre", "moods", "parts", "why"} <= set(first)
    assert list(first)[-2:] == ["parts", "why"]


def test_explain_names_query_and_track():
    from recommender.model import Analysis

    analysis = Analysis(np.ones(4, np.float32) / 2, 0.8, 0.15, {"calm": 0.7, "neutral": 0.2})
    payload = {"valence": 0.71, "arousal": 0.22, "moods": {"tenderness": 0.5, "calmness": 0.4, "power": 0.1}}
    text = explain(analysis, payload, {"cosine": 0.834, "va_similarity": 0.9, "alpha": 0.3}, "speech")
    assert text == "calm (positive, low-arousal) speech -> track predicted tenderness/calmness (V 0.71, A 0.22); cosine 0.83, VA match 0.90"


def test_search_config_validates_alpha():
    with pytest.raises(ValueError):
        SearchConfig(alpha=-0.1)


def test_tracks_without_stored_va_rank_by_cosine(model):
    import uuid

    from recommender.store import TrackPoint

    query = model.analyze_emotion("calm")
    other = np.roll(query.embedding, 1)
    store = ServerVectorStore(":memory:")
    store.upsert([
        TrackPoint(str(uuid.uuid4()), query.embedding, {"title": "no VA"}),
        TrackPoint(str(uuid.uuid4()), other, {"title": "with VA", "valence": query.valence, "arousal": query.arousal}),
    ])
    with Recommender(model, store) as recommender:
        results = {r.payload["title"]: r for r in recommender.search(emotion="calm", k=2, rerank=1.0).results}
    assert results["no VA"].parts["va_similarity"] is None and results["no VA"].valence is None
    assert results["no VA"].score == pytest.approx(1.0, abs=1e-5)  # its cosine
    assert results["with VA"].score == pytest.approx(1.0)  # a perfect VA match at alpha = 1
    assert "(V " not in results["no VA"].why


def test_queries_are_analysed_with_the_configured_threads(recommender, speech_clips, monkeypatch):
    import torch

    seen = []
    analyze_speech = recommender.model.analyze_speech

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return analyze_speech(*args, **kwargs)

    monkeypatch.setattr(recommender.model, "analyze_speech", spy)
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # differs from the configured 1, so the test can fail
    try:
        recommender.search(speech_clips["calm"], k=1)
        assert seen == [recommender.config.analysis_threads] == [1]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
