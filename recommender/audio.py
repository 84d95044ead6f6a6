"""Audio loading shared by every part of Undertone.

Anything that reads sound goes through :func:`load_audio`: it decodes with libsndfile (wav, flac,
ogg/vorbis, opus, mp3 ...), or with PyAV (:mod:`recommender.video`) the sound track of a video container
(mp4, mov, mkv, webm), mixes down to mono float32, resamples, and turns every way a file can be bad into
one typed :class:`AudioError` with a message a user can act on.
"""

from __future__ import annotations

import io
import math
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf

from recommender import video
from recommender.errors import (
    AudioNotFoundError,
    AudioTooLongError,
    CorruptAudioError,
    EmptyAudioError,
    SilentAudioError,
    TruncatedAudioError,
    UnreadableAudioError,
)

AudioSource = str | os.PathLike | bytes | BinaryIO

# Silent = even the loudest moments (99th percentile of 25 ms frame levels) stay below this. Judging the
# loudest frames rather than the whole file keeps quiet-but-real speech with long pauses (some RAVDESS
# actors average -63 dBFS) while still refusing digital silence, dither and hum-free room tone.
SILENCE_DBFS = -60.0
_BLOCK_FRAMES = 1 << 18
# libsndfile's log line for a RIFF/AIFF data chunk longer than the file: "data : 960000 (should be 191964)".
_SHORT_DATA_CHUNK = re.compile(r"^\s*(?:data|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
# Streaming writers (ffmpeg to a pipe) leave the size at its maximum: an unknown length, not a truncation.
_UNKNOWN_SIZE = 0xFFFFFF00

QUERY_SUFFIXES = (".wav", ".flac", ".ogg", ".opus", ".mp3", ".aiff", ".aif") + video.VIDEO_SUFFIXES
"""File types accepted as a speech query (libsndfile reads more; these are the ones offered in pickers)."""


@dataclass(frozen=True)
class AudioInfo:
    """What the container says, read without decoding."""

    duration: float
    sample_rate: int
    channels: int
    format: str


def _check(source: AudioSource) -> None:
    """Typed errors for what is wrong before any decoder looks at the data."""
    if isinstance(source, (bytes, bytearray)):
        if not source:
            raise EmptyAudioError("no data (0 bytes)", source)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            info = path.stat()
        except FileNotFoundError:
            raise AudioNotFoundError("no such file", source) from None
        except OSError as error:
            raise UnreadableAudioError(f"cannot be read ({error.strerror or error})", source) from None
        if stat.S_ISDIR(info.st_mode):
            raise UnreadableAudioError("is a directory, not an audio file", source)
        if not stat.S_ISREG(info.st_mode):  # a FIFO would block the read; /dev/zero never ends
            raise UnreadableAudioError("is not a regular file (a pipe, socket or device)", source)
        if not os.access(path, os.R_OK):
            raise UnreadableAudioError("permission denied", source)
        if info.st_size == 0:
            raise EmptyAudioError("empty file (0 bytes)", source)


def _open(source: AudioSource) -> sf.SoundFile:
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    try:
        return sf.SoundFile(source)
    except sf.LibsndfileError as error:
        # libsndfile says "is not a regular file (possibly a pipe?)" of any file whose format it does not know.
        why = "its content is in no audio format this build decodes" if "possibly a pipe" in error.error_string else error.error_string
        raise CorruptAudioError(f"not a readable audio file ({why})", source) from error
    except (RuntimeError, TypeError, OSError) as error:
        raise CorruptAudioError(f"not a readable audio file ({error})", source) from error


def audio_info(source: AudioSource) -> AudioInfo:
    """Duration, rate and channels from the file header (raises :class:`AudioError`)."""
    _check(source)
    if video.is_container(source):
        with video.open_container(source) as container:
            stream = video.audio_stream(container, source)
            return AudioInfo(video.audio_duration(container, stream), stream.rate, stream.channels, container.format.name)
    with _open(source) as handle:
        return AudioInfo(handle.frames / handle.samplerate, handle.samplerate, handle.channels, handle.format)


def load_audio(
    source: AudioSource,
    sample_rate: int = 16000,
    *,
    max_seconds: float | None = 1200.0,
    allow_silence: bool = False,
) -> np.ndarray:
    """Decode ``source`` to a mono float32 waveform at ``sample_rate``.

    Args:
        source: A path, the file's bytes, or an open binary file (audio, or a video with a sound track).
        sample_rate: Rate of the returned waveform.
        max_seconds: Refuse longer audio before decoding it (None: no limit).
        allow_silence: Return digital silence instead of raising :class:`SilentAudioError`.

    Raises:
        AudioError: One of its subclasses, saying what is wrong with the input.
    """
    _check(source)
    if video.is_container(source):
        return _load_container(source, sample_rate, max_seconds=max_seconds, allow_silence=allow_silence)
    with _open(source) as handle:
        rate, frames = handle.samplerate, handle.frames
        _check_container(handle, source)
        if frames <= 0 and handle.seekable():
            raise EmptyAudioError("contains no audio samples", source)
        if max_seconds is not None and frames / rate > max_seconds:
            raise AudioTooLongError(
                f"is {frames / rate / 60:.1f} min long; the limit is {max_seconds / 60:.1f} min", source
            )
        blocks = list(_mono_blocks(handle, _BLOCK_FRAMES, source))
        _check_decoded(handle, source)
    waveform = np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
    return prepare_waveform(waveform, rate, sample_rate, source=source, max_seconds=max_seconds, allow_silence=allow_silence)


def stream_audio(source: AudioSource, sample_rate: int = 16000, *, block_seconds: float = 300.0) -> Iterator[np.ndarray]:
    """Decode ``source`` about ``block_seconds`` at a time: mono float32 blocks at ``sample_rate``.

    For recordings too long to hold whole (each block is resampled on its own). No length or silence
    checks: those are the caller's, unlike :func:`load_audio`.

    Raises:
        AudioError: One of its subclasses, saying what is wrong with the input.
    """
    _check(source)
    if video.is_container(source):
        with video.open_container(source) as container:
            stream = video.audio_stream(container, source)
            rate = stream.rate
            for block in video.decode_audio(container, stream, max(1, int(block_seconds * rate))):
                yield _checked_resample(block, rate, sample_rate, source)
        return
    with _open(source) as handle:
        rate = handle.samplerate
        for block in _mono_blocks(handle, max(1, int(block_seconds * rate)), source):
            yield _checked_resample(block, rate, sample_rate, source)


def _checked_resample(block: np.ndarray, rate: int, sample_rate: int, source: AudioSource) -> np.ndarray:
    if not np.isfinite(block).all():
        raise CorruptAudioError("contains NaN or infinite samples", source)
    return resample(block, rate, sample_rate)


def _load_container(source: AudioSource, sample_rate: int, *, max_seconds: float | None, allow_silence: bool) -> np.ndarray:
    """:func:`load_audio` for a video (or other FFmpeg container): its first sound track."""
    with video.open_container(source) as container:
        stream = video.audio_stream(container, source)
        seconds, rate = video.audio_duration(container, stream), stream.rate
        if max_seconds is not None and seconds > max_seconds:
            raise AudioTooLongError(f"is {seconds / 60:.1f} min long; the limit is {max_seconds / 60:.1f} min", source)
        blocks = list(video.decode_audio(container, stream, _BLOCK_FRAMES))
    waveform = np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
    return prepare_waveform(waveform, rate, sample_rate, source=source, max_seconds=max_seconds, allow_silence=allow_silence)


def _check_container(handle: sf.SoundFile, source: AudioSource) -> None:
    """Refuse a file its container's log shows to be cut short (an interrupted copy or download).

    A partial track would be indexed with the emotion and duration of its first seconds, so it fails
    instead; the message says how much is there.
    """
    there = f"only {handle.frames / handle.samplerate:.1f} s are there; copy or download it again"
    log = handle.extra_info
    if "end-of-stream" in log.lower():  # Ogg (Vorbis, Opus, FLAC): the last page is not the stream's end
        raise TruncatedAudioError(f"is truncated: the Ogg stream stops before its end ({there})", source)
    short = _SHORT_DATA_CHUNK.search(log)
    if short and int(short[2]) < int(short[1]) < _UNKNOWN_SIZE and int(short[1]) - int(short[2]) > int(short[1]) // 100:
        raise TruncatedAudioError(
            f"is truncated: its header states {int(short[1])} bytes of audio, the file holds {int(short[2])} ({there})", source
        )


def _check_decoded(handle: sf.SoundFile, source: AudioSource) -> None:
    """Refuse a file that decoded to less than its header states (MP3 with a Xing/LAME length ...)."""
    rate, stated = handle.samplerate, handle.frames
    decoded = handle.tell() if handle.seekable() else None
    if decoded is not None and stated > 0 and stated - decoded > max(stated / 100, rate / 10):
        raise TruncatedAudioError(
            f"is truncated: {decoded / rate:.1f} s of the {stated / rate:.1f} s its header states decode "
            "(copy or download it again)", source,
        )


def _mono_blocks(handle: sf.SoundFile, frames: int, source: AudioSource) -> Iterator[np.ndarray]:
    """The one decoding loop: ``frames`` at a time, mixed down to mono float32."""
    try:
        for block in handle.blocks(blocksize=frames, dtype="float32", always_2d=True):
            yield _to_mono(block)
    except (sf.LibsndfileError, RuntimeError) as error:
        raise CorruptAudioError(f"decoding failed, the file may be truncated ({error})", source) from error


def prepare_waveform(
    waveform: np.ndarray,
    rate: int,
    sample_rate: int = 16000,
    *,
    source: object = None,
    max_seconds: float | None = None,
    allow_silence: bool = False,
) -> np.ndarray:
    """Validate an in-memory waveform (1-D, or ``(frames, channels)``) and bring it to ``sample_rate``."""
    waveform = np.asarray(waveform, dtype=np.float32)
    if waveform.ndim == 2:
        waveform = _to_mono(waveform)
    if waveform.ndim != 1:
        raise CorruptAudioError(f"expected a 1-D waveform or (frames, channels), got shape {waveform.shape}", source)
    if waveform.size == 0:
        raise EmptyAudioError("contains no audio samples", source)
    if rate <= 0:
        raise CorruptAudioError(f"invalid sample rate {rate}", source)
    if max_seconds is not None and waveform.size / rate > max_seconds:
        raise AudioTooLongError(f"is {waveform.size / rate / 60:.1f} min long; the limit is {max_seconds / 60:.1f} min", source)
    if not np.isfinite(waveform).all():
        raise CorruptAudioError("contains NaN or infinite samples", source)
    if not allow_silence and loudest_frames_dbfs(waveform, rate) < SILENCE_DBFS:
        raise SilentAudioError(f"is silent (its loudest moments stay below {SILENCE_DBFS:.0f} dBFS)", source)
    return resample(waveform, rate, sample_rate)


def resample(waveform: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Band-limited resampling (torchaudio's sinc interpolation)."""
    if rate == target:
        return np.ascontiguousarray(waveform, dtype=np.float32)
    import torch
    import torchaudio.functional as AF

    with torch.inference_mode():
        out = AF.resample(torch.from_numpy(np.ascontiguousarray(waveform)), rate, target)
    return out.numpy().astype(np.float32, copy=False)


def rms_dbfs(waveform: np.ndarray) -> float:
    """Root-mean-square level in dB relative to full scale (-inf for digital silence)."""
    if waveform.size == 0:
        return -math.inf
    rms = float(np.sqrt(np.mean(np.square(waveform, dtype=np.float64))))
    return 20.0 * math.log10(rms) if rms > 0 else -math.inf


def loudest_frames_dbfs(waveform: np.ndarray, rate: int, percentile: float = 99.0) -> float:
    """Level of the loudest 25 ms frames (the given percentile of frame RMS levels), in dBFS."""
    frame = max(1, rate // 40)
    usable = waveform[: max(frame, waveform.size // frame * frame)]
    if usable.size < frame:
        return rms_dbfs(usable)
    energy = np.mean(np.square(usable.reshape(-1, frame), dtype=np.float64), axis=1)
    loud = float(np.percentile(energy, percentile))
    return 10.0 * math.log10(loud) if loud > 0 else -math.inf


def _to_mono(block: np.ndarray) -> np.ndarray:
    return block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]


def write_audio(path: str | os.PathLike, waveform: np.ndarray, sample_rate: int) -> Path:
    """Write a mono waveform; the format follows the suffix (``.wav``, ``.flac``, ``.ogg`` ...)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.asarray(waveform, dtype=np.float32), sample_rate)
    return path
