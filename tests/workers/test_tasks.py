"""Task code without a broker: Celery's eager mode runs the very task functions inline."""

import pytest

from ingest.catalog import open_catalog
from ingest.reconcile import reconcile
from ingest.sources import iter_source
from recommender.settings import Settings
from recommender.store import open_vector_store
from workers import tasks
from workers.app import create_app
from workers.client import follow_job, settings_from_message, settings_to_message


@pytest.fixture
def eager(settings):
    app = create_app(settings)  # the current app: the tasks' .delay() runs inline through it
    app.conf.task_always_eager = True
    yield
    for ingestor in tasks._ingestors.values():
        ingestor.catalog.close()
        if ingestor.store is not None:
            ingestor.store.close()
    tasks._ingestors.clear()


def test_the_app_follows_the_settings_environment(monkeypatch):
    monkeypatch.setenv("UNDERTONE_VISIBILITY_TIMEOUT", "42")
    monkeypatch.setenv("UNDERTONE_QUEUE", "q-test")
    conf = create_app(Settings.load(redis_url="redis://127.0.0.1:6379/3")).conf
    assert conf.broker_transport_options["visibility_timeout"] == 42.0 and conf.task_default_queue == "q-test"
    assert conf.broker_url == "redis://127.0.0.1:6379/3"


def test_importing_the_workers_builds_no_app():
    import subprocess
    import sys

    code = "import celery, workers.app, workers.tasks, workers.client; print(celery.current_app.main)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out != "undertone"  # Celery's lazy default app, not ours


def test_a_database_outage_is_retried_a_bounded_number_of_times(settings, eager, monkeypatch):
    """OperationalError is transient: retried with backoff, but not forever."""
    from sqlalchemy.exc import OperationalError

    calls = []

    def outage(self, job_id, item_ids):
        calls.append(job_id)
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(tasks.Ingestor, "process_batch", outage)
    monkeypatch.setattr(tasks.ingest_batch, "retry_backoff", False)  # no sleeping between eager retries
    result = tasks.ingest_batch.apply(args=("job", [1], settings_to_message(settings)))
    assert result.failed() and isinstance(result.result, OperationalError)
    assert len(calls) == tasks.MAX_RETRIES + 1


def test_settings_travel_with_the_job(settings):
    assert settings_from_message(settings_to_message(settings)) == settings


@pytest.mark.slow
def test_job_task_resumes_interrupted_planning_and_redelivery_changes_nothing(music, settings, eager):
    message = settings_to_message(settings)
    with open_catalog(settings) as catalog:
        job_id = catalog.create_job(str(music), mode="workers")
        catalog.add_items(job_id, list(iter_source(music))[:2])  # a worker died after recording two items

    tasks.ingest_job(job_id, str(music), message, 1)
    with open_vector_store(settings) as store:
        summary = follow_job(job_id, settings, store=store, timeout=120)
        assert (summary.total, summary.ingested, summary.failed) == (3, 3, 0)
        assert store.count() == 3

    tasks.ingest_job(job_id, str(music), message, 1)  # re-delivered job task
    tasks.ingest_batch(job_id, [1, 2, 3], message)  # re-delivered batch
    with open_catalog(settings) as catalog:
        status = catalog.job_status(job_id)
        assert sum(status.counts.values()) == 3 and status.counts["ingested"] == 3
        assert catalog.counts()["tracks"] == 3


def test_missing_source_fails_the_job_not_the_worker(tmp_path, settings, eager):
    with open_catalog(settings) as catalog:
        job_id = catalog.create_job(str(tmp_path / "nowhere"), mode="workers")
    tasks.ingest_job(job_id, str(tmp_path / "nowhere"), settings_to_message(settings), 8)
    with open_catalog(settings) as catalog:
        status = catalog.job_status(job_id)
    assert status.state == "failed" and "no such file" in status.error


@pytest.mark.slow
def test_with_a_qdrant_server_workers_write_the_vectors_themselves(pair, settings, eager):
    """Server mode: no owner flushes anything; each batch runs the whole outbox protocol."""
    server = settings.replace(qdrant_url=":memory:")  # qdrant-client's in-process server API
    message = settings_to_message(server)
    with open_catalog(server) as catalog:
        job_id = catalog.create_job(str(pair), mode="workers")
    tasks.ingest_job(job_id, str(pair), message, 1)
    with open_catalog(server) as catalog:
        status = catalog.job_status(job_id)
        assert status.state == "done" and status.counts["ingested"] == 2 and catalog.counts()["pending"] == 0
    store = tasks.ingestor_for(message).store
    assert store.count() == 2
    with open_catalog(server) as catalog:
        assert reconcile(catalog, store).consistent


def test_a_job_this_worker_does_not_know_is_logged_not_raised(settings, eager, caplog):
    with caplog.at_level("ERROR", logger="workers.tasks"):
        tasks.ingest_job("no-such-job", "/music", settings_to_message(settings), 8)
    assert "is not in the catalog this worker opened" in caplog.text


def test_planning_that_breaks_fails_the_job_instead_of_leaving_it_planning(pair, settings, eager, monkeypatch):
    def breaks_midway(source):
        yield from iter_source(source)
        raise OSError("the disk went away")

    monkeypatch.setattr(tasks, "iter_source", breaks_midway)
    with open_catalog(settings) as catalog:
        job_id = catalog.create_job(str(pair), mode="workers")
    tasks.ingest_job(job_id, str(pair), settings_to_message(settings), 8)
    with open_catalog(settings) as catalog:
        status = catalog.job_status(job_id)
    assert status.state == "failed" and "planning stopped: OSError: the disk went away" in status.error


def test_a_job_task_redelivered_while_its_first_copy_plans_waits_and_records_nothing(music, settings, eager):
    """Redis hands a task to a second worker once it has run past the visibility timeout: plan once."""
    from celery.exceptions import Retry

    with open_catalog(settings) as catalog:
        job_id = catalog.create_job(str(music), mode="workers")
        assert catalog.claim_planning(job_id, 600) == 0  # the first copy is still planning
    with pytest.raises(Retry):
        tasks.ingest_job(job_id, str(music), settings_to_message(settings), 1)
    with open_catalog(settings) as catalog:
        status = catalog.job_status(job_id)
        assert status.state == "planning" and sum(status.counts.values()) == 0
