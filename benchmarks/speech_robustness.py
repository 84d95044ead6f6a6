"""Leave-actors-out CV accuracy of the builtin speech tower's recipe on corrupted test clips.

The shipped recipe (``--candidate``, default the statistics MLP) is trained per fold on RAVDESS folds
0-3 minus one (features and augmentation as in ``scripts/train_speech_tower.py``, cached), and the
held-out actors are scored clean and through each corruption: white noise at 20 dB SNR, a round trip
through 8 kHz sampling, and the telephone band (300-3400 Hz). The dev fold is not touched.

    python benchmarks/speech_robustness.py [--seeds 2]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torchaudio.functional as AF

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import train_speech_tower as training  # noqa: E402
from speech_protocol import CV_FOLDS, SpeechSet, decide, scores  # noqa: E402

from recommender.audio import load_audio  # noqa: E402
from recommender.data import load_corpus  # noqa: E402
from recommender.towers.speech_features import SAMPLE_RATE, FeatureConfig, SilenceTrimmer, SpeechFeatureExtractor  # noqa: E402


def noise_20db(x: torch.Tensor) -> torch.Tensor:
    noise = torch.from_numpy(np.random.default_rng(0).standard_normal(x.numel()).astype(np.float32))
    return x + noise * (x.square().mean() / noise.square().mean() / 10 ** 2).sqrt()


def narrowband_8k(x: torch.Tensor) -> torch.Tensor:
    return AF.resample(AF.resample(x, SAMPLE_RATE, 8000), 8000, SAMPLE_RATE)[: x.numel()]


def telephone(x: torch.Tensor) -> torch.Tensor:
    return AF.lowpass_biquad(AF.highpass_biquad(x, SAMPLE_RATE, 300.0), SAMPLE_RATE, 3400.0)


CONDITIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "20 dB white noise": noise_20db, "8 kHz round trip": narrowband_8k, "telephone band 300-3400 Hz": telephone,
}


def _features(path: str) -> list[np.ndarray]:
    torch.set_num_threads(1)
    extractor, trimmer = SpeechFeatureExtractor(FeatureConfig()), SilenceTrimmer()
    clean = torch.from_numpy(load_audio(path, SAMPLE_RATE, allow_silence=True))
    return [extractor.frames(trimmer(corrupt(clean))).numpy() for corrupt in CONDITIONS.values()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--candidate", default="stats-mlp")
    parser.add_argument("--variants", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    clips = load_corpus("ravdess")
    data = SpeechSet.of(clips)
    extractor = SpeechFeatureExtractor(FeatureConfig())
    cache = Path.home() / ".cache" / "undertone" / "speech_features"
    features = training.extract_all(clips, args.variants, cache, args.workers, training.AugmentConfig(), FeatureConfig())
    rows = data.rows(["ravdess"], CV_FOLDS)
    with ProcessPoolExecutor(args.workers) as pool:
        corrupted = dict(zip(rows, pool.map(_features, [str(clips[i].path) for i in rows], chunksize=8)))
    # One "copy" per condition: copy 0 is the clean clip, copy k the k-th corruption.
    test_features = {
        i: training.ClipFeatures(
            [features[i].frames[0], *corrupted[i]],
            np.stack([features[i].stats[0], *(extractor.statistics(torch.from_numpy(f)).numpy() for f in corrupted[i])]),
        )
        for i in rows
    }
    candidate = {c.name: c for c in training.candidates(extractor)}[args.candidate]
    names = ["clean", *CONDITIONS]
    results: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for seed in range(args.seed, args.seed + args.seeds):
        predicted = {name: np.zeros(len(clips), int) for name in names}
        for fold in CV_FOLDS:
            train = data.rows(["ravdess"], [f for f in CV_FOLDS if f != fold])
            test = data.rows(["ravdess"], [fold])
            net, norm = training.train_model(candidate, [features[i] for i in train], data.labels[train],
                                             extractor.channel_names, seed * 100 + fold, data.corpus[train])
            for copy, name in enumerate(names):
                probabilities = training.predict(net, norm, [test_features[i] for i in test], copy, extractor.channel_names)
                predicted[name][test] = decide(probabilities, range(8))
        for name in names:
            results[name].append(scores(data.labels[rows], predicted[name][rows]))
    print(f"| condition ({args.candidate}, RAVDESS folds 0-3, {args.seeds} seeds) | accuracy | UAR |")
    print("| --- | --- | --- |")
    for name in names:
        acc, uar = (np.array([r[key] for r in results[name]]) for key in ("accuracy", "uar"))
        print(f"| {name} | {100 * acc.mean():.1f} +- {100 * acc.std():.1f}% | {100 * uar.mean():.1f} +- {100 * uar.std():.1f}% |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
