"""Outages and damaged files give one clear line, never a traceback; ``catalog --repair`` rebuilds a damaged store.

Everything is real: ports nobody listens on, and store files overwritten with garbage.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from recommender.cli import main
from recommender.store import open_vector_store
from workers.client import submit_job

pytestmark = pytest.mark.slow


def closed_port() -> int:
    """A local port nothing listens on (bound once to pick it, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if not line.startswith("undertone: warning:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_unreachable_postgresql(capsys, tmp_path: Path) -> None:
    url = f"postgresql://postgres:Sup3rSecret@127.0.0.1:{closed_port()}/test"
    code, out, err = run(capsys, "catalog", "--database-url", url, "--store", str(tmp_path / "s"))
    line = one_line(err)
    assert code == 1 and not out
    assert line.startswith(f"undertone: error: cannot open the catalog database postgresql://postgres:***@127.0.0.1:{url.rsplit(':', 1)[1]}")
    assert "Connection refused" in line and "Sup3rSecret" not in err


def test_unreachable_redis(capsys, pair: Path, settings) -> None:
    port = closed_port()
    code, _, err = run(capsys, "ingest", str(pair), "--workers", "--redis-url", f"redis://127.0.0.1:{port}/0", "--store", str(settings.store))
    assert code == 1
    assert one_line(err).startswith(f"undertone: error: cannot reach the Redis broker redis://127.0.0.1:{port}/0")


def test_a_job_the_broker_never_took_is_failed_not_left_planning(pair: Path, settings) -> None:
    from ingest.catalog import open_catalog
    from recommender.errors import ServiceUnavailableError

    broken = settings.replace(redis_url=f"redis://127.0.0.1:{closed_port()}/0")
    with pytest.raises(ServiceUnavailableError, match="cannot reach the Redis broker"):
        submit_job(pair, broken)
    with open_catalog(settings) as catalog:
        (job,) = catalog.jobs()
    assert job.state == "failed" and "cannot reach the Redis broker" in job.error


def test_unreachable_qdrant_still_gives_one_json_line_per_query(capsys, settings) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    code, out, err = run(capsys, "search", "--qdrant-url", url, "--model", settings.model, "--json", "--emotion", "happy", "--va", "0.2,0.8")
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and [record["query"] for record in records] == ["happy", "0.2,0.8"]
    assert all(record["reason"] == "service_unavailable" and record["error"].startswith(f"cannot reach the Qdrant server {url}") for record in records)
    assert "Traceback" not in err and len(err.splitlines()) == 2


DAMAGE = {
    "wal": lambda shard: (shard / "wal" / "open-1").write_bytes(b"garbage" * 100),
    "segment": lambda shard: next((shard / "segments").iterdir()).joinpath("segment.json").write_bytes(b"\x00garbage"),
    "id_tracker": lambda shard: next((shard / "segments").iterdir()).joinpath("mutable_id_tracker.mappings").write_bytes(b"<<<<"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_store_says_to_repair_and_repair_rebuilds_it(capsys, music: Path, settings, damage: str) -> None:
    store = ["--store", str(settings.store), "--model", settings.model]
    code, _, _ = run(capsys, "ingest", str(music), *store, "--quiet")
    assert code == 0
    DAMAGE[damage](settings.vectors_path / settings.collection)

    code, out, err = run(capsys, "catalog", *store, "--verify")
    assert code == 1 and "cannot be read" in one_line(err) and "undertone catalog --repair" in err
    code, out, err = run(capsys, "search", *store, "--json", "--va", "0.5,0.5")
    (record,) = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and record["reason"] == "store_corrupt" and "undertone catalog --repair" in record["error"]
    code, out, err = run(capsys, "ingest", str(music), *store, "--quiet")
    assert code == 1 and "undertone catalog --repair" in one_line(err)

    code, out, err = run(capsys, "catalog", *store, "--repair", "--json")
    report = json.loads(out)
    assert code == 0 and report["repaired"] and len(report["missing"]) == 3
    assert Path(report["set_aside"]).is_dir() and "moved to" in err
    code, out, _ = run(capsys, "catalog", *store, "--verify")
    assert code == 0 and out.strip().endswith("consistent")
    with open_vector_store(settings) as vectors:
        assert vectors.count() == 3
    code, out, _ = run(capsys, "search", *store, "--json", "--va", "0.5,0.5")
    assert code == 0 and len(json.loads(out)["results"]) == 3


def test_a_database_lost_mid_command_is_one_line(pair: Path, settings, postgres_url: str, tmp_path: Path) -> None:
    """The database vanishes while ``ingest --workers`` follows its job (no worker takes it): one line, exit 1."""
    import os
    import subprocess
    import sys
    import time
    import uuid

    import sqlalchemy

    from ingest.catalog import open_catalog

    command = [
        sys.executable, "-m", "recommender.cli", "ingest", str(pair), "--workers", "--redis-url", "redis://127.0.0.1:6379/0",
        "--queue", f"undertone-test-{uuid.uuid4().hex[:10]}", "--database-url", postgres_url, "--store", str(settings.store),
        "--model", settings.model, "--quiet",
    ]
    env = {**os.environ, "UNDERTONE_CONFIG": str(tmp_path / "none.toml")}
    follower = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert follower.poll() is None, follower.communicate()
            with open_catalog(settings.replace(database_url=postgres_url)) as catalog:
                if catalog.jobs():
                    break
            assert time.monotonic() < deadline, "the job was never submitted"
            time.sleep(0.5)
        admin = sqlalchemy.create_engine(postgres_url.rsplit("/", 1)[0].replace("postgresql:", "postgresql+psycopg2:") + "/test", isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE {postgres_url.rsplit('/', 1)[1]} WITH (FORCE)")
        admin.dispose()
        _, err = follower.communicate(timeout=60)
    finally:
        follower.kill()
    assert follower.returncode == 1 and "Traceback" not in err
    # On a loaded machine the drop can land while the follower is still opening its own session: that
    # is the "cannot open" message, equally one line.
    last_line = err.strip().splitlines()[-1]
    assert last_line.startswith(
        ("undertone: error: lost the connection to the catalog database:", "undertone: error: cannot open the catalog database")
    ), last_line
