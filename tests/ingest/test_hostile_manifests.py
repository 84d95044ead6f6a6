"""Hostile manifests: bad lines and metadata the store cannot hold fail their row; nothing blocks other work."""

import json

import numpy as np
import pytest
import soundfile as sf

from ingest.catalog import TrackRecord, open_catalog
from ingest.pipeline import run_ingest
from ingest.reconcile import reconcile
from ingest.sources import SourceItem
from recommender.store import open_vector_store


def write_opus(path, seconds=3.0, freq=300.0):
    t = np.arange(int(seconds * 48000)) / 48000
    sf.write(path, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), 48000, format="OGG", subtype="OPUS")
    return path


def test_a_non_finite_csv_cell_fails_its_row_and_the_rest_lands(pair, settings):
    write_opus(pair / "x.opus")
    manifest = pair / "library.csv"
    manifest.write_text("path,genre,bpm\nx.opus,classical,1e999\ny.flac,rock,120\n", encoding="utf-8")
    summary = run_ingest(manifest, settings)
    assert (summary.state, summary.ingested, summary.failed) == ("done", 1, 1)
    (failure,) = summary.failures
    assert failure.reason == "bad_entry" and failure.path.endswith("library.csv:2")
    assert "'bpm'" in failure.message and "finite" in failure.message
    assert run_ingest(manifest, settings).state == "done"  # and again: nothing left behind to replay


def test_nan_infinity_and_huge_numbers_in_jsonl_fail_their_rows(pair, settings):
    manifest = pair / "library.jsonl"
    rows = [
        '{"path": "x.wav", "bpm": NaN}',
        '{"path": "x.wav", "bpm": -Infinity}',
        '{"path": "x.wav", "loudness": [1, {"peak": Infinity}]}',
        '{"path": "x.wav", "id": 123456789012345678901234567890}',
        json.dumps({"path": "y.flac", "tags": {"a": {"b": 1}}, "bpm": 1e300}),
    ]
    manifest.write_text("\n".join(rows) + "\n", encoding="utf-8")
    summary = run_ingest(manifest, settings)
    assert (summary.state, summary.ingested, summary.failed) == ("done", 1, 4)
    messages = [failure.message for failure in summary.failures]
    assert all(failure.reason == "bad_entry" for failure in summary.failures)
    assert "finite" in messages[0] and "finite" in messages[1] and "'loudness'" in messages[2] and "64 bits" in messages[3]


def poison(settings, path: str) -> str:
    """What a catalog written before the fix holds: a staged track whose payload the store refuses."""
    with open_catalog(settings) as catalog:
        job_id = catalog.create_job(path, mode="local")
        (item_id,) = catalog.add_items(job_id, [SourceItem(path)])
        catalog.finish_planning(job_id, 1)
        vector = np.ones(64, np.float32) / 8
        record = TrackRecord(
            id="00000000-0000-4000-8000-000000000001", content_hash="0" * 64, path=path, size=1, mtime_ns=1, model="m",
            duration=1.0, valence=0.5, arousal=0.5, mood="calm", moods={"calm": 1.0}, metadata={"bpm": float("inf")},
            metadata_signature="s", vector=vector,
        )
        catalog.stage_track(record, item_id, job_id)
    return job_id


def test_a_poisoned_outbox_never_blocks_later_ingests_or_repair(pair, settings, tmp_path):
    poisoned = poison(settings, str(tmp_path / "old.opus"))
    summary = run_ingest(pair, settings)  # flushes the outbox first: the bad row must not stop it
    assert (summary.state, summary.ingested) == ("done", 2)
    with open_catalog(settings) as catalog:
        status = catalog.job_status(poisoned)
        assert status.state == "done" and status.counts["failed"] == 1
        (failure,) = status.failures
        assert failure.reason == "store_rejected" and "finite" in failure.message
        assert catalog.counts()["pending"] == 0

    poison(settings, str(tmp_path / "older.opus"))
    with open_catalog(settings) as catalog, open_vector_store(settings) as store:
        report = reconcile(catalog, store, repair=True)
        assert report.repaired and reconcile(catalog, store).consistent
        assert store.count() == catalog.counts()["tracks"] == 2


def test_one_bad_line_of_each_kind_is_a_failed_item_not_an_aborted_job(pair, settings):
    csv_manifest = pair / "latin1.csv"
    csv_manifest.write_bytes(("path,title\n" + "x.wav," + "z" * 200_000 + "\ny.flac,Café del Mar\n").encode("latin-1"))
    summary = run_ingest(csv_manifest, settings)
    assert (summary.state, summary.ingested, summary.failed) == ("done", 1, 1)
    assert "field larger than field limit" in summary.failures[0].message
    with open_vector_store(settings) as store:
        assert store.count({"title": "Café del Mar"}) == 1

    jsonl = pair / "deep.jsonl"
    jsonl.write_text('{"path": "x.wav", "x": ' + "[" * 100_000 + "]" * 100_000 + "}\n" + '{"path": "y.flac"}\n', encoding="utf-8")
    summary = run_ingest(jsonl, settings)
    assert (summary.state, summary.failed, summary.total) == ("done", 1, 2)
    assert "nested too deeply" in summary.failures[0].message


def test_an_interrupted_planning_fails_the_job_instead_of_leaving_it_planning(pair, settings, monkeypatch):
    from ingest.catalog import Catalog

    def interrupted(self, job_id, items):
        raise KeyboardInterrupt

    monkeypatch.setattr(Catalog, "add_items", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_ingest(pair, settings)
    with open_catalog(settings) as catalog:
        (job,) = catalog.jobs()
    assert job.state == "failed" and "planning stopped" in job.error
