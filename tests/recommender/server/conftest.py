"""A real ``undertone serve`` process (uvicorn on a free port) over a copy of the suite's small catalog."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.recommender.server.serving import Server, start_server


@pytest.fixture
def store_copy(catalog, tmp_path: Path) -> Path:
    """A private copy of the session catalog (8 tracks), so servers may write to it."""
    return Path(shutil.copytree(catalog["store"], tmp_path / "store", ignore=shutil.ignore_patterns("owner.lock", "server.json")))


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start servers (stopped at the end of the test)."""
    started: list[Server] = []

    def start(store: Path, *options: str) -> Server:
        server = start_server(store, tmp_path, *options)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def server(serve, store_copy: Path) -> Server:
    return serve(store_copy)
