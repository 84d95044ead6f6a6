"""Ingestion tasks: ``undertone.ingest_job`` plans a job and fans out ``undertone.ingest_batch`` tasks.

Both run :class:`ingest.pipeline.Ingestor` code, the same the embedded default runs in-process.
Tasks are idempotent: a re-delivered job task resumes planning where it stopped, a re-delivered
batch skips items that are no longer queued, and track writes are upserts keyed by content id.
Database and vector-store connection errors are retried with exponential backoff; a bad file is a
failed item, never a failed task.
"""

from __future__ import annotations

import json
import logging
from itertools import islice
from typing import Any

from celery import current_app, shared_task
from celery.signals import worker_process_init

from ingest.catalog import PLANNING, open_catalog
from ingest.pipeline import Ingestor, batched, transient_errors
from ingest.sources import SourceError, iter_source
from workers.client import INGEST_BATCH_TASK, INGEST_JOB_TASK, catalog_place, settings_from_message, task_argsrepr

logger = logging.getLogger(__name__)

PLANNING_CHUNK = 500
WORKER_THREADS_CONF = "undertone_worker_threads"
# Backoff 2, 4, ... capped at 5 min: 12 tries ride out about 40 minutes of database or Qdrant outage;
# after that the task fails and the job's follower re-sends its unfinished work.
MAX_RETRIES = 12
_RETRY = dict(autoretry_for=transient_errors(include_qdrant=True), retry_backoff=2, retry_backoff_max=300, retry_jitter=True, max_retries=MAX_RETRIES)
_ingestors: dict[str, Ingestor] = {}


@worker_process_init.connect
def _limit_torch_threads(**_: Any) -> None:
    """One task per process slot: let each use a fixed number of threads rather than all cores."""
    import torch

    torch.set_num_threads(max(1, int(current_app.conf.get(WORKER_THREADS_CONF) or 1)))


def ingestor_for(settings_message: dict[str, Any]) -> Ingestor:
    """The ingestor for a job's settings, opened once per worker process.

    Workers write vectors only to a Qdrant server; for an embedded store they stage tracks in SQL
    and the store's owner (the ``undertone ingest`` that submitted the job) writes the vectors.
    """
    key = json.dumps(settings_message, sort_keys=True)
    if key not in _ingestors:
        settings = settings_from_message(settings_message)
        store = None
        if settings.qdrant_url:
            from recommender.store import open_vector_store

            store = open_vector_store(settings)
        _ingestors[key] = Ingestor(settings, open_catalog(settings), store)
    return _ingestors[key]


def planning_lease() -> float:
    """Seconds a planner holds a job: the broker re-delivers a task after its visibility timeout."""
    options = current_app.conf.broker_transport_options or {}
    return float(options.get("visibility_timeout", 3600))


@shared_task(name=INGEST_JOB_TASK, **_RETRY)
def ingest_job(job_id: str, source: str, settings: dict[str, Any], batch_size: int) -> None:
    """Enumerate ``source`` into the job's items and send them out in batches."""
    ingestor = ingestor_for(settings)
    catalog = ingestor.catalog
    try:
        status = catalog.job_status(job_id, failures=0)
    except KeyError:  # not a retryable error: the worker sees another catalog than the submitter
        logger.error(
            "job %s is not in the catalog this worker opened (%s): run workers where the submitter's store, "
            "database and source paths are the same", job_id, catalog_place(ingestor_for(settings).settings),
        )
        return
    if status.state != PLANNING:
        return  # planned already: this is a re-delivery
    lease = planning_lease()
    wait = catalog.claim_planning(job_id, lease)
    if wait:  # another copy of this task is planning the job; come back once its lease would have run out
        raise ingest_job.retry(countdown=wait)
    try:
        items = iter_source(source)
    except SourceError as error:
        catalog.fail_job(job_id, str(error))
        return
    # A worker that died mid-planning left a prefix of the items recorded; some batches may not have
    # been sent. Send every queued one again (a batch skips what is done) and carry on after the prefix.
    recorded = sum(status.counts.values())
    for chunk in batched(catalog.queued_item_ids(job_id), batch_size):
        _send_batch(job_id, chunk, settings)
    total = recorded
    try:
        for chunk in batched(islice(items, recorded, None), PLANNING_CHUNK):
            catalog.renew_planning(job_id, lease)
            item_ids = catalog.add_items(job_id, chunk)
            total += len(item_ids)
            # Unchanged files are finished here, a chunk at a time (no read): only the rest become tasks.
            for batch in batched(ingestor.skip_unchanged(item_ids), batch_size):
                _send_batch(job_id, batch, settings)
    except transient_errors(include_qdrant=True):
        raise  # retried: planning resumes after the recorded prefix
    except Exception as error:  # anything else would leave the job "planning" for good
        logger.exception("job %s: planning stopped", job_id)
        catalog.fail_job(job_id, f"planning stopped: {type(error).__name__}: {error}")
        return
    catalog.finish_planning(job_id, total)
    logger.info("job %s: %d items in batches of %d", job_id, total, batch_size)


def _send_batch(job_id: str, item_ids: list[int], settings: dict[str, Any]) -> None:
    args = (job_id, list(item_ids), settings)
    ingest_batch.apply_async(args, argsrepr=task_argsrepr(args))


@shared_task(name=INGEST_BATCH_TASK, **_RETRY)
def ingest_batch(job_id: str, item_ids: list[int], settings: dict[str, Any]) -> None:
    """Process one batch of a job's items."""
    ingestor_for(settings).process_batch(job_id, item_ids)
