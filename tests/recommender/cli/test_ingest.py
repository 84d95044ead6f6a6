"""``undertone ingest`` and ``undertone catalog`` through the real command-line entry point."""

import json

import pytest

from recommender.cli import main
from recommender.store import open_vector_store

pytestmark = pytest.mark.slow


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_ingest_and_catalog(pair, settings, capsys):
    (pair / "broken.wav").write_text("not audio", encoding="utf-8")
    store = ["--store", str(settings.store), "--model", settings.model]

    code, out, _ = run(capsys, "ingest", str(pair), *store, "--quiet")
    assert code == 0  # a bad file does not make the job fail
    assert out.startswith("done: ingested 2, skipped 0, failed 1 of 3 files")
    assert "corrupt" in out and "broken.wav" in out

    code, out, _ = run(capsys, "ingest", str(pair), *store, "--json")
    summary = json.loads(out)
    assert code == 0 and (summary["ingested"], summary["skipped"], summary["failed"]) == (0, 2, 1)

    code, out, _ = run(capsys, "catalog", *store, "--json")
    catalog = json.loads(out)
    assert code == 0 and (catalog["tracks"], catalog["failed"], catalog["pending"], catalog["jobs"]) == (2, 1, 0, 2)
    assert sorted(track["path"].rsplit("/", 1)[1] for track in catalog["listing"]) == ["x.wav", "y.flac"]
    assert [failure["reason"] for failure in catalog["failures"]] == ["corrupt"]

    code, out, _ = run(capsys, "catalog", *store)
    assert code == 0 and out.startswith("2 tracks, 0 pending, 0 retired, 1 failed, 2 jobs") and "x.wav" in out

    code, out, _ = run(capsys, "catalog", *store, "--job", summary["job_id"], "--json")
    assert code == 0 and json.loads(out)["skipped"] == 2

    code, out, _ = run(capsys, "catalog", *store, "--jobs")
    assert code == 0 and len(out.strip().splitlines()) >= 2

    code, out, _ = run(capsys, "catalog", *store, "--verify")
    assert code == 0 and out.strip().endswith("consistent")

    with open_vector_store(settings) as vectors:
        vectors.delete([next(vectors.iter_points()).id])
    code, out, _ = run(capsys, "catalog", *store, "--verify", "--json")
    assert code == 1 and len(json.loads(out)["missing"]) == 1
    code, out, _ = run(capsys, "catalog", *store, "--repair")
    assert code == 0 and "repaired" in out
    code, _, _ = run(capsys, "catalog", *store, "--verify")
    assert code == 0


def test_user_errors_are_one_line_and_exit_1(tmp_path, settings, capsys, pair):
    store = ["--store", str(settings.store), "--model", settings.model]
    code, _, err = run(capsys, "ingest", str(tmp_path / "nowhere"), *store)
    assert code == 1 and err.startswith("undertone: error:") and "no such file or folder" in err

    manifest = tmp_path / "bad.csv"
    manifest.write_text("file\na.wav\n", encoding="utf-8")
    code, _, err = run(capsys, "ingest", str(manifest), *store)
    assert code == 1 and "no 'path' column" in err

    with open_vector_store(settings):
        code, _, err = run(capsys, "ingest", str(pair), *store)
    assert code == 1 and "in use by process" in err and "--qdrant-url" in err

    code, _, err = run(capsys, "catalog", *store, "--job", "no-such-job")
    assert code == 1 and "no ingest job" in err


def test_workers_need_a_broker(pair, settings, capsys, monkeypatch):
    monkeypatch.delenv("UNDERTONE_REDIS_URL", raising=False)
    code, _, err = run(capsys, "ingest", str(pair), "--store", str(settings.store), "--workers")
    assert code == 1 and "--redis-url" in err


def test_a_store_that_is_a_file_and_a_garbage_catalog_are_clear_errors(tmp_path, capsys):
    (tmp_path / "not-a-folder").write_text("x", encoding="utf-8")
    for command in (["catalog"], ["ingest", str(tmp_path)]):
        code, _, err = run(capsys, *command, "--store", str(tmp_path / "not-a-folder"))
        assert code == 1 and "is a file; the store is a folder" in err
    garbage = tmp_path / "store"
    garbage.mkdir()
    (garbage / "catalog.sqlite").write_bytes(bytes(range(256)) * 40)
    code, _, err = run(capsys, "catalog", "--store", str(garbage))
    assert code == 1 and "cannot be used (file is not a database)" in err and "move it away" in err


def test_catalog_json_into_a_closed_pipe_ends_quietly(pair, settings):
    import subprocess
    import sys
    from pathlib import Path

    from ingest.pipeline import run_ingest

    run_ingest(pair, settings)
    command = [sys.executable, "-m", "recommender.cli", "catalog", "--json", "--store", str(settings.store)]
    reader_gone = subprocess.Popen(command, cwd=Path(__file__).resolve().parents[3], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    reader_gone.stdout.close()  # like `| head` having exited before the first write
    stderr = reader_gone.stderr.read().decode()
    assert reader_gone.wait(timeout=120) == 141 and "BrokenPipeError" not in stderr and stderr == ""
