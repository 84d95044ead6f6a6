"""Ingestion throughput: tracks per second, embedded default vs. Celery workers.

Synthesizes a small library (procedural music from ``recommender.synth``, never recorded audio), then
ingests it into fresh stores three ways and times each run from start to the last vector written:

* ``embedded``: ``run_ingest`` in this process (the default ``undertone ingest``);
* ``workers``: N ``undertone worker`` processes (one task and one torch thread each) on the local
  Redis; this process owns the embedded store and writes the vectors they stage (``--workers``);
* ``re-ingest``: the embedded default again on the same library (everything unchanged, skipped).

``--seconds 30 240`` times one library per track length; ``--workers 1 2`` each worker count;
``--json FILE`` appends the raw runs, so runs of two checkouts (``PYTHONPATH=/path/to/main``) can be
interleaved on a shared machine and compared.

The model is loaded before timing starts (in the workers, by a warm-up job), so the numbers are the
steady-state cost per track. Results go to the "Ingestion: latest run" section of ``docs/benchmarks.md``
(its "Ingestion" before/after table was assembled from ``--json`` runs of two checkouts).

    python benchmarks/ingest_throughput.py --tracks 8 --seconds 30 240 --workers 1 2
"""

from __future__ import annotations

import argparse
import json
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

from ingest import pipeline
from ingest.pipeline import model_for, run_ingest
from recommender.audio import write_audio
from recommender.settings import Settings
from recommender.store import open_vector_store
from recommender.synth import GENRES, synthesize_music
from workers.client import follow_job, submit_job

REPO = Path(__file__).resolve().parents[1]
# The code under test (PYTHONPATH may name another checkout, e.g. main for a before/after comparison):
# workers run from there, since ``python -m`` puts the working directory first on sys.path.
CODE = Path(pipeline.__file__).resolve().parents[1]

SECTION = "## Ingestion: latest run"


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
            cwd=CODE, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
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


def run_modes(args: argparse.Namespace, seconds: float, root: Path) -> list[dict]:
    """Every requested mode on one library of ``seconds``-long tracks; one result dict per mode."""
    library = synthesize_library(root / f"library-{seconds:.0f}", args.tracks, seconds)
    warmup = synthesize_library(root / "warmup", max(args.workers + [2]), 5.0)
    embedded = Settings(store=root / f"embedded-{seconds:.0f}", model=args.model)
    model = model_for(embedded)
    print(f"model {model.fingerprint}; {args.tracks} tracks x {seconds:.0f} s", file=sys.stderr)
    run_ingest(warmup, embedded.replace(store=root / f"warm-{seconds:.0f}"))  # load the music tower before timing
    results = []

    def record(mode: str, elapsed: float, tracks: int, load_before: float) -> None:
        results.append({
            "code": args.label, "mode": mode, "track_seconds": seconds, "tracks": tracks, "seconds": elapsed,
            "load_before": load_before, "load_after": os.getloadavg()[0], "model": model.fingerprint,
        })
        print(json.dumps(results[-1]), file=sys.stderr)

    if "embedded" in args.modes:
        load = os.getloadavg()[0]
        elapsed, tracks = timed_embedded(library, embedded)
        record("embedded", elapsed, tracks, load)
        load = os.getloadavg()[0]
        elapsed, tracks = timed_embedded(library, embedded)
        record("re-ingest", elapsed, tracks, load)
    for count in args.workers if "workers" in args.modes else []:
        queue = f"undertone-bench-{uuid.uuid4().hex[:8]}"
        settings = Settings(store=root / f"workers{count}-{seconds:.0f}", redis_url=args.redis_url, model=args.model)
        procs = start_workers(count, args.redis_url, queue, root)
        try:
            load = os.getloadavg()[0]
            elapsed, tracks = timed_workers(library, warmup, settings, queue)
            record(f"{count} workers", elapsed, tracks, load)
        finally:
            for proc in procs:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=60)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracks", type=int, default=24)
    parser.add_argument("--seconds", type=float, nargs="+", default=[30.0], help="length of each synthesized track (several: one library each)")
    parser.add_argument("--workers", type=int, nargs="+", default=[2], help="worker counts to time (e.g. 1 2)")
    parser.add_argument("--modes", nargs="+", choices=("embedded", "workers"), default=["embedded", "workers"])
    parser.add_argument("--model", default="builtin", help="emotion model: 'builtin' or a model directory")
    parser.add_argument("--redis-url", default=os.environ.get("UNDERTONE_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--label", default="this code", help="name of the code under test in the JSON lines")
    parser.add_argument("--json", type=Path, help="append one JSON line per timed run here")
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("--no-doc", action="store_true", help="print the table only")
    args = parser.parse_args()

    results = []
    with tempfile.TemporaryDirectory(prefix="undertone-bench-") as tmp:
        for seconds in args.seconds:
            results += run_modes(args, seconds, Path(tmp))
    if args.json:
        with args.json.open("a", encoding="utf-8") as handle:
            handle.writelines(json.dumps(result) + "\n" for result in results)
    rows = "\n".join(
        f"| {r['mode']} | {r['track_seconds']:.0f} s | {r['tracks']} | {r['seconds']:.1f} | {r['tracks'] / r['seconds']:.2f} | "
        f"{r['tracks'] * r['track_seconds'] / r['seconds']:.0f}x | {r['load_before']:.1f} / {r['load_after']:.1f} |"
        for r in results
    )
    body = f"""
`python benchmarks/ingest_throughput.py --tracks {args.tracks} --seconds {' '.join(f'{s:.0f}' for s in args.seconds)} --workers {' '.join(map(str, args.workers))}`:
{args.tracks} synthesized tracks per length (FLAC, 24 kHz), model `{Path(args.model).name}`, embedded store (Qdrant Edge +
SQLite). Wall time from submitting the job to the last vector written, model already loaded (by a warm-up
job, in the workers and in the embedded default's analysis processes).
{platform.machine()}, {os.cpu_count()} cores shared with other work.

| mode | track | tracks | seconds | tracks/s | x real time | load average before / after |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
{rows}
"""
    if not args.no_doc:
        write_section(args.output, SECTION, body)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
