"""End-to-end ingestion in-process (the embedded default): real model, real SQLite, real Qdrant Edge."""

import os
import shutil

import numpy as np
import pytest
from sqlalchemy import select

from ingest.catalog import INDEXED, PENDING, Catalog, IngestItem, open_catalog
from ingest.identity import content_hash, track_id
from ingest.pipeline import run_ingest
from ingest.reconcile import reconcile
from recommender.errors import StoreBusyError
from recommender.store import TrackPoint, open_vector_store


def snapshot(settings):
    """Everything the store holds: id -> (vector, payload)."""
    with open_vector_store(settings) as store:
        return {point.id: (np.asarray(point.vector), point.payload) for point in store.iter_points()}


def test_ingest_a_folder_then_reingest_changes_nothing(music, settings):
    statuses = []
    summary = run_ingest(music, settings, progress=statuses.append, batch_size=2)
    assert (summary.state, summary.total, summary.ingested, summary.skipped, summary.failed) == ("done", 3, 3, 0, 0)
    assert statuses[0].total == 3 and statuses[-1].processed == 3

    points = snapshot(settings)
    expected_ids = {track_id(content_hash(path)) for path in music.rglob("*.*")}
    assert set(points) == expected_ids
    for vector, payload in points.values():
        assert vector.shape == (64,) and np.isclose(np.linalg.norm(vector), 1.0, atol=1e-4)
        assert {"path", "content_hash", "duration", "valence", "arousal", "moods", "mood", "model", "ingested_at"} <= payload.keys()
        assert payload["mood"] == next(iter(payload["moods"])) and abs(payload["duration"] - 3.0) < 0.01
        assert 0 <= payload["valence"] <= 1 and os.path.isabs(payload["path"])

    again = run_ingest(music, settings)
    assert (again.ingested, again.skipped, again.failed) == (0, 3, 0)
    after = snapshot(settings)
    assert after.keys() == points.keys()
    for point_id, (vector, payload) in after.items():
        np.testing.assert_array_equal(vector, points[point_id][0])
        assert payload == points[point_id][1]
    with open_catalog(settings) as catalog:
        assert catalog.counts() == {"tracks": 3, "pending": 0, "retired": 0, "failed": 0, "jobs": 2}


def test_manifest_metadata_becomes_typed_filterable_payload_and_edits_reuse_the_embedding(pair, settings):
    manifest = pair / "library.csv"
    manifest.write_text("path,title,genre,year\nx.wav,Alpha,jazz,1999\ny.flac,Beta,rock,2004\n", encoding="utf-8")
    assert run_ingest(manifest, settings).ingested == 2
    with open_vector_store(settings) as store:
        assert store.count({"genre": "jazz"}) == 1
        assert store.count({"year": {"gte": 2000}}) == 1
        (alpha,) = store.search(np.ones(64, np.float32), 5, where={"title": "Alpha"})
        assert alpha.payload["year"] == 1999 and isinstance(alpha.payload["year"], int)
        before = {p.id: np.asarray(p.vector) for p in store.iter_points()}

    manifest.write_text("path,title,genre,year\nx.wav,Alpha (remaster),jazz,2020\ny.flac,Beta,rock,2004\n", encoding="utf-8")
    summary = run_ingest(manifest, settings)
    assert (summary.ingested, summary.skipped) == (1, 1)
    with open_vector_store(settings) as store:
        points = {p.id: p for p in store.iter_points()}
        assert points[alpha.id].payload["title"] == "Alpha (remaster)" and points[alpha.id].payload["year"] == 2020
        for point_id, vector in before.items():
            np.testing.assert_array_equal(np.asarray(points[point_id].vector), vector)


def test_moved_file_keeps_its_id_and_duplicates_are_not_double_counted(music, settings):
    run_ingest(music, settings)
    original = music / "a.wav"
    the_id = track_id(content_hash(original))
    moved = music / "moved" / "a-renamed.wav"
    moved.parent.mkdir()
    shutil.move(original, moved)
    summary = run_ingest(music, settings)
    assert (summary.ingested, summary.skipped) == (1, 2)
    points = snapshot(settings)
    assert len(points) == 3 and points[the_id][1]["path"] == str(moved)

    shutil.copy(moved, music / "copy-of-a.wav")
    summary = run_ingest(music, settings)
    assert (summary.ingested, summary.skipped) == (0, 4)
    with open_catalog(settings) as catalog, catalog.session() as session:
        reasons = dict(session.execute(select(IngestItem.path, IngestItem.reason).where(IngestItem.job_id == summary.job_id)).all())
        assert reasons[str(music / "copy-of-a.wav")] == "duplicate" and reasons[str(moved)] == "unchanged"
    with open_catalog(settings) as catalog:
        assert catalog.counts()["tracks"] == 3
    assert len(snapshot(settings)) == 3


def test_new_content_at_the_same_path_replaces_the_old_track(pair, settings, tone):
    song = pair / "x.wav"
    run_ingest(song, settings)
    old_id = track_id(content_hash(song))
    tone(song, freq=550)
    assert run_ingest(song, settings).ingested == 1
    assert set(snapshot(settings)) == {track_id(content_hash(song))} != {old_id}


def test_another_model_reanalyses_everything(pair, settings, tmp_path):
    from recommender.model import EmotionModel

    song = pair / "x.wav"
    run_ingest(song, settings)
    EmotionModel.from_config(EmotionModel.load(settings.model).config, seed=1).save(tmp_path / "other-model")
    other = settings.replace(model=str(tmp_path / "other-model"))
    assert run_ingest(song, other).ingested == 1
    (payload,) = [payload for _, payload in snapshot(other).values()]
    assert payload["model"] == EmotionModel.load(other.model).fingerprint != EmotionModel.load(settings.model).fingerprint


class CrashingStore:
    """A real store whose next ``upsert`` dies, as a process killed between the two writes would."""

    def __init__(self, store):
        self.store = store

    def upsert(self, points):
        raise ConnectionError("killed between the SQL write and the vector write")

    def __getattr__(self, name):
        return getattr(self.store, name)


def test_crash_between_sql_and_vector_write_heals_on_rerun(pair, settings):
    with open_vector_store(settings) as store, pytest.raises(ConnectionError):
        run_ingest(pair, settings, store=CrashingStore(store))
    with open_catalog(settings) as catalog:
        assert catalog.counts()["pending"] == 2
        with open_vector_store(settings) as store:
            report = reconcile(catalog, store)
            assert not report.consistent and report.outbox == 2 and report.store_points == 0

    summary = run_ingest(pair, settings)  # flushes the outbox first, then skips the staged tracks
    assert summary.failed == 0 and summary.ingested + summary.skipped == 2
    with open_catalog(settings) as catalog, open_vector_store(settings) as store:
        assert reconcile(catalog, store).consistent
        assert store.count() == 2 and catalog.counts()["tracks"] == 2


def test_crash_after_vector_write_before_sql_mark_heals_without_duplicates(pair, settings, monkeypatch):
    def crash(self, tracks):
        raise ConnectionError("killed after the vector write")

    with monkeypatch.context() as patch:
        patch.setattr(Catalog, "mark_written", crash)
        with pytest.raises(ConnectionError):
            run_ingest(pair, settings)
    assert len(snapshot(settings)) == 2  # vectors landed, SQL still says pending
    with open_catalog(settings) as catalog:
        assert {row.state for row in catalog.outbox()} == {PENDING}
    run_ingest(pair, settings)
    with open_catalog(settings) as catalog, open_vector_store(settings) as store:
        assert reconcile(catalog, store).consistent and store.count() == 2
        assert {track.state for track in catalog.tracks()} == {INDEXED}


def test_repair_restores_missing_points_and_removes_orphans(pair, settings):
    run_ingest(pair, settings)
    with open_catalog(settings) as catalog, open_vector_store(settings) as store:
        victim = next(store.iter_points())
        store.delete([victim.id])
        orphan = "00000000-0000-5000-8000-000000000001"
        store.upsert([TrackPoint(orphan, np.ones(64, np.float32), {"path": "/gone.wav"})])
        report = reconcile(catalog, store)
        assert report.missing == [victim.id] and report.orphans == [orphan] and not report.consistent
        assert reconcile(catalog, store, repair=True).repaired
        assert reconcile(catalog, store).consistent
        assert {p.id for p in store.iter_points()} == {track.id for track in catalog.tracks()}


def test_a_busy_store_is_refused_clearly(pair, settings):
    with open_vector_store(settings):
        with pytest.raises(StoreBusyError, match="in use"):
            run_ingest(pair, settings)
