"""``undertone dashboard``: serve the Streamlit dashboard for one catalog."""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from pathlib import Path
from typing import NoReturn

import dashboard
from recommender.cli.options import add_store_arguments, settings_from_args
from recommender.errors import UsageError

APP = Path(dashboard.__file__).resolve().parent / "app.py"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "dashboard",
        help="open the web dashboard (search, timeline, shortlists, catalog, evaluation)",
        description="Serve the Streamlit dashboard. When `undertone serve` owns the store (or UNDERTONE_URL is set) "
        "it searches and ingests through that server, alongside the command line and scripts; otherwise it "
        "owns an embedded store itself while it runs.",
    )
    add_store_arguments(parser)
    parser.add_argument("--port", type=int, default=8501, help="HTTP port (default: 8501)")
    parser.add_argument(
        "--address", "--host", dest="address", default="127.0.0.1",
        help="interface to listen on (default: 127.0.0.1; any other needs UNDERTONE_DASHBOARD_TOKEN)",
    )
    parser.add_argument(
        "--library-root", action="append", metavar="DIR",
        help="folder the dashboard may ingest and play (repeatable; default: $UNDERTONE_LIBRARY_ROOTS, none = no server folders)",
    )
    parser.set_defaults(handler=run_dashboard)


def streamlit_command(port: int, address: str) -> list[str]:
    """The ``streamlit run`` command line for the dashboard app."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.port", str(port),
        "--server.address", address,
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        # Errors are reported by the pages themselves; never show tracebacks to users.
        "--client.showErrorDetails", "none",
        "--client.toolbarMode", "minimal",
    ]


def dashboard_environment(args: argparse.Namespace) -> dict[str, str]:
    """The environment with the command-line store options exported as ``UNDERTONE_*`` settings."""
    env = dict(os.environ)
    for option in ("store", "qdrant_url", "database_url", "model"):
        value = getattr(args, option, None)
        if value:
            env["UNDERTONE_" + option.upper()] = str(Path(value).expanduser().resolve()) if option == "store" else value
    if getattr(args, "library_root", None):
        env["UNDERTONE_LIBRARY_ROOTS"] = os.pathsep.join(str(Path(root).expanduser().resolve()) for root in args.library_root)
    return env


def is_loopback(address: str) -> bool:
    """Whether only this machine can reach ``address`` (a host name other than localhost counts as reachable)."""
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def run_dashboard(args: argparse.Namespace) -> NoReturn:
    if not 0 < args.port < 65536:
        raise UsageError(f"--port must be between 1 and 65535, got {args.port}")
    if not is_loopback(args.address) and settings_from_args(args).dashboard_token is None:
        # Streamlit has no login: beyond localhost anyone who reaches the port could search and ingest.
        raise UsageError(
            f"the dashboard has no password and listening on {args.address} lets other machines reach it: set "
            "UNDERTONE_DASHBOARD_TOKEN (or UNDERTONE_DASHBOARD_TOKEN_FILE), or listen on 127.0.0.1 behind an "
            "authenticating proxy (docs/security.md)"
        )
    command = streamlit_command(args.port, args.address)
    print(f"Undertone dashboard on http://{args.address}:{args.port} (Ctrl+C stops it)", file=sys.stderr)
    sys.stderr.flush()
    # Replace this process so signals (Ctrl+C, a supervisor's SIGTERM) reach the server directly.
    os.execve(sys.executable, command, dashboard_environment(args))
