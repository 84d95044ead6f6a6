"""Task code without a broker: Celery's eager mode runs the very task functions inline."""

import pytest

from ingest.catalog import open_catalog
from ingest.jobs import follow_job, settings_to_message, settings_from_message
from ingest.reconcile import reconcile
from ingest.sources import iter_source
from recommender.store import open_vector_store
from workers import tasks
from workers.app import WorkerConfig, create_app


@pytest.fixture
def eager():
    previous = tasks.app.conf.task_always_eager
    tasks.app.conf.task_always_eager = True
    yield
    tasks.app.conf.task_always_eager = previous
    for ingestor in tasks._ingestors.values():
        ingestor.catalog.close()
        if ingestor.store is not None:
            ingestor.store.close()
    tasks._ingestors.clear()


def test_delivery_guarantees_are_configured(monkeypatch):
    monkeypatch.setenv("UNDERTONE_VISIBILITY_TIMEOUT", "42")
    monkeypatch.setenv("UNDERTONE_QUEUE", "q-test")
    config = WorkerConfig.from_env("redis://127.0.0.1:6379/3")
    conf = create_app(config).conf
    assert (config.queue, config.visibility_timeout) == ("q-test", 42.0)
    assert conf.task_acks_late and conf.task_reject_on_worker_lost and conf.worker_prefetch_multiplier == 1
    assert conf.broker_transport_options["visibility_timeout"] == 42.0 and conf.task_default_queue == "q-test"
    assert conf.broker_url == "redis://127.0.0.1:6379/3"
    retry = tasks.ingest_batch
    assert retry.max_retries is None and retry.retry_backoff and "OperationalError" in {e.__name__ for e in retry.autoretry_for}


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
