"""Long speech cut into segments at its pauses, decoded chunk by chunk (step 2 of :mod:`recommender.timeline`)."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

import numpy as np

from recommender.audio import stream_audio
from recommender.towers.speech_features import SilenceTrimmer, SileroVAD

VAD_SAMPLE_RATE = 16000


class SegmentConfig(Protocol):
    """The settings segmentation reads (``recommender.timeline.TimelineConfig`` has them all)."""

    segment_seconds: float
    min_segment_seconds: float
    max_segment_seconds: float
    chunk_seconds: float
    vad_threshold: float
    min_pause_seconds: float


def speech_segments(
    source: str | os.PathLike,
    config: SegmentConfig,
    *,
    progress: Callable[[float, float], None] | None = None,
    total: float | None = None,
) -> Iterator[tuple[float, np.ndarray]]:
    """``(start seconds, 16 kHz waveform)`` of each speech segment, decoding chunk by chunk."""
    buffer = np.zeros(0, np.float32)
    buffer_start = 0  # absolute sample index (16 kHz) of buffer[0]
    chunks = stream_audio(source, VAD_SAMPLE_RATE, block_seconds=config.chunk_seconds)
    chunk = next(chunks, None)
    while chunk is not None:
        following = next(chunks, None)
        buffer = np.concatenate([buffer, chunk])
        last = following is None
        spans = plan_segments(detect_speech(buffer, config), config)
        # The last span may continue in the next chunk: keep its audio (and everything after) for then.
        finished = spans if last else spans[:-1]
        for start, end in finished:
            yield (buffer_start + start) / VAD_SAMPLE_RATE, buffer[start:end]
        keep_from = buffer.size if last else (spans[-1][0] if spans else max(0, buffer.size - VAD_SAMPLE_RATE))
        buffer, buffer_start = buffer[keep_from:].copy(), buffer_start + keep_from
        if progress is not None:
            progress((buffer_start + buffer.size) / VAD_SAMPLE_RATE, total or math.nan)
        chunk = following


def detect_speech(waveform: np.ndarray, config: SegmentConfig) -> list[tuple[int, int]]:
    """Speech runs ``(start, end)`` in samples of a 16 kHz waveform: silero-vad's rules on the speech tower's VAD."""
    if waveform.size < SileroVAD.CHUNK:
        return []
    import torch

    vad = SilenceTrimmer.vad()  # loads silero_vad first, which keeps the import below from resetting torch's threads
    from silero_vad import get_speech_timestamps_from_probs

    with torch.inference_mode():
        probabilities = vad(torch.from_numpy(np.ascontiguousarray(waveform)))
    runs = get_speech_timestamps_from_probs(
        probabilities.tolist(),
        sampling_rate=VAD_SAMPLE_RATE,
        threshold=config.vad_threshold,
        min_silence_duration_ms=int(config.min_pause_seconds * 1000),
        audio_length_samples=waveform.size,
    )
    return [(int(run["start"]), int(run["end"])) for run in runs]


def plan_segments(runs: Sequence[tuple[int, int]], config: SegmentConfig, rate: int = VAD_SAMPLE_RATE) -> list[tuple[int, int]]:
    """Join speech runs into segments of about ``segment_seconds``, cutting at pauses.

    A run joins the current segment while the segment stays within ``segment_seconds``; runs longer than
    ``max_segment_seconds`` are split into ``segment_seconds`` pieces; a segment shorter than
    ``min_segment_seconds`` joins the previous one when the result stays within ``max_segment_seconds``
    (else it is dropped: too short to judge on its own).
    """
    target, longest, shortest = (int(s * rate) for s in (config.segment_seconds, config.max_segment_seconds, config.min_segment_seconds))
    pieces: list[tuple[int, int]] = []
    for start, end in runs:
        if end - start > longest:
            pieces.extend((s, min(s + target, end)) for s in range(start, end, target))
        else:
            pieces.append((start, end))
    segments: list[tuple[int, int]] = []
    current: tuple[int, int] | None = None
    for start, end in pieces:
        if current is not None and end - current[0] <= target:
            current = (current[0], end)
            continue
        if current is not None:
            segments.append(current)
        current = (start, end)
    if current is not None:
        segments.append(current)
    merged: list[tuple[int, int]] = []
    for start, end in segments:
        if end - start >= shortest:
            merged.append((start, end))
        elif merged and end - merged[-1][0] <= longest:
            merged[-1] = (merged[-1][0], end)
    return merged
