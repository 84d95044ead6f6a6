"""In-process ingestion with analysis processes: same vectors as analysing in-process, bad files fail
alone, a dead analysis process costs nothing but a retry, and the window bound is part of the model."""

import os
import signal
import time

import numpy as np
import pytest
import soundfile as sf

from ingest.analysis import AnalysisPool, analysis_processes
from ingest.pipeline import run_ingest
from recommender.errors import CorruptAudioError
from recommender.settings import Settings
from recommender.store import open_vector_store


def vectors(settings):
    with open_vector_store(settings) as store:
        return {point.payload["path"]: (np.asarray(point.vector), point.payload) for point in store.iter_points()}


@pytest.fixture
def library(tmp_path, tone):
    root = tmp_path / "library"
    for index, freq in enumerate((220, 277, 330, 415)):
        tone(root / f"tone{index}.wav", freq=freq)
    (root / "corrupt.flac").write_bytes(b"fLaC" + os.urandom(4000))
    sf.write(root / "silent.wav", np.zeros(48000, np.float32), 16000)
    return root


def test_analysis_processes_give_the_in_process_vectors_and_fail_bad_files_alone(library, settings, tmp_path):
    pooled = settings.replace(store=tmp_path / "pooled", ingest_processes=2)
    in_process = settings.replace(store=tmp_path / "in-process", ingest_processes=1)
    summary = run_ingest(library, pooled)
    assert (summary.ingested, summary.failed) == (4, 2)
    assert {failure.reason for failure in summary.failures} == {"corrupt", "silent"}
    assert run_ingest(library, in_process).ingested == 4
    mine, theirs = vectors(pooled), vectors(in_process)
    assert mine.keys() == theirs.keys() and len(mine) == 4
    for path, (vector, payload) in mine.items():
        np.testing.assert_allclose(vector, theirs[path][0], atol=1e-5)
        assert payload["model"] == theirs[path][1]["model"]
    assert run_ingest(library, pooled).skipped == 4  # unchanged: nothing to analyse


def test_a_dead_analysis_process_costs_a_retry_not_the_file(library, settings):
    pool = AnalysisPool(settings, processes=1)
    try:
        path = str(library / "tone0.wav")
        warm = pool.result(pool.submit(path, None))  # the model is loaded: the next call is only the file
        submission = pool.submit(path, None)
        (pid,) = list(submission.pool._processes)
        os.kill(pid, signal.SIGKILL)
        again = pool.result(submission)
        np.testing.assert_allclose(again.vector, warm.vector, atol=1e-6)
        (pid,) = list(pool._pool()._processes)  # a process that dies between files: the next one still goes through
        os.kill(pid, signal.SIGKILL)
        time.sleep(1.0)
        np.testing.assert_allclose(pool.result(pool.submit(path, None)).vector, warm.vector, atol=1e-6)
        with pytest.raises(CorruptAudioError):
            pool.result(pool.submit(str(library / "corrupt.flac"), None))
        assert pool.result(pool.submit(str(library / "tone1.wav"), None)).duration == pytest.approx(3.0, abs=0.01)
    finally:
        started = time.perf_counter()
        pool.close()
        assert time.perf_counter() - started < 30


def test_changing_the_window_bound_re_analyses_instead_of_keeping_stale_vectors(pair, settings):
    assert run_ingest(pair, settings).ingested == 2
    assert run_ingest(pair, settings).skipped == 2
    every_window = settings.replace(music_max_windows=0)
    again = run_ingest(pair, every_window)
    assert again.ingested == 2 and again.skipped == 0
    assert {payload["model"] for _, payload in vectors(settings).values()} == {run_model_fingerprint(every_window)}


def run_model_fingerprint(settings: Settings) -> str:
    from ingest.pipeline import model_for

    return model_for(settings).fingerprint


def test_default_analysis_processes_follow_the_cores(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert analysis_processes(Settings(ingest_processes=None)) == 2
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert analysis_processes(Settings(ingest_processes=None)) == 4
    assert analysis_processes(Settings(ingest_processes=1)) == 1
