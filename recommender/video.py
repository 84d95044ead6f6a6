"""Video containers (mp4, mov, mkv, webm ...) through PyAV, which bundles FFmpeg.

:mod:`recommender.audio` sends anything that looks like a container here (by file name or by its first
bytes) and keeps libsndfile for plain audio files. This module decodes a container's first audio stream
in blocks and reads its video stream's frame rate, duration and small downscaled frames (for shot
boundaries and visual cues, :mod:`recommender.shots`). Every way a container can be bad becomes an
:class:`~recommender.errors.AudioError` subclass, e.g. :class:`NoAudioStreamError` for a silent film.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from recommender.errors import CorruptAudioError, NoAudioStreamError, NoVideoStreamError

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm")
"""File names routed to PyAV whatever their first bytes say."""

_EBML_MAGIC = b"\x1a\x45\xdf\xa3"  # Matroska and WebM
_ISO_BOX = b"ftyp"  # ISO base media (mp4, mov, m4a), at offset 4


@dataclass(frozen=True)
class VideoInfo:
    """What a container says about its streams, read without decoding.

    Attributes:
        duration: Seconds (the longest stream).
        frame_rate: Frames per second of the video stream as an exact fraction (``30000/1001``), None without
            video (cover art is not video).
        width: Frame width in pixels (0 without video).
        height: Frame height in pixels.
        has_audio: Whether the container has an audio stream.
        format: Container format name (``mov,mp4,m4a,3gp,3g2,mj2``, ``matroska,webm`` ...).
    """

    duration: float
    frame_rate: Fraction | None
    width: int
    height: int
    has_audio: bool
    format: str


def is_container(source: str | os.PathLike | bytes | BinaryIO) -> bool:
    """Whether ``source`` should be decoded by PyAV: a video file name or a container's magic bytes."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.suffix.lower() in VIDEO_SUFFIXES:
            return True
        try:
            with path.open("rb") as handle:
                head = handle.read(12)
        except OSError:
            return False
    elif isinstance(source, (bytes, bytearray)):
        head = bytes(source[:12])
    else:
        try:
            position = source.tell()
            head = source.read(12)
            source.seek(position)
        except (OSError, AttributeError, ValueError):
            return False
    return head.startswith(_EBML_MAGIC) or head[4:8] == _ISO_BOX


@contextmanager
def open_container(source: str | os.PathLike | bytes | BinaryIO) -> Iterator[Any]:
    """An open PyAV input container; FFmpeg's errors become :class:`CorruptAudioError`."""
    import av

    target: Any = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else os.fspath(source) if isinstance(source, (str, os.PathLike)) else source
    try:
        container = av.open(target, mode="r")
    except (av.FFmpegError, UnicodeDecodeError) as error:
        raise CorruptAudioError(f"not a readable audio or video file ({_ffmpeg_message(error)})", source) from error
    try:
        yield container
    except av.FFmpegError as error:
        raise CorruptAudioError(f"decoding failed, the file may be truncated ({_ffmpeg_message(error)})", source) from error
    finally:
        container.close()


def container_info(source: str | os.PathLike | bytes | BinaryIO) -> VideoInfo:
    """Duration, frame rate and streams of a container (raises :class:`AudioError`)."""
    with open_container(source) as container:
        return _info(container)


def _info(container: Any) -> VideoInfo:
    durations = [float(stream.duration * stream.time_base) for stream in container.streams if stream.duration and stream.time_base]
    if container.duration:
        durations.append(container.duration / 1_000_000)  # AV_TIME_BASE
    video = picture_stream(container)
    rate = (video.average_rate or video.guessed_rate) if video is not None else None
    return VideoInfo(
        duration=max(durations, default=0.0),
        frame_rate=Fraction(rate) if rate else None,
        width=video.codec_context.width if video is not None else 0,
        height=video.codec_context.height if video is not None else 0,
        has_audio=bool(container.streams.audio),
        format=container.format.name,
    )


def picture_stream(container: Any) -> Any | None:
    """The first video stream that is moving pictures (not the cover art an audio file may carry)."""
    import av

    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return None


def audio_stream(container: Any, source: object) -> Any:
    """The first audio stream (raises :class:`NoAudioStreamError` when there is none)."""
    if not container.streams.audio:
        kinds = "a video stream only" if picture_stream(container) is not None else "no audio stream"
        raise NoAudioStreamError(f"has {kinds}: nothing to listen to (a query needs the speech's sound track)", source)
    return container.streams.audio[0]


def audio_duration(container: Any, stream: Any) -> float:
    """Seconds of the audio stream (the container's duration when the stream does not say)."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return (container.duration or 0) / 1_000_000


def decode_audio(container: Any, stream: Any, block_frames: int) -> Iterator[np.ndarray]:
    """The audio stream as mono float32 blocks of about ``block_frames`` samples at its own rate."""
    import av

    # Packed float keeps every channel; mixing down here matches libsndfile's path (a plain mean).
    resampler = av.AudioResampler(format="flt")
    pending: list[np.ndarray] = []
    size = 0
    for packet in container.demux(stream):
        for frame in packet.decode():
            for converted in resampler.resample(frame):
                pending.append(_mono(converted))
                size += pending[-1].size
            if size >= block_frames:
                yield np.concatenate(pending)
                pending, size = [], 0
    for converted in resampler.resample(None):
        pending.append(_mono(converted))
    if pending:
        yield np.concatenate(pending)


def _mono(frame: Any) -> np.ndarray:
    channels = len(frame.layout.channels)
    samples = frame.to_ndarray().reshape(-1, channels)
    return samples.mean(axis=1, dtype=np.float32) if channels > 1 else samples[:, 0].astype(np.float32, copy=False)


def video_frames(source: str | os.PathLike | bytes | BinaryIO, width: int = 64, height: int = 36) -> Iterator[tuple[float, np.ndarray]]:
    """``(seconds, rgb uint8 array (height, width, 3))`` of every frame, downscaled by FFmpeg.

    Raises:
        AudioError: :class:`CorruptAudioError` for an unreadable file, :class:`NoVideoStreamError` for a
            container without pictures.
    """
    with open_container(source) as container:
        stream = picture_stream(container)
        if stream is None:
            raise NoVideoStreamError("has no video stream: nothing to watch", source)
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            if frame.time is None:
                continue
            yield float(frame.time), frame.reformat(width=width, height=height, format="rgb24").to_ndarray()


def _ffmpeg_message(error: BaseException) -> str:
    return getattr(error, "strerror", None) or str(error)
