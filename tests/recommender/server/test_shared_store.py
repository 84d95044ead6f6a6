"""One embedded store, many users at once through ``undertone serve``; restarts lose nothing."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from recommender import Client
from recommender.errors import UndertoneError
from recommender.service import find_server, record_server, server_file
from recommender.settings import Settings
from tests.recommender.server.serving import cli_environment, undertone

APP = Path(__file__).resolve().parents[3] / "dashboard" / "app.py"
TIMEOUT = 300


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(undertone(*args), capture_output=True, text=True, env=cli_environment(tmp_path), timeout=TIMEOUT)


@pytest.fixture
def release_dashboard():
    yield
    st.cache_resource.clear()


def test_dashboard_cli_ingest_and_client_at_once(server, pair, speech_clips, tmp_path, monkeypatch, release_dashboard):
    store = str(server.store)
    ingest = subprocess.Popen(
        undertone("ingest", str(pair), "--store", store, "--json"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=cli_environment(tmp_path),
    )
    client_answers: list[int] = []

    def python_script() -> None:
        with Client(server.url) as client:
            for mood in ("sad", "happy", "angry", "calm"):
                client_answers.append(len(client.search(speech_clips[mood], k=3).results))

    script = threading.Thread(target=python_script)
    script.start()
    search = run_cli(tmp_path, "search", str(speech_clips["sad"]), "--emotion", "calm", "--store", store, "--json", "-k", "3")

    monkeypatch.setenv("UNDERTONE_STORE", store)
    monkeypatch.setenv("UNDERTONE_CONFIG", str(tmp_path / "no-config.toml"))
    dashboard = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    dashboard.file_uploader[0].set_value(("voice.wav", speech_clips["happy"].read_bytes(), "audio/wav")).run()

    script.join(TIMEOUT)
    out, err = ingest.communicate(timeout=TIMEOUT)
    assert search.returncode == 0, search.stderr
    assert [len(json.loads(line)["results"]) for line in search.stdout.splitlines()] == [3, 3]
    assert client_answers == [3, 3, 3, 3]
    assert ingest.returncode == 0, err
    assert json.loads(out)["ingested"] == 2
    assert not dashboard.exception and not dashboard.error
    assert dashboard.subheader[0].value.endswith("tracks for speech “voice.wav”")
    with Client(server.url) as client:
        assert client.store.count() == 10
    # Nobody opened the store but the server: its log has no busy-store complaint and no traceback.
    assert "Traceback" not in server.log.read_text()


def test_dashboard_catalog_page_ingests_through_the_server(server, pair, tmp_path, monkeypatch, release_dashboard):
    monkeypatch.setenv("UNDERTONE_STORE", str(server.store))
    monkeypatch.setenv("UNDERTONE_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.setenv("UNDERTONE_LIBRARY_ROOTS", str(pair.parent))  # the dashboard ingests only inside its roots
    page = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    page.switch_page("views/catalog.py").run()
    page.text_input[0].input(str(pair))
    page.button[0].click().run()
    assert not page.exception and not page.error
    deadline = time.monotonic() + TIMEOUT
    while not page.success and time.monotonic() < deadline:
        time.sleep(0.5)
        page.run()
    assert "2 ingested, 0 unchanged, 0 failed" in page.success[0].value
    # The page counts the SQL catalog: the 8 fixture tracks were written straight to the vectors.
    assert {m.label: m.value for m in page.metric}["Tracks"] == "2"
    with Client(server.url) as client:
        assert client.store.count() == 10 and client.jobs()[0]["source"] == str(pair)


def test_restart_loses_nothing_and_commands_fall_back_in_process(serve, store_copy, pair, tmp_path):
    first = serve(store_copy)
    with Client(first.url) as client:
        job = client.wait_for_job(client.ingest(pair)["job_id"])
        assert job["state"] == "done" and job["ingested"] == 2
    assert first.stop(signal.SIGINT) == 130  # Ctrl+C: a graceful shutdown, then the usual exit status
    assert "Traceback" not in first.log.read_text()
    assert not server_file(Settings(store=store_copy)).exists()  # a clean exit removes the record

    # No server now: the same commands open the store themselves.
    search = run_cli(tmp_path, "search", "--emotion", "happy", "--store", str(store_copy), "--json", "-k", "20")
    assert search.returncode == 0, search.stderr
    assert len(json.loads(search.stdout)["results"]) == 10

    second = serve(store_copy)
    with Client(second.url) as client:
        assert client.store.count() == 10
        assert [j["job_id"] for j in client.jobs()] == [job["job_id"]]
        catalog = client.catalog()
        assert catalog["tracks"] == 2 and catalog["store_points"] == 10
    listing = run_cli(tmp_path, "catalog", "--store", str(store_copy), "--json")
    assert listing.returncode == 0, listing.stderr
    assert json.loads(listing.stdout)["tracks"] == 2
    jobs = run_cli(tmp_path, "catalog", "--store", str(store_copy), "--jobs", "--json")
    assert [j["job_id"] for j in json.loads(jobs.stdout)] == [job["job_id"]]
    status = run_cli(tmp_path, "catalog", "--store", str(store_copy), "--job", job["job_id"], "--json")
    assert json.loads(status.stdout)["ingested"] == 2
    verify = run_cli(tmp_path, "catalog", "--store", str(store_copy), "--verify", "--json")
    # The session catalog's 8 tracks were written to the store directly, so SQL does not know them.
    assert verify.returncode == 1 and len(json.loads(verify.stdout)["orphans"]) == 8

    # A server that dies without cleaning up leaves a record nobody follows.
    second.stop(signal.SIGKILL)
    assert server_file(Settings(store=store_copy)).exists()
    assert find_server(Settings(store=store_copy)) is None
    search = run_cli(tmp_path, "search", "--emotion", "calm", "--store", str(store_copy), "--json", "-k", "2")
    assert search.returncode == 0, search.stderr


def test_discovery_prefers_the_configured_url(tmp_path):
    settings = Settings(store=tmp_path / "store")
    assert find_server(settings) is None
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        record_server(settings, "http://127.0.0.1:1", "t")
        path = server_file(settings)
        record = json.loads(path.read_text())
        path.write_text(json.dumps({**record, "pid": sleeper.pid}))
        assert find_server(settings) is None  # alive, but the lock names another owner
        (settings.vectors_path / "owner.lock").write_text(f"{sleeper.pid}\n")  # a live process owns the store
        found = find_server(settings)
        assert found is not None and (found.url, found.token) == ("http://127.0.0.1:1", "t")
        explicit = find_server(settings.replace(url="http://elsewhere:8765/", token="x"))
        assert explicit is not None and (explicit.url, explicit.token) == ("http://elsewhere:8765", "x")
        assert find_server(settings.replace(qdrant_url="http://qdrant:6333")) is None  # no embedded store to own
    finally:
        sleeper.kill()
        sleeper.wait()
    assert find_server(settings) is None  # its owner is gone


@pytest.mark.services
def test_server_mode_keeps_no_state_of_its_own(serve, pair, tmp_path, postgres_url):
    """With a Qdrant URL and a database URL the server records nothing in a store: replicas can share the services."""
    store = tmp_path / "unused-store"
    server = serve(store, "--qdrant-url", ":memory:", "--database-url", postgres_url)
    with Client(server.url) as client:
        with pytest.raises(UndertoneError, match="no such file or folder"):
            client.ingest(tmp_path / "nowhere")
        job = client.wait_for_job(client.ingest(pair)["job_id"])
        assert job["state"] == "done" and job["ingested"] == 2
        assert len(client.search(emotion="calm", k=5).results) == 2
        assert client.catalog()["tracks"] == 2
    assert not server_file(Settings(store=store)).exists()
    assert find_server(Settings(store=store, qdrant_url=":memory:")) is None
