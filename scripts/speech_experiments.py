"""Speech tower experiments under the leave-actors-out protocol (issue 11): robustness and a linear ensemble.

- ``--robustness``: in CV, the held-out RAVDESS clips (every 3rd of folds 0-3) go through the conditions
  of ``tests/recommender/towers/test_speech_robustness.py`` (-12 dB, Opus, MP3, 20 dB white noise, 8 kHz);
  reported: how often the top emotion of the clean clip is kept, and the accuracy under each condition.
- ``--ensemble``: the statistics MLP averaged with a multinomial logistic regression on the same
  standardised utterance statistics (every copy of the training clips, each (corpus, class) cell weighed
  equally), against both alone.

    python scripts/speech_experiments.py --candidate stats-mlp-balanced --variants 2 --channel-copies 2 --robustness
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import train_speech_tower as training
from speech_protocol import CORPUS_CLASSES, CV_FOLDS, SpeechSet, decide, scores

from recommender.audio import load_audio, resample
from recommender.data import load_corpus
from recommender.towers.speech_features import SAMPLE_RATE, FeatureConfig, SilenceTrimmer, SpeechFeatureExtractor


def _roundtrip(waveform: np.ndarray, format: str, subtype: str, **options) -> np.ndarray:
    buffer = io.BytesIO()
    sf.write(buffer, waveform, SAMPLE_RATE, format=format, subtype=subtype, **options)
    return load_audio(buffer.getvalue(), SAMPLE_RATE, allow_silence=True)


def _white_noise(waveform: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(0)
    return waveform + rng.normal(size=waveform.size).astype(np.float32) * np.sqrt(np.mean(waveform**2) / 100)


# The robustness test's conditions, verbatim.
PROBES = {
    "quieter by 12 dB": lambda w: w * 10 ** (-12 / 20),
    "opus 16 kb/s": lambda w: _roundtrip(w, "OGG", "OPUS", compression_level=0.83),
    "mp3": lambda w: _roundtrip(w, "MP3", "MPEG_LAYER_III"),
    "20 dB white noise": _white_noise,
    "8 kHz round trip": lambda w: resample(resample(w, SAMPLE_RATE, 8000), 8000, SAMPLE_RATE),
}


def _probe_features(path: str) -> list[np.ndarray]:
    torch.set_num_threads(1)
    extractor, trimmer = SpeechFeatureExtractor(FeatureConfig()), SilenceTrimmer()
    clean = load_audio(path, SAMPLE_RATE, allow_silence=True)
    return [extractor.frames(trimmer(torch.from_numpy(np.ascontiguousarray(probe(clean), dtype=np.float32)))).numpy().astype(np.float16)
            for probe in PROBES.values()]


def probe_stats(paths: list[str], cache_dir: Path, workers: int) -> np.ndarray:
    """``(n, len(PROBES), D)`` utterance statistics of every clip under every probe (cached per clip)."""
    key = hashlib.sha256((training.cache_key(training.AugmentConfig(), FeatureConfig()) + json.dumps(list(PROBES))).encode()).hexdigest()[:16]
    directory = cache_dir / f"probes-{key}"
    directory.mkdir(parents=True, exist_ok=True)
    targets = [directory / f"{hashlib.sha1(path.encode()).hexdigest()[:16]}.npz" for path in paths]
    todo = [i for i, target in enumerate(targets) if not target.exists()]
    if todo:
        print(f"extracting {len(PROBES)} probes of {len(todo)} clips", flush=True)
        with ProcessPoolExecutor(workers) as pool:
            for i, frames in zip(todo, pool.map(_probe_features, [paths[i] for i in todo], chunksize=8)):
                np.savez(targets[i], *frames)
    extractor = SpeechFeatureExtractor(FeatureConfig())
    out = []
    for target in targets:
        with np.load(target) as data:
            out.append([extractor.statistics(torch.from_numpy(data[f"arr_{k}"].astype(np.float32))).numpy() for k in range(len(PROBES))])
    return np.array(out, dtype=np.float32)


@torch.inference_mode()
def stats_probabilities(net, norm, stats: np.ndarray) -> np.ndarray:
    x = (torch.from_numpy(stats) - norm.stats_mean) / norm.stats_std
    return torch.softmax(net(None, None, x)[1], dim=1).numpy()


def fit_logistic(stats: np.ndarray, labels: np.ndarray, corpora: np.ndarray, c: float, seed: int):
    """Multinomial logistic regression on standardised statistics of every copy; returns a predict function."""
    from sklearn.linear_model import LogisticRegression

    copies = stats.shape[1]
    x = stats.reshape(-1, stats.shape[2])
    mean, std = x.mean(0), x.std(0) + 1e-3
    weights = np.repeat(training.stratum_weights(labels, corpora), copies)
    model = LogisticRegression(C=c, max_iter=300, random_state=seed)
    model.fit((x - mean) / std, np.repeat(labels, copies), sample_weight=weights / weights.mean())

    def predict(test_stats: np.ndarray) -> np.ndarray:
        probabilities = np.zeros((len(test_stats), 8))
        probabilities[:, model.classes_] = model.predict_proba((test_stats - mean) / std)
        return probabilities

    return predict


def summary(values: list[float]) -> str:
    return f"{100 * np.mean(values):.1f} +- {100 * np.std(values):.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidate", default="stats-mlp-balanced")
    parser.add_argument("--variants", type=int, default=8)
    parser.add_argument("--channel-copies", type=int, default=0)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--robustness", action="store_true")
    parser.add_argument("--ensemble", type=float, nargs="*", help="logistic regression C values to try")
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "undertone" / "speech_features")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    clips = load_corpus("ravdess") + load_corpus("nemo")
    data = SpeechSet.of(clips)
    extractor = SpeechFeatureExtractor(FeatureConfig())
    features = training.extract_all(clips, args.variants, args.cache_dir, args.workers, training.AugmentConfig(), FeatureConfig(),
                                    args.channel_copies)
    stats = np.stack([clip.stats for clip in features])
    candidate = {c.name: c for c in training.candidates(extractor)}[args.candidate]
    probed_rows = data.rows(["ravdess"], CV_FOLDS)[::3] if args.robustness else np.array([], int)
    probes = probe_stats([str(clips[i].path) for i in probed_rows], args.cache_dir, args.workers) if args.robustness else None
    both = ("ravdess", "nemo")
    results: dict[str, dict[str, list]] = {}

    def record(name: str, corpus: str, metric: str, value: float) -> None:
        results.setdefault(name, {}).setdefault(f"{corpus} {metric}", []).append(value)

    started = time.time()
    for seed in range(args.seed, args.seed + args.seeds):
        out_of_fold: dict[str, np.ndarray] = {}
        probe_out = np.zeros((len(probed_rows), len(PROBES), 8))
        for fold in CV_FOLDS:
            train = data.rows(both, [f for f in CV_FOLDS if f != fold])
            test = data.rows(both, [fold])
            net, norm = training.train_model(candidate, [features[i] for i in train], data.labels[train],
                                             extractor.channel_names, seed * 100 + fold, data.corpus[train])
            mlp = training.predict(net, norm, [features[i] for i in test], 0, extractor.channel_names)
            out_of_fold.setdefault("mlp", np.zeros((len(clips), 8)))[test] = mlp
            for c in args.ensemble or []:
                logistic = fit_logistic(stats[train], data.labels[train], data.corpus[train], c, seed)(stats[test, 0])
                out_of_fold.setdefault(f"logistic C={c}", np.zeros((len(clips), 8)))[test] = logistic
                out_of_fold.setdefault(f"mlp + logistic C={c}", np.zeros((len(clips), 8)))[test] = (mlp + logistic) / 2
            if args.robustness and not candidate.net.sequence_channels:
                held = np.flatnonzero(data.fold[probed_rows] == fold)
                for k in range(len(PROBES)):
                    probe_out[held, k] = stats_probabilities(net, norm, probes[held, k])
            print(f"seed {seed} fold {fold} ({time.time() - started:.0f} s)", flush=True)
        for name, probabilities in out_of_fold.items():
            for corpus in both:
                rows = data.rows([corpus], CV_FOLDS)
                result = scores(data.labels[rows], decide(probabilities[rows], CORPUS_CLASSES[corpus]))
                record(name, corpus, "accuracy", result["accuracy"])
                record(name, corpus, "uar", result["uar"])
        if args.robustness:
            clean_top = out_of_fold["mlp"][probed_rows].argmax(1)
            for k, probe in enumerate(PROBES):
                top = probe_out[:, k].argmax(1)
                record("robustness", probe, "kept", float((top == clean_top).mean()))
                record("robustness", probe, "accuracy", float((top == data.labels[probed_rows]).mean()))
            record("robustness", "clean", "accuracy", float((clean_top == data.labels[probed_rows]).mean()))

    print(f"\n{args.candidate}, variants {args.variants}, channel copies {args.channel_copies}, {args.seeds} seeds")
    for name, metrics in results.items():
        print(f"{name}: " + "; ".join(f"{metric} {summary(values)}" for metric, values in metrics.items()))
    if args.out:
        args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "results": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
