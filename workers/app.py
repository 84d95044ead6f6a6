"""The Celery application that runs ingestion on workers (``celery -A workers.app worker`` or ``undertone worker``).

Delivery is at-least-once and every task is idempotent: tasks are acknowledged only after they ran
(``acks_late``), a task whose worker process died is re-queued (``task_reject_on_worker_lost``), a
worker reserves one task at a time (``worker_prefetch_multiplier=1``), and a task a killed worker
had taken is re-delivered once Redis' ``visibility_timeout`` has passed.

Configuration comes from the environment: ``UNDERTONE_REDIS_URL`` (broker), ``UNDERTONE_QUEUE``
(queue name, default ``undertone``) and ``UNDERTONE_VISIBILITY_TIMEOUT`` (seconds, default 3600;
longer than any batch takes, or batches are run twice).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from celery import Celery

from recommender.settings import ENV_PREFIX, Settings

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class WorkerConfig:
    """How workers and the processes that submit jobs reach each other.

    Attributes:
        redis_url: Broker URL.
        queue: Queue the ingestion tasks go through (one per deployment, or per test run).
        visibility_timeout: Seconds before a task taken by a vanished worker is handed to another.
    """

    redis_url: str = DEFAULT_REDIS_URL
    queue: str = "undertone"
    visibility_timeout: float = 3600.0

    @classmethod
    def from_env(cls, redis_url: str | None = None, queue: str | None = None) -> "WorkerConfig":
        """Explicit arguments, else ``UNDERTONE_*`` environment variables / config file, else defaults."""
        return cls(
            redis_url=redis_url or Settings.load().redis_url or DEFAULT_REDIS_URL,
            queue=queue or os.environ.get(ENV_PREFIX + "QUEUE") or cls.queue,
            visibility_timeout=float(os.environ.get(ENV_PREFIX + "VISIBILITY_TIMEOUT") or cls.visibility_timeout),
        )


def create_app(config: WorkerConfig | None = None) -> Celery:
    """A Celery app for ``config`` (default: from the environment)."""
    config = config or WorkerConfig.from_env()
    app = Celery("undertone", broker=config.redis_url, include=["workers.tasks"])
    app.conf.update(
        task_default_queue=config.queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": config.visibility_timeout,
            # Look for abandoned tasks at least as often as they can become due.
            "unacked_restore_interval": max(1, min(10, int(config.visibility_timeout / 2))),
            "unacked_restore_throttle": 1,
            # A worker killed during a restore sweep must not block every other sweep for the default 5 min.
            "unacked_mutex_expire": max(5, min(300, int(config.visibility_timeout))),
        },
        worker_hijack_root_logger=False,
        worker_cancel_long_running_tasks_on_connection_loss=False,
    )
    return app


app = create_app()
