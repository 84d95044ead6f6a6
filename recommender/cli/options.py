"""Command-line options shared by every command that touches a catalog."""

from __future__ import annotations

import argparse
import sys

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
