"""Query latency of ``Recommender.search`` on the embedded store, stage by stage.

For catalogs of 1k, 10k and 100k tracks (synthetic unit vectors in the model's joint space with
realistic payloads; the store cannot tell) the script times end-to-end searches with a 5 s speech clip
read from a WAV file, broken down into decode, analyze (speech tower + heads), search (vector store,
candidate pool of 100 with payloads) and rerank (VA blend + explanations). Filtered searches
(``genre`` + ``duration`` range) are timed too.

    python benchmarks/query_latency.py [--sizes 1000 10000 100000] [--queries 40] [--work-dir DIR]

Prints a Markdown table (paste into docs/benchmarks.md, section "Query latency").
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from recommender.audio import write_audio
from recommender.model import EmotionModel
from recommender.search import Recommender
from recommender.settings import Settings
from recommender.store import EdgeVectorStore, TrackPoint
from recommender.synth import synthesize_speech

GENRES = ("ambient", "piano", "folk", "synthpop", "chiptune", "electronic", "cinematic", "soul")
STAGES = ("decode", "analyze", "search", "rerank")
QUERY_MOODS = ("sad", "happy", "angry", "calm", "fearful", "neutral", "surprised", "disgust")


def synthetic_points(n: int, dim: int, mood_labels: tuple[str, ...], fingerprint: str, seed: int = 0) -> list[TrackPoint]:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    va = rng.uniform(0.05, 0.95, size=(n, 2))
    moods = rng.dirichlet(np.ones(len(mood_labels)), size=n)
    points = []
    for i in range(n):
        ranked = sorted(zip(mood_labels, moods[i].tolist()), key=lambda pair: -pair[1])
        points.append(TrackPoint(
            str(uuid.UUID(int=i + 1)),
            vectors[i],
            {
                "path": f"/music/artist{i % 2000:04d}/track{i:06d}.flac", "title": f"Track {i}", "artist": f"Artist {i % 2000}",
                "album": f"Album {i % 5000}", "genre": GENRES[i % len(GENRES)], "year": int(1960 + i % 65),
                "duration": float(60 + (i * 37) % 540), "licence": "CC-BY", "valence": float(va[i, 0]), "arousal": float(va[i, 1]),
                "moods": dict(ranked), "mood": ranked[0][0], "model": fingerprint, "content_hash": f"{i:064x}",
                "ingested_at": "2025-01-01T00:00:00Z",
            },
        ))
    return points


def build_store(directory: Path, n: int, model: EmotionModel) -> float:
    """Fill an embedded store with ``n`` synthetic tracks; returns seconds taken."""
    started = time.perf_counter()
    with EdgeVectorStore(directory) as store:
        store.ensure_collection(model.joint_dim)
        points = synthetic_points(n, model.joint_dim, tuple(model.config.mood_labels), model.fingerprint)
        for begin in range(0, n, 2000):
            store.upsert(points[begin:begin + 2000])
    return time.perf_counter() - started


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def time_queries(recommender: Recommender, clips: list[Path], n_queries: int, where: dict | None) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {stage: [] for stage in (*STAGES, "total")}
    # Steady state: payload pages of a freshly opened store are read on first touch.
    for warmup in range(10):
        recommender.search(clips[warmup % len(clips)], k=10, where=where)
    for i in range(n_queries):
        timings: dict[str, float] = {}
        started = time.perf_counter()
        recommender.search(clips[i % len(clips)], k=10, where=where, timings=timings)
        samples["total"].append(time.perf_counter() - started)
        for stage in STAGES:
            samples[stage].append(timings.get(stage, 0.0))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--work-dir", type=Path, help="where the stores are built (default: a temporary directory)")
    parser.add_argument("--model", default="builtin")
    args = parser.parse_args()

    import torch

    model = EmotionModel.load(args.model)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="undertone-latency-"))
    work.mkdir(parents=True, exist_ok=True)
    clips = []
    for index, mood in enumerate(QUERY_MOODS):
        speech = synthesize_speech(mood, seconds=5.0, seed=index)
        clips.append(write_audio(work / f"query_{mood}.wav", speech.waveform, speech.sample_rate))

    load = os.getloadavg()[0]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores (load average {load:.1f} at start), torch threads "
          f"{torch.get_num_threads()}, model {model.fingerprint} (joint {model.joint_dim}-d), {args.queries} queries of 5 s speech per row\n")
    print("| catalog | filter | decode p50 | analyze p50 | search p50 | rerank p50 | **total p50** | total p95 | store build |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    try:
        for size in args.sizes:
            directory = work / f"store_{size}"
            shutil.rmtree(directory, ignore_errors=True)
            build_seconds = build_store(directory / "vectors", size, model)
            settings = Settings(store=directory)
            with Recommender(model, EdgeVectorStore(directory / "vectors"), settings) as recommender:
                for label, where in (("none", None), ("genre + duration<=300", {"genre": "ambient", "duration": {"lte": 300}})):
                    samples = time_queries(recommender, clips, args.queries, where)
                    ms = {stage: 1000 * statistics.median(values) for stage, values in samples.items()}
                    print(
                        f"| {size:,} | {label} | {ms['decode']:.1f} ms | {ms['analyze']:.1f} ms | {ms['search']:.1f} ms | "
                        f"{ms['rerank']:.1f} ms | **{ms['total']:.1f} ms** | {1000 * percentile(samples['total'], 95):.1f} ms | "
                        f"{build_seconds:.1f} s |",
                        flush=True,
                    )
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
