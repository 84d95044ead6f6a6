"""The workers' client: submit ingestion jobs to Celery workers and follow them.

With workers, the submitting process records the job and sends one ``undertone.ingest_job`` task;
a worker enumerates the source into ``ingest_items`` and fans out ``undertone.ingest_batch`` tasks.
The job carries the submitter's store settings (:data:`WORKER_FIELDS`), so any worker serves any store,
but never a secret: anyone with access to Redis can read the messages, so the database URL travels
without its password and the worker supplies its own (:func:`settings_from_message`). When the vector
store is embedded, workers only stage tracks in SQL and the submitter -- the store's one owner --
flushes them into the store while it follows the job (:func:`follow_job`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingest.catalog import PLANNING, RUNNING, Catalog, open_catalog
from ingest.pipeline import DEFAULT_BATCH_SIZE, JobSummary, Progress, batched, flush_outbox
from recommender.errors import ServiceUnavailableError, UndertoneError
from recommender.settings import Settings, without_password, without_secrets
from workers.app import DEFAULT_REDIS_URL, create_app

if TYPE_CHECKING:
    from recommender.store import VectorStore

logger = logging.getLogger(__name__)

INGEST_JOB_TASK = "undertone.ingest_job"
INGEST_BATCH_TASK = "undertone.ingest_batch"
# What a worker needs to know about the submitter's catalog; the broker, queue and secrets are its own.
WORKER_FIELDS = ("store", "qdrant_url", "database_url", "collection", "model", "lexicon", "max_track_seconds", "music_max_windows")
# A job no worker has started after this long gets a hint on what to check (it keeps waiting).
UNTOUCHED_HINT_SECONDS = 60.0


class JobStalledError(UndertoneError, TimeoutError):
    """A followed job made no progress for too long, or outlasted the follower's timeout (it may still run)."""


def settings_to_message(settings: Settings) -> dict[str, Any]:
    """The settings a worker needs, JSON-safe and without any password."""
    message = settings.model_dump(mode="json", include=set(WORKER_FIELDS))
    if message["database_url"]:
        message["database_url"] = without_password(message["database_url"])
    return message


def settings_from_message(message: dict[str, Any], own: Settings | None = None) -> Settings:
    """The submitter's catalog as this worker reaches it: the message's fields over the worker's own settings.

    The password of the database comes from the worker (its ``database_url`` or ``database_password``,
    from the environment or a ``_FILE``), and only for the database the worker itself is configured
    for: a message naming another host must not make the worker send its password there.
    """
    own = own or Settings.load()
    fields = {key: message[key] for key in WORKER_FIELDS if key in message}
    if fields.get("database_url") and fields["database_url"] == (without_password(own.database_url) if own.database_url else None):
        fields["database_url"] = own.database_url
    else:
        fields["database_password"] = None
    return own.replace(**fields)


def task_argsrepr(args: tuple[Any, ...]) -> str:
    """How a task's arguments appear in logs and the message headers: settings as a placeholder."""
    return repr(tuple("<settings>" if isinstance(arg, dict) else arg for arg in args))


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
    source = str(Path(source).expanduser().absolute())
    with _catalog(settings, catalog) as opened:
        job_id = opened.create_job(source, mode="workers")
        try:
            _send(settings, queue, INGEST_JOB_TASK, (job_id, source, settings_to_message(settings), batch_size))
        except ServiceUnavailableError as error:
            opened.fail_job(job_id, str(error))  # no worker will ever see it: never leave it planning
            raise
    return job_id


def resend_job(
    job_id: str,
    settings: Settings,
    *,
    queue: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    catalog: Catalog | None = None,
) -> int:
    """Send a job's unfinished work to the workers again; returns the number of items re-sent.

    Celery's Redis transport can lose a message taken by a worker killed in the instant between
    taking it and registering it as unacknowledged (kombu issue #305). Every task is idempotent, so
    re-sending is always safe: a job still planning gets its job task again, queued items their batches.
    """
    with _catalog(settings, catalog) as opened:
        status = opened.job_status(job_id, failures=0)
        item_ids = opened.queued_item_ids(job_id) if status.state == RUNNING else []
    message = settings_to_message(settings)
    if status.state == PLANNING:
        _send(settings, queue, INGEST_JOB_TASK, (job_id, status.source, message, batch_size))
    for chunk in batched(item_ids, batch_size):
        _send(settings, queue, INGEST_BATCH_TASK, (job_id, chunk, message))
    return len(item_ids)


def workers_online(settings: Settings, queue: str | None = None, timeout: float = 2.0) -> int:
    """How many workers answer a ping on the broker (0: jobs would wait)."""
    app = create_app(_with_queue(settings, queue))
    with _broker(settings):
        return len(app.control.ping(timeout=timeout) or [])


def follow_job(
    job_id: str,
    settings: Settings,
    *,
    store: VectorStore | None = None,
    progress: Progress | None = None,
    poll_seconds: float = 0.5,
    timeout: float | None = None,
    resend_after: float | None = None,
    give_up_after: float | None = None,
    queue: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    catalog: Catalog | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> JobSummary:
    """Wait for a job to finish, reporting progress; with ``store``, flush the workers' staged tracks into it.

    Args:
        store: The embedded store this process owns: workers stage tracks, this writes their vectors.
        resend_after: Re-send the job's unfinished work (:func:`resend_job`) after this many seconds
            without progress (default: twice the broker's visibility timeout, by when a task of a
            killed worker has been re-delivered if it was going to be).
        give_up_after: Stop following after this many seconds without progress although the work was
            re-sent (default: ``resend_after`` plus a minute, or twice ``resend_after`` if longer):
            no worker can take the job.

    Raises:
        JobStalledError: ``timeout`` seconds passed, or no progress for ``give_up_after`` seconds (the
            job stays recorded; a worker may still take it).
    """
    if resend_after is None:
        resend_after = 2 * settings.visibility_timeout
    if give_up_after is None:
        give_up_after = max(2 * resend_after, resend_after + 60)
    started = last_change = last_progress = clock()
    last_counts: tuple[Any, ...] = ()
    hinted = False
    with _catalog(settings, catalog) as opened:
        while True:
            if store is not None:
                flush_outbox(opened, store)
                opened.finish_job_if_complete(job_id)
            status = opened.job_status(job_id)
            if progress:
                progress(status)
            if status.done:
                return JobSummary.from_status(status, clock() - started)
            now = clock()
            counts = (status.state, tuple(sorted(status.counts.items())))
            if counts != last_counts:
                last_counts, last_change, last_progress = counts, now, now
            elif now - last_progress > give_up_after:
                raise JobStalledError(
                    f"job {job_id} made no progress for {now - last_progress:.0f} s (still {status.state}, "
                    f"{_untouched_hint(settings, queue) if _untouched(status) else status.counts}); "
                    f"it stays recorded: `undertone catalog --job {job_id}`"
                )
            elif status.mode == "workers" and now - last_change > resend_after:
                resend_job(job_id, settings, queue=queue, batch_size=batch_size, catalog=opened)
                last_change = now
            if not hinted and _untouched(status) and now - started > min(UNTOUCHED_HINT_SECONDS, give_up_after / 2):
                logger.warning("job %s: no worker has started it yet; %s", job_id, _untouched_hint(settings, queue))
                hinted = True
            if timeout is not None and now - started > timeout:
                raise JobStalledError(
                    f"job {job_id} still {status.state} after {timeout:.0f} s: {status.counts}; "
                    f"it keeps running: `undertone catalog --job {job_id}`"
                )
            time.sleep(poll_seconds)


def _untouched(status: Any) -> bool:
    """No worker has begun planning the job (no item recorded)."""
    return status.state == PLANNING and not any(status.counts.values())


def _untouched_hint(settings: Settings, queue: str | None) -> str:
    return (
        f"check that `undertone worker` runs on queue {queue or settings.queue!r} of this broker and reaches the same "
        f"catalog ({catalog_place(settings)}) and source paths"
    )


def catalog_place(settings: Settings) -> str:
    """Where the catalog is, without any password."""
    from sqlalchemy.engine import make_url

    return make_url(settings.catalog_url).render_as_string(hide_password=True)


@contextmanager
def _catalog(settings: Settings, catalog: Catalog | None) -> Iterator[Catalog]:
    """``catalog`` if given (left open), else the settings' catalog for the duration of the block."""
    if catalog is not None:
        yield catalog
        return
    with open_catalog(settings) as opened:
        yield opened


def _with_queue(settings: Settings, queue: str | None) -> Settings:
    return settings.replace(queue=queue) if queue else settings


def _send(settings: Settings, queue: str | None, task: str, args: tuple[Any, ...]) -> None:
    settings = _with_queue(settings, queue)
    with _broker(settings):
        create_app(settings).send_task(task, args=args, queue=settings.queue, argsrepr=task_argsrepr(args))


@contextmanager
def _broker(settings: Settings) -> Iterator[None]:
    """Report a broker that cannot be reached as one clear :class:`ServiceUnavailableError`."""
    from kombu.exceptions import OperationalError

    try:
        yield
    except OperationalError as error:
        url = without_secrets(settings.redis_url or DEFAULT_REDIS_URL)
        raise ServiceUnavailableError(
            f"cannot reach the Redis broker {url}: {error} (is it running? check --redis-url / UNDERTONE_REDIS_URL)"
        ) from None
