"""MusiCNN's network: cost per 3 s window by batch size and by runtime, and how far each runtime strays.

Real clips (Emotify and 4Q, decoded at 16 kHz) give the log-mel windows. Each variant runs the same
windows, interleaved round by round so machine load hits all alike (median per window, one torch
thread): batches of 1 / 4 / 16 / 64 windows (batching windows across tracks), and at batch 16 the eager
network (what ships), channels-last memory, TorchScript (trace + freeze, which folds the batch norms),
bf16 autocast, and dynamic int8 quantisation of the linear layers. The largest absolute difference of
the tag probabilities and the penultimate features from the eager network is reported per variant.

    python benchmarks/musicnn_runtime.py --clips 8 --rounds 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

import torch

from recommender.audio import load_audio
from recommender.data import load_corpus
from recommender.towers.base import build_tower


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    tower = build_tower("music", "musicnn", max_patches=None)
    network = tower.network
    clips = (load_corpus("emotify", split="dev")[: args.clips // 2] + load_corpus("moods4q", split="dev")[: args.clips - args.clips // 2])
    windows = torch.cat([tower.patches(load_audio(clip.path, 16000)) for clip in clips])[:64]
    with torch.inference_mode():
        reference = network(windows[:16])
        traced = torch.jit.freeze(torch.jit.trace(network.eval(), windows[:16], strict=False))
        quantised = torch.ao.quantization.quantize_dynamic(network, {torch.nn.Linear}, dtype=torch.qint8)
    channels_last = windows[:16].unsqueeze(1).contiguous(memory_format=torch.channels_last).squeeze(1)

    def bf16(batch: torch.Tensor):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return network(batch)

    variants: dict[str, tuple[Callable[[], object], int]] = {
        "batch 1 (eager)": (lambda: [network(windows[i : i + 1]) for i in range(16)], 16),
        "batch 4 (eager)": (lambda: [network(windows[i : i + 4]) for i in range(0, 16, 4)], 16),
        "batch 16 (eager, shipped)": (lambda: network(windows[:16]), 16),
        "batch 64 (eager)": (lambda: network(windows), len(windows)),
        "batch 16, channels-last input": (lambda: network(channels_last), 16),
        "batch 16, TorchScript trace + freeze": (lambda: traced(windows[:16]), 16),
        "batch 16, bf16 autocast": (lambda: bf16(windows[:16]), 16),
        "batch 16, int8 dynamic (linear layers)": (lambda: quantised(windows[:16]), 16),
    }
    outputs = {}
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    load_before = os.getloadavg()[0]
    with torch.inference_mode():
        for run, _ in variants.values():  # warm-up (TorchScript optimises on its first calls)
            run(), run()
        for _ in range(args.rounds):
            for name, (run, count) in variants.items():
                started = time.perf_counter()
                result = run()
                seconds[name].append((time.perf_counter() - started) / count)
                outputs[name] = result
    print(f"{len(windows)} windows from {len(clips)} real clips; load average {load_before:.1f} before / {os.getloadavg()[0]:.1f} after\n")
    print("| variant | ms per window | tags max abs diff | penultimate max abs diff |\n| --- | ---: | ---: | ---: |")
    for name in variants:
        out = outputs[name]
        if isinstance(out, list):
            out = type(reference)(*(torch.cat(parts) for parts in zip(*out)))
        tags = (torch.sigmoid(out[0][:16].float()) - torch.sigmoid(reference.logits)).abs().max().item()
        penultimate = (out[1][:16].float() - reference.penultimate).abs().max().item()
        print(f"| {name} | {1000 * statistics.median(seconds[name]):.1f} | {tags:.1e} | {penultimate:.1e} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
