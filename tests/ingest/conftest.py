"""Fixtures for ingestion tests: a real emotion model on disk, synthesized tracks, isolated stores.

The model is the shipped default architecture (real musicnn music tower) with freshly initialised
heads: ingestion does not care whether the heads are trained, and this keeps the tests independent
of training artefacts. Audio is synthesized here, never committed.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import soundfile as sf

from recommender.settings import Settings

SAMPLE_RATE = 16000
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def write_tone(path: Path, seconds: float = 3.0, freq: float = 330.0, *, sample_rate: int = SAMPLE_RATE, channels: int = 1) -> Path:
    """A short, loud-enough tone with a tremolo, so each frequency gives a distinct file."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    mono = 0.3 * np.sin(2 * np.pi * freq * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    data = np.repeat(mono[:, None], channels, axis=1) if channels > 1 else mono
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, data.astype(np.float32), sample_rate)
    return path


def make_model(directory: Path, seed: int = 0) -> Path:
    from recommender.model import EmotionModel, ModelConfig

    config = ModelConfig.named("default")
    # Only the music tower runs during ingestion; give the others their sizes so they are not built.
    for modality, dim in (("speech", 128), ("text", 384), ("tag", 2)):
        config.towers[modality].dim = config.towers[modality].dim or dim
    EmotionModel.from_config(config, seed=seed).save(directory)
    return directory


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_model(tmp_path_factory.mktemp("model"))


@pytest.fixture
def settings(tmp_path: Path, model_dir: Path) -> Settings:
    return Settings(store=tmp_path / "store", model=str(model_dir))


@pytest.fixture
def music(tmp_path: Path) -> Path:
    """Three distinct tracks in a nested folder, in three formats."""
    root = tmp_path / "music"
    write_tone(root / "a.wav", freq=220)
    write_tone(root / "album" / "b.flac", freq=330)
    write_tone(root / "album" / "deeper" / "c.ogg", freq=440)
    return root


@pytest.fixture
def pair(tmp_path: Path) -> Path:
    """Two distinct tracks: for tests whose subject is not the folder walk (each track costs an analysis)."""
    root = tmp_path / "pair"
    write_tone(root / "x.wav", freq=262)
    write_tone(root / "y.flac", freq=392)
    return root


def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for one test (dropped afterwards); skips without a server."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    admin = sqlalchemy.create_engine(POSTGRES_URL.replace("postgresql:", "postgresql+psycopg2:"), isolation_level="AUTOCOMMIT")
    name = f"undertone_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {name}")
    except sqlalchemy.exc.OperationalError as error:
        admin.dispose()
        pytest.skip(f"PostgreSQL not reachable: {error}")
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from postgres_database()


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture
def tone():
    """:func:`write_tone`, for tests that build their own folders."""
    return write_tone
