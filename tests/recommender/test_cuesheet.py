"""Video timelines: shot boundaries as cue points, timecodes at the video's rate, CSV / JSON / EDL cue sheets."""

from __future__ import annotations

import csv
import json
import re
import subprocess
from fractions import Fraction

import pytest

from recommender import cli
from recommender.cuesheet import Timecode, to_edl, write_cue_sheet
from recommender.errors import UsageError
from recommender.shots import detect_cuts, scan_video, snap_boundaries
from recommender.timeline import TimelineConfig, build_timeline

# Small enough that 8 s of speech makes several cues.
VIDEO_CONFIG = TimelineConfig(
    segment_seconds=1.5, min_segment_seconds=0.5, max_segment_seconds=3.0, chunk_seconds=20.0,
    smoothing_seconds=0.5, min_cue_seconds=1.5, change_threshold=0.01, snap_seconds=2.0, alternatives=0,
)
EVENT = re.compile(r"^(\d{3})  (\S+)\s+(\S+)\s+C\s+(\S+) (\S+) (\S+) (\S+)$")


def frames_of(label: str, nominal: int, drop: bool) -> int:
    """An independent reading of a SMPTE label (drop-frame skips 2 labels a minute except every tenth)."""
    hours, minutes, seconds, frames = (int(part) for part in re.split("[:;]", label))
    count = ((hours * 60 + minutes) * 60 + seconds) * nominal + frames
    total_minutes = hours * 60 + minutes
    return count - 2 * (total_minutes - total_minutes // 10) if drop else count


def read_edl(text: str) -> tuple[str, list[dict]]:
    lines = text.splitlines()
    assert lines[0].startswith("TITLE: ") and lines[1].startswith("FCM: ")
    events = []
    for line in lines[2:]:
        match = EVENT.match(line)
        if match:
            number, reel, track, *codes = match.groups()
            events.append({"event": int(number), "reel": reel, "track": track, "codes": codes, "notes": []})
        elif line.startswith("* ") and events:
            events[-1]["notes"].append(line[2:])
    return lines[1].removeprefix("FCM: "), events


def test_timecodes_at_integer_and_ntsc_rates():
    pal = Timecode(25)
    assert pal.label(pal.frames(3723.4)) == "01:02:03:10" and not pal.drop_frame
    ntsc = Timecode(Fraction(30000, 1001))
    assert ntsc.drop_frame
    # Drop-frame skips labels ;00 and ;01 at every minute but the tenth.
    assert [ntsc.label(n) for n in (1799, 1800, 17981, 17982)] == ["00:00:59;29", "00:01:00;02", "00:09:59;29", "00:10:00;00"]
    for timecode, drop in ((ntsc, True), (Timecode(Fraction(60000, 1001)), True), (Timecode(Fraction(24000, 1001)), False), (pal, False)):
        for frames in range(0, 400_000, 997):
            label = timecode.label(frames)
            assert timecode.parse(label) == frames
            if timecode.nominal == 30 or not drop:
                assert frames_of(label, timecode.nominal, drop) == frames
    assert Timecode(29.97).drop_frame and Timecode(23.976).nominal == 24
    with pytest.raises(UsageError):
        ntsc.parse("1:00:00")


def test_cuts_of_the_coloured_shots_fall_on_their_frames(videos):
    for path, rate in ((videos.mp4, Fraction(25)), (videos.webm, Fraction(25)), (videos.ntsc, Fraction(30000, 1001))):
        stats = scan_video(path)
        assert stats.frame_rate == rate
        timecode = Timecode(rate)
        assert [timecode.frames(cut) for cut in detect_cuts(stats)] == [round(cut * rate) for cut in videos.cuts], path


def test_moving_pictures_are_not_cuts(videos, tmp_path):
    """Moving test pattern (scrolling, rotating) for 3 s, then a hard cut to a still colour: one cut only."""
    path = tmp_path / "motion.mp4"
    subprocess.run([
        "ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=s=160x90:r=25:d=3", "-f", "lavfi", "-i", "color=c=red:s=160x90:r=25:d=2",
        "-filter_complex", "[0:v][1:v]concat=n=2:v=1:a=0[v]", "-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path),
    ], check=True)
    stats = scan_video(path)
    assert stats.motion[5:70].mean() > 0.005  # the pattern does move
    assert detect_cuts(stats) == [3.0]


def test_snapping_moves_boundaries_to_near_cuts_in_order():
    assert snap_boundaries([10.0, 20.0, 30.0], [9.0, 12.5, 21.0, 40.0], 2.0) == [(9.0, True), (21.0, True), (30.0, False)]
    # The nearest cut of the second boundary would pass the first one's: it stays.
    assert snap_boundaries([10.0, 10.5], [10.2], 1.0) == [(10.2, True), (10.5, False)]


@pytest.fixture
def video_timeline(recommender, videos):
    return build_timeline(recommender, videos.mp4, VIDEO_CONFIG)


def test_video_cues_start_on_cuts(video_timeline, videos):
    timeline = video_timeline
    assert timeline.frame_rate == 25 and timeline.cuts == pytest.approx(list(videos.cuts))
    assert len(timeline.cues) >= 2
    assert timeline.cues[0].start == 0 and timeline.cues[-1].end == pytest.approx(videos.duration, abs=0.05)
    for cue, following in zip(timeline.cues, timeline.cues[1:]):
        assert cue.end == following.start
    # Boundaries snap to cuts (each cut used once, in order); with more boundaries than cuts within
    # reach, the rest stay where the emotion changes (the rule itself: test_snapping_moves_boundaries...).
    snapped = [cue.start for cue in timeline.cues[1:] if cue.on_cut]
    assert snapped and all(start in timeline.cuts for start in snapped) and snapped == sorted(set(snapped))
    assert "4 shots" in timeline.to_text()


def test_edl_parses_back_to_the_cue_timecodes(video_timeline, tmp_path):
    timecode = Timecode(video_timeline.frame_rate)
    path = write_cue_sheet(video_timeline, tmp_path / "cues.edl", timecode)
    mode, events = read_edl(path.read_text())
    assert mode == "NON-DROP FRAME"
    assert len(events) == len(video_timeline.cues)
    for event, cue in zip(events, video_timeline.cues):
        source_in, source_out, record_in, record_out = (frames_of(code, 25, False) for code in event["codes"])
        assert (record_in, record_out) == (round(cue.start * 25), round(cue.end * 25))
        assert source_in == 0 and source_out == record_out - record_in
        assert (event["reel"], event["track"]) == ("AX", "AA")
        assert f"SOURCE FILE: {cue.track.path}" in event["notes"]
        assert any(note.startswith("FROM CLIP NAME: " + cue.track.payload["title"]) for note in event["notes"])


def test_drop_frame_edl(recommender, videos):
    timeline = build_timeline(recommender, videos.ntsc, VIDEO_CONFIG)
    timecode = Timecode(timeline.frame_rate)
    mode, events = read_edl(to_edl(timeline, timecode))
    assert mode == "DROP FRAME" and all(";" in code for event in events for code in event["codes"])
    for event, cue in zip(events, timeline.cues):
        assert frames_of(event["codes"][2], 30, True) == timecode.frames(cue.start)


def test_cli_timeline_on_a_video_exports_csv_json_and_edl(videos, catalog, model, monkeypatch, tmp_path, capsys):
    from recommender.model import EmotionModel

    monkeypatch.setattr(EmotionModel, "load", staticmethod(lambda *a, **k: model))
    outputs = [tmp_path / name for name in ("cues.csv", "cues.json", "cues.edl")]
    argv = ["timeline", str(videos.mp4), "--store", str(catalog["store"]), "--segment-seconds", "1.5", "--min-cue-seconds", "1.5",
            "--smoothing-seconds", "0.5", "--change-threshold", "0.01", "--snap-seconds", "2", "--alternatives", "0"]
    argv += [arg for path in outputs for arg in ("--export", str(path))]
    assert cli.main(argv) == 0
    out, err = capsys.readouterr()
    assert "cue sheet written" in err and "shots" in out
    rows = list(csv.DictReader(outputs[0].open()))
    document = json.loads(outputs[1].read_text())
    _, events = read_edl(outputs[2].read_text())
    assert len(rows) == len(document["cues"]) == len(events) >= 2
    assert document["frame_rate"] == "25" and document["cuts"] == list(videos.cuts)
    for row, cue, event in zip(rows, document["cues"], events):
        assert row["start_timecode"] == cue["start_timecode"] == event["codes"][2]
        assert row["licence"] == "CC0" and row["title"] and row["path"] == cue["track"]["path"]
    assert cli.main(["timeline", str(videos.mp4), "--export", str(tmp_path / "cues.xml")]) == 1
    assert "cue sheets are written as .csv, .json, .edl" in capsys.readouterr().err
    assert cli.main(["timeline", str(videos.silent_film), "--store", str(catalog["store"])]) == 1
    assert "silent_film.mp4: has a video stream only" in capsys.readouterr().err
