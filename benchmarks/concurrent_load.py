"""Concurrent load on ``undertone serve``: throughput and latency with 1, 4 and 16 clients.

Builds an embedded store of synthetic tracks (as ``query_latency.py`` does: unit vectors in the model's
joint space with realistic payloads), starts ``undertone serve`` on it in a subprocess, then runs each
client count in turn: every client is a thread with its own :class:`recommender.Client` uploading 5 s
speech clips (``search(speech=..., k=10)``) back to back. Reports queries/s over the wall time of the
round, p50/p99 latency per request as the client sees it (upload + decode + analysis + search + JSON),
and errors.

    python benchmarks/concurrent_load.py [--tracks 10000] [--searches 200] [--clients 1 4 16] [--work-dir DIR]

Prints a Markdown table (paste into docs/benchmarks.md, section "Concurrent load").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from query_latency import QUERY_MOODS, build_store, percentile

from recommender.audio import write_audio
from recommender.client import Client
from recommender.model import EmotionModel
from recommender.service import server_file
from recommender.settings import Settings
from recommender.synth import synthesize_speech

REPO = Path(__file__).resolve().parents[1]


def start_server(store: Path, log: Path) -> tuple[subprocess.Popen, str]:
    record = server_file(Settings(store=store))
    env = {key: value for key, value in os.environ.items() if not key.startswith("UNDERTONE_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env["UNDERTONE_CONFIG"] = str(store.parent / "no-config.toml")
    process = subprocess.Popen(
        [sys.executable, "-m", "recommender.cli", "serve", "--store", str(store), "--port", "0"],
        stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env,
    )
    while not record.is_file():
        if process.poll() is not None:
            raise SystemExit(f"undertone serve failed:\n{log.read_text()}")
        time.sleep(0.2)
    return process, json.loads(record.read_text())["url"]


def run_round(url: str, clients: int, searches: int, clips: list[Path]) -> dict[str, float]:
    """``clients`` threads x ``searches`` searches each; latencies in seconds, errors counted."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)

    def client_loop(index: int) -> None:
        with Client(url, timeout=120) as client:
            start.wait()
            for number in range(searches):
                clip = clips[(index + number) % len(clips)]
                began = time.perf_counter()
                try:
                    response = client.search(clip, k=10)
                    ok = len(response.results) == 10
                except Exception as error:  # noqa: BLE001 -- a benchmark counts every failure
                    ok, response = False, error
                elapsed = time.perf_counter() - began
                with lock:
                    latencies.append(elapsed)
                    if not ok:
                        errors.append(repr(response)[:200])

    threads = [threading.Thread(target=client_loop, args=(index,)) for index in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    if errors:
        print(f"  {len(errors)} errors, e.g. {errors[0]}", file=sys.stderr)
    return {
        "clients": clients, "queries": len(latencies), "wall": wall, "qps": len(latencies) / wall,
        "p50": percentile(latencies, 50), "p99": percentile(latencies, 99), "errors": len(errors),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks", type=int, default=10000)
    parser.add_argument("--searches", type=int, default=200, help="searches per client")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--work-dir", type=Path, default=None)
    args = parser.parse_args()
    base = args.work_dir or Path(tempfile.mkdtemp(prefix="undertone-load-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
    base.mkdir(parents=True, exist_ok=True)
    try:
        model = EmotionModel.load("builtin")
        store = base / "store"
        seconds = build_store(store / "vectors", args.tracks, model)
        print(f"store of {args.tracks} tracks built in {seconds:.1f} s", file=sys.stderr)
        clips = []
        for index, mood in enumerate(QUERY_MOODS):
            speech = synthesize_speech(mood, seconds=5.0, seed=index)
            clips.append(write_audio(base / "clips" / f"{mood}.wav", speech.waveform, speech.sample_rate))
        load_before = os.getloadavg()[0]
        server, url = start_server(store, base / "serve.log")
        try:
            with Client(url) as warm:
                for clip in clips:
                    warm.search(clip, k=10)
            rows = []
            for clients in args.clients:
                row = run_round(url, clients, args.searches, clips)
                print(f"  {clients} clients: {row['qps']:.1f} q/s, p50 {row['p50'] * 1e3:.0f} ms, p99 {row['p99'] * 1e3:.0f} ms", file=sys.stderr)
                rows.append(row)
        finally:
            server.terminate()
            server.wait(60)
        print(f"\n{platform.machine()}, {os.cpu_count()} cores, load average {load_before:.1f} before / {os.getloadavg()[0]:.1f} after, "
              f"{args.tracks} tracks, 5 s clips, k = 10, model {model.fingerprint}\n")
        print("| clients | searches | wall s | queries/s | p50 ms | p99 ms | errors |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for row in rows:
            print(f"| {row['clients']} | {row['queries']} | {row['wall']:.1f} | {row['qps']:.1f} | {row['p50'] * 1e3:.0f} | "
                  f"{row['p99'] * 1e3:.0f} | {row['errors']} |")
    finally:
        if args.work_dir is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
