"""``undertone serve``: own the store and the model in one long-lived process and answer over HTTP."""

from __future__ import annotations

import argparse
import ipaddress
import socket
import sys

from recommender.cli.options import add_store_arguments, settings_from_args
from recommender.errors import UsageError

LOCAL_HOSTS = ("localhost",)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve the catalog over HTTP so the dashboard, the command line and scripts share one store",
        description="Own the store and the emotion model and serve the HTTP API (OpenAPI docs at /docs). While it "
        "runs, `undertone search/ingest/catalog/timeline`, the dashboard and `recommender.Client` use it instead of "
        "opening the store themselves.",
    )
    add_store_arguments(parser)
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1; others need --token)")
    parser.add_argument("--port", type=int, default=8765, help="TCP port (default 8765; 0 picks a free one)")
    parser.add_argument("--token", help="require 'Authorization: Bearer TOKEN' on every request (default: $UNDERTONE_TOKEN)")
    parser.add_argument("--max-upload-mb", type=float, help="largest request body in MB (default: $UNDERTONE_MAX_UPLOAD_MB or 200)")
    parser.set_defaults(handler=run_serve)


def is_local(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host in LOCAL_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from recommender.server import create_app
    from recommender.server.state import ServerState

    settings = settings_from_args(args)
    # Absolute, so /health and the logs say which store whatever directory clients run in.
    settings = settings.replace(store=settings.store.absolute())
    if args.max_upload_mb is not None:
        settings = settings.replace(max_upload_mb=args.max_upload_mb)
    token = args.token or (settings.token.get_secret_value() if settings.token else None)
    if not is_local(args.host) and not token:
        raise UsageError(f"--host {args.host} accepts connections from other machines: give --token (or set UNDERTONE_TOKEN)")
    if not 0 <= args.port < 65536:
        raise UsageError(f"--port must be between 0 and 65535, got {args.port}")
    state = ServerState(settings)
    state.open()
    try:
        listener = _listen(args.host, args.port)
    except BaseException:
        state.close()
        raise
    port = listener.getsockname()[1]
    # Local clients reach a server bound to every interface through the loopback.
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    url = f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"
    app = create_app(settings, token=token, advertise_url=url, state=state)
    where = settings.qdrant_url or settings.store
    print(f"undertone: serving {where} at {url} (API docs at {url}/docs; Ctrl+C stops it)", file=sys.stderr, flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=10))
    server.run(sockets=[listener])
    return 0 if server.started else 1


def _listen(host: str, port: int) -> socket.socket:
    """Bind before starting uvicorn, so ``--port 0`` gives a known port to advertise."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as error:
        listener.close()
        raise UsageError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    listener.listen(128)
    return listener
