"""Where the time of ingesting one track goes: each stage of ``Ingestor`` timed on its own.

Synthesizes one track per requested length (procedural music from ``recommender.synth``, written as
FLAC at 24 kHz like ``ingest_throughput.py``), then times, with one torch thread and the median of
``--repeats`` runs: hashing the file, decoding it (libsndfile, mono mix), the silence check, resampling
to 16 kHz, MusiCNN's log-mel and network over its 3 s windows, the music descriptors, the heads, the
SQL staging of the track and the vector write with its SQL ``indexed`` mark. The table is printed
(``--output docs/benchmarks.md`` replaces the "Ingestion: one track, stage by stage" section with it).

    python benchmarks/ingest_profile.py --seconds 30 240
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from report import write_section  # benchmarks/report.py (scripts run from their folder)

from ingest.analysis import analyze_file, model_for
from ingest.catalog import open_catalog
from ingest.identity import content_hash
from ingest.pipeline import Ingestor, _Pending
from ingest.sources import iter_source
from recommender.audio import loudest_frames_dbfs, resample, write_audio
from recommender.settings import Settings
from recommender.store import open_vector_store
from recommender.synth import synthesize_music
from recommender.towers.music_descriptors import music_descriptors

SECTION = "## Ingestion: one track, stage by stage"


def timed(function: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Median seconds of ``repeats`` calls, and the last call's result."""
    seconds, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), result


def profile_track(path: Path, settings: Settings, repeats: int) -> dict[str, float]:
    model = model_for(settings)
    tower = model.music_tower
    rate = model.music_sample_rate
    stages: dict[str, float] = {}
    stages["hash (SHA-256 of the file)"], _ = timed(lambda: content_hash(path), repeats)

    def decode() -> tuple[np.ndarray, int]:
        data, file_rate = sf.read(path, dtype="float32", always_2d=True)
        return data.mean(axis=1), file_rate

    stages["decode (libsndfile, mono)"], (waveform, file_rate) = timed(decode, repeats)
    stages["silence check"], _ = timed(lambda: loudest_frames_dbfs(waveform, file_rate), repeats)
    stages[f"resample {file_rate} -> {rate} Hz"], samples = timed(lambda: resample(waveform, file_rate, rate), repeats)
    with torch.inference_mode():
        stages["MusiCNN log-mel + patches"], patches = timed(lambda: tower.patches(samples), repeats)
        stages[f"MusiCNN network ({len(patches)} windows of 3 s)"], _ = timed(
            lambda: [tower.network(batch) for batch in torch.split(patches, tower.config.batch_size)], repeats
        )
    if hasattr(tower.config, "segments"):
        stages["music descriptors"], _ = timed(lambda: music_descriptors(samples, tower.config.segments, tower.config.segment_seconds), repeats)
    features = torch.as_tensor(tower.embed(samples)[None, :])
    with torch.inference_mode():
        stages["heads"], _ = timed(lambda: model.heads.music(features), repeats)

    analysis = analyze_file(model, str(path), settings.max_track_seconds)
    catalog = open_catalog(settings)
    store = open_vector_store(settings)
    try:
        ingestor = Ingestor(settings, catalog, store, model)
        writes, stagings = [], []
        for _ in range(repeats):
            job_id = catalog.create_job(str(path), mode="local")
            (item_id,) = catalog.add_items(job_id, list(iter_source(path)))
            catalog.finish_planning(job_id, 1)
            item = next(iter(catalog.queued_items([item_id])))
            pending = _Pending(item, os.stat(path), content_hash(path), "")
            started = time.perf_counter()
            ingestor._finish(job_id, pending, lambda: analysis)
            stagings.append(time.perf_counter() - started)
            started = time.perf_counter()
            ingestor.flush()
            writes.append(time.perf_counter() - started)
        stages["SQL: stage the track"] = statistics.median(stagings)
        stages["vector write + SQL indexed"] = statistics.median(writes)
    finally:
        store.close()
        catalog.close()
    return stages


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, nargs="+", default=[30.0, 240.0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model", default="builtin")
    parser.add_argument("--output", type=Path, help=f"also write the section {SECTION!r} of this file (e.g. docs/benchmarks.md)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    load_before = os.getloadavg()[0]
    columns = []
    with tempfile.TemporaryDirectory(prefix="undertone-profile-") as tmp:
        for seconds in args.seconds:
            music = synthesize_music((0.6, 0.5), seconds=seconds, genre="synthpop", seed=1)
            path = write_audio(Path(tmp) / f"track-{seconds:.0f}s.flac", music.waveform, music.sample_rate)
            settings = Settings(store=Path(tmp) / f"store-{seconds:.0f}", model=args.model)
            columns.append((seconds, profile_track(path, settings, args.repeats)))
    load_after = os.getloadavg()[0]
    names = list(dict.fromkeys(name.split(" (")[0] if name.startswith("MusiCNN network") else name for _, s in columns for name in s))
    header = "| stage | " + " | ".join(f"{s:.0f} s track, ms" for s, _ in columns) + " |"
    lines = [header, "| --- |" + " ---: |" * len(columns)]
    for name in names:
        cells = []
        for _, stages in columns:
            match = next((v for k, v in stages.items() if k == name or k.startswith(name + " (")), None)
            label = next((k for k in stages if k.startswith(name + " (")), None)
            cells.append(f"{1000 * match:.1f}" + (f" ({label.split('(')[1].split()[0]} windows)" if label else "") if match is not None else "-")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    totals = [sum(stages.values()) for _, stages in columns]
    lines.append("| **total** | " + " | ".join(f"**{1000 * t:.0f}**" for t in totals) + " |")
    lines.append("| x real time (one core) | " + " | ".join(f"{s / t:.0f}x" for (s, _), t in zip(columns, totals)) + " |")
    body = f"""
`python benchmarks/ingest_profile.py --seconds {' '.join(f'{s:.0f}' for s in args.seconds)}`: one synthesized track per length
(FLAC, 24 kHz), each stage of the ingestion of one new track timed on its own, one torch thread,
median of {args.repeats}; model `{args.model}`. {platform.machine()}, {os.cpu_count()} cores, load average
{load_before:.1f} before / {load_after:.1f} after (shared machine).

{chr(10).join(lines)}
"""
    print(body)
    if args.output:
        write_section(args.output, SECTION, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
