"""Train the builtin speech tower (an 8-class RAVDESS emotion encoder) and write its shipped weights.

Reproduce the shipped weights (a few minutes on 2 cores; features are cached under
~/.cache/undertone/speech_features):

    .venv/bin/python scripts/train_speech_tower.py --data-dir ../shared/data

What it does:
1. Every RAVDESS clip goes through the tower's own front end (Silero VAD trim + descriptors), clean and
   as ``--variants`` augmented copies: additive noise (white/pink/brown, speech-shaped modulated
   noise, mains hum) at 0-30 dB SNR, gain and clipping, speed perturbation (+-10 %, shifting pitch
   and tempo), synthetic reverberation, microphone colouring (tilt + bump EQ), telephone/low-pass
   band limits, padding with noise that the VAD must trim. Seeds are fixed per clip and copy.
2. Candidate architectures are compared by leave-2-actors-out cross-validation inside the train
   actors 01-08 (folds 01+02, 03+04, 05+06, 07+08: one male and one female actor each).
3. The winner is trained on all train actors and evaluated once on the unseen dev actors 09-10
   (clean, and over all augmented copies of the dev clips); weights go to
   ``recommender/weights/speech_builtin.safetensors`` with a JSON of architecture, feature
   normalisation, labels, training data and metrics.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import inspect
import json
import math
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torchaudio.functional as AF
from safetensors.torch import save_file
from torch import nn

from recommender.audio import load_audio
from recommender.data import LabelledClip, load_ravdess
from recommender.emotion import LABEL_SETS
from recommender.towers import speech_features
from recommender.towers.speech_builtin import WEIGHTS_DIR, SpeechEmotionNet, SpeechNetConfig, pad_sequences
from recommender.towers.speech_features import SAMPLE_RATE, FeatureConfig, SilenceTrimmer, SpeechFeatureExtractor

LABELS = LABEL_SETS["ravdess"]
CV_FOLDS = ((1, 2), (3, 4), (5, 6), (7, 8))


# --------------------------------------------------------------------------------------------------
# Augmentation


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of the training augmentations."""

    p_speed: float = 0.4
    speed_rates: tuple[int, ...] = (17600, 16800, 15200, 14400)  # resample 16 kHz -> rate, play at 16 kHz
    p_reverb: float = 0.3
    rt60_seconds: tuple[float, float] = (0.2, 0.9)
    p_equalise: float = 0.4
    tilt_db_per_octave: tuple[float, float] = (-3.0, 3.0)
    bump_db: tuple[float, float] = (-6.0, 6.0)
    p_band_limit: float = 0.25
    p_pad: float = 0.3
    pad_seconds: tuple[float, float] = (0.2, 1.0)
    p_noise: float = 0.75
    snr_db: tuple[float, float] = (0.0, 30.0)
    gain_db: tuple[float, float] = (-12.0, 12.0)
    p_clip: float = 0.1


def augment(waveform: torch.Tensor, rng: np.random.Generator, cfg: AugmentConfig) -> torch.Tensor:
    """One random real-world corruption of a clean 16 kHz clip."""
    x = waveform
    if rng.random() < cfg.p_speed:
        x = AF.resample(x, SAMPLE_RATE, int(rng.choice(cfg.speed_rates)))
    if rng.random() < cfg.p_reverb:
        x = _reverberate(x, rng, cfg)
    if rng.random() < cfg.p_equalise:
        x = _equalise(x, rng, cfg)
    if rng.random() < cfg.p_band_limit:
        x = AF.highpass_biquad(x, SAMPLE_RATE, 300.0) if rng.random() < 0.5 else x
        x = AF.lowpass_biquad(x, SAMPLE_RATE, float(rng.choice([3400.0, 4000.0, 5500.0])))
    speech_power = float(x.square().mean()) + 1e-12
    if rng.random() < cfg.p_pad:
        lead, tail = (int(rng.uniform(*cfg.pad_seconds) * SAMPLE_RATE) for _ in range(2))
        x = torch.nn.functional.pad(x, (lead, tail))
    if rng.random() < cfg.p_noise:
        noise = _noise(x, rng)
        snr = rng.uniform(*cfg.snr_db)
        x = x + noise * math.sqrt(speech_power / (float(noise.square().mean()) + 1e-12) / 10 ** (snr / 10))
    x = x * 10 ** (rng.uniform(*cfg.gain_db) / 20)
    peak = float(x.abs().max())
    if rng.random() < cfg.p_clip:
        x = x.clamp(-0.3 * peak, 0.3 * peak)
    elif peak > 1.0:
        x = x / peak
    return x.contiguous()


def _reverberate(x: torch.Tensor, rng: np.random.Generator, cfg: AugmentConfig) -> torch.Tensor:
    rt60 = rng.uniform(*cfg.rt60_seconds)
    t = torch.arange(int(rt60 * SAMPLE_RATE)) / SAMPLE_RATE
    tail = torch.from_numpy(rng.standard_normal(t.numel()).astype(np.float32)) * torch.exp(-6.9 * t / rt60)
    rir = tail * 10 ** (-rng.uniform(0, 15) / 20) / tail.norm()  # direct-to-reverberant 0-15 dB
    rir[0] = 1.0
    wet = AF.fftconvolve(x, rir)
    return wet * (x.norm() / wet.norm().clamp_min(1e-8))


def _equalise(x: torch.Tensor, rng: np.random.Generator, cfg: AugmentConfig) -> torch.Tensor:
    """A microphone/room colouring: a spectral tilt plus one octave-wide bump or notch."""
    octaves = torch.log2(torch.fft.rfftfreq(x.numel(), 1 / SAMPLE_RATE).clamp_min(50.0) / 1000)
    centre = math.log2(rng.uniform(200.0, 4000.0) / 1000)
    gain_db = rng.uniform(*cfg.tilt_db_per_octave) * octaves
    gain_db = gain_db + rng.uniform(*cfg.bump_db) * torch.exp(-0.5 * ((octaves - centre) / 0.5) ** 2)
    coloured = torch.fft.irfft(torch.fft.rfft(x) * 10 ** (gain_db / 20), x.numel())
    return coloured * (x.norm() / coloured.norm().clamp_min(1e-8))


def _noise(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    n = x.numel()
    kind = rng.choice(["white", "pink", "brown", "speech_shaped", "hum"])
    if kind == "hum":
        t = torch.arange(n) / SAMPLE_RATE
        base = float(rng.choice([50.0, 60.0]))
        return sum(torch.sin(2 * math.pi * base * k * t + rng.uniform(0, 2 * math.pi)) / k for k in range(1, 6))
    phases = torch.from_numpy(rng.uniform(0, 2 * math.pi, n // 2 + 1).astype(np.float32))
    if kind == "speech_shaped":
        # The clip's own long-term spectrum with random phase, amplitude-modulated at a syllabic rate.
        magnitude = torch.fft.rfft(x).abs()
        noise = torch.fft.irfft(magnitude * torch.exp(1j * phases), n)
        t = torch.arange(n) / SAMPLE_RATE
        return noise * (1 + 0.8 * torch.sin(2 * math.pi * rng.uniform(2, 6) * t + rng.uniform(0, 2 * math.pi)))
    exponent = {"white": 0.0, "pink": 0.5, "brown": 1.0}[kind]
    freqs = torch.linspace(1.0, SAMPLE_RATE / 2, n // 2 + 1)
    return torch.fft.irfft(freqs.pow(-exponent) * torch.exp(1j * phases), n)


# --------------------------------------------------------------------------------------------------
# Features (cached)


@dataclass
class ClipFeatures:
    """Descriptors of one clip: the clean copy first, then the augmented ones."""

    frames: list[np.ndarray]  # (T, C) float16 frame descriptors per copy
    stats: np.ndarray  # (copies, D) float32 utterance statistics


def cache_key(variants: int, augment_cfg: AugmentConfig, feature_cfg: FeatureConfig) -> str:
    """Changes whenever the trimming, the frame descriptors, the augmentation or their settings change."""
    extractor = SpeechFeatureExtractor
    parts = (
        speech_features.SileroVAD, SilenceTrimmer, speech_features.TrimConfig, FeatureConfig, extractor.__init__,
        extractor.frames, extractor.pitch, extractor._spectral_shape, speech_features._median_filter,
        augment, _reverberate, _equalise, _noise,
    )
    source = "".join(inspect.getsource(part) for part in parts)
    blob = json.dumps([variants, dataclasses.asdict(augment_cfg), dataclasses.asdict(feature_cfg), source], default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _extract(job: tuple[str, int, int, AugmentConfig, FeatureConfig]) -> list[np.ndarray]:
    path, clip_seed, variants, augment_cfg, feature_cfg = job
    torch.set_num_threads(1)
    extractor, trimmer = SpeechFeatureExtractor(feature_cfg), SilenceTrimmer()
    # Some soft RAVDESS takes (actors 05, 09) sit below load_audio's -60 dBFS silence gate.
    clean = torch.from_numpy(load_audio(path, SAMPLE_RATE, allow_silence=True))
    frames = []
    for variant in range(variants + 1):
        rng = np.random.default_rng([clip_seed, variant])
        waveform = clean if variant == 0 else augment(clean, rng, augment_cfg)
        frames.append(extractor.frames(trimmer(waveform)).numpy().astype(np.float16))
    return frames


def extract_all(
    clips: list[LabelledClip], variants: int, cache_dir: Path, workers: int,
    augment_cfg: AugmentConfig, feature_cfg: FeatureConfig,
) -> list[ClipFeatures]:
    """Descriptors of every clip and copy; frame descriptors are computed once and cached."""
    directory = cache_dir / cache_key(variants, augment_cfg, feature_cfg)
    directory.mkdir(parents=True, exist_ok=True)
    targets = [directory / f"{hashlib.sha1(str(clip.path).encode()).hexdigest()[:16]}.npz" for clip in clips]
    todo = [i for i, target in enumerate(targets) if not target.exists()]
    if todo:
        print(f"extracting features of {len(todo)} clips x {variants + 1} copies into {directory}", flush=True)
        jobs = [(str(clips[i].path), i, variants, augment_cfg, feature_cfg) for i in todo]
        started = time.time()
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for done, (i, frames) in enumerate(zip(todo, pool.map(_extract, jobs, chunksize=4)), 1):
                partial = targets[i].with_suffix(".part.npz")
                np.savez(partial, **{f"frames{k}": f for k, f in enumerate(frames)})
                partial.replace(targets[i])
                if done % 100 == 0:
                    print(f"  {done}/{len(todo)} ({time.time() - started:.0f} s)", flush=True)
    extractor = SpeechFeatureExtractor(feature_cfg)
    features = []
    for target in targets:
        with np.load(target) as data:
            frames = [data[f"frames{k}"] for k in range(variants + 1)]
        # Statistics are cheap, so they are recomputed rather than cached: they can change freely.
        stats = np.stack([extractor.statistics(torch.from_numpy(f.astype(np.float32))).numpy() for f in frames])
        features.append(ClipFeatures(frames, stats.astype(np.float32)))
    return features


# --------------------------------------------------------------------------------------------------
# Training


@dataclass
class TrainConfig:
    epochs: int = 60
    batch_size: int = 32
    learning_rate: float = 2e-3
    weight_decay: float = 1e-2
    label_smoothing: float = 0.1
    crop_frames: int = 300  # random crops of at most 3 s per training example
    clean_fraction: float = 0.25  # share of examples drawn from the clean copy


@dataclass
class Candidate:
    name: str
    net: SpeechNetConfig
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass
class Normalisation:
    frame_mean: torch.Tensor
    frame_std: torch.Tensor
    stats_mean: torch.Tensor
    stats_std: torch.Tensor

    @classmethod
    def fit(cls, features: list[ClipFeatures], sequence_index: list[int]) -> Normalisation:
        frames = np.concatenate([f.astype(np.float32)[:, sequence_index] for clip in features for f in clip.frames])
        stats = np.concatenate([clip.stats for clip in features])
        return cls(*(torch.from_numpy(a.astype(np.float32)) for a in (
            frames.mean(0), frames.std(0) + 1e-3, stats.mean(0), stats.std(0) + 1e-3,
        )))

    def to_json(self) -> dict[str, list[float]]:
        return {key: [float(v) for v in getattr(self, key)] for key in ("frame_mean", "frame_std", "stats_mean", "stats_std")}


def _example(clip: ClipFeatures, copy_index: int, sequence_index: list[int], norm: Normalisation,
             crop: int | None, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    frames = clip.frames[copy_index]
    if crop is not None and frames.shape[0] > crop:
        start = int(rng.integers(0, frames.shape[0] - crop + 1))
        frames = frames[start : start + crop]
    sequence = (torch.from_numpy(frames[:, sequence_index].astype(np.float32)) - norm.frame_mean) / norm.frame_std
    stats = (torch.from_numpy(clip.stats[copy_index]) - norm.stats_mean) / norm.stats_std
    return sequence, stats


def _batch(examples: list[tuple[torch.Tensor, torch.Tensor]], net_cfg: SpeechNetConfig):
    frames, mask = pad_sequences([sequence for sequence, _ in examples]) if net_cfg.sequence_channels else (None, None)
    return frames, mask, torch.stack([stats for _, stats in examples])


def train_model(
    candidate: Candidate, features: list[ClipFeatures], labels: np.ndarray, channel_names: tuple[str, ...], seed: int,
) -> tuple[SpeechEmotionNet, Normalisation]:
    """Train one network on the given clips (all their copies)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    cfg, net_cfg = candidate.train, candidate.net
    sequence_index = [channel_names.index(name) for name in net_cfg.sequence_channels]
    norm = Normalisation.fit(features, sequence_index)
    net = SpeechEmotionNet(net_cfg)
    optimiser = torch.optim.AdamW(net.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(features) / cfg.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, cfg.learning_rate, total_steps=cfg.epochs * steps_per_epoch, pct_start=0.15)
    counts = np.bincount(labels, minlength=len(LABELS))
    loss_fn = nn.CrossEntropyLoss(weight=torch.tensor(counts.sum() / counts / len(LABELS), dtype=torch.float32), label_smoothing=cfg.label_smoothing)
    net.train()
    for _ in range(cfg.epochs):
        order = rng.permutation(len(features))
        for start in range(0, len(order), cfg.batch_size):
            rows = order[start : start + cfg.batch_size]
            if len(rows) < 2:
                continue
            examples = []
            for row in rows:
                copies = len(features[row].frames)
                copy_index = 0 if rng.random() < cfg.clean_fraction else int(rng.integers(1, copies))
                examples.append(_example(features[row], copy_index, sequence_index, norm, cfg.crop_frames, rng))
            _, logits = net(*_batch(examples, net_cfg))
            loss = loss_fn(logits, torch.from_numpy(labels[rows]))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
    net.eval()
    return net, norm


@torch.inference_mode()
def predict(net: SpeechEmotionNet, norm: Normalisation, features: list[ClipFeatures], copy_index: int,
            channel_names: tuple[str, ...]) -> np.ndarray:
    """Class probabilities ``(n, 8)`` of one copy of each clip (whole clips, no cropping)."""
    sequence_index = [channel_names.index(name) for name in net.config.sequence_channels]
    rng = np.random.default_rng(0)
    outputs = []
    for start in range(0, len(features), 64):
        examples = [_example(clip, copy_index, sequence_index, norm, None, rng) for clip in features[start : start + 64]]
        _, logits = net(*_batch(examples, net.config))
        outputs.append(torch.softmax(logits, dim=1))
    return torch.cat(outputs).numpy()


def scores(true: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    recalls = [float((predicted[true == k] == k).mean()) for k in range(len(LABELS)) if (true == k).any()]
    return {"accuracy": float((true == predicted).mean()), "uar": float(np.mean(recalls))}


def confusion(true: np.ndarray, predicted: np.ndarray) -> list[list[int]]:
    matrix = np.zeros((len(LABELS), len(LABELS)), dtype=int)
    np.add.at(matrix, (true, predicted), 1)
    return matrix.tolist()


def cross_validate(candidate: Candidate, features: list[ClipFeatures], labels: np.ndarray, actors: np.ndarray,
                   channel_names: tuple[str, ...], seed: int) -> dict[str, float | list[float]]:
    """Leave-2-actors-out accuracy and UAR over :data:`CV_FOLDS`."""
    accuracies, uars = [], []
    for fold, held_out in enumerate(CV_FOLDS):
        test = np.isin(actors, held_out)
        train_rows, test_rows = np.flatnonzero(~test), np.flatnonzero(test)
        net, norm = train_model(candidate, [features[i] for i in train_rows], labels[train_rows], channel_names, seed + fold)
        predicted = predict(net, norm, [features[i] for i in test_rows], 0, channel_names).argmax(1)
        fold_scores = scores(labels[test_rows], predicted)
        accuracies.append(fold_scores["accuracy"])
        uars.append(fold_scores["uar"])
    return {
        "accuracy_mean": float(np.mean(accuracies)), "accuracy_std": float(np.std(accuracies)),
        "uar_mean": float(np.mean(uars)), "uar_std": float(np.std(uars)), "fold_accuracies": accuracies,
    }


def candidates(extractor: SpeechFeatureExtractor) -> list[Candidate]:
    """Architectures compared by cross-validation (an earlier sweep settled widths and dropout)."""
    prosody = [n for n in extractor.channel_names if n.startswith(("mel", "f0_st", "periodicity", "voiced", "energy_db"))]
    stats_dim = len(extractor.statistic_names())
    return [
        Candidate("stats-mlp", SpeechNetConfig(stats_dim=stats_dim, stats_hidden=128, dropout=0.5)),
        Candidate(
            "cnn+stats",
            SpeechNetConfig(sequence_channels=prosody, conv_channels=64, stats_dim=stats_dim, stats_hidden=128, dropout=0.5),
            TrainConfig(epochs=40),
        ),
    ]


def measure_latency(weights: Path, clips: list[LabelledClip], repeats: int = 30) -> dict[str, float]:
    """Wall-clock and CPU milliseconds of ``embed`` on 5 s of real speech (the tower's default 1 thread)."""
    from recommender.towers.speech_builtin import BuiltinSpeechConfig, BuiltinSpeechTower

    tower = BuiltinSpeechTower(BuiltinSpeechConfig(weights=str(weights)))
    speech = np.concatenate([load_audio(clip.path, SAMPLE_RATE, allow_silence=True) for clip in clips])
    clip = np.resize(speech, 5 * SAMPLE_RATE)
    tower.embed(clip)  # load the VAD, warm up
    wall, cpu = [], []
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        tower.embed(clip)
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    # The minimum is the machine's speed; the median includes other processes competing for the CPU.
    timings = {f"{kind}_{name}": round(1e3 * float(f(values)), 2)
               for kind, values in (("wall", wall), ("cpu", cpu)) for name, f in (("min", np.min), ("median", np.median))}
    return {**timings, "threads": tower.config.threads}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="corpora root (default: ../shared/data)")
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR / "speech_builtin.safetensors")
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "undertone" / "speech_features")
    parser.add_argument("--variants", type=int, default=8, help="augmented copies per clip")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for training")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--candidates", nargs="*", help="names of candidates to cross-validate (default: all)")
    parser.add_argument("--no-cv", action="store_true", help="skip cross-validation, train --final directly")
    parser.add_argument("--final", help="candidate to ship (default: best cross-validated accuracy)")
    args = parser.parse_args(argv)
    if args.no_cv and not args.final:
        parser.error("--no-cv needs --final NAME")
    torch.set_num_threads(args.threads)

    clips = load_ravdess(args.data_dir)
    augment_cfg, feature_cfg = AugmentConfig(), FeatureConfig()
    extractor = SpeechFeatureExtractor(feature_cfg)
    features = extract_all(clips, args.variants, args.cache_dir, args.workers, augment_cfg, feature_cfg)
    labels = np.array([LABELS.index(clip.label) for clip in clips])
    actors = np.array([int(clip.group.removeprefix("actor")) for clip in clips])
    train = np.flatnonzero([clip.split == "train" for clip in clips])
    dev = np.flatnonzero([clip.split == "dev" for clip in clips])
    train_features = [features[i] for i in train]
    names = extractor.channel_names

    pool = {candidate.name: candidate for candidate in candidates(extractor)}
    cv_results: dict[str, dict] = {}
    if not args.no_cv:
        for name in args.candidates or list(pool):
            started = time.time()
            cv_results[name] = cross_validate(pool[name], train_features, labels[train], actors[train], names, args.seed)
            result = cv_results[name]
            print(f"CV {name:28s} acc {result['accuracy_mean']:.3f} +- {result['accuracy_std']:.3f}  "
                  f"UAR {result['uar_mean']:.3f} +- {result['uar_std']:.3f}  folds {np.round(result['fold_accuracies'], 3).tolist()}"
                  f"  ({time.time() - started:.0f} s)", flush=True)
    final_name = args.final or max(cv_results, key=lambda n: cv_results[n]["accuracy_mean"])
    final = pool[final_name]

    net, norm = train_model(final, train_features, labels[train], names, args.seed)
    dev_features = [features[i] for i in dev]
    dev_clean = predict(net, norm, dev_features, 0, names).argmax(1)
    dev_augmented = np.concatenate([predict(net, norm, dev_features, k, names).argmax(1) for k in range(1, args.variants + 1)])
    metrics = {
        "dev_actors_09_10": {
            **scores(labels[dev], dev_clean),
            "per_actor_accuracy": {
                f"actor{a:02d}": float((dev_clean == labels[dev])[actors[dev] == a].mean()) for a in sorted(set(actors[dev]))
            },
            "confusion": confusion(labels[dev], dev_clean),
        },
        "dev_actors_09_10_augmented": scores(np.tile(labels[dev], args.variants), dev_augmented),
        "cv_leave_2_actors_out": cv_results,
    }
    print(f"shipping {final_name}: dev acc {metrics['dev_actors_09_10']['accuracy']:.3f} "
          f"UAR {metrics['dev_actors_09_10']['uar']:.3f}; augmented dev acc {metrics['dev_actors_09_10_augmented']['accuracy']:.3f}")
    print("confusion (rows true, cols predicted):", LABELS)
    for label, row in zip(LABELS, metrics["dev_actors_09_10"]["confusion"]):
        print(f"  {label:10s} {row}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, args.out)
    meta = {
        "format": "undertone-speech-builtin/1",
        "labels": list(LABELS),
        "sample_rate": SAMPLE_RATE,
        "architecture": dataclasses.asdict(final.net),
        "features": dataclasses.asdict(feature_cfg),
        "normalisation": norm.to_json(),
        "training": {
            "candidate": final_name,
            "data": "RAVDESS speech actors 01-08 (480 clips); model selection by CV inside them; dev actors 09-10 unseen",
            "trimming": dataclasses.asdict(speech_features.TrimConfig()),
            "augmented_copies_per_clip": args.variants,
            "augmentation": dataclasses.asdict(augment_cfg),
            "train_config": dataclasses.asdict(final.train),
            "seed": args.seed,
            "command": "python scripts/train_speech_tower.py --data-dir ../shared/data",
        },
        "metrics": metrics,
    }
    args.out.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
    meta["metrics"]["latency_ms_5s_clip"] = measure_latency(args.out, [clips[i] for i in dev[:2]])
    args.out.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"latency of embed() on a 5 s clip: {meta['metrics']['latency_ms_5s_clip']}")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB) and {args.out.with_suffix('.json').name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
