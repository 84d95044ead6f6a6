"""The ``undertone`` command line: the top layer, one module per command (beets style).

Each module in ``COMMANDS`` exposes ``register(subparsers)``, which adds its parsers and sets
``handler`` (a function taking the parsed arguments and returning an exit code). Heavy imports (torch,
streamlit, celery) stay inside the handlers so ``undertone --help`` is quick. Nothing below this
package imports it.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from recommender.cli import dashboard, demo, ingest, model, search, serve, worker
from recommender.errors import UndertoneError

COMMANDS = (dashboard, demo, ingest, model, search, serve, worker)


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
    except UndertoneError as error:
        print(f"undertone: error: {error}", file=sys.stderr)
        return 1
