"""``undertone worker``: run a Celery worker for ingestion jobs."""

from __future__ import annotations

import argparse
import os

from recommender.settings import ENV_PREFIX


def register(subparsers: argparse._SubParsersAction) -> None:
    worker = subparsers.add_parser(
        "worker",
        help="run an ingestion worker (Celery, Redis broker)",
        description=(
            "Process ingestion jobs submitted with `undertone ingest --workers`. Jobs carry their own "
            "store/database settings; the worker needs the broker and the music at the same paths."
        ),
    )
    worker.add_argument("--redis-url", help="broker URL (default: $UNDERTONE_REDIS_URL or redis://127.0.0.1:6379/0)")
    worker.add_argument("--queue", help="queue to consume (default: $UNDERTONE_QUEUE or 'undertone')")
    worker.add_argument("--concurrency", type=int, default=1, metavar="N", help="tasks run at once (processes; default 1)")
    worker.add_argument("--threads", type=int, default=None, metavar="N", help="torch threads per task (default 1)")
    worker.add_argument("--pool", choices=("prefork", "solo", "threads"), default="prefork", help="Celery pool (default prefork)")
    worker.add_argument("--visibility-timeout", type=float, metavar="SECONDS", help="re-deliver tasks of a vanished worker after this long")
    worker.add_argument("--hostname", help="Celery node name (default: undertone@<host>)")
    worker.add_argument("--loglevel", default="INFO", help="Celery log level (default INFO)")
    worker.set_defaults(handler=run_worker_command)


def run_worker_command(args: argparse.Namespace) -> int:
    # workers.app reads its configuration from the environment when imported: set it first.
    for name, value in (
        ("REDIS_URL", args.redis_url),
        ("QUEUE", args.queue),
        ("VISIBILITY_TIMEOUT", args.visibility_timeout),
        ("WORKER_THREADS", args.threads),
    ):
        if value is not None:
            os.environ[ENV_PREFIX + name] = str(value)
    from workers.app import app

    argv = [
        "worker",
        f"--loglevel={args.loglevel}",
        f"--concurrency={max(1, args.concurrency)}",
        f"--pool={args.pool}",
        f"--queues={app.conf.task_default_queue}",
        f"--hostname={args.hostname or f'undertone-{os.getpid()}@%h'}",
        "--without-gossip",
        "--without-mingle",
    ]
    app.worker_main(argv)
    return 0
