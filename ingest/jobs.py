"""Ingestion jobs seen from outside: submit to workers, follow, and query progress (CLI and dashboard).

With workers, the submitting process records the job and sends one ``undertone.ingest_job`` task;
a worker enumerates the source into ``ingest_items`` and fans out ``undertone.ingest_batch`` tasks.
The job carries the submitter's settings, so any worker serves any store. When the vector store is
embedded, workers only stage tracks in SQL and the submitter -- the store's one owner -- flushes them
into the store while it follows the job (:func:`follow_job`).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Callable

from ingest.catalog import Catalog, JobStatus, open_catalog
from ingest.pipeline import DEFAULT_BATCH_SIZE, JobSummary, Progress, flush_outbox
from recommender.settings import Settings

INGEST_JOB_TASK = "undertone.ingest_job"
INGEST_BATCH_TASK = "undertone.ingest_batch"


def job_status(job_id: str, settings: Settings | None = None, *, catalog: Catalog | None = None) -> JobStatus:
    """Progress of a job: state, total and counts per item status (queued, pending, ingested, skipped, failed).

    Raises:
        KeyError: No such job.
    """
    if catalog is not None:
        return catalog.job_status(job_id)
    with open_catalog(settings or Settings.load()) as owned:
        return owned.job_status(job_id)


def list_jobs(settings: Settings | None = None, limit: int = 20) -> list[JobStatus]:
    """The most recent jobs, newest first."""
    with open_catalog(settings or Settings.load()) as catalog:
        return catalog.jobs(limit)


def settings_to_message(settings: Settings) -> dict[str, Any]:
    """Settings as JSON-safe task arguments."""
    return {key: (str(value) if isinstance(value, Path) else value) for key, value in dataclasses.asdict(settings).items()}


def settings_from_message(message: dict[str, Any]) -> Settings:
    return Settings().replace(**message)


def submit_job(
    source: str | Path,
    settings: Settings,
    *,
    queue: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    catalog: Catalog | None = None,
) -> str:
    """Record a job and hand it to the workers; returns the job id at once.

    ``source`` must be visible at the same path on the workers (for Docker: the same mount point).
    """
    from workers.app import WorkerConfig, create_app

    source = str(Path(source).expanduser().absolute())
    config = WorkerConfig.from_env(settings.redis_url, queue)
    own = catalog is None
    catalog = open_catalog(settings) if catalog is None else catalog
    try:
        job_id = catalog.create_job(source, mode="workers")
    finally:
        if own:
            catalog.close()
    app = create_app(config)
    app.send_task(
        INGEST_JOB_TASK,
        args=(job_id, source, settings_to_message(settings), batch_size),
        queue=config.queue,
    )
    return job_id


def workers_online(settings: Settings, queue: str | None = None, timeout: float = 2.0) -> int:
    """How many workers answer a ping on the broker (0: jobs would wait)."""
    from workers.app import WorkerConfig, create_app

    app = create_app(WorkerConfig.from_env(settings.redis_url, queue))
    return len(app.control.ping(timeout=timeout) or [])


def follow_job(
    job_id: str,
    settings: Settings,
    *,
    store: Any | None = None,
    progress: Progress | None = None,
    poll_seconds: float = 0.5,
    timeout: float | None = None,
    catalog: Catalog | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> JobSummary:
    """Wait for a job to finish, reporting progress; with ``store``, flush the workers' staged tracks into it.

    Raises:
        TimeoutError: ``timeout`` seconds passed first (the job keeps running).
    """
    own = catalog is None
    catalog = open_catalog(settings) if catalog is None else catalog
    started = clock()
    try:
        while True:
            if store is not None:
                flush_outbox(catalog, store)
                catalog.finish_job_if_complete(job_id)
            status = catalog.job_status(job_id)
            if progress:
                progress(status)
            if status.done:
                return JobSummary.from_status(status, clock() - started)
            if timeout is not None and clock() - started > timeout:
                raise TimeoutError(f"job {job_id} still {status.state} after {timeout:.0f} s: {status.counts}")
            time.sleep(poll_seconds)
    finally:
        if own:
            catalog.close()

