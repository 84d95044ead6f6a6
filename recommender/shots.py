"""Shot boundaries of a video, found offline from small decoded frames.

One pass over the video (:func:`scan_video`, frames downscaled to 64x36 by FFmpeg) measures per frame
how much the picture changed since the previous frame, in two ways that fail differently:

- **pixel change**: mean absolute RGB difference (0-1). Catches every hard cut, but also fast motion.
- **colour-histogram change**: half the L1 distance between coarse 4x4x4 RGB histograms (0-1). Nearly
  blind to motion within a shot (the same things move around), high when the scene changes.

A frame starts a new shot when the mean of the two is at least ``threshold`` *and* ``ratio`` times the
typical change around it (the median over ``window_seconds`` on both sides: a handheld shot's steady
jitter is not a cut, as in PySceneDetect's adaptive detector), and the previous cut is at least
``min_shot_seconds`` back. Gradual transitions (fades, dissolves) are not detected.

The same pass keeps the frames' brightness, saturation and warmth for the visual cues.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import BinaryIO

import numpy as np

from recommender.video import container_info, video_frames

SCAN_SIZE = (64, 36)
_BINS = 4
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # Rec. 601


@dataclass(frozen=True)
class ShotConfig:
    """When a change of picture counts as a cut.

    Attributes:
        threshold: Least change score (0-1) of a cut.
        ratio: A cut's score is at least this multiple of the local median score.
        window_seconds: Reach of the local median on each side.
        min_shot_seconds: Shortest shot (a later cut inside it is ignored).
    """

    threshold: float = 0.3
    ratio: float = 3.0
    window_seconds: float = 1.0
    min_shot_seconds: float = 0.5


@dataclass
class FrameStats:
    """Per-frame measurements of one video (arrays of equal length, one entry per decoded frame).

    Attributes:
        times: Presentation time of each frame in seconds from the first frame.
        change: Cut score against the previous frame (mean of pixel and histogram change, 0-1; 0 for the first).
        motion: Mean absolute pixel change against the previous frame (0-1).
        brightness: Mean luma (Rec. 601, 0-1).
        saturation: Mean HSV saturation (0-1).
        warmth: Mean (red - blue) (-1 warm blue .. 1 warm red).
        frame_rate: Frames per second of the video stream.
        duration: Seconds of the container.
    """

    times: np.ndarray
    change: np.ndarray
    motion: np.ndarray
    brightness: np.ndarray
    saturation: np.ndarray
    warmth: np.ndarray
    frame_rate: Fraction
    duration: float


def scan_video(
    source: str | os.PathLike | bytes | BinaryIO, *, progress: Callable[[float, float], None] | None = None
) -> FrameStats:
    """Decode every frame once (small) and measure it; ``progress`` gets (seconds scanned, total).

    Raises:
        AudioError: :class:`~recommender.errors.NoVideoStreamError` without pictures,
            :class:`~recommender.errors.CorruptAudioError` for an unreadable file.
    """
    info = container_info(source)
    rows: list[tuple[float, float, float, float, float, float]] = []
    previous: tuple[np.ndarray, np.ndarray] | None = None
    for index, (time, rgb) in enumerate(video_frames(source, *SCAN_SIZE)):
        pixels = rgb.reshape(-1, 3).astype(np.float32) / 255.0
        histogram = _histogram(rgb)
        if previous is None:
            motion = hist_change = 0.0
        else:
            motion = float(np.abs(pixels - previous[0]).mean())
            hist_change = 0.5 * float(np.abs(histogram - previous[1]).sum())
        previous = (pixels, histogram)
        high, low = pixels.max(axis=1), pixels.min(axis=1)
        saturation = np.where(high > 0, (high - low) / np.maximum(high, 1e-6), 0.0)
        rows.append((
            time, 0.5 * (motion + hist_change), motion,
            float((pixels @ _LUMA).mean()),
            float(saturation.mean()), float((pixels[:, 0] - pixels[:, 2]).mean()),
        ))
        if progress is not None and index % 250 == 0:
            progress(time, info.duration)
    table = np.array(rows, dtype=np.float64).reshape(-1, 6)
    if table.size:
        table[:, 0] -= table[0, 0]  # times from the first frame, which timecode 00:00:00:00 names
    return FrameStats(*table.T, frame_rate=info.frame_rate or Fraction(25), duration=info.duration)


def _histogram(rgb: np.ndarray) -> np.ndarray:
    codes = (rgb.reshape(-1, 3).astype(np.int32) * _BINS) // 256
    counts = np.bincount(codes[:, 0] * _BINS * _BINS + codes[:, 1] * _BINS + codes[:, 2], minlength=_BINS**3)
    return counts / max(1, codes.shape[0])


def detect_cuts(stats: FrameStats, config: ShotConfig | None = None) -> list[float]:
    """Times (seconds, the first frame of each new shot) where the picture cuts, in order."""
    config = config or ShotConfig()
    change, times = stats.change, stats.times
    if change.size < 2:
        return []
    reach = max(1, int(round(config.window_seconds * float(stats.frame_rate))))
    cuts: list[float] = []
    for index in np.flatnonzero(change >= config.threshold):
        if index == 0:
            continue
        around = np.concatenate([change[max(0, index - reach) : index], change[index + 1 : index + 1 + reach]])
        if around.size and change[index] < config.ratio * float(np.median(around)):
            continue
        if cuts and times[index] - cuts[-1] < config.min_shot_seconds:
            continue
        cuts.append(float(times[index]))
    return cuts


def snap_boundaries(boundaries: Sequence[float], cuts: Sequence[float], reach: float) -> list[tuple[float, bool]]:
    """Move each boundary to the nearest cut within ``reach`` seconds, keeping them in order.

    Returns ``(time, moved onto a cut)`` per boundary. A boundary stays where it is when no cut is near,
    or when the nearest one would pass its neighbours.
    """
    snapped: list[tuple[float, bool]] = []
    cut_array = np.asarray(sorted(cuts), dtype=np.float64)
    for position, boundary in enumerate(boundaries):
        low = snapped[-1][0] if snapped else -np.inf
        high = boundaries[position + 1] if position + 1 < len(boundaries) else np.inf
        candidates = cut_array[(np.abs(cut_array - boundary) <= reach) & (cut_array > low) & (cut_array < high)]
        if candidates.size:
            snapped.append((float(candidates[np.argmin(np.abs(candidates - boundary))]), True))
        else:
            snapped.append((float(boundary), False))
    return snapped
