"""``recommender.Client`` against a real ``undertone serve``: the Recommender's answers and errors, over HTTP."""

from __future__ import annotations

import json
import subprocess

import httpx
import numpy as np
import pytest

from recommender import Client, Recommender
from recommender.audio import write_audio
from recommender.errors import (
    CorruptAudioError,
    EmptyCatalogError,
    InvalidFilterError,
    NotFoundError,
    ServiceError,
    SilentAudioError,
    StoreBusyError,
    UnknownEmotionError,
    UsageError,
)
from recommender.search import Result, SearchResponse
from recommender.synth import synthesize_speech
from recommender.timeline import TimelineConfig, build_timeline
from tests.recommender.server.serving import cli_environment, undertone


def same_ranking(remote: SearchResponse, local: SearchResponse) -> None:
    assert [r.track_id for r in remote.results] == [r.track_id for r in local.results]
    assert [r.score for r in remote.results] == pytest.approx([r.score for r in local.results], abs=1e-5)
    assert remote.query.valence == pytest.approx(local.query.valence, abs=1e-5)
    assert remote.query.emotions == pytest.approx(local.query.emotions, abs=1e-5)
    np.testing.assert_allclose(remote.query.embedding, local.query.embedding, atol=1e-5)


def test_client_answers_like_the_recommender(server, recommender, speech_clips):
    queries = [
        ((speech_clips["sad"],), {}),
        ((speech_clips["happy"].read_bytes(),), {"text": "we won, we finally won"}),
        ((), {"text": "a quiet evening by the sea"}),
        ((), {"emotion": "tender", "per_artist": 1}),
        ((), {"va": (0.2, 0.8), "where": {"genre": ["ambient", "electronic"]}, "rerank": 0.5}),
    ]
    with Client(server.url) as client:
        for args, options in queries:
            remote = client.search(*args, k=4, **options)
            assert isinstance(remote, SearchResponse) and all(isinstance(r, Result) for r in remote.results)
            same_ranking(remote, recommender.search(*args, k=4, **options))
            for result in remote.results:
                assert result.path and result.why and result.payload["title"]
                assert result.valence is not None and result.arousal is not None
        analysis = client.analyze(speech_clips["angry"])
        assert analysis.duration == pytest.approx(3.0, abs=0.1)
        results = client.recommend(analysis, k=3, exclude=[remote.results[0].track_id])
        assert [r.track_id for r in results] == [r.track_id for r in recommender.recommend(analysis, k=3, exclude=[remote.results[0].track_id])]
        assert client.store.count() == 8
        assert client.store.count({"artist": "Ada"}) == 3
        assert len(list(client.store.iter_points(page_size=3))) == 8
        assert client.health()["tracks"] == 8


def test_errors_come_back_as_the_same_classes(server, speech_clips, silent_clip, not_audio):
    with Client(server.url) as client:
        with pytest.raises(UnknownEmotionError, match="flibbertigibbet"):
            client.search(emotion="flibbertigibbet")
        with pytest.raises(CorruptAudioError) as corrupt:
            client.search(not_audio)
        assert corrupt.value.reason == "corrupt" and "notes.wav" in str(corrupt.value)
        with pytest.raises(SilentAudioError):
            client.search(silent_clip)
        with pytest.raises(UsageError, match="nothing to search for"):
            client.search()
        with pytest.raises(UsageError, match="one kind of query"):
            client.search(emotion="happy", va=(0.5, 0.5))
        with pytest.raises(InvalidFilterError):
            client.search(emotion="happy", where={"genre": {"near": 3}})
        with pytest.raises(UsageError, match="k"):
            client.search(emotion="happy", k=0)
        with pytest.raises(NotFoundError):
            client.track("00000000-0000-0000-0000-000000000000")
        with pytest.raises(NotFoundError):
            client.job("nope")
    # The same JSON error shape as `undertone search --json`, with a telling status, never a traceback.
    answer = httpx.post(f"{server.url}/search", files={"speech": ("notes.wav", not_audio.read_bytes())})
    assert answer.status_code == 415
    assert answer.json()["reason"] == "corrupt" and "Traceback" not in answer.text
    answer = httpx.post(f"{server.url}/search", data={"emotion": "flibbertigibbet"})
    assert answer.status_code == 422 and answer.json()["reason"] == "unknown_emotion"


def test_opening_a_served_store_points_at_the_server(server):
    with pytest.raises(StoreBusyError, match=f"served by `undertone serve` at {server.url}"):
        Recommender.open(server.store)


def test_empty_store_is_a_409(serve, tmp_path):
    server = serve(tmp_path / "empty")
    with Client(server.url) as client, pytest.raises(EmptyCatalogError):
        client.search(emotion="happy")


def test_unreachable_server_is_a_service_error(server):
    url = server.url
    server.stop()
    with Client(url, timeout=5) as client, pytest.raises(ServiceError, match="cannot be reached"):
        client.search(emotion="happy")


def test_timeline_over_http_matches_in_process(server, recommender, tmp_path):
    parts = [synthesize_speech(mood, seconds=12.0, seed=20 + index).waveform for index, mood in enumerate(("calm", "angry"))]
    clip = write_audio(tmp_path / "chapter.flac", np.concatenate(parts), 16000)
    options = dict(segment_seconds=5.0, min_cue_seconds=6.0)
    with Client(server.url) as client:
        remote = client.timeline(clip, **options)
    local = build_timeline(recommender, clip, TimelineConfig.from_options(**options))
    assert remote.source == str(clip)
    assert [c.track.track_id if c.track else None for c in remote.cues] == [c.track.track_id if c.track else None for c in local.cues]
    assert [c.end for c in remote.cues] == pytest.approx([c.end for c in local.cues], abs=1e-3)
    assert len(remote.segments) == len(local.segments)
    # `undertone timeline` finds the server and prints the same cue sheet.
    printed = subprocess.run(
        undertone("timeline", str(clip), "--store", str(server.store), "--segment-seconds", "5", "--min-cue-seconds", "6"),
        capture_output=True, text=True, env=cli_environment(tmp_path), timeout=300,
    )
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.strip() == local.to_text().strip()
    analyzed = subprocess.run(
        undertone("analyze", str(clip), "--store", str(server.store), "--json"),
        capture_output=True, text=True, env=cli_environment(tmp_path), timeout=300,
    )
    assert analyzed.returncode == 0, analyzed.stderr
    assert json.loads(analyzed.stdout)["valence"] == pytest.approx(recommender.analyze(clip).valence, abs=1e-5)


def test_more_like_this_over_http_matches_in_process(server, recommender):
    tracks = recommender.search(emotion="calm", k=3).results
    like, unlike = [tracks[0].track_id, tracks[1].path], [tracks[2].track_id]
    with Client(server.url) as client:
        remote = client.similar(like, unlike, k=4)
    local = recommender.similar(like, unlike, k=4)
    assert [r.track_id for r in remote.results] == [r.track_id for r in local.results]
    # Examples given by id are never returned (this store's payloads carry no content hash to know the file by).
    assert not {tracks[0].track_id, tracks[2].track_id} & {r.track_id for r in remote.results}
