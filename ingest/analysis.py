"""Analysis of music files for ingestion: decode + model, here or in a pool of processes.

:func:`analyze_file` is what every ingesting process runs per new file. An in-process ingestion of the
embedded store spreads it over :class:`AnalysisPool` processes (one torch thread each) while the
owning process keeps hashing, SQL and the vector writes (:mod:`ingest.pipeline`).
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ingest.sources import UNSUPPORTED_AUDIO_EXTENSIONS
from recommender.audio import load_audio
from recommender.errors import AudioError, CorruptAudioError, UndertoneError
from recommender.settings import Settings

if TYPE_CHECKING:
    from recommender.model import EmotionModel

logger = logging.getLogger(__name__)

MAX_DEFAULT_ANALYSERS = 4


class UnsupportedFormatError(CorruptAudioError):
    """Audio in a container libsndfile cannot decode (m4a, wma ...)."""

    reason = "unsupported_format"


class AnalysisError(AudioError):
    """The model could not analyse decoded audio (reported per item, never fatal)."""

    reason = "analysis_failed"


@functools.lru_cache(maxsize=2)
def load_model(name: str, lexicon: str | None, music_max_windows: int | None = None) -> EmotionModel:
    """The emotion model, loaded once per process (workers handle many batches)."""
    from recommender.model import EmotionModel  # torch: only when a model is needed

    return EmotionModel.load(name, lexicon=Path(lexicon) if lexicon else None, music_max_windows=music_max_windows)


def model_for(settings: Settings) -> EmotionModel:
    return load_model(settings.model, str(settings.lexicon) if settings.lexicon else None, settings.music_max_windows)


@dataclass(frozen=True)
class TrackAnalysis:
    """What the model says about one decoded file (what an analysis process sends back)."""

    duration: float
    valence: float
    arousal: float
    moods: dict[str, float]
    vector: np.ndarray


def analyze_file(model: EmotionModel, path: str, max_seconds: float | None) -> TrackAnalysis:
    """Decode ``path`` and analyse it with ``model``.

    Raises:
        AudioError: The file cannot be decoded or analysed (a per-item failure, never fatal).
    """
    rate = model.music_sample_rate
    try:
        waveform = load_audio(path, rate, max_seconds=max_seconds)
    except CorruptAudioError as error:
        extension = Path(path).suffix.lower().lstrip(".")
        if extension in UNSUPPORTED_AUDIO_EXTENSIONS:
            raise UnsupportedFormatError(
                f"{extension} files cannot be decoded here (libsndfile); convert to flac, ogg, opus or mp3", path
            ) from error
        raise
    except MemoryError as error:
        raise AnalysisError("too large to decode in memory", path) from error
    try:
        analysis = model.analyze_music(waveform, rate)
    except AudioError:
        raise
    except (RuntimeError, ValueError, MemoryError) as error:
        raise AnalysisError(f"the model could not analyse it ({type(error).__name__}: {error})", path) from error
    return TrackAnalysis(
        duration=float(analysis.duration if analysis.duration is not None else len(waveform) / rate),
        valence=float(analysis.valence),
        arousal=float(analysis.arousal),
        moods={label: float(p) for label, p in analysis.emotions.items()},
        vector=np.asarray(analysis.embedding, dtype=np.float32),
    )


class AnalysisCrashedError(AnalysisError):
    """The process analysing a file died (a decoder crash, the kernel's out-of-memory killer ...)."""

    reason = "analysis_crashed"


_analyser_model: EmotionModel | None = None


def _start_analyser(name: str, lexicon: str | None, music_max_windows: int | None) -> None:
    """Initializer of an analysis process: one torch thread, the model loaded once."""
    import torch

    torch.set_num_threads(1)
    global _analyser_model
    _analyser_model = load_model(name, lexicon, music_max_windows)
    _analyser_model.music_tower  # noqa: B018 - build MusiCNN before the first file, not during it


def _analyse_in_child(path: str, max_seconds: float | None) -> TrackAnalysis:
    if _analyser_model is None:
        raise RuntimeError("analysis process started without its model")
    try:
        return analyze_file(_analyser_model, path, max_seconds)
    except AudioError:
        raise
    except Exception as error:  # noqa: BLE001 -- sent back as a plain error: an exotic exception may not pickle
        raise RuntimeError(f"{type(error).__name__}: {error}") from None


@dataclass(frozen=True)
class _Submission:
    pool: Any
    future: Any
    path: str
    max_seconds: float | None


class AnalysisPool:
    """Processes that decode and analyse files for an in-process ingestion, one torch thread each.

    The process that owns the embedded store keeps hashing, SQL and vector writes; these only read
    files and run the model, so they never open the store. They start on the first file (a re-ingest
    of an unchanged library starts none) and stay for later jobs of this process, with the ``spawn`` method (torch does not survive ``fork``),
    each loads the model once (about 0.5 GB of memory each). A process that dies takes only its
    file down: the files it was holding are retried one at a time in a fresh pool, and a file that
    kills that one too fails as ``analysis_crashed``.

    Args:
        settings: Model to load (``model``, ``lexicon``, ``music_max_windows``).
        processes: How many analysis processes.
    """

    def __init__(self, settings: Settings, processes: int) -> None:
        self.settings = settings
        self.processes = processes
        self._executor: Any = None

    def _pool(self) -> Any:
        if self._executor is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            settings = self.settings
            self._executor = ProcessPoolExecutor(
                self.processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_analyser,
                initargs=(settings.model, str(settings.lexicon) if settings.lexicon else None, settings.music_max_windows),
            )
        return self._executor

    def submit(self, path: str, max_seconds: float | None) -> _Submission:
        """Start analysing ``path``; :meth:`result` waits for it."""
        from concurrent.futures.process import BrokenProcessPool

        pool = self._pool()
        try:
            return _Submission(pool, pool.submit(_analyse_in_child, path, max_seconds), path, max_seconds)
        except BrokenProcessPool:  # a process died since the last file was handed out: start afresh
            self.close()
            pool = self._pool()
            return _Submission(pool, pool.submit(_analyse_in_child, path, max_seconds), path, max_seconds)

    def result(self, submission: _Submission) -> TrackAnalysis:
        """The analysis of a submitted file (raises its :class:`AudioError`)."""
        from concurrent.futures.process import BrokenProcessPool

        try:
            return submission.future.result()
        except BrokenProcessPool:
            pass
        # A process died, and every file in flight in that pool failed with it: retry this one alone in
        # a fresh pool, which either analyses it or shows that this file is what kills the process.
        logger.warning("an analysis process died; retrying %s alone", submission.path)
        if submission.pool is self._executor:
            self.close()
        try:
            return self._pool().submit(_analyse_in_child, submission.path, submission.max_seconds).result()
        except BrokenProcessPool:
            self.close()
            raise AnalysisCrashedError("the process analysing it died (a decoder crash or out of memory)", submission.path) from None

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None


def analysis_processes(settings: Settings) -> int:
    """How many analysis processes an in-process ingestion uses (``Settings.ingest_processes``)."""
    if settings.ingest_processes is not None:
        return settings.ingest_processes
    return max(1, min(os.cpu_count() or 1, MAX_DEFAULT_ANALYSERS))


_pools: dict[tuple[Any, ...], AnalysisPool] = {}


def analysers_for(settings: Settings, model: EmotionModel | None) -> AnalysisPool | None:
    """The analysis pool for ``settings`` when more than one process is wanted and it would load the
    same model as ``model``.

    One pool per model and size, kept for the life of this process (closed at exit): a server, the
    dashboard or a script that ingests again reuses processes that have loaded the model already.
    """
    processes = analysis_processes(settings)
    if processes < 2:
        return None
    if model is not None:
        try:
            same = model_for(settings).fingerprint == model.fingerprint
        except (UndertoneError, OSError, ValueError):  # a model given in memory that settings cannot name: analyse here
            same = False
        if not same:
            return None
    try:
        import concurrent.futures.process  # noqa: F401
        import multiprocessing  # noqa: F401
    except ImportError as error:  # a locked-down Python (seen running as another user): analyse here
        logger.warning("analysis processes unavailable (%s); analysing in this process", error)
        return None
    key = (settings.model, settings.lexicon, settings.music_max_windows, processes)
    if key not in _pools:
        if not _pools:
            atexit.register(_close_pools)
        _pools[key] = AnalysisPool(settings, processes)
    return _pools[key]


def _close_pools() -> None:
    for pool in _pools.values():
        pool.close()
