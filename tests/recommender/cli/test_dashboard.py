"""``undertone dashboard``: it refuses to listen beyond localhost without a password."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from recommender.cli import build_parser, main
from recommender.cli.dashboard import dashboard_environment, is_loopback


@pytest.fixture(autouse=True)
def no_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("UNDERTONE_DASHBOARD_TOKEN", "UNDERTONE_DASHBOARD_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("UNDERTONE_CONFIG", str(tmp_path / "no-config.toml"))


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "music.example.org"])
def test_listening_beyond_localhost_needs_a_token(host: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dashboard", "--host", host]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "the dashboard has no password" in error and "UNDERTONE_DASHBOARD_TOKEN" in error


def test_loopback_addresses() -> None:
    assert all(is_loopback(address) for address in ("127.0.0.1", "localhost", "::1", "127.0.0.2"))
    assert not any(is_loopback(address) for address in ("0.0.0.0", "::", "10.0.0.1", "example.org"))


def test_library_roots_are_exported_resolved(tmp_path: Path) -> None:
    args = build_parser().parse_args(["dashboard", "--library-root", str(tmp_path / "a" / ".."), "--library-root", "b"])
    roots = dashboard_environment(args)["UNDERTONE_LIBRARY_ROOTS"].split(os.pathsep)
    assert roots == [str(tmp_path), str(Path("b").resolve())]


def test_with_a_token_file_it_serves_on_all_interfaces(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "UNDERTONE_DASHBOARD_TOKEN_FILE": str(token), "UNDERTONE_STORE": str(tmp_path / "store")}
    command = [sys.executable, "-m", "recommender.cli", "dashboard", "--host", "0.0.0.0", "--port", str(port)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, server.stderr.read().decode()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                    assert response.read() == b"ok"
                    break
            except OSError:
                assert time.monotonic() < deadline, "the dashboard did not start"
                time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(timeout=30)
