"""Real Celery workers (subprocesses of ``undertone worker``) on the local Redis, one queue per test.

The store is embedded (Qdrant Edge): workers analyse and stage tracks in SQL, and this test process --
the store's owner, as ``undertone ingest --workers`` would be -- flushes them into the store.
"""

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from ingest.catalog import open_catalog
from ingest.reconcile import reconcile
from recommender.store import open_vector_store
from workers.client import follow_job, submit_job

pytestmark = [pytest.mark.services, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
REDIS_URL = "redis://127.0.0.1:6379/0"
VISIBILITY_TIMEOUT = 6


@pytest.fixture
def broker():
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as error:
        pytest.skip(f"Redis not reachable: {error}")
    queue = f"undertone-test-{uuid.uuid4().hex[:10]}"
    yield queue
    client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
    client.close()


class Workers:
    """Starts ``undertone worker`` processes, each in its own process group (so kill -9 takes all of it)."""

    def __init__(self, queue: str, logs: Path) -> None:
        self.queue, self.logs, self.procs = queue, logs, []

    def start(self, *extra: str) -> subprocess.Popen:
        log = self.logs / f"worker-{len(self.procs)}.log"
        env = {**os.environ, "UNDERTONE_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "recommender.cli", "worker", "--redis-url", REDIS_URL, "--queue", self.queue,
             "--hostname", f"{self.queue}-{len(self.procs)}@%h", "--loglevel", "INFO", *extra],
            cwd=REPO, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.procs.append(proc)
        deadline = time.monotonic() + 120
        while " ready." not in log.read_text(errors="replace"):
            assert proc.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, "worker did not start"
            time.sleep(0.3)
        return proc

    def log(self, index: int) -> str:
        return (self.logs / f"worker-{index}.log").read_text(errors="replace")

    def kill(self, proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    self.kill(proc)


@pytest.fixture
def workers(broker, tmp_path):
    pool = Workers(broker, tmp_path)
    yield pool
    pool.stop_all()


def tasks_in(log: str, event: str) -> set[str]:
    """Ids of the tasks a worker log says were ``received`` / ``succeeded``."""
    return set(re.findall(rf"Task undertone\.\w+\[([0-9a-f-]+)\] {event}", log))


def ingest_with_workers(source, settings, queue, **options):
    with open_vector_store(settings) as store:
        job_id = submit_job(source, settings, queue=queue, batch_size=options.pop("batch_size", 2))
        return follow_job(job_id, settings, store=store, timeout=options.pop("timeout", 240), **options)


def assert_consistent(settings, tracks: int) -> None:
    with open_catalog(settings) as catalog, open_vector_store(settings) as store:
        report = reconcile(catalog, store)
        assert report.consistent, report.to_dict()
        assert store.count() == catalog.counts()["tracks"] == tracks


def test_worker_ingests_a_catalog_and_survives_bad_files(music, settings, workers, broker):
    (music / "garbage.mp3").write_text("definitely not audio", encoding="utf-8")
    (music / "empty.flac").write_bytes(b"")
    worker = workers.start("--pool", "solo")
    summary = ingest_with_workers(music, settings, broker)
    assert (summary.state, summary.total, summary.ingested, summary.failed) == ("done", 5, 3, 2)
    assert {f.reason for f in summary.failures} == {"corrupt", "empty"}
    assert_consistent(settings, 3)

    again = ingest_with_workers(music, settings, broker)  # the same worker, still alive
    assert (again.ingested, again.skipped, again.failed) == (0, 3, 2)
    assert worker.poll() is None
    assert_consistent(settings, 3)


def test_workers_with_a_postgresql_catalog(pair, settings, workers, broker, postgres_url):
    server = settings.replace(database_url=postgres_url)
    workers.start("--pool", "prefork", "--concurrency", "2")
    summary = ingest_with_workers(pair, server, broker, batch_size=1)
    assert (summary.ingested, summary.failed) == (2, 0)
    assert_consistent(server, 2)
    assert ingest_with_workers(pair, server, broker).skipped == 2
    with open_catalog(server) as catalog:
        assert catalog.url.startswith("postgresql") and catalog.counts()["jobs"] == 2


def test_kill_9_a_worker_mid_job_and_another_finishes_it(tmp_path, settings, workers, broker, tone):
    library = tmp_path / "library"
    for index in range(8):
        tone(library / f"t{index}.wav", freq=200 + 60 * index)
    first = workers.start("--pool", "prefork", "--concurrency", "1")

    with open_vector_store(settings) as store:
        job_id = submit_job(library, settings, queue=broker, batch_size=1)
        with open_catalog(settings) as catalog:
            deadline = time.monotonic() + 180
            while True:  # wait until the worker is busy with the job, part-way through
                status = catalog.job_status(job_id)
                done = status.counts["pending"] + status.processed
                if 1 <= done < 6:
                    break
                assert done < 8 and time.monotonic() < deadline, status.counts
                time.sleep(0.2)
        workers.kill(first)  # the whole process group: main process and the child running a task
        workers.start("--pool", "solo")
        try:
            # Re-sending stalled work comes late here, so that the broker's own re-delivery is what is tested.
            summary = follow_job(job_id, settings, store=store, timeout=300, resend_after=30, queue=broker)
        except TimeoutError as error:
            pytest.fail(f"{error}\n--- killed worker ---\n{workers.log(0)[-3000:]}\n--- new worker ---\n{workers.log(1)[-3000:]}")

    assert (summary.state, summary.total, summary.ingested, summary.failed) == ("done", 8, 8, 0)
    # A task the killed worker had registered but not finished was re-delivered to the new one. (If the
    # kill landed while it was taking a task, the broker lost that message and the re-send healed it.)
    unfinished = tasks_in(workers.log(0), "received") - tasks_in(workers.log(0), "succeeded")
    assert unfinished <= tasks_in(workers.log(1), "succeeded")
    with open_catalog(settings) as catalog:
        status = catalog.job_status(job_id)
        assert sum(status.counts.values()) == 8  # every item exactly once
    assert_consistent(settings, 8)


def test_lost_messages_are_sent_again(pair, settings, workers, broker):
    """Work whose messages never reached a worker (lost by the broker) is re-sent once the job stalls."""
    from ingest.sources import iter_source

    workers.start("--pool", "solo")
    with open_catalog(settings) as catalog:
        planning = catalog.create_job(str(pair), mode="workers")  # its job task was lost
        running = catalog.create_job(str(pair), mode="workers")  # planned, but its batches were lost
        catalog.add_items(running, list(iter_source(pair)))
        catalog.finish_planning(running, 2)
    with open_vector_store(settings) as store:
        first = follow_job(planning, settings, store=store, timeout=180, resend_after=1, queue=broker)
        second = follow_job(running, settings, store=store, timeout=180, resend_after=1, queue=broker)
    assert (first.state, first.total, first.ingested + first.skipped) == ("done", 2, 2)
    assert (second.state, second.total, second.ingested + second.skipped) == ("done", 2, 2)
    assert_consistent(settings, 2)


def test_a_relative_store_and_model_work_with_a_worker_in_another_directory(pair, model_dir, workers, broker, tmp_path, monkeypatch):
    """``undertone ingest DIR --workers --store ./lib``: the worker runs elsewhere, the paths must not be relative."""
    from recommender.settings import Settings

    here = tmp_path / "submitter"
    here.mkdir()
    monkeypatch.chdir(here)
    settings = Settings(store="lib", model=os.path.relpath(model_dir, here))
    assert settings.store == here / "lib" and Path(settings.model) == model_dir
    workers.start("--pool", "solo")
    summary = ingest_with_workers(os.path.relpath(pair, here), settings, broker, timeout=120)
    assert (summary.state, summary.ingested) == ("done", 2)
    assert (here / "lib" / "catalog.sqlite").exists() and not (REPO / "lib").exists()


def test_a_job_no_worker_takes_is_given_up_with_a_clear_message(pair, settings, broker):
    from workers.client import JobStalledError

    job_id = submit_job(pair, settings, queue=broker)  # nobody serves this queue
    with pytest.raises(JobStalledError, match=rf"job {job_id} made no progress .*still planning.*queue '{broker}'"):
        follow_job(job_id, settings, queue=broker, poll_seconds=0.1, resend_after=0.5, give_up_after=2)


def test_ingest_workers_timeout_ends_with_a_message_not_a_traceback(pair, settings, broker):
    result = subprocess.run(
        [sys.executable, "-m", "recommender.cli", "ingest", str(pair), "--workers", "--redis-url", REDIS_URL, "--queue", broker,
         "--store", str(settings.store), "--model", settings.model, "--timeout", "3", "--quiet"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "still planning after 3 s" in result.stderr and "undertone catalog --job" in result.stderr
