"""Emotion over time in long speech (an audiobook chapter, a podcast) and a music cue sheet for it.

1. **Decode in chunks.** The file is read ``chunk_seconds`` at a time and resampled to 16 kHz, so an
   hours-long recording never sits in memory whole.
2. **Segment at pauses** (:mod:`recommender.segments`). Silero VAD finds speech; consecutive speech runs
   are joined into segments of about ``segment_seconds`` (cut at pauses; never longer than
   ``max_segment_seconds``, unbroken speech is split). The unfinished tail of a chunk is carried into the
   next one, so segments do not break at chunk edges.
3. **Analyse each segment** with the emotion model (embedding, valence, arousal, emotions).
4. **Smooth** VA over time (Gaussian, ``smoothing_seconds``): single sentences flicker, the mood of a
   passage does not.
5. **Group into cues**: the least-cost partition into passages of stable smoothed VA, each at least
   ``min_cue_seconds`` long (dynamic programming; see :func:`group_cues`).
6. **Start cues on cuts** (videos): each cue boundary moves to the nearest shot boundary within
   ``snap_seconds`` (:mod:`recommender.shots`), so the music changes where the picture does.
7. **Propose a track per cue** with :meth:`Recommender.recommend`, not reusing a track while unused
   ones remain.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from recommender.audio import audio_info
from recommender.errors import AudioTooLongError, SilentAudioError, UsageError
from recommender.explain import describe_va
from recommender.model import Analysis
from recommender.search import Recommender, Result
from recommender.segments import VAD_SAMPLE_RATE, speech_segments
from recommender.shots import ShotConfig, detect_cuts, scan_video, snap_boundaries
from recommender.store import Where
from recommender.towers.base import torch_threads
from recommender.video import container_info, is_container
from recommender.visual import fuse_visual, visual_cues


@dataclass(frozen=True)
class TimelineConfig:
    """How long speech is cut, smoothed and grouped.

    Attributes:
        segment_seconds: Target length of an analysed segment.
        min_segment_seconds: Shorter segments join their predecessor (or are dropped when alone).
        max_segment_seconds: Hard upper bound of a segment (unbroken speech is split).
        min_pause_seconds: Silence that counts as a pause between speech runs.
        vad_threshold: Silero speech probability threshold.
        smoothing_seconds: Standard deviation of the Gaussian smoothing over time.
        change_threshold: Scale of a VA change worth a new cue (see :func:`group_cues`).
        min_cue_seconds: Every cue lasts at least this long (unless the whole recording is shorter).
        chunk_seconds: Audio decoded at a time (bounds memory).
        max_seconds: Longest input accepted.
        alternatives: Runner-up tracks listed per cue.
        snap_seconds: How far a cue boundary may move to start on a shot boundary (videos).
        visual_weight: Weight of the picture's emotion in each cue of a video (:mod:`recommender.visual`).
        shots: When a change of picture counts as a cut.
    """

    segment_seconds: float = 10.0
    min_segment_seconds: float = 2.0
    max_segment_seconds: float = 20.0
    min_pause_seconds: float = 0.3
    vad_threshold: float = 0.5
    smoothing_seconds: float = 20.0
    change_threshold: float = 0.15
    min_cue_seconds: float = 60.0
    chunk_seconds: float = 300.0
    max_seconds: float = 12 * 3600.0
    alternatives: int = 2
    snap_seconds: float = 10.0
    visual_weight: float = 0.0
    shots: ShotConfig = field(default_factory=ShotConfig)

    @classmethod
    def from_options(
        cls,
        segment_seconds: float = 10.0,
        min_cue_seconds: float = 60.0,
        smoothing_seconds: float = 20.0,
        change_threshold: float = 0.15,
        alternatives: int = 2,
        snap_seconds: float = 10.0,
        visual_weight: float = 0.0,
    ) -> TimelineConfig:
        """The config of ``undertone timeline``'s options (segment bounds and chunking follow ``segment_seconds``).

        Raises:
            UsageError: Values that cannot work together.
        """
        try:
            return cls(
                segment_seconds=segment_seconds,
                min_segment_seconds=min(2.0, segment_seconds),
                max_segment_seconds=2 * segment_seconds,
                smoothing_seconds=smoothing_seconds,
                change_threshold=change_threshold,
                min_cue_seconds=min_cue_seconds,
                chunk_seconds=max(300.0, 4 * segment_seconds),
                alternatives=max(0, alternatives),
                snap_seconds=max(0.0, snap_seconds),
                visual_weight=visual_weight,
            )
        except ValueError as error:
            raise UsageError(str(error)) from error

    def __post_init__(self) -> None:
        if not 0 < self.min_segment_seconds <= self.segment_seconds <= self.max_segment_seconds:
            raise ValueError("need 0 < min_segment_seconds <= segment_seconds <= max_segment_seconds")
        if self.chunk_seconds < 2 * self.max_segment_seconds:
            raise ValueError("chunk_seconds must be at least twice max_segment_seconds")
        if not 0.0 <= self.visual_weight <= 1.0:
            raise ValueError("visual_weight must be within [0, 1]")


@dataclass
class Segment:
    """A stretch of speech and what the model heard in it (``smoothed_*``: after temporal smoothing)."""

    start: float
    end: float
    embedding: np.ndarray
    valence: float
    arousal: float
    emotions: dict[str, float]
    smoothed_valence: float = math.nan
    smoothed_arousal: float = math.nan

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": round(self.start, 3), "end": round(self.end, 3),
            "valence": self.valence, "arousal": self.arousal,
            "smoothed_valence": self.smoothed_valence, "smoothed_arousal": self.smoothed_arousal,
            "emotion": next(iter(self.emotions), None), "emotions": self.emotions,
        }


@dataclass
class Cue:
    """A passage of stable emotion and the music proposed for it."""

    index: int
    start: float
    end: float
    analysis: Analysis
    segments: list[Segment]
    track: Result | None = None
    alternatives: list[Result] = field(default_factory=list)
    repeated: bool = False
    on_cut: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "cue": self.index, "start": round(self.start, 3), "end": round(self.end, 3),
            "valence": self.analysis.valence, "arousal": self.analysis.arousal, "emotion": self.analysis.emotions, "visual": self.analysis.visual,
            "segments": len(self.segments),
            "track": self.track.to_dict() if self.track else None,
            "repeated": self.repeated, "on_cut": self.on_cut,
            "alternatives": [result.to_dict() for result in self.alternatives],
        }


@dataclass
class Timeline:
    """Emotion over time of one recording and its cue sheet."""

    source: str
    duration: float
    segments: list[Segment]
    cues: list[Cue]
    frame_rate: Fraction | None = None  # of the video; None for audio
    cuts: list[float] = field(default_factory=list)  # shot boundaries of the video, seconds

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "duration": round(self.duration, 3),
            "frame_rate": str(self.frame_rate) if self.frame_rate else None, "cuts": [round(cut, 3) for cut in self.cuts],
            "cues": [cue.to_dict() for cue in self.cues],
            "segments": [segment.to_dict() for segment in self.segments],
        }

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Timeline:
        """The timeline back from its :meth:`to_dict` form (what the HTTP API sends; embeddings are not sent)."""
        none = np.zeros(0, np.float32)
        segments = [
            Segment(s["start"], s["end"], none, s["valence"], s["arousal"], dict(s["emotions"]), s["smoothed_valence"], s["smoothed_arousal"])
            for s in record["segments"]
        ]
        cues = [
            Cue(
                c["cue"], c["start"], c["end"], Analysis(none, c["valence"], c["arousal"], dict(c["emotion"]), visual=c.get("visual")),
                [s for s in segments if c["start"] <= s.start < c["end"]],
                Result.from_dict(c["track"]) if c["track"] else None,
                [Result.from_dict(a) for a in c["alternatives"]], c["repeated"], c.get("on_cut", False),
            )
            for c in record["cues"]
        ]
        frame_rate = Fraction(record["frame_rate"]) if record.get("frame_rate") else None
        return cls(record["source"], record["duration"], segments, cues, frame_rate, list(record.get("cuts", [])))

    def to_text(self) -> str:
        """The cue sheet as a table."""
        shots = f", {len(self.cuts) + 1} shots" if self.frame_rate else ""
        lines = [f"{self.source}: {format_time(self.duration)}, {len(self.segments)} speech segments{shots}, {len(self.cues)} cues", ""]
        lines.append(f"{'CUE':>3}  {'START':>8}  {'END':>8}  {'HEARD':<34}  TRACK")
        for cue in self.cues:
            top = next(iter(cue.analysis.emotions), "?")
            heard = f"{top} ({describe_va(cue.analysis.valence, cue.analysis.arousal)})"
            lines.append(f"{cue.index:>3}  {format_time(cue.start):>8}  {format_time(cue.end):>8}  {heard:<34}  {describe_track(cue.track)}{'  (repeat)' if cue.repeated else ''}")
            for alternative in cue.alternatives:
                lines.append(f"{'':>3}  {'':>8}  {'':>8}  {'':<34}    or {describe_track(alternative)}")
        return "\n".join(lines)


def format_time(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def describe_track(result: Result | None) -> str:
    """``Title - Artist`` (or the file name), e.g. for tables."""
    if result is None:
        return "(no track matches the filter)"
    title = result.payload.get("title") or (Path(result.path).name if result.path else result.track_id)
    artist = result.payload.get("artist")
    return f"{title} - {artist}" if artist else str(title)


# -- pipeline -----------------------------------------------------------------------------------------


def build_timeline(
    recommender: Recommender,
    source: str | os.PathLike,
    config: TimelineConfig | None = None,
    *,
    where: Where | None = None,
    rerank: float | None = None,
    per_artist: int | None = None,
    progress: Callable[[float, float], None] | None = None,
) -> Timeline:
    """Segment, analyse, smooth and group ``source`` and propose a track for every cue.

    Args:
        recommender: Model + catalog.
        source: Path of the recording (audio, or a video: then cues start on its shot boundaries).
        config: Segmentation and grouping parameters.
        where: Payload filter for proposed tracks.
        rerank: Re-ranking ``alpha`` (None: the recommender's default).
        per_artist: Passed to the recommender.
        progress: Called with (seconds decoded, total seconds).

    Raises:
        AudioError: Missing, unreadable, not audio, too long, or no speech found.
    """
    config = config or TimelineConfig()
    segments, duration = analyse_segments(recommender, source, config, progress=progress)
    smooth(segments, config.smoothing_seconds)
    cues = group_cues(segments, duration, config)
    frame_rate = container_info(source).frame_rate if is_container(source) else None
    stats = scan_video(source) if frame_rate else None
    cuts = detect_cuts(stats, config.shots) if stats is not None else []
    if stats is not None:
        cues[0].on_cut = True  # the first shot starts with the video
        for cue, (start, on_cut) in zip(cues[1:], snap_boundaries([cue.start for cue in cues[1:]], cuts, config.snap_seconds)):
            cue.start, cue.on_cut = start, on_cut
        for cue, following in zip(cues, cues[1:]):
            cue.end = following.start
        for cue in cues:
            cue.analysis = fuse_visual(recommender.model, cue.analysis, visual_cues(stats, cuts, cue.start, cue.end), config.visual_weight)
    assign_tracks(recommender, cues, alternatives=config.alternatives, where=where, rerank=rerank, per_artist=per_artist)
    return Timeline(str(source), duration, segments, cues, frame_rate, cuts)


def analyse_segments(
    recommender: Recommender,
    source: str | os.PathLike,
    config: TimelineConfig,
    *,
    progress: Callable[[float, float], None] | None = None,
) -> tuple[list[Segment], float]:
    """Every speech segment of ``source`` with its analysis, and the recording's duration."""
    info = audio_info(source)  # typed errors for missing / empty / non-audio files
    if info.duration > config.max_seconds:
        raise AudioTooLongError(f"is {info.duration / 3600:.1f} h long; the timeline limit is {config.max_seconds / 3600:.1f} h", source)
    model = recommender.model
    segments: list[Segment] = []
    for start, waveform in speech_segments(source, config, progress=progress, total=info.duration):
        with torch_threads(recommender.config.analysis_threads):
            analysis = model.analyze_speech(waveform, VAD_SAMPLE_RATE)
        segments.append(Segment(start, start + waveform.size / VAD_SAMPLE_RATE, analysis.embedding, analysis.valence, analysis.arousal, analysis.emotions))
    if not segments:
        raise SilentAudioError("no speech found (voice activity detection heard none)", source)
    return segments, info.duration


def smooth(segments: list[Segment], sigma_seconds: float) -> None:
    """Gaussian smoothing over segment midpoints, weighted by duration; sets ``smoothed_valence/arousal``."""
    if not segments:
        return
    centres = np.array([(s.start + s.end) / 2 for s in segments])
    durations = np.array([s.duration for s in segments])
    va = np.array([[s.valence, s.arousal] for s in segments])
    if sigma_seconds <= 0:
        smoothed = va
    else:
        smoothed = np.empty_like(va)
        # Only neighbours within 4 sigma matter: a sliding window keeps this linear in the segment count.
        reach = 4 * sigma_seconds
        low = np.searchsorted(centres, centres - reach, side="left")
        high = np.searchsorted(centres, centres + reach, side="right")
        for i in range(len(segments)):
            window = slice(low[i], high[i])
            weights = durations[window] * np.exp(-0.5 * ((centres[window] - centres[i]) / sigma_seconds) ** 2)
            smoothed[i] = weights @ va[window] / weights.sum()
    for segment, (valence, arousal) in zip(segments, smoothed):
        segment.smoothed_valence, segment.smoothed_arousal = float(valence), float(arousal)


def group_cues(segments: list[Segment], duration: float, config: TimelineConfig) -> list[Cue]:
    """Split the segments into cues of stable smoothed emotion; cues tile ``[0, duration]``.

    Optimal segmentation by dynamic programming: minimise the within-cue spread of smoothed VA
    (duration-weighted squared distance to the cue mean, in seconds x VA^2) plus a penalty of
    ``change_threshold^2 * min_cue_seconds`` per cue, with every cue at least ``min_cue_seconds`` long.
    Two passages of ``min_cue_seconds`` whose mean VA differ by more than ``sqrt(2) * change_threshold``
    become separate cues; longer passages split at smaller changes (more evidence). A ramp between
    two moods is cut once, in its middle.
    """
    if not segments:
        return []
    bounds = _optimal_partition(segments, config)
    groups = [segments[begin:end] for begin, end in zip(bounds[:-1], bounds[1:])]
    starts = [0.0] + [group[0].start for group in groups[1:]]
    ends = starts[1:] + [max(duration, groups[-1][-1].end)]
    return [Cue(index + 1, start, end, _cue_analysis(group), group) for index, (group, start, end) in enumerate(zip(groups, starts, ends))]


def _optimal_partition(segments: Sequence[Segment], config: TimelineConfig) -> list[int]:
    """Cut indices ``[0, ..., n]`` of the least-cost partition (see :func:`group_cues`)."""
    n = len(segments)
    weights = np.array([s.duration for s in segments])
    points = np.array([[s.smoothed_valence, s.smoothed_arousal] for s in segments])
    if not np.isfinite(points).all():
        points = np.array([[s.valence, s.arousal] for s in segments])
    # Prefix sums make the spread of any run i..j-1 O(1): sum w|x|^2 - |sum w x|^2 / sum w.
    cum_w = np.concatenate([[0.0], np.cumsum(weights)])
    cum_wx = np.vstack([np.zeros(2), np.cumsum(weights[:, None] * points, axis=0)])
    cum_wxx = np.concatenate([[0.0], np.cumsum(weights * np.sum(points**2, axis=1))])
    starts = np.array([s.start for s in segments])
    ends = np.array([s.end for s in segments])
    penalty = config.change_threshold**2 * config.min_cue_seconds
    best = np.full(n + 1, np.inf)
    best[0] = 0.0
    previous = np.zeros(n + 1, dtype=int)
    for j in range(1, n + 1):
        i = np.arange(j)
        long_enough = ends[j - 1] - starts[i] >= config.min_cue_seconds
        if j == n:
            long_enough[0] = True  # one cue for everything is always allowed (a short recording)
        w = cum_w[j] - cum_w[i]
        wx = cum_wx[j] - cum_wx[i]
        spread = cum_wxx[j] - cum_wxx[i] - np.sum(wx**2, axis=1) / w
        total = np.where(long_enough, best[i] + spread + penalty, np.inf)
        previous[j] = int(np.argmin(total))
        best[j] = total[previous[j]]
    cuts = [n]
    while cuts[-1] > 0:
        cuts.append(int(previous[cuts[-1]]))
    return cuts[::-1]


def _mean_va(segments: Sequence[Segment]) -> np.ndarray:
    weights = np.array([s.duration for s in segments])
    return weights @ np.array([[s.valence, s.arousal] for s in segments]) / weights.sum()


def _cue_analysis(segments: Sequence[Segment]) -> Analysis:
    """Duration-weighted mean of the segments' embeddings, VA and emotion distributions."""
    weights = np.array([s.duration for s in segments])
    weights = weights / weights.sum()
    embedding = weights @ np.stack([s.embedding for s in segments])
    norm = np.linalg.norm(embedding)
    embedding = embedding / norm if norm > 0 else segments[0].embedding
    emotions: dict[str, float] = {}
    for weight, segment in zip(weights, segments):
        for label, probability in segment.emotions.items():
            emotions[label] = emotions.get(label, 0.0) + float(weight) * probability
    valence, arousal = _mean_va(segments)
    ranked = dict(sorted(emotions.items(), key=lambda item: -item[1]))
    return Analysis(embedding.astype(np.float32), float(valence), float(arousal), ranked, float(sum(s.duration for s in segments)))


def assign_tracks(
    recommender: Recommender,
    cues: list[Cue],
    *,
    alternatives: int = 2,
    where: Where | None = None,
    rerank: float | None = None,
    per_artist: int | None = None,
) -> None:
    """Best unused track (plus runners-up) for each cue, in order; repeats only once the catalog runs out."""
    used: set[str] = set()
    for cue in cues:
        options = recommender.recommend(
            cue.analysis, k=1 + alternatives, where=where, rerank=rerank, per_artist=per_artist, exclude=used, query_kind="passage"
        )
        if not options:
            options = recommender.recommend(cue.analysis, k=1 + alternatives, where=where, rerank=rerank, per_artist=per_artist, query_kind="passage")
            cue.repeated = bool(options)
        if options:
            cue.track, cue.alternatives = options[0], options[1:]
            used.add(options[0].track_id)
