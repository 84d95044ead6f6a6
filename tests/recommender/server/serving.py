"""Running ``undertone`` commands and a real ``undertone serve`` process (uvicorn on a free port) in tests."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from recommender.service import server_file
from recommender.settings import Settings

REPO = Path(__file__).resolve().parents[3]
STARTUP_SECONDS = 180  # torch import + model load on a busy 2-core machine


def cli_environment(tmp_path: Path) -> dict[str, str]:
    """The environment of spawned commands: this checkout's code, no user config, no inherited server URL."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("UNDERTONE_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env["UNDERTONE_CONFIG"] = str(tmp_path / "no-config.toml")
    return env


def undertone(*args: str) -> list[str]:
    return [sys.executable, "-m", "recommender.cli", *args]


@dataclass
class Server:
    """A running ``undertone serve`` and where it answers."""

    process: subprocess.Popen
    store: Path
    url: str
    token: str | None
    log: Path

    def stop(self, sig: int = signal.SIGINT) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_server(store: Path, tmp_path: Path, *options: str) -> Server:
    """``undertone serve --store STORE --port 0 OPTIONS``; returns once it answers.

    An embedded store's server is ready when it has recorded its URL in the store; with ``--qdrant-url``
    there is no record, and the URL is read from the line the server prints when ready.
    """
    record = server_file(Settings(store=store))
    record.unlink(missing_ok=True)
    embedded = "--qdrant-url" not in options
    log = tmp_path / f"serve-{time.monotonic_ns()}.log"
    process = subprocess.Popen(
        undertone("serve", "--store", str(store), "--port", "0", *options),
        stdout=log.open("wb"), stderr=subprocess.STDOUT, env=cli_environment(tmp_path), cwd=tmp_path,
        # A suite started in the background (`nohup ... &`) passes SIGINT on as ignored; the tests press Ctrl+C.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + STARTUP_SECONDS
    while not (record.is_file() if embedded else _answers(_announced(log))):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"undertone serve did not start:\n{log.read_text()}")
        time.sleep(0.2)
    if not embedded:
        return Server(process, store, str(_announced(log)), None, log)
    info = json.loads(record.read_text())
    return Server(process, store, info["url"], info["token"], log)


def _announced(log: Path) -> str | None:
    found = re.search(r" at (http://\S+) \(API docs", log.read_text())
    return found.group(1) if found else None


def _answers(url: str | None) -> bool:
    if url is None:
        return False
    try:
        return httpx.get(url + "/health", timeout=5).status_code == 200
    except httpx.TransportError:
        return False
