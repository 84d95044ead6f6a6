"""What a Celery message carries, read back from the real Redis queue: no password, no broker URL, no token."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import pytest

from recommender.settings import Settings
from workers.client import WORKER_FIELDS, resend_job, settings_from_message, settings_to_message, submit_job

pytestmark = pytest.mark.services

REDIS_URL = "redis://127.0.0.1:6379/0"
PASSWORD = "Tr0ub4dor-3"  # PostgreSQL here trusts local connections, so any password connects


@pytest.fixture
def redis_queue():
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as error:
        pytest.skip(f"Redis not reachable: {error}")
    queue = f"undertone-test-{uuid.uuid4().hex[:10]}"
    yield client, queue
    client.delete(queue, f"_kombu.binding.{queue}")
    client.close()


def queued_messages(client, queue: str) -> list[tuple[bytes, dict, list]]:
    """Each message waiting in ``queue``: its raw bytes, its headers and its decoded arguments."""
    messages = []
    for raw in client.lrange(queue, 0, -1):
        envelope = json.loads(raw)
        args, _kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
        messages.append((raw, envelope["headers"], args))
    return messages


def test_messages_in_redis_carry_no_secret(redis_queue, postgres_url: str, tmp_path: Path) -> None:
    client, queue = redis_queue
    database = postgres_url.replace("postgresql://postgres@", f"postgresql://postgres:{PASSWORD}@")
    settings = Settings.load(
        config_file=tmp_path / "none.toml", store=tmp_path / "store", database_url=database,
        redis_url=REDIS_URL, dashboard_token="dashboard-secret",
    )
    (tmp_path / "music").mkdir()
    job_id = submit_job(tmp_path / "music", settings, queue=queue)
    resend_job(job_id, settings, queue=queue)  # a job still planning is sent again: the same rules apply
    messages = queued_messages(client, queue)
    assert len(messages) == 2
    for raw, headers, args in messages:
        assert PASSWORD.encode() not in raw and b"dashboard-secret" not in raw and b"redis://" not in raw
        assert PASSWORD not in base64.b64decode(json.loads(raw)["body"]).decode()
        assert headers["argsrepr"] == repr((job_id, str(tmp_path / "music"), "<settings>", 8))
        sent = args[2]
        assert set(sent) == set(WORKER_FIELDS) and sent["database_url"] == postgres_url


def test_the_worker_supplies_the_password_from_its_own_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    submitter = Settings.load(config_file=tmp_path / "none.toml", store=tmp_path / "s", database_url=f"postgresql://u:{PASSWORD}@db/cat")
    message = settings_to_message(submitter)
    assert message["database_url"] == "postgresql://u@db/cat"

    (tmp_path / "password").write_text(PASSWORD + "\n")
    monkeypatch.setenv("UNDERTONE_DATABASE_PASSWORD_FILE", str(tmp_path / "password"))
    own = Settings.load(config_file=tmp_path / "none.toml", redis_url=REDIS_URL, database_url="postgresql://u@db/cat")
    worker = settings_from_message(message, own)
    assert worker.catalog_url == submitter.database_url and worker.redis_url == REDIS_URL and worker.store == tmp_path / "s"
    # Whoever can write to the queue must not learn the password by naming a database of theirs.
    hostile = {**message, "database_url": "postgresql://u@attacker.example/cat"}
    assert settings_from_message(hostile, own).catalog_url == "postgresql://u@attacker.example/cat"
    monkeypatch.delenv("UNDERTONE_DATABASE_PASSWORD_FILE")

    own = Settings.load(config_file=tmp_path / "none.toml", database_url=f"postgresql://u:{PASSWORD}@db/cat")
    assert settings_from_message(message, own).catalog_url == submitter.database_url
    other = Settings.load(config_file=tmp_path / "none.toml", database_url=f"postgresql://u:{PASSWORD}@elsewhere/cat")
    assert settings_from_message(message, other).catalog_url == "postgresql://u@db/cat"  # never sent to another host


def test_batches_a_worker_sends_carry_no_secret(redis_queue, postgres_url: str, pair: Path, tmp_path: Path) -> None:
    from ingest.catalog import open_catalog
    from workers import tasks
    from workers.app import create_app

    client, queue = redis_queue
    database = postgres_url.replace("postgresql://postgres@", f"postgresql://postgres:{PASSWORD}@")
    settings = Settings.load(config_file=tmp_path / "none.toml", store=tmp_path / "store", database_url=database, redis_url=REDIS_URL, queue=queue)
    create_app(settings)  # the current app, as in a worker: the job task sends its batches through it
    with open_catalog(settings) as catalog:
        job_id = catalog.create_job(str(pair), mode="workers")
    try:
        tasks.ingest_job(job_id, str(pair), settings_to_message(settings), 1)
    finally:
        for ingestor in tasks._ingestors.values():
            ingestor.catalog.close()
        tasks._ingestors.clear()
    messages = queued_messages(client, queue)
    assert len(messages) == 2  # one batch per track
    for raw, headers, args in messages:
        assert PASSWORD.encode() not in raw and b"redis://" not in raw
        assert headers["argsrepr"] == repr((job_id, args[1], "<settings>"))
