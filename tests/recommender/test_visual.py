"""Visual cues of a video (motion, cut rate, brightness, saturation, warmth) fused with the audio at a set weight."""

from __future__ import annotations

import csv
from fractions import Fraction

import numpy as np
import pytest

from recommender.errors import NoVideoStreamError, UsageError
from recommender.shots import FrameStats, detect_cuts, scan_video
from recommender.timeline import TimelineConfig, build_timeline
from recommender.visual import fuse_visual, visual_cues


def frames(seconds: float, *, motion: float, brightness: float = 0.5, warmth: float = 0.0) -> FrameStats:
    n = int(seconds * 25)
    constant = lambda value: np.full(n, value, dtype=np.float64)  # noqa: E731
    return FrameStats(np.arange(n) / 25, constant(motion), constant(motion), constant(brightness), constant(0.5), constant(warmth),
                      Fraction(25), seconds)


def test_colours_of_the_coloured_shots_give_their_valence(videos):
    stats = scan_video(videos.mp4)
    cuts = detect_cuts(stats)
    bounds = [0.0, *videos.cuts, videos.duration]
    shots = {colour: visual_cues(stats, cuts, start, end) for colour, start, end in zip(("red", "green", "blue", "yellow"), bounds, bounds[1:])}
    # Brighter, more saturated and warmer pictures read as more pleasant (Valdez & Mehrabian).
    assert shots["yellow"].valence > shots["red"].valence > shots["green"].valence > shots["blue"].valence
    assert shots["red"].warmth > 0.9 and shots["blue"].warmth < -0.9 and shots["yellow"].brightness > 0.8
    assert all(cue.motion < 0.01 for cue in shots.values())  # still pictures: the cuts are not motion
    whole = visual_cues(stats, cuts)
    assert whole.cuts_per_minute == pytest.approx(3 / (videos.duration / 60), rel=0.02)
    assert "steady cuts" in whole.describe() or "fast cuts" in whole.describe()


def test_motion_and_pace_raise_arousal():
    still, busy = frames(10, motion=0.0), frames(10, motion=0.05)
    assert visual_cues(busy, []).arousal > visual_cues(still, []).arousal + 0.3
    assert visual_cues(still, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).arousal > visual_cues(still, []).arousal
    assert visual_cues(frames(10, motion=0.0, brightness=0.9, warmth=0.5), []).valence > visual_cues(still, []).valence
    assert visual_cues(still, [], 20.0, 30.0) is None


def test_fusion_weight_zero_shows_one_blends_and_bad_weights_fail(model):
    heard = model.analyze_va(0.2, 0.8)
    seen = visual_cues(frames(10, motion=0.0, brightness=0.9, warmth=0.5), [])
    shown = fuse_visual(model, heard, seen, 0.0)
    np.testing.assert_array_equal(shown.embedding, heard.embedding)
    assert (shown.valence, shown.arousal) == (heard.valence, heard.arousal) and shown.visual["valence"] == seen.valence
    half = fuse_visual(model, heard, seen, 0.5)
    assert half.valence == pytest.approx((heard.valence + seen.valence) / 2) and half.visual["heard_valence"] == heard.valence
    assert np.linalg.norm(half.embedding) == pytest.approx(1.0, abs=1e-5)
    assert fuse_visual(model, heard, None, 0.5) is heard
    with pytest.raises(UsageError):
        fuse_visual(model, heard, seen, 1.5)


def test_search_watches_a_video_only_when_asked(videos, recommender):
    plain = recommender.search(videos.mp4, k=3)
    assert plain.query.visual is None and "picture" not in plain.results[0].why
    shown = recommender.search(videos.mp4, k=3, visual_weight=0.0)
    assert [r.track_id for r in shown.results] == [r.track_id for r in plain.results]
    assert "picture: " in shown.results[0].why and "not used (visual weight 0)" in shown.results[0].why
    fused = recommender.search(videos.mp4.read_bytes(), k=3, visual_weight=1.0)
    assert fused.query.valence == pytest.approx(fused.to_dict()["visual"]["valence"])
    assert "at weight 1.00 (heard: V" in fused.results[0].why
    with pytest.raises(NoVideoStreamError):
        recommender.search(videos.speech, visual_weight=0.5)
    with pytest.raises(UsageError, match="needs a video query"):
        recommender.search(text="hello there", visual_weight=0.5)


def test_timeline_cues_carry_the_picture(videos, recommender, tmp_path):
    from recommender.cuesheet import Timecode, write_cue_sheet

    config = TimelineConfig(segment_seconds=1.5, min_segment_seconds=0.5, max_segment_seconds=3.0, chunk_seconds=20.0,
                            smoothing_seconds=0.5, min_cue_seconds=1.5, change_threshold=0.01, snap_seconds=2.0, alternatives=0, visual_weight=0.5)
    timeline = build_timeline(recommender, videos.mp4, config)
    for cue in timeline.cues:
        assert cue.analysis.visual["weight"] == 0.5
        assert cue.analysis.valence == pytest.approx((cue.analysis.visual["heard_valence"] + cue.analysis.visual["valence"]) / 2)
    rows = list(csv.DictReader(write_cue_sheet(timeline, tmp_path / "cues.csv", Timecode(25)).open()))
    assert all(row["picture"] and row["visual_weight"] == "0.5" for row in rows)
