"""Cue sheets for video editors: SMPTE timecodes at the video's frame rate, CSV, JSON and CMX3600 EDL.

Timecodes count frames of the video (the first frame is ``00:00:00:00``). Integer rates label frames
directly; the NTSC rates 30000/1001 and 60000/1001 use drop-frame timecode (``;`` before the frames,
``FCM: DROP FRAME``), which skips labels so the clock keeps up with real time; 24000/1001 keeps
non-drop labels at 24, as editors do. Any other rate is rounded to whole frames per second.

The EDL has one audio event per cue with a track: the music plays from its start (source in
``00:00:00:00``) for the length of the cue (record in/out), on reel ``AX`` with the file named in
``* FROM CLIP NAME`` and ``* SOURCE FILE`` comments, which Premiere Pro, DaVinci Resolve and Avid read.
"""

from __future__ import annotations

import csv
import io
import json
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

from recommender.errors import UsageError
from recommender.explain import describe_va
from recommender.timeline import Cue, Timeline, describe_track
from recommender.visual import VisualCues, explain_visual

CUE_SHEET_FORMATS = (".csv", ".json", ".edl")
CSV_COLUMNS = (
    "cue", "start", "end", "start_timecode", "end_timecode", "on_cut", "emotion", "valence", "arousal",
    "title", "artist", "path", "licence", "score", "why", "picture", "visual_valence", "visual_arousal", "visual_weight",
)
_TIMECODE = re.compile(r"^(\d{2}):(\d{2}):(\d{2})([:;])(\d{2})$")


class Timecode:
    """Frame counts <-> SMPTE timecode labels at one frame rate.

    Args:
        rate: Frames per second, exact (``Fraction(30000, 1001)``) or a float (matched to the NTSC rates).
    """

    def __init__(self, rate: Fraction | float | int) -> None:
        rate = Fraction(rate)
        if rate <= 0:
            raise UsageError(f"frame rate must be positive, got {rate}")
        self.nominal = max(1, round(rate))
        if rate != self.nominal and abs(rate - Fraction(self.nominal * 1000, 1001)) < Fraction(1, 100):
            rate = Fraction(self.nominal * 1000, 1001)  # 29.97 means NTSC's 30000/1001
        self.rate = rate
        ntsc = rate.denominator == 1001 and self.nominal * 1000 == rate.numerator
        self.drop_frame = ntsc and self.nominal % 30 == 0
        # Frames are counted at the real rate when labels exist for them (integer or NTSC), else at the labels' rate.
        self._count_rate = rate if rate.denominator == 1 or ntsc else Fraction(self.nominal)

    def frames(self, seconds: float) -> int:
        """The frame shown at ``seconds`` (nearest frame boundary)."""
        return round(Fraction(seconds) * self._count_rate)

    def seconds(self, frames: int) -> float:
        return float(frames / self._count_rate)

    def label(self, frames: int) -> str:
        """``HH:MM:SS:FF`` (``HH:MM:SS;FF`` in drop-frame)."""
        if frames < 0:
            raise ValueError(f"negative frame count {frames}")
        nominal = self.nominal
        if self.drop_frame:
            dropped = nominal // 15  # labels skipped each minute (2 at 29.97, 4 at 59.94), except every tenth
            per_ten_minutes = nominal * 600 - 9 * dropped
            per_minute = nominal * 60 - dropped
            tens, rest = divmod(frames, per_ten_minutes)
            frames += 9 * dropped * tens + (dropped * ((rest - dropped) // per_minute) if rest > dropped else 0)
        separator = ";" if self.drop_frame else ":"
        hours, rest = divmod(frames, nominal * 3600)
        minutes, rest = divmod(rest, nominal * 60)
        seconds, frame = divmod(rest, nominal)
        return f"{hours:02d}:{minutes:02d}:{seconds:02d}{separator}{frame:02d}"

    def parse(self, text: str) -> int:
        """The frame count of a label (the inverse of :meth:`label`)."""
        match = _TIMECODE.match(text.strip())
        if not match:
            raise UsageError(f"not a timecode: {text!r} (expected HH:MM:SS:FF)")
        hours, minutes, seconds, _, frame = match.groups()
        hours, minutes, seconds, frame = int(hours), int(minutes), int(seconds), int(frame)
        count = ((hours * 60 + minutes) * 60 + seconds) * self.nominal + frame
        if self.drop_frame:
            total_minutes = hours * 60 + minutes
            count -= (self.nominal // 15) * (total_minutes - total_minutes // 10)
        return count


def cue_rows(timeline: Timeline, timecode: Timecode) -> list[dict[str, Any]]:
    """One flat row per cue (the CSV's columns)."""
    rows = []
    for cue in timeline.cues:
        track = cue.track
        payload = track.payload if track else {}
        rows.append({
            "cue": cue.index, "start": round(cue.start, 3), "end": round(cue.end, 3),
            "start_timecode": timecode.label(timecode.frames(cue.start)), "end_timecode": timecode.label(timecode.frames(cue.end)),
            "on_cut": cue.on_cut, "emotion": next(iter(cue.analysis.emotions), ""),
            "valence": round(cue.analysis.valence, 4), "arousal": round(cue.analysis.arousal, 4),
            "title": payload.get("title", ""), "artist": payload.get("artist", ""), "path": track.path if track else "",
            "licence": payload.get("licence", payload.get("license", "")), "score": round(track.score, 4) if track else "",
            "why": track.why if track else "no track matches the filter",
            **_picture_columns(cue.analysis.visual),
        })
    return rows


def to_csv(timeline: Timeline, timecode: Timecode) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(cue_rows(timeline, timecode))
    return buffer.getvalue()


def to_json(timeline: Timeline, timecode: Timecode) -> str:
    record = timeline.to_dict()
    record["frame_rate"] = str(timecode.rate)
    record["drop_frame"] = timecode.drop_frame
    for cue, row in zip(record["cues"], cue_rows(timeline, timecode)):
        cue["start_timecode"], cue["end_timecode"] = row["start_timecode"], row["end_timecode"]
    return json.dumps(record, ensure_ascii=False, indent=1, default=_plain)


def to_edl(timeline: Timeline, timecode: Timecode, title: str | None = None) -> str:
    """A CMX3600 EDL: one audio event per cue that has a track."""
    name = title or f"{Path(timeline.source).stem} music cues"
    lines = [f"TITLE: {name[:70]}", f"FCM: {'DROP FRAME' if timecode.drop_frame else 'NON-DROP FRAME'}", ""]
    event = 0
    for cue in timeline.cues:
        if cue.track is None:
            continue
        event += 1
        record_in, record_out = timecode.frames(cue.start), timecode.frames(cue.end)
        source_out = record_out - record_in
        lines.append(
            f"{event:03d}  AX       AA    C        "
            f"{timecode.label(0)} {timecode.label(source_out)} {timecode.label(record_in)} {timecode.label(record_out)}"
        )
        lines.append(f"* FROM CLIP NAME: {_one_line(describe_track(cue.track))}")
        if cue.track.path:
            lines.append(f"* SOURCE FILE: {_one_line(cue.track.path)}")
        lines.append(f"* COMMENT: cue {cue.index}, {_heard(cue)}")
        lines.append("")
    return "\n".join(lines)


def write_cue_sheet(timeline: Timeline, path: str | Path, timecode: Timecode) -> Path:
    """Write the cue sheet in the format named by the suffix (``.csv``, ``.json``, ``.edl``)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in CUE_SHEET_FORMATS:
        raise UsageError(f"{path}: cue sheets are written as {', '.join(CUE_SHEET_FORMATS)} (by the file's suffix)")
    text = {".csv": to_csv, ".json": to_json, ".edl": to_edl}[suffix](timeline, timecode)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _picture_columns(visual: dict[str, Any] | None) -> dict[str, Any]:
    if not visual:
        return {"picture": "", "visual_valence": "", "visual_arousal": "", "visual_weight": ""}
    cues = VisualCues(**{name: visual[name] for name in VisualCues.__dataclass_fields__})
    return {"picture": cues.describe(), "visual_valence": round(cues.valence, 4), "visual_arousal": round(cues.arousal, 4), "visual_weight": visual["weight"]}


def _heard(cue: Cue) -> str:
    top = next(iter(cue.analysis.emotions), "?")
    heard = f"heard {top} ({describe_va(cue.analysis.valence, cue.analysis.arousal)})"
    return heard + explain_visual(cue.analysis.visual)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
