"""The Celery application that runs ingestion on workers (``undertone worker``).

Delivery is at-least-once and every task is idempotent: tasks are acknowledged only after they ran
(``acks_late``), a task whose worker process died is re-queued (``task_reject_on_worker_lost``), a
worker reserves one task at a time (``worker_prefetch_multiplier=1``), and a task a killed worker
had taken is re-delivered once Redis' ``visibility_timeout`` has passed.

Apps are built by :func:`create_app` from :class:`~recommender.settings.Settings` (``redis_url``,
``queue``, ``visibility_timeout``); importing this module builds nothing. For a plain Celery command
line use the factory: ``celery -A 'workers.app:create_app()' worker``.
"""

from __future__ import annotations

from celery import Celery

from recommender.settings import Settings

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def create_app(settings: Settings | None = None) -> Celery:
    """A Celery app for ``settings`` (default: from the environment and config file)."""
    settings = settings or Settings.load()
    timeout = settings.visibility_timeout
    app = Celery("undertone", broker=settings.redis_url or DEFAULT_REDIS_URL, include=["workers.tasks"])
    app.conf.update(
        task_default_queue=settings.queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": timeout,
            # Look for abandoned tasks at least as often as they can become due.
            "unacked_restore_interval": max(1, min(10, int(timeout / 2))),
            "unacked_restore_throttle": 1,
            # A worker killed during a restore sweep must not block every other sweep for the default 5 min.
            "unacked_mutex_expire": max(5, min(300, int(timeout))),
        },
        worker_hijack_root_logger=False,
        worker_cancel_long_running_tasks_on_connection_loss=False,
    )
    return app
