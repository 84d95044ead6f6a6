"""A small real catalog for the query-path tests: synthesized tracks analysed by the real model."""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import numpy as np
import pytest

from recommender.audio import write_audio
from recommender.model import EmotionModel
from recommender.search import Recommender
from recommender.settings import Settings
from recommender.store import EdgeVectorStore, TrackPoint
from recommender.synth import synthesize_music, synthesize_speech

# title, artist, genre, year, (valence, arousal)
TRACKS = [
    ("Sunrise Run", "Ada", "synthpop", 2019, (0.90, 0.85)),
    ("Storm Front", "Bram", "electronic", 2008, (0.15, 0.90)),
    ("Grey Harbour", "Cleo", "piano", 1998, (0.15, 0.20)),
    ("Still Meadow", "Ada", "ambient", 2015, (0.85, 0.10)),
    ("Lost Signal", "Bram", "cinematic", 2021, (0.30, 0.60)),
    ("Candle Waltz", "Dana", "folk", 1985, (0.70, 0.35)),
    ("Night Drive", "Ada", "electronic", 2011, (0.55, 0.70)),
    ("Snowfall", "Eli", "ambient", 2003, (0.45, 0.15)),
]
TRACK_SECONDS = 5.0


@pytest.fixture(scope="session")
def model() -> EmotionModel:
    return EmotionModel.load("builtin")


@pytest.fixture(scope="session")
def scratch_dir():
    """Stores fsync every change: on tmpfs (when there is one) the same code runs much faster."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(dir=base, prefix="undertone-search-test-") as directory:
        yield Path(directory)


@pytest.fixture(scope="session")
def catalog(model, scratch_dir) -> dict:
    """An embedded store holding :data:`TRACKS`; returns its settings and the track payloads by title."""
    music_dir = scratch_dir / "music"
    waveforms, paths = [], []
    for index, (title, artist, genre, _, mood) in enumerate(TRACKS):
        music = synthesize_music(mood, seconds=TRACK_SECONDS, genre=genre, seed=index)
        paths.append(write_audio(music_dir / f"{index:02d}.wav", music.waveform, music.sample_rate))
        waveforms.append((music.waveform, music.sample_rate))
    analyses = model.analyze_music_many(waveforms)
    points = []
    for (title, artist, genre, year, _), path, analysis in zip(TRACKS, paths, analyses):
        payload = {
            "path": str(path), "title": title, "artist": artist, "genre": genre, "year": year, "duration": TRACK_SECONDS,
            "licence": "CC0", "valence": analysis.valence, "arousal": analysis.arousal, "moods": analysis.emotions,
            "mood": next(iter(analysis.emotions)), "model": model.fingerprint,
        }
        points.append(TrackPoint(str(uuid.uuid5(uuid.NAMESPACE_URL, str(path))), analysis.embedding, payload))
    store_dir = scratch_dir / "store"
    settings = Settings(store=store_dir)
    with EdgeVectorStore(settings.vectors_path, settings.collection) as store:
        store.upsert(points)
    return {"settings": settings, "store": store_dir, "points": points}


@pytest.fixture
def recommender(model, catalog):
    with Recommender.open(catalog["store"], settings=catalog["settings"], model=model) as opened:
        yield opened


@pytest.fixture(scope="session")
def speech_clips(scratch_dir) -> dict[str, Path]:
    """3 s synthetic voice clips by emotion word."""
    clips = {}
    for index, mood in enumerate(("sad", "happy", "angry", "calm")):
        speech = synthesize_speech(mood, seconds=3.0, seed=index)
        clips[mood] = write_audio(scratch_dir / "speech" / f"{mood}.wav", speech.waveform, speech.sample_rate)
    return clips


@pytest.fixture(scope="session")
def silent_clip(scratch_dir) -> Path:
    return write_audio(scratch_dir / "speech" / "silence.wav", np.zeros(16000 * 2, np.float32), 16000)


@pytest.fixture(scope="session")
def not_audio(scratch_dir) -> Path:
    path = scratch_dir / "speech" / "notes.wav"
    path.write_text("this is a text file wearing a .wav name\n" * 20)
    return path
