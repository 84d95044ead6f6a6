"""Ingestion throughput: tracks per second, embedded default vs. Celery workers.

Synthesizes a small library (procedural music from ``recommender.synth``, never recorded audio), then
ingests it into fresh stores three ways and times each run from start to the last vector written:

* ``embedded``: ``run_ingest`` in this process (the default ``undertone ingest``);
* ``workers``: N ``undertone worker`` processes (one task and one torch thread each) on the local
  Redis; this process owns the embedded store and writes the vectors they stage (``--workers``);
* ``re-ingest``: the embedded default again on the same library (everything unchanged, skipped).

The model is loaded before timing starts (in the workers, by a warm-up job), so the numbers are the
steady-state cost per track. Results go to the "Ingestion" section of ``docs/benchmarks.md``.

    python benchmarks/ingest_throughput.py --tracks 24 --seconds 30 --workers 2
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from report import write_section  # benchmarks/report.py (scripts run from their folder)

from ingest.pipeline import model_for, run_ingest
from recommender.audio import write_audio
from recommender.settings import Settings
from recommender.store import open_vector_store
from recommender.synth import GENRES, synthesize_music
from workers.client import follow_job, submit_job

REPO = Path(__file__).resolve().parents[1]

SECTION = "## Ingestion"


def synthesize_library(directory: Path, tracks: int, seconds: float) -> Path:
    genres = sorted(GENRES)
    for index in range(tracks):
        valence, arousal = ((index * 0.37) % 1.0, (index * 0.61) % 1.0)
        music = synthesize_music((valence, arousal), seconds=seconds, genre=genres[index % len(genres)], seed=index)
        write_audio(directory / f"track{index:03d}.flac", music.waveform, music.sample_rate)
    return directory


def timed_embedded(library: Path, settings: Settings) -> tuple[float, int]:
    started = time.perf_counter()
    summary = run_ingest(library, settings)
    return time.perf_counter() - started, summary.ingested + summary.skipped


def start_workers(count: int, redis_url: str, queue: str, logs: Path) -> list[subprocess.Popen]:
    procs = []
    for index in range(count):
        log = (logs / f"worker-{index}.log").open("w")
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "recommender.cli", "worker", "--redis-url", redis_url, "--queue", queue,
             "--pool", "solo", "--threads", "1", "--hostname", f"{queue}-{index}@%h", "--loglevel", "INFO"],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        ))
    for index, proc in enumerate(procs):
        while " ready." not in (logs / f"worker-{index}.log").read_text(errors="replace"):
            if proc.poll() is not None:
                raise RuntimeError((logs / f"worker-{index}.log").read_text())
            time.sleep(0.3)
    return procs


def timed_workers(library: Path, warmup: Path, settings: Settings, queue: str) -> tuple[float, int]:
    with open_vector_store(settings) as store:
        follow_job(submit_job(warmup, settings, queue=queue, batch_size=1), settings, store=store, queue=queue)
        started = time.perf_counter()
        job_id = submit_job(library, settings, queue=queue, batch_size=1)
        summary = follow_job(job_id, settings, store=store, queue=queue, poll_seconds=0.1)
    return time.perf_counter() - started, summary.ingested


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracks", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each synthesized track")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--model", default="builtin", help="emotion model: 'builtin' or a model directory")
    parser.add_argument("--redis-url", default=os.environ.get("UNDERTONE_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks.md")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="undertone-bench-") as tmp:
        root = Path(tmp)
        library = synthesize_library(root / "library", args.tracks, args.seconds)
        warmup = synthesize_library(root / "warmup", args.workers, 5.0)
        embedded = Settings(store=root / "embedded", model=args.model)
        model = model_for(embedded)
        print(f"model {model.fingerprint}; {args.tracks} tracks x {args.seconds:.0f} s", file=sys.stderr)
        run_ingest(warmup, embedded.replace(store=root / "warm"))  # load the music tower before timing

        load_before = os.getloadavg()[0]
        embedded_seconds, embedded_tracks = timed_embedded(library, embedded)
        reingest_seconds, reingest_tracks = timed_embedded(library, embedded)

        queue = f"undertone-bench-{uuid.uuid4().hex[:8]}"
        settings = Settings(store=root / "workers", redis_url=args.redis_url, model=args.model)
        procs = start_workers(args.workers, args.redis_url, queue, root)
        try:
            worker_seconds, worker_tracks = timed_workers(library, warmup, settings, queue)
        finally:
            for proc in procs:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=60)
        load_after = os.getloadavg()[0]

    audio_hours = args.tracks * args.seconds / 3600
    rows = [
        ("embedded default (in-process)", embedded_seconds, embedded_tracks),
        (f"{args.workers} workers (Celery, Redis, 1 thread each)", worker_seconds, worker_tracks),
        ("re-ingest, nothing changed (embedded)", reingest_seconds, reingest_tracks),
    ]
    table = "\n".join(
        f"| {name} | {tracks} | {seconds:.1f} | {tracks / seconds:.2f} | {audio_hours * 3600 / seconds:.0f}x |"
        for name, seconds, tracks in rows
    )
    body = f"""
`python benchmarks/ingest_throughput.py --tracks {args.tracks} --seconds {args.seconds:.0f} --workers {args.workers}`:
{args.tracks} synthesized tracks of {args.seconds:.0f} s (FLAC, 22.05 kHz), model `{Path(args.model).name}` (MusiCNN music tower),
embedded store (Qdrant Edge + SQLite). Wall time from submitting the job to the last vector written,
model already loaded. {platform.machine()}, {os.cpu_count()} cores, load average {load_before:.1f} before /
{load_after:.1f} after (the machine is shared: other work ran at the same time).

| mode | tracks | seconds | tracks/s | audio speed |
| --- | ---: | ---: | ---: | ---: |
{table}

Analysis dominates (decoding, resampling to 16 kHz and one MusiCNN pass per 3 s window); hashing and
the SQL and vector writes are a few milliseconds per track, which is why a re-ingest of unchanged files
is two orders of magnitude faster. In-process, one track is analysed at a time with torch's threads
over both cores while decoding and hashing stay single-threaded; two single-threaded workers keep both
cores busy, hence more than twice the rate on this machine. Workers scale with cores: run one per core
(`--threads 1`), on as many machines as share the music.
"""
    write_section(args.output, SECTION, body)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
