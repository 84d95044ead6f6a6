"""Tower features of labelled audio, computed once and cached on disk.

Towers are frozen, so training and evaluation only ever need each file's tower vector. Vectors live in
``~/.cache/undertone/features/<modality>-<tower>-<fingerprint>/<file key>.npz``. The tower fingerprint
hashes the tower's name, its options and its output on a fixed probe signal, so retrained tower
weights never reuse stale vectors; the file key hashes the path, size and modification time.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from recommender.audio import load_audio
from recommender.errors import AudioError
from recommender.towers.base import Tower

logger = logging.getLogger(__name__)

PROBE_SECONDS = 3.0


def default_cache_dir() -> Path:
    return Path.home() / ".cache" / "undertone" / "features"


def probe_signal(sample_rate: int, seconds: float = PROBE_SECONDS) -> np.ndarray:
    """A fixed test signal: a rising chirp with a harmonic, amplitude-modulated, plus seeded noise."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    phase = 2 * np.pi * (110.0 * t + 150.0 * t * t)
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3.0 * t)
    noise = np.random.default_rng(0).normal(scale=0.02, size=t.size)
    return (0.3 * envelope * (np.sin(phase) + 0.5 * np.sin(2 * phase)) + noise).astype(np.float32)


def tower_fingerprint(tower: Tower) -> str:
    """Identity of a tower's behaviour: name, options and its (rounded) output on :func:`probe_signal`."""
    digest = hashlib.sha256(f"{tower.modality}/{tower.name}".encode())
    digest.update(json.dumps(tower.config.to_dict(), sort_keys=True, default=str).encode())
    output = np.asarray(tower.embed(probe_signal(int(tower.sample_rate))), dtype=np.float32)
    digest.update(np.round(output, 3).tobytes())
    return digest.hexdigest()[:16]


class FeatureCache:
    """Audio files -> tower vectors, cached per tower fingerprint.

    Args:
        root: Cache directory (default ``~/.cache/undertone/features``).
    """

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root else default_cache_dir()
        self._fingerprints: dict[int, str] = {}

    def directory(self, tower: Tower) -> Path:
        key = id(tower)
        if key not in self._fingerprints:
            self._fingerprints[key] = tower_fingerprint(tower)
        return self.root / f"{tower.modality}-{tower.name}-{self._fingerprints[key]}"

    def embed_files(
        self, tower: Tower, paths: Sequence[Path], *, description: str | None = None
    ) -> tuple[np.ndarray, list[int]]:
        """Tower vectors of audio files, from the cache where possible.

        Files that cannot be decoded, or hold only digital silence, are skipped with a warning.

        Returns:
            ``(n_kept, dim)`` float32 vectors and the indices into ``paths`` they belong to.
        """
        directory = self.directory(tower)
        directory.mkdir(parents=True, exist_ok=True)
        vectors, kept = [], []
        bar = tqdm(paths, desc=description or f"{tower.modality} features", unit="file", leave=False)
        for index, path in enumerate(bar):
            target = directory / f"{_file_key(Path(path))}.npz"
            if target.is_file():
                vector = np.load(target)["features"]
            else:
                try:
                    # Corpora hold genuinely quiet takes (RAVDESS actor 09 peaks near -40 dBFS): keep them,
                    # and skip only files that cannot be decoded or are digital silence.
                    waveform = load_audio(path, int(tower.sample_rate), max_seconds=None, allow_silence=True)
                except AudioError as error:
                    logger.warning("skipping %s", error)
                    continue
                if not np.any(waveform):
                    logger.warning("skipping %s: digital silence", path)
                    continue
                vector = np.asarray(tower.embed(waveform), dtype=np.float32)
                tmp = target.with_suffix(".part.npz")
                np.savez(tmp, features=vector)
                tmp.replace(target)
            vectors.append(vector)
            kept.append(index)
        features = np.stack(vectors).astype(np.float32) if vectors else np.zeros((0, tower.dim), np.float32)
        return features, kept


def _file_key(path: Path) -> str:
    stat = path.stat()
    return hashlib.sha1(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:20]
