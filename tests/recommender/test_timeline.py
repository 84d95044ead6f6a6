"""Long-speech timelines: segmentation at pauses, chunked decoding, smoothing, cues and the cue sheet."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recommender import cli
from recommender.audio import write_audio
from recommender.errors import AudioNotFoundError, CorruptAudioError, SilentAudioError
from recommender.segments import VAD_SAMPLE_RATE, plan_segments, speech_segments
from recommender.synth import synthesize_speech
from recommender.timeline import Segment, TimelineConfig, build_timeline, group_cues, smooth

RATE = VAD_SAMPLE_RATE
SMALL = TimelineConfig(segment_seconds=4.0, min_segment_seconds=1.0, max_segment_seconds=8.0, chunk_seconds=20.0,
                       smoothing_seconds=4.0, min_cue_seconds=12.0, change_threshold=0.1)


def seconds(*pairs):
    return [(int(a * RATE), int(b * RATE)) for a, b in pairs]


def test_plan_segments_joins_runs_up_to_the_target_length():
    config = TimelineConfig(segment_seconds=10, min_segment_seconds=2, max_segment_seconds=20)
    runs = seconds((0, 3), (3.5, 7), (7.4, 9.8), (10.5, 14), (15, 19))
    assert plan_segments(runs, config) == seconds((0, 9.8), (10.5, 19))


def test_plan_segments_splits_unbroken_speech_and_merges_short_tails():
    config = TimelineConfig(segment_seconds=10, min_segment_seconds=2, max_segment_seconds=20)
    assert plan_segments(seconds((0, 45)), config) == seconds((0, 10), (10, 20), (20, 30), (30, 40), (40, 45))
    # A 1 s remark right after a segment joins it; an isolated one far away is dropped.
    assert plan_segments(seconds((0, 9), (11, 12), (60, 61)), config) == seconds((0, 12))
    for start, end in plan_segments(seconds((0, 3), (3.2, 6), (6.1, 35), (40, 41)), config):
        assert 2 * RATE <= end - start <= 20 * RATE


def segment(start, end, valence, arousal):
    return Segment(start, end, np.ones(4, np.float32) / 2, valence, arousal, {"calm": 1.0})


def test_smoothing_keeps_constants_and_softens_steps():
    flat = [segment(i, i + 1, 0.3, 0.6) for i in range(10)]
    smooth(flat, 3.0)
    assert all(s.smoothed_valence == pytest.approx(0.3) and s.smoothed_arousal == pytest.approx(0.6) for s in flat)
    step = [segment(i, i + 1, 0.0 if i < 10 else 1.0, 0.5) for i in range(20)]
    smooth(step, 2.0)
    values = [s.smoothed_valence for s in step]
    assert values == sorted(values) and 0 < values[9] < 0.5 < values[10] < 1
    smooth(step, 0.0)
    assert step[9].smoothed_valence == 0.0


def test_cues_split_at_emotion_changes_and_tile_the_recording():
    segments = [segment(5 * i, 5 * i + 4, 0.2, 0.2) for i in range(12)] + [segment(5 * i, 5 * i + 4, 0.9, 0.8) for i in range(12, 24)]
    smooth(segments, 5.0)
    cues = group_cues(segments, 125.0, TimelineConfig(min_cue_seconds=30, change_threshold=0.15))
    assert len(cues) == 2
    assert cues[0].start == 0 and cues[0].end == cues[1].start and cues[-1].end == 125.0
    assert 50 <= cues[1].start <= 70
    assert cues[0].analysis.valence < 0.4 < 0.7 < cues[1].analysis.valence
    assert np.linalg.norm(cues[0].analysis.embedding) == pytest.approx(1.0)
    moods = [(0.2, 0.2), (0.9, 0.8), (0.3, 0.9)]
    three = [segment(5 * i, 5 * i + 4, *moods[i // 12]) for i in range(36)]
    smooth(three, 8.0)
    cues = group_cues(three, 180.0, TimelineConfig(min_cue_seconds=30, change_threshold=0.15))
    assert [round(cue.start / 5) for cue in cues] == [0, 12, 24]
    # A change shorter than min_cue_seconds does not make a cue of its own.
    blip = [segment(5 * i, 5 * i + 4, 0.9 if i == 20 else 0.2, 0.2) for i in range(24)]
    smooth(blip, 0.0)
    cues = group_cues(blip, 120.0, TimelineConfig(min_cue_seconds=30, change_threshold=0.15))
    assert len(cues) <= 2 and all(cue.end - cue.start >= 30 for cue in cues)


@pytest.fixture(scope="module")
def long_speech(scratch_dir):
    """~70 s: calm, angry and sad passages; breath-group pauses inside, 1.5 s pauses between passages."""
    parts = []
    for index, mood in enumerate(("calm", "angry", "sad")):
        parts.append(synthesize_speech(mood, seconds=22.0, seed=10 + index).waveform)
        parts.append(np.zeros(int(1.5 * RATE), np.float32))
    waveform = np.concatenate(parts)
    return write_audio(scratch_dir / "long" / "chapter.flac", waveform, RATE), waveform.size / RATE


def test_chunked_decoding_finds_the_same_segments(long_speech):
    path, duration = long_speech
    chunked = list(speech_segments(path, SMALL))
    whole = list(speech_segments(path, TimelineConfig(**{**SMALL.__dict__, "chunk_seconds": 600.0})))
    assert len(chunked) >= duration / SMALL.max_segment_seconds
    for start, waveform in chunked:
        assert SMALL.min_segment_seconds * RATE <= waveform.size <= SMALL.max_segment_seconds * RATE
        assert 0 <= start and start + waveform.size / RATE <= duration + 0.01
    starts = [start for start, _ in chunked]
    assert starts == sorted(starts)
    # Carrying the open segment across chunk edges: the same speech is covered either way.
    covered_chunked = sum(w.size for _, w in chunked) / RATE
    covered_whole = sum(w.size for _, w in whole) / RATE
    assert covered_chunked == pytest.approx(covered_whole, rel=0.1)


def test_timeline_proposes_one_unused_track_per_cue(recommender, long_speech):
    path, duration = long_speech
    seen = []
    timeline = build_timeline(recommender, path, SMALL, progress=lambda done, total: seen.append((done, total)))
    assert timeline.duration == pytest.approx(duration, abs=0.01)
    assert timeline.cues and timeline.cues[0].start == 0 and timeline.cues[-1].end == pytest.approx(duration, abs=0.01)
    tracks = [cue.track.track_id for cue in timeline.cues]
    assert len(tracks) == len(set(tracks))  # 8 tracks in the catalog, fewer cues: no repeats
    for cue in timeline.cues:
        assert cue.end - cue.start >= SMALL.min_cue_seconds or len(timeline.cues) == 1
        assert cue.track.track_id not in {alternative.track_id for alternative in cue.alternatives}
    assert seen and seen[-1][0] == pytest.approx(duration, abs=0.1)
    record = json.loads(json.dumps(timeline.to_dict()))
    assert [cue["cue"] for cue in record["cues"]] == list(range(1, len(timeline.cues) + 1))
    assert len(record["segments"]) == len(timeline.segments)
    text = timeline.to_text()
    assert text.splitlines()[0].startswith(str(path)) and "0:00:00" in text


def test_timeline_respects_where(recommender, long_speech):
    timeline = build_timeline(recommender, long_speech[0], SMALL, where={"genre": ["ambient", "piano"]})
    assert {cue.track.payload["genre"] for cue in timeline.cues if cue.track} <= {"ambient", "piano"}


def test_timeline_bad_inputs(recommender, silent_clip, not_audio, tmp_path):
    with pytest.raises(SilentAudioError, match="no speech"):
        build_timeline(recommender, silent_clip, SMALL)
    with pytest.raises(CorruptAudioError):
        build_timeline(recommender, not_audio, SMALL)
    with pytest.raises(AudioNotFoundError):
        build_timeline(recommender, tmp_path / "gone.flac", SMALL)


def test_timeline_cli_json(catalog, long_speech, model, monkeypatch, capsys):
    from recommender.model import EmotionModel

    monkeypatch.setattr(EmotionModel, "load", staticmethod(lambda *args, **kwargs: model))
    code = cli.main(["timeline", str(long_speech[0]), "--store", str(catalog["store"]), "--segment-seconds", "5", "--min-cue-seconds", "15", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    record = json.loads(out)
    assert record["source"] == str(long_speech[0]) and record["cues"] and record["cues"][0]["track"]["why"]
    code = cli.main(["timeline", str(long_speech[0]) + ".missing", "--store", str(catalog["store"])])
    assert code == 1 and "no such file" in capsys.readouterr().err


def test_config_validation():
    with pytest.raises(ValueError):
        TimelineConfig(segment_seconds=1.0, min_segment_seconds=2.0)
    with pytest.raises(ValueError):
        TimelineConfig(chunk_seconds=10.0)
