"""Generated videos: a real speech clip muxed with coloured frames cut at known times (made by ffmpeg).

Tests that need them skip when the ``ffmpeg`` program is missing (``scripts/test.sh`` installs it).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from recommender.audio import load_audio, write_audio
from recommender.settings import default_data_dir
from recommender.synth import synthesize_speech

# Coloured shots: (colour, seconds). The cuts fall on whole frames at 25 and at 30000/1001 fps.
SHOTS = (("red", 2.0), ("green", 1.2), ("blue", 1.8), ("yellow", 3.0))
CUTS = (2.0, 3.2, 5.0)
VIDEO_SECONDS = sum(seconds for _, seconds in SHOTS)
RAVDESS_CLIPS = ("ravdess/03-01-05-02-01-01-01.opus", "ravdess/03-01-05-02-02-01-01.opus")  # actor 01, angry, strong


@dataclass(frozen=True)
class Videos:
    """The generated media: one speech track in several containers, plus broken variants."""

    speech: Path  # the 16 kHz wav muxed into every video
    mp4: Path
    mov: Path
    mkv: Path  # lossless sound (FLAC): decodes to exactly the wav's samples
    webm: Path
    silent_film: Path  # pictures, no sound track
    ntsc: Path  # 30000/1001 fps
    truncated: Path
    rate: Fraction = Fraction(25)
    duration: float = VIDEO_SECONDS
    cuts: tuple[float, ...] = CUTS


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", *args], check=True)


def _frames_input(rate: str) -> tuple[list[str], str]:
    inputs: list[str] = []
    for colour, seconds in SHOTS:
        inputs += ["-f", "lavfi", "-i", f"color=c={colour}:s=96x64:r={rate}:d={seconds}"]
    labels = "".join(f"[{index}:v]" for index in range(len(SHOTS)))
    return inputs, f"{labels}concat=n={len(SHOTS)}:v=1:a=0[v]"


def _speech(directory: Path) -> Path:
    """About 8 s of real speech (two RAVDESS sentences), or a synthesized voice without the corpus."""
    data = default_data_dir()
    clips = [data / name for name in RAVDESS_CLIPS]
    if all(clip.exists() for clip in clips):
        waveform = np.concatenate([load_audio(clip, 16000, allow_silence=True) for clip in clips])
    else:
        waveform = synthesize_speech("angry", seconds=VIDEO_SECONDS, seed=3).waveform
    waveform = np.pad(waveform, (0, max(0, int(VIDEO_SECONDS * 16000) - waveform.size)))[: int(VIDEO_SECONDS * 16000)]
    return write_audio(directory / "speech.wav", waveform, 16000)


@pytest.fixture(scope="session")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Videos:
    if shutil.which("ffmpeg") is None:
        pytest.skip("the ffmpeg program is not installed (apt-get install ffmpeg)")
    directory = tmp_path_factory.mktemp("videos")
    speech = _speech(directory)
    inputs, graph = _frames_input("25")
    audio = str(len(SHOTS))
    mp4, mkv, webm = directory / "clip.mp4", directory / "clip.mkv", directory / "clip.webm"
    h264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    _ffmpeg(*inputs, "-i", str(speech), "-filter_complex", graph, "-map", "[v]", "-map", f"{audio}:a", *h264, "-c:a", "aac", str(mp4))
    _ffmpeg(*inputs, "-i", str(speech), "-filter_complex", graph, "-map", "[v]", "-map", f"{audio}:a", *h264, "-c:a", "flac", str(mkv))
    _ffmpeg(*inputs, "-i", str(speech), "-filter_complex", graph, "-map", "[v]", "-map", f"{audio}:a",
            "-c:v", "libvpx", "-deadline", "realtime", "-b:v", "200k", "-c:a", "libopus", str(webm))
    mov = directory / "clip.mov"
    _ffmpeg("-i", str(mp4), "-c", "copy", str(mov))
    silent = directory / "silent_film.mp4"
    _ffmpeg("-i", str(mp4), "-c", "copy", "-an", str(silent))
    ntsc_inputs, ntsc_graph = _frames_input("30000/1001")
    ntsc = directory / "ntsc.mp4"
    _ffmpeg(*ntsc_inputs, "-i", str(speech), "-filter_complex", ntsc_graph, "-map", "[v]", "-map", f"{audio}:a", *h264, "-c:a", "aac", str(ntsc))
    truncated = directory / "truncated.mp4"
    truncated.write_bytes(mp4.read_bytes()[: mp4.stat().st_size // 3])
    return Videos(speech, mp4, mov, mkv, webm, silent, ntsc, truncated)
