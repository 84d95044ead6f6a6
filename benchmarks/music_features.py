"""Cost of the music descriptors next to the MusiCNN pass they are appended to, per track.

Synthesizes tracks (procedural music from ``recommender.synth``), then times, interleaved per track so
machine load hits both alike, MusiCNN's embedding and :func:`music_descriptors` on the same 16 kHz
waveform, with one torch thread. Both run once per track at ingestion (``musicnn+descriptors`` tower),
so the descriptors' share of the music tower time bounds their share of ingestion time. Results go
to the "Music descriptors" section of ``docs/benchmarks.md``.

    python benchmarks/music_features.py --tracks 12 --seconds 30
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from report import write_section  # benchmarks/report.py (scripts run from their folder)

from recommender.audio import prepare_waveform
from recommender.synth import GENRES, synthesize_music
from recommender.towers.base import build_tower
from recommender.towers.music_descriptors import DESCRIPTOR_NAMES, music_descriptors

REPO = Path(__file__).resolve().parents[1]
SECTION = "## Music descriptors"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracks", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    tower = build_tower("music", "musicnn")
    genres = sorted(GENRES)
    waveforms = []
    for index in range(args.tracks):
        music = synthesize_music(((index * 0.37) % 1.0, (index * 0.61) % 1.0), seconds=args.seconds, genre=genres[index % len(genres)], seed=index)
        waveforms.append(prepare_waveform(music.waveform, music.sample_rate, 16000))
    tower.embed(waveforms[0]), music_descriptors(waveforms[0])  # warm-up
    load_before = os.getloadavg()[0]
    network, descriptors = [], []
    for waveform in waveforms:
        started = time.perf_counter()
        tower.embed(waveform)
        network.append(time.perf_counter() - started)
        started = time.perf_counter()
        music_descriptors(waveform)
        descriptors.append(time.perf_counter() - started)
    load_after = os.getloadavg()[0]
    network_ms, descriptor_ms = 1000 * np.median(network), 1000 * np.median(descriptors)
    body = f"""
`python benchmarks/music_features.py --tracks {args.tracks} --seconds {args.seconds:.0f}`: {args.tracks} synthesized tracks of
{args.seconds:.0f} s at 16 kHz, one torch thread, timed interleaved per track (median). {platform.machine()}, {os.cpu_count()} cores,
load average {load_before:.1f} before / {load_after:.1f} after (shared machine).

| stage | ms per track |
| --- | ---: |
| MusiCNN (MSD) embedding, 3 s patches over the whole track | {network_ms:.0f} |
| {len(DESCRIPTOR_NAMES)} music descriptors (`musicnn+descriptors` adds these) | {descriptor_ms:.0f} |
| added share of the music tower time | {100 * descriptor_ms / network_ms:.0f}% |

Ingestion also decodes, resamples and writes, so the descriptors' share of ingestion time is below
their share of the music tower time. Their cost is bounded for long tracks: at most 6 windows of 10 s.
"""
    write_section(args.output, SECTION, body)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
