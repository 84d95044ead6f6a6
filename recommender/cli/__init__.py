"""The ``undertone`` command line: the top layer, one module per command (beets style).

Each module in ``COMMANDS`` exposes ``register(subparsers)``, which adds its parsers and sets
``handler`` (a function taking the parsed arguments and returning an exit code). Heavy imports (torch,
streamlit, celery) stay inside the handlers so ``undertone --help`` is quick. Nothing below this
package imports it.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from recommender.cli import dashboard, demo, ingest, model, search, serve, shortlist, timeline, worker
from recommender.errors import UndertoneError
from recommender.settings import without_secrets

COMMANDS = (dashboard, demo, ingest, model, search, serve, shortlist, timeline, worker)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="undertone",
        description="Recommend music from your catalog whose emotion matches a piece of speech.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `undertone catalog --json | head`: the reader has what it wanted
        _silence_stdout()
        return 141
    except UndertoneError as error:
        print(f"undertone: error: {error}", file=sys.stderr)
        return 1
    except Exception as error:
        service = _unreachable_service(error)
        if service is None:
            raise
        # An outage in the middle of a command: one line, not a traceback through three libraries.
        cause = without_secrets(" ".join(str(error).split()))[:300]
        print(f"undertone: error: lost the connection to {service}: {cause}", file=sys.stderr)
        return 1


def _unreachable_service(error: Exception) -> str | None:
    """Which service ``error`` says cannot be reached, if it is a connection failure of one (else None)."""
    kinds: list[tuple[str, str, str]] = [
        ("sqlalchemy.exc", "OperationalError", "the catalog database"),
        ("kombu.exceptions", "OperationalError", "the Redis broker"),
        ("redis.exceptions", "ConnectionError", "the Redis broker"),
        ("qdrant_client.http.exceptions", "ResponseHandlingException", "the Qdrant server"),
    ]
    for module, name, service in kinds:
        # Only libraries this command imported can have raised; importing the others costs seconds.
        kind = getattr(sys.modules.get(module), name, None)
        if kind is not None and isinstance(error, kind):
            return service
    return None


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so flushing it at exit raises no second BrokenPipeError."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
