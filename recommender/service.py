"""Finding a running ``undertone serve``: ``UNDERTONE_URL``, or the store's own record of its server.

An embedded store has one owning process (``vectors/owner.lock`` records its pid). When that owner is
``undertone serve``, it also writes ``vectors/server.json`` (``{"pid", "url", "token"}``, readable by
the user only) next to the lock and removes it on a clean exit. Everyone else (the command line, the
dashboard, scripts) reads it and talks to the server instead of failing on the lock. A record is only
believed while its pid is alive and is the pid the lock file names: anything else is left over from a
crash and ignored.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from recommender.settings import Settings
from recommender.store.embedded import LOCK_FILE_NAME, SERVER_FILE_NAME


@dataclass(frozen=True)
class ServerInfo:
    """Where an ``undertone serve`` answers, and the token it wants (None: none)."""

    url: str
    token: str | None = None
    pid: int | None = None


def server_file(settings: Settings) -> Path:
    """The record of the server owning ``settings.store``: next to the store's lock file."""
    return settings.vectors_path / SERVER_FILE_NAME


def record_server(settings: Settings, url: str, token: str | None) -> Path:
    """Write this process's server record (user-only permissions: it may hold the token)."""
    path = server_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump({"pid": os.getpid(), "url": url, "token": token}, handle)
    os.replace(partial, path)  # readers never see half a record
    return path


def forget_server(settings: Settings) -> None:
    """Remove this process's record (another process's record is left alone)."""
    path = server_file(settings)
    info = _read(path)
    if info is not None and info.pid == os.getpid():
        path.unlink(missing_ok=True)


def find_server(settings: Settings) -> ServerInfo | None:
    """The server to use: ``settings.url`` when set, else a live server owning the embedded store.

    A configured Qdrant server (``qdrant_url``) means there is no embedded store to own, so only an
    explicit ``url`` counts then.
    """
    if settings.url:
        return ServerInfo(settings.url.rstrip("/"), _secret(settings))
    if settings.qdrant_url:
        return None
    info = _read(server_file(settings))
    if info is None or info.pid is None or not _alive(info.pid) or _lock_owner(settings) != info.pid:
        return None
    return ServerInfo(info.url, _secret(settings) or info.token, info.pid)


def _secret(settings: Settings) -> str | None:
    return settings.token.get_secret_value() if settings.token else None


def _lock_owner(settings: Settings) -> int | None:
    """The pid the store's lock file names (its last owner; a pid reused after a crash will not match a record)."""
    try:
        return int((settings.vectors_path / LOCK_FILE_NAME).read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None


def _read(path: Path) -> ServerInfo | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        return ServerInfo(str(record["url"]).rstrip("/"), record.get("token"), int(record["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by another user
    return pid != os.getpid()  # our own record is never a server to call
