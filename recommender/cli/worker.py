"""``undertone worker``: run a Celery worker for ingestion jobs."""

from __future__ import annotations

import argparse
import os


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
    from recommender.cli.options import settings_from_args
    from workers.app import create_app
    from workers.tasks import WORKER_THREADS_CONF

    settings = settings_from_args(args)
    overrides = {"queue": args.queue, "visibility_timeout": args.visibility_timeout, "worker_threads": args.threads}
    settings = settings.replace(**{key: value for key, value in overrides.items() if value is not None})
    app = create_app(settings)
    app.conf[WORKER_THREADS_CONF] = settings.worker_threads
    argv = [
        "worker",
        f"--loglevel={args.loglevel}",
        f"--concurrency={max(1, args.concurrency)}",
        f"--pool={args.pool}",
        f"--queues={settings.queue}",
        f"--hostname={args.hostname or f'undertone-{os.getpid()}@%h'}",
        "--without-gossip",
        "--without-mingle",
    ]
    app.worker_main(argv)
    return 0
