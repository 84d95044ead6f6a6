"""The ``undertone`` command: one sub-command per module listed in ``COMMAND_MODULES``.

Each module exposes ``register(subparsers)``, which adds its parser and sets ``handler`` (a function
taking the parsed arguments and returning an exit code). Modules are imported when the parser is
built; heavy imports (torch, streamlit, celery) stay inside the handlers so ``undertone --help`` is quick.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Sequence

COMMAND_MODULES: tuple[str, ...] = (
    "dashboard.cli",
    "ingest.cli",
    "recommender.demo",
    "recommender.model_cli",
    "recommender.search_cli",
    "workers.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="undertone",
        description="Recommend music from your catalog whose emotion matches a piece of speech.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def add_store_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every command that touches a catalog shares."""
    parser.add_argument("--store", help="embedded store directory (default: $UNDERTONE_STORE or ~/.undertone)")
    parser.add_argument("--qdrant-url", help="Qdrant server URL (server mode)")
    parser.add_argument("--database-url", help="SQLAlchemy URL of the catalog database (server mode)")
    parser.add_argument("--model", help="emotion model: 'builtin' or a model directory")


def settings_from_args(args: argparse.Namespace):
    """Settings from the environment/config file, overridden by the shared command-line options."""
    from recommender.settings import Settings

    return Settings.load(
        store=getattr(args, "store", None),
        qdrant_url=getattr(args, "qdrant_url", None),
        database_url=getattr(args, "database_url", None),
        redis_url=getattr(args, "redis_url", None),
        model=getattr(args, "model", None),
    )


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
    except _user_errors() as error:
        print(f"undertone: error: {error}", file=sys.stderr)
        return 1


class UserFacingError(Exception):
    """An error whose message is the whole story for the user (no traceback)."""


def _user_errors() -> tuple[type[BaseException], ...]:
    from recommender.audio import AudioError
    from recommender.emotion import UnknownEmotionError

    return (UserFacingError, AudioError, UnknownEmotionError, FileNotFoundError)


if __name__ == "__main__":
    sys.exit(main())
