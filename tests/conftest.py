"""Fixtures shared by the whole suite; everything is made here, nothing is committed.

- Ingestion: a real emotion model on disk (the shipped architecture with the real MusiCNN music tower and
  freshly initialised heads: ingestion does not care whether the heads are trained), synthesized tracks,
  isolated stores, a fresh PostgreSQL database per test.
- Query path: the shipped model and a small real catalog of synthesized tracks it analysed, speech clips.
- Videos: a real speech clip muxed with coloured frames cut at known times, made by ffmpeg (tests that
  need them skip when the ``ffmpeg`` program is missing; ``scripts/test.sh`` installs it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from recommender.audio import load_audio, write_audio
from recommender.model import EmotionModel
from recommender.search import Recommender
from recommender.settings import Settings, default_data_dir
from recommender.store import EdgeVectorStore, TrackPoint
from recommender.synth import synthesize_music, synthesize_speech

# In-process ingestion analyses in the ingesting process: analysis processes each load torch and the
# model, seconds per test (and per CLI subprocess); tests/ingest/test_analysis_pool.py covers them.
os.environ.setdefault("UNDERTONE_INGEST_PROCESSES", "1")

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


@pytest.fixture
def tone():
    """:func:`write_tone`, for tests that build their own folders."""
    return write_tone


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
    for index, (_, _, genre, _, mood) in enumerate(TRACKS):
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


@pytest.fixture(scope="session")
def small_corpora(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few clips of each corpus in ``../shared/data`` layout (labels subset, audio linked, never copied).

    For tests of the training and evaluation machinery: the whole corpora take minutes to featurise cold.
    RAVDESS keeps actors 01, 02 (train) and 09, 10 (dev); Emotify the first 8 tracks of each genre; 4Q the
    first 6 clips of each quadrant (the default training config trains on 4Q too).
    """
    import csv

    source = default_data_dir()
    if not all((source / corpus / "labels.csv").exists() for corpus in ("ravdess", "emotify", "moods4q")):
        pytest.skip("corpora not available (../shared/data)")
    root = tmp_path_factory.mktemp("corpora")
    keep = {
        "ravdess": lambda row, seen: int(row["actor"]) in {1, 2, 9, 10},
        "emotify": lambda row, seen: seen.setdefault(row["genre"], []).append(row) or len(seen[row["genre"]]) <= 8,
        "moods4q": lambda row, seen: seen.setdefault(row["quadrant"], []).append(row) or len(seen[row["quadrant"]]) <= 6,
    }
    for corpus, wanted in keep.items():
        with (source / corpus / "labels.csv").open(newline="") as handle:
            reader = csv.DictReader(handle)
            seen: dict[str, list] = {}
            rows = [row for row in reader if wanted(row, seen)]
            fields = reader.fieldnames
        (root / corpus).mkdir()
        with (root / corpus / "labels.csv").open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
        for row in rows:
            (root / row["file"]).symlink_to(source / row["file"])
    for extra in ("lexicon",):
        if (source / extra).exists():
            (root / extra).symlink_to(source / extra)
    return root


# -- generated videos ---------------------------------------------------------------------------------
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


@pytest.fixture
def store_dir(tmp_path):
    """Embedded stores fsync every change; on tmpfs (when there is one) the same code runs 50x faster."""
    if not os.path.isdir("/dev/shm"):
        yield tmp_path
        return
    with tempfile.TemporaryDirectory(dir="/dev/shm", prefix="undertone-test-") as directory:
        yield Path(directory)
