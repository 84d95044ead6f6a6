"""The SQL catalog on SQLite and on PostgreSQL: same code, same behaviour."""

import numpy as np
import pytest

from ingest.catalog import (
    DONE,
    FAILED,
    INDEXED,
    INGESTED,
    PENDING,
    QUEUED,
    RETIRED,
    RUNNING,
    SKIPPED,
    Catalog,
    TrackRecord,
)
from ingest.sources import SourceItem


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def catalog(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'deep' / 'catalog.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_url")
    with Catalog(url) as opened:
        yield opened


def record(track_id: str, path: str, **changes) -> TrackRecord:
    fields = dict(
        id=track_id, content_hash=track_id.replace("-", "").ljust(64, "0"), path=path, size=10, mtime_ns=1,
        model="m1", duration=3.0, valence=0.5, arousal=0.25, mood="calmness", moods={"calmness": 0.7, "power": 0.3},
        metadata={"year": 1999, "genre": "jazz"}, metadata_signature="sig", vector=np.arange(4, dtype=np.float32),
    )
    fields.update(changes)
    return TrackRecord(**fields)


def new_job(catalog: Catalog, paths: list[str]) -> tuple[str, list[int]]:
    job_id = catalog.create_job("src", mode="local")
    item_ids = catalog.add_items(job_id, [SourceItem(path, {"k": i}) for i, path in enumerate(paths)])
    catalog.finish_planning(job_id, len(item_ids))
    return job_id, item_ids


ID_A, ID_B = "00000000-0000-5000-8000-00000000000a", "00000000-0000-5000-8000-00000000000b"


def test_schema_creation_is_idempotent(catalog):
    with Catalog(catalog.url) as again:
        assert again.counts() == {"tracks": 0, "pending": 0, "retired": 0, "failed": 0, "jobs": 0}


def test_stage_then_mark_written_is_the_outbox_protocol(catalog):
    job_id, (item,) = new_job(catalog, ["/m/a.wav"])
    catalog.stage_track(record(ID_A, "/m/a.wav"), item, job_id)
    assert catalog.track(ID_A).state == PENDING
    assert catalog.job_status(job_id).counts[PENDING] == 1
    assert not catalog.finish_job_if_complete(job_id)

    (row,) = catalog.outbox()
    assert row.payload() == {
        "year": 1999, "genre": "jazz", "path": "/m/a.wav", "content_hash": row.content_hash, "duration": 3.0,
        "valence": 0.5, "arousal": 0.25, "moods": {"calmness": 0.7, "power": 0.3}, "mood": "calmness", "model": "m1",
        "ingested_at": row.payload()["ingested_at"],
    }
    assert row.payload()["ingested_at"].endswith("+00:00")
    np.testing.assert_array_equal(row.embedding(), np.arange(4, dtype=np.float32))
    catalog.mark_written([row])
    assert catalog.track(ID_A).state == INDEXED and catalog.outbox() == []
    assert catalog.job_status(job_id).counts[INGESTED] == 1
    assert catalog.finish_job_if_complete(job_id) and catalog.job_status(job_id).state == DONE


def test_a_restage_during_a_flush_stays_in_the_outbox(catalog):
    job_id, (first, second) = new_job(catalog, ["/m/a.wav", "/m/a.wav"])
    catalog.stage_track(record(ID_A, "/m/a.wav"), first, job_id)
    (stale,) = catalog.outbox()
    catalog.stage_track(record(ID_A, "/m/a.wav", metadata={"year": 2000}), second, job_id)
    catalog.mark_written([stale])  # wrote the old revision: the new one must still be written
    (fresh,) = catalog.outbox()
    assert fresh.state == PENDING and fresh.meta == {"year": 2000} and fresh.revision == stale.revision + 1
    catalog.mark_written([fresh])
    assert catalog.job_status(job_id).counts[INGESTED] == 2


def test_new_content_at_a_path_retires_the_old_track(catalog):
    job_id, (first, second) = new_job(catalog, ["/m/a.wav", "/m/a.wav"])
    catalog.stage_track(record(ID_A, "/m/a.wav"), first, job_id)
    catalog.mark_written(catalog.outbox())
    catalog.stage_track(record(ID_B, "/m/a.wav"), second, job_id)
    states = {row.id: row.state for row in catalog.outbox()}
    assert states == {ID_A: RETIRED, ID_B: PENDING}
    assert catalog.track_at("/m/a.wav").id == ID_B
    catalog.mark_written(catalog.outbox())
    assert catalog.track(ID_A) is None and catalog.counts()["tracks"] == 1


def test_items_waiting_on_a_retired_track_do_not_hang_the_job(catalog):
    job_id, (first, second, third) = new_job(catalog, ["/m/a.wav", "/m/a.wav", "/m/a.wav"])
    catalog.stage_track(record(ID_A, "/m/a.wav"), first, job_id)
    catalog.wait_for_track(second, ID_A)
    catalog.stage_track(record(ID_B, "/m/a.wav"), third, job_id)
    catalog.mark_written(catalog.outbox())
    counts = catalog.job_status(job_id).counts
    assert counts[SKIPPED] == 2 and counts[INGESTED] == 1 and catalog.finish_job_if_complete(job_id)


def test_job_status_counts_and_failures(catalog):
    job_id, items = new_job(catalog, ["/m/a.wav", "/m/b.mp3", "/m/c.wav"])
    catalog.finish_item(items[1], FAILED, reason="corrupt", message="not audio")
    catalog.finish_item(items[2], SKIPPED, reason="unchanged")
    status = catalog.job_status(job_id)
    assert status.state == RUNNING and status.total == 3 and not status.done
    assert status.counts == {QUEUED: 1, PENDING: 0, INGESTED: 0, SKIPPED: 1, FAILED: 1}
    assert [(f.path, f.reason, f.message) for f in status.failures] == [("/m/b.mp3", "corrupt", "not audio")]
    assert catalog.queued_items(items) [0].id == items[0] and catalog.queued_item_ids(job_id) == [items[0]]
    assert status.to_dict()["failed"] == 1
    with pytest.raises(KeyError):
        catalog.job_status("nope")


def test_failed_count_is_about_the_latest_attempt_per_file(catalog):
    job_one, (a1, b1) = new_job(catalog, ["/m/a.wav", "/m/b.wav"])
    catalog.finish_item(a1, FAILED, reason="corrupt")
    catalog.finish_item(b1, FAILED, reason="corrupt")
    job_two, (a2,) = new_job(catalog, ["/m/a.wav"])
    catalog.finish_item(a2, SKIPPED, reason="unchanged")
    assert catalog.counts()["failed"] == 1
    assert [f.path for f in catalog.latest_failures()] == ["/m/b.wav"]
    assert [job.job_id for job in catalog.jobs()] == [job_two, job_one]


def test_requeue_puts_indexed_tracks_back_in_the_outbox(catalog):
    job_id, (item,) = new_job(catalog, ["/m/a.wav"])
    catalog.stage_track(record(ID_A, "/m/a.wav"), item, job_id)
    catalog.mark_written(catalog.outbox())
    assert catalog.requeue([ID_A, ID_B]) == 1
    assert [row.id for row in catalog.outbox()] == [ID_A]
    assert catalog.known_ids([ID_A, ID_B]) == {ID_A}


def test_open_jobs_nothing_touches_are_shown_stale_and_revive(tmp_path):

    url = f"sqlite:///{tmp_path / 'stale.sqlite'}"
    with Catalog(url) as live:
        planning = live.create_job("/music", mode="workers")  # a worker crashed while planning it
        running = live.create_job("/music", mode="local")  # its `undertone ingest` was killed
        (item,) = live.add_items(running, [SourceItem("/music/a.wav")])
        live.finish_planning(running, 1)
        assert not live.job_status(running).stale
    with Catalog(url, stale_after=0.0) as later:
        for job_id in (planning, running):
            status = later.job_status(job_id)
            assert status.stale and status.to_dict()["state"] == "stale" and "killed" in status.to_dict()["error"]
        assert {job.shown_state for job in later.jobs()} == {"stale"}
        later.finish_item(item, "failed", reason="corrupt")  # work resumes: the job completes as usual
        later.finish_job_if_complete(running)
        status = later.job_status(running)
        assert status.state == "done" and not status.stale


def test_one_planner_at_a_time_holds_a_job(catalog):
    job_id = catalog.create_job("/music", mode="workers")
    assert catalog.claim_planning(job_id, 60) == 0  # the first copy of the task plans
    wait = catalog.claim_planning(job_id, 60)  # a re-delivered copy while the first one runs
    assert 55 < wait <= 60
    catalog.renew_planning(job_id, 0)  # the planner's lease ran out (it died)
    assert catalog.claim_planning(job_id, 60) == 0


def test_a_catalog_from_before_planning_leases_gains_the_column(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite"
    with Catalog(f"sqlite:///{path}") as new:
        job_id = new.create_job("/music", mode="workers")
    with sqlite3.connect(path) as connection:
        connection.execute("ALTER TABLE ingest_jobs DROP COLUMN planner_until")
    with Catalog(f"sqlite:///{path}") as old:
        assert old.claim_planning(job_id, 60) == 0 and old.job_status(job_id).state == "planning"
