"""Vector search at catalog scale: exact scan vs HNSW on the embedded store, up to 1,000,000 tracks.

What it measures, per catalog size:

* **build**: upserting the tracks (payloads as ``benchmarks/query_latency.py`` writes them), then
  building the HNSW graph (``EdgeVectorStore.build_index``), disk size and the process's RSS;
* **search-only** latency (``VectorStore.search`` with the product's candidate pool of 100 and payloads)
  p50/p99, without a filter and with ``genre`` + ``duration <= 300`` (as today's query benchmark),
  for the exact scan and for HNSW at several search-time ``ef``;
* **recall@10** of HNSW against the exact scan, over 200 real speech-query embeddings (RAVDESS and
  nEMO clips through the default model's speech tower);
* **end-to-end** ``Recommender.search`` p50/p99 (decode + analyze + search + rerank, 5 s speech clip).

The vectors are not uniform noise. Real music embeddings of the default model lie on a few emotion
clusters in a low-dimensional part of the 64-d joint space; uniform vectors on the sphere would make
HNSW look worse (no structure to exploit) and the filters look unrealistic. So the script embeds real
music clips (Emotify and 4Q excerpts from ``--data-dir``) with the default model and samples the
catalog around them: each synthetic track is a real track's embedding plus Gaussian noise shaped by
the real embeddings' covariance (a smoothed bootstrap), scaled so that a synthetic track lies about
as far from its anchor as real tracks lie from their nearest real neighbour, then L2-normalised.

Each size's store is kept under ``--work-dir`` (default ``/tmp/undertone-scale``) and every finished
phase is recorded in ``results.json`` there, so an interrupted run resumes where it stopped (a 1M
HNSW build takes tens of minutes on 2 cores)::

    nice -n 5 python benchmarks/search_scale.py --sizes 100000 1000000 [--work-dir DIR]

Prints Markdown tables (docs/benchmarks.md, section "Search at 1M tracks").
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from recommender.audio import load_audio, write_audio
from recommender.model import EmotionModel
from recommender.search import Recommender
from recommender.settings import Settings
from recommender.store import EdgeVectorStore, TrackPoint
from recommender.store.base import VectorIndex
from recommender.synth import synthesize_speech

GENRES = ("ambient", "piano", "folk", "synthpop", "chiptune", "electronic", "cinematic", "soul")
QUERY_MOODS = ("sad", "happy", "angry", "calm", "fearful", "neutral", "surprised", "disgust")
FILTERS: dict[str, dict[str, Any] | None] = {"none": None, "genre + duration<=300": {"genre": "ambient", "duration": {"lte": 300}}}
POOL = 100  # the candidate pool Recommender.search asks the store for (k = 10)
BATCH = 5000


# -- realistic vectors --------------------------------------------------------------------------------


def real_embeddings(model: EmotionModel, data_dir: Path, cache: Path, n_music: int, n_speech: int) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings of real music clips and real speech clips through ``model`` (cached in ``cache``)."""
    if cache.exists():
        saved = np.load(cache)
        return saved["music"], saved["speech"]
    music_files = _spread(_files(data_dir, "emotify"), n_music // 2) + _spread(_files(data_dir, "moods4q"), n_music - n_music // 2)
    music = []
    for begin in range(0, len(music_files), 8):
        waves = [(load_audio(path, model.music_sample_rate), model.music_sample_rate) for path in music_files[begin:begin + 8]]
        music.extend(analysis.embedding for analysis in model.analyze_music_many(waves))
    speech_files = _spread(_files(data_dir, "ravdess"), n_speech * 3 // 4) + _spread(_files(data_dir, "nemo"), n_speech - n_speech * 3 // 4)
    speech = [model.analyze_speech(load_audio(path, model.speech_sample_rate), model.speech_sample_rate).embedding for path in speech_files]
    music_array, speech_array = np.asarray(music, np.float32), np.asarray(speech, np.float32)
    np.savez(cache, music=music_array, speech=speech_array)
    return music_array, speech_array


def _files(data_dir: Path, corpus: str) -> list[Path]:
    with open(data_dir / corpus / "labels.csv", newline="", encoding="utf-8") as handle:
        return [data_dir / row["file"] for row in csv.DictReader(handle)]


def _spread(items: list[Path], count: int) -> list[Path]:
    """``count`` items evenly spread over ``items`` (every genre / actor / quadrant represented)."""
    return [items[int(i * len(items) / count)] for i in range(min(count, len(items)))]


def clustered_vectors(anchors: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` unit vectors sampled around real embeddings (smoothed bootstrap, see the module docstring)."""
    rng = np.random.default_rng(seed)
    covariance = np.cov(anchors, rowvar=False) + 1e-6 * np.eye(anchors.shape[1])
    factor = np.linalg.cholesky(covariance)
    similarities = anchors @ anchors.T
    np.fill_diagonal(similarities, -np.inf)
    nearest = np.sqrt(np.maximum(0.0, 2.0 - 2.0 * similarities.max(axis=1)))  # chord distance to the nearest real track
    spread = float(np.sqrt(np.trace(covariance)))  # expected length of unscaled noise
    scale = float(np.median(nearest)) / spread
    out = np.empty((n, anchors.shape[1]), np.float32)
    for begin in range(0, n, 100_000):
        size = min(100_000, n - begin)
        chosen = anchors[rng.integers(0, len(anchors), size)]
        noisy = chosen + scale * rng.standard_normal((size, anchors.shape[1])) @ factor.T
        out[begin:begin + size] = noisy / np.linalg.norm(noisy, axis=1, keepdims=True)
    return out


def payload(i: int, va: np.ndarray, moods: list[tuple[str, float]], fingerprint: str) -> dict[str, Any]:
    """The payload ingestion writes for a track (same fields and spreads as benchmarks/query_latency.py)."""
    return {
        "path": f"/music/artist{i % 2000:04d}/track{i:07d}.flac", "title": f"Track {i}", "artist": f"Artist {i % 2000}",
        "album": f"Album {i % 5000}", "genre": GENRES[i % len(GENRES)], "year": int(1960 + i % 65),
        "duration": float(60 + (i * 37) % 540), "licence": "CC-BY", "valence": float(va[0]), "arousal": float(va[1]),
        "moods": dict(moods), "mood": moods[0][0], "model": fingerprint, "content_hash": f"{i:064x}",
        "ingested_at": "2025-01-01T00:00:00Z",
    }


def point_id(i: int) -> str:
    return str(uuid.UUID(int=i + 1))


# -- measuring ----------------------------------------------------------------------------------------


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def disk_mb(path: Path) -> float:
    return int(subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True, check=True).stdout.split()[0]) / 1024


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text(encoding="ascii").split()[:3])


def timed(call: Callable[[], Any]) -> tuple[float, float]:
    """Wall and CPU milliseconds of ``call`` (CPU: all threads of this process, i.e. what it costs an idle core)."""
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return 1000 * (time.perf_counter() - wall), 1000 * (time.process_time() - cpu)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def ids_of(store: EdgeVectorStore, queries: np.ndarray, where: dict | None, limit: int) -> list[list[str]]:
    return [[hit.id for hit in store.search(vector, limit, where)] for vector in queries]


def recall_at(truth: list[list[str]], found: list[list[str]], k: int) -> float:
    return float(np.mean([len(set(t[:k]) & set(f[:k])) / max(1, len(t[:k])) for t, f in zip(truth, found, strict=True)]))


def search_only(store: EdgeVectorStore, queries: np.ndarray, where: dict | None) -> dict[str, float]:
    for vector in queries[:20]:  # payload pages of a freshly opened store are read on first touch
        store.search(vector, POOL, where)
    samples = [timed(lambda vector=vector: store.search(vector, POOL, where)) for vector in queries]
    return summary(samples)


def summary(samples: list[tuple[float, float]]) -> dict[str, float]:
    wall, cpu = [sample[0] for sample in samples], [sample[1] for sample in samples]
    return {"p50": pct(wall, 50), "p99": pct(wall, 99), "cpu_p50": pct(cpu, 50), "cpu_p99": pct(cpu, 99)}


def end_to_end(recommender: Recommender, clips: list[Path], where: dict | None, n: int) -> dict[str, float]:
    for i in range(10):
        recommender.search(clips[i % len(clips)], k=10, where=where)
    samples, searches = [], []
    for i in range(n):
        timings: dict[str, float] = {}
        samples.append(timed(lambda i=i, timings=timings: recommender.search(clips[i % len(clips)], k=10, where=where, timings=timings)))
        searches.append(1000 * timings.get("search", 0.0))
    return {**summary(samples), "search_p50": pct(searches, 50)}


# -- phases -------------------------------------------------------------------------------------------


class Results:
    """``results.json`` in the work directory: one entry per finished phase, so a rerun skips them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def put(self, key: str, value: Any) -> None:
        self.data[key] = value
        self.path.write_text(json.dumps(self.data, indent=1), encoding="utf-8")
        print(f"[{time.strftime('%H:%M:%S')}] {key}: {json.dumps(value)}", file=sys.stderr, flush=True)


def run_size(size: int, args: argparse.Namespace, model: EmotionModel, anchors: np.ndarray, queries: np.ndarray,
             clips: list[Path], results: Results) -> None:
    directory = args.work_dir / f"store_{size}"
    vectors_dir = directory / "vectors"
    exact = VectorIndex(mode="exact")
    if results.get(f"{size}/upsert") is None:
        shutil.rmtree(directory, ignore_errors=True)
        vectors = clustered_vectors(anchors, size, seed=size)
        rng = np.random.default_rng(size + 1)
        labels = tuple(model.config.mood_labels)
        started = time.perf_counter()
        with EdgeVectorStore(vectors_dir, index=exact) as store:  # the graph is built (and timed) on its own below
            store.ensure_collection(model.joint_dim)
            for begin in range(0, size, BATCH):
                end = min(size, begin + BATCH)
                va = rng.uniform(0.05, 0.95, size=(end - begin, 2))
                moods = rng.dirichlet(np.ones(len(labels)), size=end - begin)
                store.upsert([
                    TrackPoint(point_id(i), vectors[i], payload(i, va[i - begin], sorted(zip(labels, moods[i - begin].tolist()),
                               key=lambda pair: -pair[1]), model.fingerprint))
                    for i in range(begin, end)
                ])
            seconds = time.perf_counter() - started
        results.put(f"{size}/upsert", {"seconds": seconds, "disk_mb": disk_mb(vectors_dir), "load": load()})

    if results.get(f"{size}/exact") is None:
        before = rss_mb()
        with EdgeVectorStore(vectors_dir, index=exact) as store:
            row: dict[str, Any] = {"rss_mb_before": before, "rss_mb_open": rss_mb(), "load": load()}
            for label, where in FILTERS.items():
                row[label] = search_only(store, queries, where)
            row["rss_mb"] = rss_mb()
        results.put(f"{size}/exact", row)

    if args.no_build:
        if results.get(f"{size}/e2e_exact") is None:
            row = {"load": load()}
            with Recommender(model, EdgeVectorStore(vectors_dir, index=exact), Settings(store=directory)) as recommender:
                for label, where in FILTERS.items():
                    row[f"exact/{label}"] = end_to_end(recommender, clips, where, args.e2e_queries)
            results.put(f"{size}/e2e_exact", row)
        return
    if results.get(f"{size}/index") is None:
        with EdgeVectorStore(vectors_dir, index=VectorIndex(mode="hnsw", ef=args.ef[0])) as store:
            before = load()
            started = time.perf_counter()
            store.build_index()
            seconds = time.perf_counter() - started
        results.put(f"{size}/index", {"seconds": seconds, "disk_mb": disk_mb(vectors_dir), "load_before": before, "load_after": load(),
                                      "peak_rss_mb": peak_rss_mb()})

    if results.get(f"{size}/hnsw") is None:
        row = {"load": load()}
        with EdgeVectorStore(vectors_dir, index=exact) as store:
            truth = {label: ids_of(store, queries, where, POOL) for label, where in FILTERS.items()}
            truth10 = {label: ids_of(store, queries, where, 10) for label, where in FILTERS.items()}
        for ef in args.ef:
            before = rss_mb()
            with EdgeVectorStore(vectors_dir, index=VectorIndex(mode="hnsw", ef=ef)) as store:
                row["rss_mb_before"], row["rss_mb_open"] = before, rss_mb()
                for label, where in FILTERS.items():
                    timing = search_only(store, queries, where)
                    pool = ids_of(store, queries, where, POOL)
                    top10 = ids_of(store, queries, where, 10)
                    row[f"ef{ef}/{label}"] = {
                        **timing,
                        "recall10_pool": recall_at(truth[label], pool, 10),  # top 10 of the 100-pool the product asks for
                        "recall10_k10": recall_at(truth10[label], top10, 10),  # a bare k = 10 search
                        "recall100": recall_at(truth[label], pool, POOL),
                    }
                row["rss_mb"] = rss_mb()
        results.put(f"{size}/hnsw", row)

    if results.get(f"{size}/acorn") is None:  # filtered HNSW search without ACORN: what it buys
        where = FILTERS["genre + duration<=300"]
        row = {"load": load()}
        with EdgeVectorStore(vectors_dir, index=exact) as store:
            truth = ids_of(store, queries, where, POOL)
        for acorn in (True, False):
            with EdgeVectorStore(vectors_dir, index=VectorIndex(mode="hnsw", ef=args.ef[0], acorn=acorn)) as store:
                row[f"acorn={acorn}"] = {**search_only(store, queries, where),
                                         "recall10_pool": recall_at(truth, ids_of(store, queries, where, POOL), 10)}
        results.put(f"{size}/acorn", row)

    if results.get(f"{size}/e2e") is None:
        row = {"load": load()}
        for mode in ("exact", "hnsw"):
            index = VectorIndex(mode=mode, ef=args.ef[0])
            with Recommender(model, EdgeVectorStore(vectors_dir, index=index), Settings(store=directory)) as recommender:
                for label, where in FILTERS.items():
                    row[f"{mode}/{label}"] = end_to_end(recommender, clips, where, args.e2e_queries)
        results.put(f"{size}/e2e", row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/undertone-scale"))
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    parser.add_argument("--ef", type=int, nargs="+", default=[128, 64, 256], help="search-time ef values (first: the one timed end to end)")
    parser.add_argument("--music-clips", type=int, default=200)
    parser.add_argument("--queries", type=int, default=200, help="speech-query embeddings for search-only timing and recall")
    parser.add_argument("--e2e-queries", type=int, default=60)
    parser.add_argument("--model", default="builtin")
    parser.add_argument("--no-build", action="store_true", help="stop after the exact-scan measurements (no HNSW build)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    results = Results(args.work_dir / "results.json")
    model = EmotionModel.load(args.model)
    anchors, queries = real_embeddings(model, args.data_dir, args.work_dir / "real_embeddings.npz", args.music_clips, args.queries)
    clips = []
    for index, mood in enumerate(QUERY_MOODS):
        speech = synthesize_speech(mood, seconds=5.0, seed=index)
        clips.append(write_audio(args.work_dir / f"query_{mood}.wav", speech.waveform, speech.sample_rate))
    results.put("index_defaults", str(VectorIndex()))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {load()} at start; model {model.fingerprint}; "
          f"{len(anchors)} real music anchors, {len(queries)} real speech queries", file=sys.stderr)
    for size in args.sizes:
        run_size(size, args, model, anchors, queries, clips, results)
    print(report(results, args.sizes, args.ef))


def ms(row: dict[str, float]) -> str:
    """Wall p50 | wall p99 | CPU p50 | CPU p99 cells."""
    cells = [row.get(key, float("nan")) for key in ("p50", "p99", "cpu_p50", "cpu_p99")]
    return " | ".join(f"{cell:.1f} ms" for cell in cells)


def report(results: Results, sizes: list[int], efs: list[int]) -> str:
    """The Markdown tables of ``results``."""
    lines = ["| catalog | index | filter | search p50 | search p99 | CPU p50 | CPU p99 | recall@10 (pool 100) | recall@10 (k = 10) | recall@100 |",
             "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for size in sizes:
        exact, hnsw = results.get(f"{size}/exact"), results.get(f"{size}/hnsw")
        for label in FILTERS:
            if exact:
                lines.append(f"| {size:,} | exact | {label} | {ms(exact[label])} | 1 | 1 | 1 |")
            for ef in efs:
                row = (hnsw or {}).get(f"ef{ef}/{label}")
                if row:
                    lines.append(f"| {size:,} | HNSW ef={ef} | {label} | {ms(row)} | "
                                 f"{row['recall10_pool']:.3f} | {row['recall10_k10']:.3f} | {row['recall100']:.3f} |")
    lines += ["", "| catalog | index | filter | end-to-end p50 | end-to-end p99 | CPU p50 | CPU p99 | search p50 |", "|---:|---|---|---:|---:|---:|---:|---:|"]
    for size in sizes:
        e2e = results.get(f"{size}/e2e") or results.get(f"{size}/e2e_exact") or {}
        for key, row in e2e.items():
            if key != "load":
                mode, label = key.split("/", 1)
                lines.append(f"| {size:,} | {mode} | {label} | {ms(row)} | {row['search_p50']:.1f} ms |")
    lines += ["", "| catalog | upsert | index build | disk before / after index | RSS open (exact / HNSW) |", "|---:|---:|---:|---:|---:|"]
    for size in sizes:
        up, ix, ex, hn = (results.get(f"{size}/{phase}") for phase in ("upsert", "index", "exact", "hnsw"))
        if up and ix:
            lines.append(f"| {size:,} | {up['seconds']:.0f} s | {ix['seconds']:.0f} s | {up['disk_mb']:.0f} / {ix['disk_mb']:.0f} MB | "
                         f"{(ex or {}).get('rss_mb', float('nan')):.0f} / {(hn or {}).get('rss_mb', float('nan')):.0f} MB |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
