"""Fixtures for the dashboard tests: a small synthesized catalog ingested with the real pipeline."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from recommender.audio import write_audio
from recommender.synth import synthesize_music, synthesize_speech

# (emotion word, genre, artist): one track each, spread over the valence-arousal plane.
TRACKS = (
    ("happy", "synthpop", "Bright Lines"),
    ("sad", "piano", "Grey Rooms"),
    ("angry", "electronic", "Bright Lines"),
    ("calm", "ambient", "Slow Water"),
    ("tension", "cinematic", "Grey Rooms"),
    ("tenderness", "folk", "Slow Water"),
)
TRACK_SECONDS = 6.0


def make_catalog(root: Path) -> Path:
    """Render :data:`TRACKS`, write a manifest with their metadata plus one broken file; return the manifest."""
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for number, (mood, genre, artist) in enumerate(TRACKS):
        music = synthesize_music(mood, seconds=TRACK_SECONDS, genre=genre, seed=number)
        path = write_audio(root / f"{number:02d}_{mood}.flac", music.waveform, music.sample_rate)
        rows.append({"path": path.name, "title": f"{mood.capitalize()} Song", "artist": artist, "genre": genre, "licence": "CC0", "year": 2010 + number})
    (root / "broken.wav").write_bytes(b"this is not audio at all" * 10)
    rows.append({"path": "broken.wav", "title": "Broken", "artist": "Nobody", "genre": "noise", "licence": "CC0", "year": 2000})
    manifest = root / "manifest.csv"
    with manifest.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return manifest


def speech_wav(mood: str = "happy", seconds: float = 3.0, seed: int = 0) -> bytes:
    """A synthesized emotional voice clip as WAV bytes (what a user would upload)."""
    speech = synthesize_speech(mood, seconds=seconds, seed=seed)
    buffer = io.BytesIO()
    sf.write(buffer, speech.waveform, speech.sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def long_wav(seconds: float) -> bytes:
    """A quiet noise WAV of ``seconds`` at 8 kHz (longer than a query may be, yet small)."""
    noise = 0.05 * np.random.default_rng(0).standard_normal(int(seconds * 8000)).astype(np.float32)
    buffer = io.BytesIO()
    sf.write(buffer, noise, 8000, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


@pytest.fixture(scope="session")
def tracks() -> tuple[tuple[str, str, str], ...]:
    """What the synthesized catalog holds: (emotion, genre, artist) per track."""
    return TRACKS


@pytest.fixture(scope="session")
def voice():
    """``voice(mood, seconds, seed) -> WAV bytes`` of synthesized emotional speech."""
    return speech_wav


@pytest.fixture(scope="session")
def long_noise():
    """``long_noise(seconds) -> WAV bytes`` of quiet noise."""
    return long_wav


@pytest.fixture(scope="session")
def music_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthesized catalog's folder (its manifest is ``manifest.csv``)."""
    root = tmp_path_factory.mktemp("music")
    make_catalog(root)
    return root


@pytest.fixture(scope="session")
def ingested_store(music_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding the synthesized catalog, ingested by the real pipeline (and closed again)."""
    from ingest.pipeline import run_ingest
    from recommender.settings import Settings

    store = tmp_path_factory.mktemp("store")
    summary = run_ingest(music_dir / "manifest.csv", Settings.load(config_file=store / "none.toml", store=store))
    assert (summary.ingested, summary.failed) == (len(TRACKS), 1)
    return store
