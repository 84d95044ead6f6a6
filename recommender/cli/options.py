"""Command-line options and helpers shared by the commands (store options, ranking options, number types)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from recommender.errors import UsageError
from recommender.settings import Settings, without_secrets


def add_store_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every command that touches a catalog shares."""
    parser.add_argument("--store", help="embedded store directory (default: $UNDERTONE_STORE or ~/.undertone)")
    parser.add_argument("--qdrant-url", help="Qdrant server URL (server mode)")
    parser.add_argument("--database-url", help="SQLAlchemy URL of the catalog database (server mode)")
    parser.add_argument("--model", help="emotion model: 'builtin' or a model directory")


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Settings from the environment/config file, overridden by the shared command-line options.

    Raises:
        UsageError: The store path names something that is not a folder.
    """
    for option in ("database_url", "redis_url"):
        value = getattr(args, option, None)
        if value and without_secrets(value) != value:
            flag = "--" + option.replace("_", "-")
            print(
                f"undertone: warning: the password in {flag} is visible to every user of this machine (ps); "
                f"put the URL in UNDERTONE_{option.upper()}_FILE (or the password in UNDERTONE_DATABASE_PASSWORD_FILE)",
                file=sys.stderr,
            )
    settings = Settings.load(
        store=getattr(args, "store", None),
        qdrant_url=getattr(args, "qdrant_url", None),
        database_url=getattr(args, "database_url", None),
        redis_url=getattr(args, "redis_url", None),
        model=getattr(args, "model", None),
    )
    if settings.store.exists() and not settings.store.is_dir():
        raise UsageError(f"store {settings.store} is a file; the store is a folder (it holds catalog.sqlite and vectors/)")
    return settings


def add_ranking_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--where", action="append", default=[], metavar="FILTER",
        help="payload filter, repeatable: genre=rock, genre=rock,pop (any of), duration<=300, year>=2000",
    )
    parser.add_argument("--rerank", type=float, metavar="ALPHA", help="weight of valence-arousal similarity in the score (0-1)")
    parser.add_argument("--per-artist", type=positive_int, metavar="N", help="at most N tracks per artist")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def unit_float(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be within [0, 1], got {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def open_recommender(args: argparse.Namespace):
    """The ``undertone serve`` owning the store (or at ``UNDERTONE_URL``) when one runs, else the store opened here."""
    from recommender.client import Client
    from recommender.search import Recommender

    settings = settings_from_args(args)
    return Client.discover(settings) or Recommender.open(settings=settings)


def json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
