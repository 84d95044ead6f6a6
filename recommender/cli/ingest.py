"""``undertone ingest`` and ``undertone catalog``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from recommender.cli.options import add_store_arguments, settings_from_args
from recommender.cli.progress import ProgressBar
from recommender.errors import UsageError

if TYPE_CHECKING:
    from ingest.catalog import Catalog
    from ingest.pipeline import JobSummary
    from recommender.client import Client
    from recommender.settings import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    ingest = subparsers.add_parser(
        "ingest",
        help="add music to the catalog (a folder, a .csv/.tsv/.jsonl manifest, or one file)",
        description=(
            "Analyse every track of SOURCE and add it to the catalog. Unchanged files are skipped, "
            "bad files are reported and never stop the job (exit status 0 when the job ran)."
        ),
    )
    ingest.add_argument("source", help="folder (recursive), manifest with a 'path' column, or audio file")
    add_store_arguments(ingest)
    ingest.add_argument("--workers", action="store_true", help="hand the job to Celery workers (`undertone worker`) instead of running here")
    ingest.add_argument("--redis-url", help="broker for --workers (default: $UNDERTONE_REDIS_URL)")
    ingest.add_argument("--queue", help="Celery queue for --workers (default: $UNDERTONE_QUEUE or 'undertone')")
    ingest.add_argument("--detach", action="store_true", help="with --workers: print the job id and return at once")
    ingest.add_argument(
        "--timeout", type=float, metavar="SECONDS",
        help="with --workers: stop following the job after this long (it keeps running); without progress it gives up on its own",
    )
    ingest.add_argument("--batch-size", type=int, default=None, metavar="N", help="tracks per batch (default 8)")
    ingest.add_argument("--json", action="store_true", help="print the summary as JSON")
    ingest.add_argument("--quiet", action="store_true", help="no progress bar")
    ingest.set_defaults(handler=run_ingest_command)

    catalog = subparsers.add_parser(
        "catalog",
        help="what the catalog holds; check or repair it",
        description="Counts and tracks of the catalog, recent jobs, failures; --verify/--repair reconcile SQL and the vector store.",
    )
    add_store_arguments(catalog)
    catalog.add_argument("--json", action="store_true", help="machine-readable output")
    catalog.add_argument("--limit", type=int, default=20, metavar="N", help="tracks/failures/jobs to list (default 20)")
    view = catalog.add_mutually_exclusive_group()
    view.add_argument("--jobs", action="store_true", help="list recent ingestion jobs")
    view.add_argument("--job", metavar="ID", help="progress of one job")
    view.add_argument("--verify", action="store_true", help="check that the vector store matches SQL (exit 1 if not)")
    view.add_argument("--repair", action="store_true", help="make the vector store match SQL")
    catalog.set_defaults(handler=run_catalog_command)


def run_ingest_command(args: argparse.Namespace) -> int:
    from ingest.pipeline import DEFAULT_BATCH_SIZE, run_ingest, run_ingest_on_server
    from ingest.sources import SourceError, iter_source
    from recommender.errors import StoreBusyError
    from recommender.store import open_vector_store

    settings = settings_from_args(args)
    batch_size = args.batch_size or DEFAULT_BATCH_SIZE
    if batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    bar = ProgressBar("ingest", disable=args.quiet or args.json)
    server = None if args.workers else _server(settings)
    try:
        if server is not None:
            with server:
                summary = run_ingest_on_server(server, args.source, progress=bar.job)
        elif not args.workers:
            summary = run_ingest(args.source, settings, progress=bar.job, batch_size=batch_size)
        else:
            from workers.client import follow_job, submit_job, workers_online

            if not settings.redis_url:
                raise UsageError("--workers needs a broker: pass --redis-url or set UNDERTONE_REDIS_URL")
            embedded = not settings.qdrant_url
            if embedded:
                iter_source(args.source)  # workers of an embedded store share this machine: check the source here
            # The owner of an embedded store writes the vectors the workers compute, so it holds the store.
            store = open_vector_store(settings) if embedded else None
            try:
                if not workers_online(settings, args.queue):
                    print("undertone: no worker answered; the job waits until one runs (`undertone worker`)", file=sys.stderr)
                job_id = submit_job(args.source, settings, queue=args.queue, batch_size=batch_size)
                if args.detach:
                    print(job_id)
                    if embedded:
                        print("undertone: with an embedded store the vectors are written by the next "
                              "`undertone ingest` or `undertone catalog --repair`", file=sys.stderr)
                    return 0
                summary = follow_job(
                    job_id, settings, store=store, progress=bar.job, queue=args.queue, batch_size=batch_size, timeout=args.timeout
                )
            finally:
                if store is not None:
                    store.close()
    except (SourceError, StoreBusyError) as error:
        raise UsageError(str(error)) from error
    finally:
        bar.close()
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2))
    else:
        _print_summary(summary)
    return 0 if summary.state == "done" else 1


def _server(settings: Settings) -> Client | None:
    """The ``undertone serve`` owning the store (or at ``UNDERTONE_URL``), if one runs."""
    from recommender.service import find_server

    if find_server(settings) is None:  # the client imports the model code (torch, seconds): only when needed
        return None
    from recommender.client import Client

    return Client.discover(settings)


def run_catalog_command(args: argparse.Namespace) -> int:
    from ingest.catalog import open_catalog

    settings = settings_from_args(args)
    server = _server(settings)
    if server is not None:
        with server:
            return _catalog_on_server(server, args)
    with open_catalog(settings) as catalog:
        if args.verify or args.repair:
            return _reconcile(catalog, settings, repair=args.repair, as_json=args.json)
        if args.job:
            try:
                status = catalog.job_status(args.job, failures=args.limit)
            except KeyError as error:
                raise UsageError(str(error.args[0])) from error
            _emit(status.to_dict(), args.json, _format_job)
            return 0
        if args.jobs:
            jobs = [job.to_dict() for job in catalog.jobs(args.limit)]
            if args.json:
                print(json.dumps(jobs, indent=2))
            else:
                for job in jobs:
                    print(_format_job(job))
            return 0
        overview = catalog.overview(args.limit)
    return _print_overview(overview, args.json)


def _catalog_on_server(server: Client, args: argparse.Namespace) -> int:
    """``undertone catalog`` answered by the server that owns the store (same output)."""
    if args.verify or args.repair:
        return _print_reconciliation(server.reconcile(repair=args.repair), args.json)
    if args.job:
        _emit(server.job(args.job, failures=args.limit), args.json, _format_job)
        return 0
    if args.jobs:
        jobs = server.jobs(args.limit)
        print(json.dumps(jobs, indent=2) if args.json else "\n".join(_format_job(job) for job in jobs))
        return 0
    overview = server.catalog(args.limit)
    overview.pop("store_points", None)
    return _print_overview(overview, args.json)


def _print_overview(overview: dict[str, Any], as_json: bool) -> int:
    if as_json:
        print(json.dumps(overview, indent=2))
        return 0
    counts = {key: overview[key] for key in ("tracks", "pending", "retired", "failed", "jobs")}
    listing, failures = overview["listing"], overview["failures"]
    print(", ".join(f"{count} {name}" for name, count in counts.items()))
    for track in listing:
        name = " - ".join(str(track[key]) for key in ("artist", "title") if key in track) or track["path"]
        print(f"  {track['mood']:<18} V{track['valence']:.2f} A{track['arousal']:.2f} {track['duration']:7.1f}s  {name}")
    if counts["tracks"] + counts["pending"] > len(listing):
        print(f"  ... ({counts['tracks'] + counts['pending'] - len(listing)} more; --limit N)")
    if failures:
        print("failed:")
        for failure in failures:
            print(f"  {failure['reason']:<18} {failure['path']}: {failure['message']}")
    return 0


def _reconcile(catalog: Catalog, settings: Settings, *, repair: bool, as_json: bool) -> int:
    from ingest.reconcile import reconcile
    from recommender.errors import StoreBusyError
    from recommender.store import open_vector_store

    try:
        # Repair rebuilds an unreadable embedded store from the vectors the catalog keeps.
        store = open_vector_store(settings, set_aside_unreadable=repair)
    except StoreBusyError as error:
        raise UsageError(str(error)) from error
    set_aside = getattr(store, "set_aside", None)
    with store:
        report = reconcile(catalog, store, repair=repair)
    if set_aside is not None:
        print(f"undertone: the vector store could not be read; its files were moved to {set_aside} (delete them once the "
              f"rebuilt store works) and {len(report.missing)} tracks were written again from the catalog", file=sys.stderr)
    return _print_reconciliation({**report.to_dict(), "set_aside": str(set_aside) if set_aside else None}, as_json)


def _print_reconciliation(report: dict[str, Any], as_json: bool) -> int:
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        print(
            f"store: {report['store_points']} points; SQL: {report['sql_indexed']} indexed, {report['outbox']} awaiting a vector write; "
            f"missing {len(report['missing'])}, drifted {len(report['drifted'])}, orphans {len(report['orphans'])}"
        )
        print("repaired" if report["repaired"] else ("consistent" if report["consistent"] else "inconsistent: run --repair"))
    return 0 if report["consistent"] or report["repaired"] else 1


def _print_summary(summary: JobSummary) -> None:
    rate = f", {summary.tracks_per_second:.2f} tracks/s" if summary.seconds else ""
    print(
        f"{summary.state}: ingested {summary.ingested}, skipped {summary.skipped}, failed {summary.failed} "
        f"of {summary.total} files in {summary.seconds:.1f} s{rate} (job {summary.job_id})"
    )
    if summary.error:
        print(f"error: {summary.error}")
    for failure in summary.failures:
        print(f"  {failure.reason:<18} {failure.path}: {failure.message}")
    if summary.failed > len(summary.failures):
        print(f"  ... {summary.failed - len(summary.failures)} more: undertone catalog --job {summary.job_id}")


def _format_job(job: dict[str, Any]) -> str:
    counts = ", ".join(f"{key} {job[key]}" for key in ("queued", "pending", "ingested", "skipped", "failed") if job[key])
    line = f"{job['job_id']}  {job['state']:<8} {job['created_at'][:19]}  total {job['total']}  {counts}  {job['source']}"
    if job.get("failures"):
        line += "".join(f"\n  {f['reason']:<18} {f['path']}: {f['message']}" for f in job["failures"])
    return line + (f"\n  error: {job['error']}" if job.get("error") else "")


def _emit(data: dict[str, Any], as_json: bool, formatter: Callable[[dict[str, Any]], str]) -> None:
    print(json.dumps(data, indent=2) if as_json else formatter(data))
