"""A corpus of bad inputs, generated here: each gives one clear failure while the good files land."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ingest.pipeline import run_ingest
from recommender.store import open_vector_store

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def build_corpus(root: Path, tone) -> dict[str, str | None]:
    """Write the corpus; returns file name -> expected failure reason (None: must ingest)."""
    tone(root / "good.wav", freq=300)
    tone(root / "surround.wav", freq=500, channels=8)  # a surround mix is down-mixed, not refused
    (root / "empty.wav").write_bytes(b"")
    flac = tone(root / "whole.flac", freq=700).read_bytes()
    (root / "whole.flac").unlink()
    (root / "truncated.flac").write_bytes(flac[: len(flac) // 2])
    # 10 s of Opus cut to its first fifth: it decodes, but its Ogg stream has no end (it used to land as 2 s).
    t = np.arange(10 * 48000) / 48000
    sf.write(root / "whole.opus", (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), 48000, format="OGG", subtype="OPUS")
    opus = (root / "whole.opus").read_bytes()
    (root / "whole.opus").unlink()
    (root / "truncated.opus").write_bytes(opus[: len(opus) // 5])
    (root / "notes.mp3").write_text("these are my notes, not a song\n" * 20, encoding="utf-8")
    sf.write(root / "silence.wav", np.zeros(3 * 16000, np.float32), 16000)
    # One hour of audio, cheaply: 1 kHz, 8-bit -> 3.6 MB. Refused from the header, never decoded.
    sf.write(root / "hour.wav", np.zeros(3600 * 1000, np.float32) + 0.1, 1000, subtype="PCM_U8")
    nan = np.sin(np.arange(3 * 16000) / 10).astype(np.float32)
    nan[1000:1100] = np.nan
    sf.write(root / "nan.wav", nan, 16000, subtype="FLOAT")
    (root / "song.m4a").write_bytes(b"\x00\x00\x00\x20ftypM4A " + bytes(200))
    os.mkfifo(root / "pipe.wav")
    (root / "folder.wav").mkdir()
    return {
        "good.wav": None,
        "surround.wav": None,
        "empty.wav": "empty",
        "truncated.flac": "corrupt",
        "truncated.opus": "truncated",
        "notes.mp3": "corrupt",
        "silence.wav": "silent",
        "hour.wav": "too_long",
        "nan.wav": "corrupt",
        "song.m4a": "unsupported_format",
        "pipe.wav": "unreadable",
        "folder.wav": "unreadable",
        "missing.wav": "not_found",
    }


def test_bad_inputs_fail_one_by_one_and_good_files_land(tmp_path, settings, tone):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    expected = build_corpus(corpus, tone)
    manifest = corpus / "manifest.csv"
    manifest.write_text("path\n" + "\n".join(expected) + "\n\"a,b\",extra\n", encoding="utf-8")

    summary = run_ingest(manifest, settings)
    assert summary.state == "done" and summary.total == len(expected) + 1
    failures = {Path(f.path.split(":")[0]).name if ":" in f.path else Path(f.path).name: f for f in summary.failures}
    reasons = {name: failure.reason for name, failure in failures.items()}
    assert reasons == {**{name: reason for name, reason in expected.items() if reason}, "manifest.csv": "bad_entry"}
    assert "NaN" in failures["nan.wav"].message
    assert "60.0 min" in failures["hour.wav"].message
    assert "directory" in failures["folder.wav"].message
    assert "is truncated" in failures["truncated.opus"].message
    assert "convert" in failures["song.m4a"].message
    assert "regular file" in failures["pipe.wav"].message
    assert all(failure.message and str(corpus) not in failure.message for failure in summary.failures)
    assert summary.ingested == 2

    with open_vector_store(settings) as store:
        landed = sorted(Path(point.payload["path"]).name for point in store.iter_points())
    assert landed == ["good.wav", "surround.wav"]

    # The folder itself: the same failures (a folder named like a file is walked into, so it is no item).
    again = run_ingest(corpus, settings)
    assert (again.skipped, again.ingested) == (2, 0)
    assert {Path(f.path).name: f.reason for f in again.failures} == {
        name: reason for name, reason in expected.items() if reason and name not in ("folder.wav", "missing.wav")
    }


# Runs in a fresh interpreter: ingest once as root (so every lazily imported module is loaded -- the
# interpreter itself may live where ``nobody`` cannot read), then drop to ``nobody`` and ingest for real.
AS_NOBODY = """
import json, os, sys
from pathlib import Path
from ingest.pipeline import run_ingest
from recommender.settings import Settings
base = Path(sys.argv[1])
run_ingest(base / "warmup" / "w.wav", Settings(store=base / "warmup-store", model=str(base / "model")))
os.setgroups([]); os.setgid(65534); os.setuid(65534)
summary = run_ingest(base / "music", Settings(store=base / "store", model=str(base / "model")))
print(json.dumps(summary.to_dict()))
"""


def test_unreadable_file_is_a_failed_item(model_dir, tone):
    """chmod 000 does not stop root, so as root the ingestion drops to ``nobody`` first."""
    base = Path(tempfile.mkdtemp(prefix="undertone-perm-"))
    try:
        tone(base / "music" / "open.wav", freq=250)
        locked = tone(base / "music" / "locked.wav", freq=350)
        tone(base / "warmup" / "w.wav", freq=450)
        shutil.copytree(model_dir, base / "model")
        (base / "store").mkdir()
        locked.chmod(0)
        if os.geteuid() == 0:
            base.chmod(0o755)
            for path in [base, *base.rglob("*")]:
                os.chown(path, 65534, 65534, follow_symlinks=False)
            result = subprocess.run([sys.executable, "-c", AS_NOBODY, str(base)], cwd=REPO, capture_output=True, text=True, timeout=300)
            assert result.returncode == 0, result.stderr
            summary = json.loads(result.stdout.strip().splitlines()[-1])
        else:
            from recommender.settings import Settings

            summary = run_ingest(base / "music", Settings(store=base / "store", model=str(base / "model"))).to_dict()
        assert (summary["ingested"], summary["failed"]) == (1, 1)
        (failure,) = summary["failures"]
        assert failure["reason"] == "unreadable" and "permission denied" in failure["message"]
        assert failure["path"].endswith("locked.wav")
    finally:
        shutil.rmtree(base, ignore_errors=True)
