"""Train the builtin speech tower (an 8-class RAVDESS emotion encoder) and write its shipped weights.

Reproduce the shipped weights (features are cached under ~/.cache/undertone/speech_features, and so
are the cross-validation results, so candidates can be cross-validated in separate runs):

    .venv/bin/python scripts/train_speech_tower.py --candidates stats-mlp stats-mlp-balanced

(``speech_builtin.json`` records the exact command; ``--cv-only --candidates ...`` cross-validates more
candidates without shipping, ``--ravdess-only`` ships the old recipe trained on RAVDESS alone.)

What it does:
1. Every RAVDESS and nEMO clip goes through the tower's own front end (Silero VAD trim + descriptors),
   clean, as ``--variants`` augmented copies and as ``--channel-copies`` copies through a real Opus or
   MP3 round trip, 20 dB noise or an 8 kHz band (``speech_augment.py``); seeds are fixed per file and
   copy, and every copy is cached in its own file (runs with fewer copies reuse those of larger runs).
2. Candidates are compared under the speaker-independent protocol of ``speech_protocol.py``:
   leave-actors-out CV over the non-dev folds 0-3 of both corpora (nEMO labels mapped to RAVDESS
   words) over ``--seeds`` seeds, beside the old recipe (the statistics MLP trained on each corpus
   alone) on the same folds, plus cross-corpus scores.
3. The candidate with the best mean CV accuracy over both corpora is trained on folds 0-3 of both
   corpora, shipped only if that mean beats the old recipe's (one model, RAVDESS only, scored on both
   corpora: one tower serves every voice), and scored once on the dev fold 4
   (RAVDESS actors 09, 10, 19, 20 and one nEMO speaker); weights go to
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
import shlex
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import speech_augment
import torch
from safetensors.torch import save_file
from speech_augment import AugmentConfig
from speech_protocol import (
    CORPUS_CLASSES,
    CV_FOLDS,
    LABELS,
    Fit,
    Predict,
    SpeechSet,
    confusion,
    cross_corpus,
    cross_validate,
    decide,
    format_row,
    scores,
    va_scores,
)
from torch import nn

from recommender.audio import load_audio
from recommender.data import LabelledClip, load_corpus
from recommender.towers import speech_features
from recommender.towers.speech_builtin import WEIGHTS_DIR, SpeechEmotionNet, SpeechNetConfig, pad_sequences
from recommender.towers.speech_features import SAMPLE_RATE, FeatureConfig, SilenceTrimmer, SpeechFeatureExtractor

# --------------------------------------------------------------------------------------------------
# Features (cached)


@dataclass
class ClipFeatures:
    """Descriptors of one clip: the clean copy first, then the augmented ones."""

    frames: list[np.ndarray]  # (T, C) float16 frame descriptors per copy
    stats: np.ndarray  # (copies, D) float32 utterance statistics


def cache_key(augment_cfg: AugmentConfig, feature_cfg: FeatureConfig, kind: str = "aug") -> str:
    """Changes whenever the trimming, the frame descriptors, the augmentation of ``kind`` or their settings change.

    A copy's content depends only on its clip, its kind and its index (seeded per file), never on how
    many copies a run asks for, so runs with fewer copies reuse the files of runs with more.
    """
    extractor = SpeechFeatureExtractor
    parts = [
        speech_features.SileroVAD, SilenceTrimmer, speech_features.TrimConfig, FeatureConfig, extractor.__init__,
        extractor.frames, extractor.pitch, extractor._spectral_shape, speech_features._median_filter, _clip_seed,
    ]
    if kind == "aug":
        parts += [speech_augment.augment, speech_augment._band_limit, speech_augment._reverberate, speech_augment._equalise,
                  speech_augment._noise]
        settings = dataclasses.asdict(augment_cfg)
    else:
        parts += [speech_augment.channel, speech_augment._noise, _channel_kind]
        settings = {}
    source = "".join(inspect.getsource(part) for part in parts)
    blob = json.dumps([kind, settings, dataclasses.asdict(feature_cfg), source], default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _clip_seed(path: str) -> int:
    """Augmentation seed of a clip: from its file name, so it does not depend on the order of the corpora."""
    return int(hashlib.sha1(Path(path).name.encode()).hexdigest()[:8], 16)


def _channel_kind(path: str, index: int) -> str:
    """Channel copy ``index`` of a clip: the clip's copies cycle through the channels from a per-file offset."""
    return speech_augment.CHANNELS[(_clip_seed(path) + index) % len(speech_augment.CHANNELS)]


def _extract(job: tuple[str, str, int, AugmentConfig, FeatureConfig]) -> np.ndarray:
    """Frame descriptors of one copy: ``aug`` 0 is the clean clip, ``aug`` k > 0 a random corruption,
    ``channel`` k a transmission channel (``speech_augment.channel``)."""
    path, kind, index, augment_cfg, feature_cfg = job
    torch.set_num_threads(1)
    extractor, trimmer = SpeechFeatureExtractor(feature_cfg), SilenceTrimmer()
    # Some soft RAVDESS takes (actors 05, 09) sit below load_audio's -60 dBFS silence gate.
    waveform = torch.from_numpy(load_audio(path, SAMPLE_RATE, allow_silence=True))
    if kind == "channel":
        rng = np.random.default_rng([_clip_seed(path), 1000 + index])
        waveform = speech_augment.channel(waveform, _channel_kind(path, index), rng)
    elif index > 0:
        waveform = speech_augment.augment(waveform, np.random.default_rng([_clip_seed(path), index]), augment_cfg)
    return extractor.frames(trimmer(waveform)).numpy().astype(np.float16)


def extract_all(
    clips: list[LabelledClip], variants: int, cache_dir: Path, workers: int,
    augment_cfg: AugmentConfig, feature_cfg: FeatureConfig, channel_copies: int = 0,
) -> list[ClipFeatures]:
    """Descriptors of every clip's clean copy, ``variants`` augmented copies and ``channel_copies`` channel
    copies (in that order); each copy's frame descriptors are computed once and cached in its own file,
    copy by copy over all clips (so a run with fewer copies can start as soon as its copies exist)."""
    names = [hashlib.sha1(str(clip.path).encode()).hexdigest()[:16] for clip in clips]
    copies = [("aug", k) for k in range(variants + 1)] + [("channel", k) for k in range(channel_copies)]
    directories = {kind: cache_dir / cache_key(augment_cfg, feature_cfg, kind) for kind in ("aug", "channel")}
    targets = {(kind, k): [directories[kind] / f"{name}.{k}.npy" for name in names] for kind, k in copies}
    for directory in directories.values():
        directory.mkdir(parents=True, exist_ok=True)
    for kind, k in copies:
        todo = [i for i, target in enumerate(targets[kind, k]) if not target.exists()]
        if not todo:
            continue
        print(f"extracting {kind} copy {k} of {len(todo)} clips into {directories[kind]}", flush=True)
        jobs = [(str(clips[i].path), kind, k, augment_cfg, feature_cfg) for i in todo]
        started = time.time()
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for done, (i, frames) in enumerate(zip(todo, pool.map(_extract, jobs, chunksize=8)), 1):
                partial = targets[kind, k][i].with_suffix(".part.npy")
                np.save(partial, frames)
                partial.replace(targets[kind, k][i])
                if done % 500 == 0:
                    print(f"  {done}/{len(todo)} ({time.time() - started:.0f} s)", flush=True)
    extractor = SpeechFeatureExtractor(feature_cfg)
    frames = [[np.load(targets[copy][i]) for copy in copies] for i in range(len(clips))]
    # Statistics are cached apart from the frames (keyed by their own code and the clips), so they can change freely.
    stats_source = "".join(inspect.getsource(part) for part in (
        SpeechFeatureExtractor.statistics, SpeechFeatureExtractor._statistic_groups, speech_features._functionals,
        speech_features._quantiles, speech_features._slopes, speech_features._median_step, speech_features._rhythm))
    stats_key = hashlib.sha256((stats_source + "".join(names)).encode()).hexdigest()[:16]
    per_copy = []
    for index, (kind, k) in enumerate(copies):
        target = directories[kind] / f"stats-{stats_key}-{k}.npy"
        if not target.exists():
            values = np.stack([extractor.statistics(torch.from_numpy(clip[index].astype(np.float32))).numpy() for clip in frames])
            np.save(target.with_suffix(".part.npy"), values.astype(np.float32))
            target.with_suffix(".part.npy").replace(target)
        per_copy.append(np.load(target))
    stats = np.stack(per_copy, axis=1)
    return [ClipFeatures(clip_frames, stats[i]) for i, clip_frames in enumerate(frames)]


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
    # Weigh every (corpus, class) cell equally instead of every class: nEMO is ~40 % of the joint data.
    balance_corpora: bool = False
    # SpecAugment (Park et al., 2019) on the standardised frame sequence: this many time masks of up to
    # 20 frames and channel masks of up to 6 channels per example (0: none; statistics-only nets ignore it).
    spec_augment_masks: int = 0


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
        frames = np.concatenate([f[:, sequence_index].astype(np.float32) for clip in features for f in clip.frames])
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


def _spec_augment(sequence: torch.Tensor, masks: int, rng: np.random.Generator) -> torch.Tensor:
    """Zero (the standardised mean) random spans of frames and of channels."""
    sequence = sequence.clone()
    frames, channels = sequence.shape
    for _ in range(masks):
        width = int(rng.integers(0, min(20, frames // 4) + 1))
        start = int(rng.integers(0, frames - width + 1))
        sequence[start : start + width] = 0.0
        width = int(rng.integers(0, min(6, channels // 4) + 1))
        start = int(rng.integers(0, channels - width + 1))
        sequence[:, start : start + width] = 0.0
    return sequence


def _batch(examples: list[tuple[torch.Tensor, torch.Tensor]], net_cfg: SpeechNetConfig):
    frames, mask = pad_sequences([sequence for sequence, _ in examples]) if net_cfg.sequence_channels else (None, None)
    return frames, mask, torch.stack([stats for _, stats in examples])


def stratum_weights(labels: np.ndarray, corpora: np.ndarray) -> np.ndarray:
    """Per-clip weights under which every (corpus, class) cell weighs the same in total."""
    strata = np.unique(np.char.add(np.char.add(corpora.astype(str), "|"), labels.astype(str)), return_inverse=True)[1]
    return 1.0 / np.bincount(strata)[strata]


def train_model(
    candidate: Candidate, features: list[ClipFeatures], labels: np.ndarray, channel_names: tuple[str, ...], seed: int,
    corpora: np.ndarray | None = None,
) -> tuple[SpeechEmotionNet, Normalisation]:
    """Train one network on the given clips (all their copies); ``corpora`` names each clip's corpus."""
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
    # Balanced class weights; classes absent from the training corpora (calm, disgust in nEMO) get none.
    weights = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / max(int((counts > 0).sum()), 1), 0.0)
    loss_fn = nn.CrossEntropyLoss(weight=torch.tensor(weights, dtype=torch.float32), label_smoothing=cfg.label_smoothing)
    if cfg.balance_corpora:
        sample_weights = torch.from_numpy(stratum_weights(labels, corpora if corpora is not None else np.zeros(len(labels)))).float()
        per_sample = nn.CrossEntropyLoss(reduction="none", label_smoothing=cfg.label_smoothing)
        loss_fn = None
    copies = len(features[0].frames)
    # A statistics-only net needs no frames: its batches come straight from one standardised array.
    all_stats = (torch.from_numpy(np.stack([clip.stats for clip in features])) - norm.stats_mean) / norm.stats_std
    net.train()
    for _ in range(cfg.epochs):
        order = rng.permutation(len(features))
        for start in range(0, len(order), cfg.batch_size):
            rows = order[start : start + cfg.batch_size]
            if len(rows) < 2:
                continue
            copy_index = np.where(rng.random(len(rows)) < cfg.clean_fraction, 0, rng.integers(1, copies, len(rows)))
            if net_cfg.sequence_channels:
                examples = [_example(features[row], int(k), sequence_index, norm, cfg.crop_frames, rng) for row, k in zip(rows, copy_index)]
                if cfg.spec_augment_masks:
                    examples = [(_spec_augment(sequence, cfg.spec_augment_masks, rng), stats) for sequence, stats in examples]
                inputs = _batch(examples, net_cfg)
            else:
                inputs = (None, None, all_stats[torch.from_numpy(rows), torch.from_numpy(copy_index)])
            _, logits = net(*inputs)
            if loss_fn is None:
                weight = sample_weights[torch.from_numpy(rows)]
                loss = (per_sample(logits, torch.from_numpy(labels[rows])) * weight).sum() / weight.sum()
            else:
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


def fitter(candidate: Candidate, features: list[ClipFeatures], data: SpeechSet, channel_names: tuple[str, ...]) -> Fit:
    """The candidate as a protocol :data:`Fit`: train on rows, predict clean copies of rows."""

    def fit(rows: np.ndarray, seed: int) -> Predict:
        net, norm = train_model(candidate, [features[i] for i in rows], data.labels[rows], channel_names, seed, data.corpus[rows])
        return lambda test: predict(net, norm, [features[i] for i in test], 0, channel_names)

    return fit


def candidates(extractor: SpeechFeatureExtractor) -> list[Candidate]:
    """Architectures compared by cross-validation (an earlier sweep settled widths and dropout)."""
    prosody = [n for n in extractor.channel_names if n.startswith(("mel", "f0_st", "periodicity", "voiced", "energy_db"))]
    logmel = [n for n in extractor.channel_names if n.startswith(("mel", "f0_st", "energy_db"))]
    stats_dim = len(extractor.statistic_names())
    return [
        Candidate("stats-mlp", SpeechNetConfig(stats_dim=stats_dim, stats_hidden=128, dropout=0.5)),
        Candidate(
            "cnn+stats",
            SpeechNetConfig(sequence_channels=prosody, conv_channels=64, stats_dim=stats_dim, stats_hidden=128, dropout=0.5),
            TrainConfig(epochs=40),
        ),
        Candidate(
            "cnn|stats-average",
            SpeechNetConfig(sequence_channels=prosody, conv_channels=48, stats_dim=stats_dim, stats_hidden=128, dropout=0.5,
                            average_branches=True),
            # Shorter crops and fewer epochs than cnn+stats: ~4x cheaper, so it fits a CV over 2 corpora x seeds.
            TrainConfig(epochs=20, crop_frames=150),
        ),
        Candidate("stats-mlp-balanced", SpeechNetConfig(stats_dim=stats_dim, stats_hidden=128, dropout=0.5),
                  TrainConfig(balance_corpora=True)),
        Candidate("stats-mlp-wide-balanced", SpeechNetConfig(stats_dim=stats_dim, stats_hidden=256, dropout=0.5),
                  TrainConfig(epochs=80, balance_corpora=True)),
        Candidate("stats-mlp-balanced-long", SpeechNetConfig(stats_dim=stats_dim, stats_hidden=128, dropout=0.5),
                  TrainConfig(epochs=120, balance_corpora=True)),
        Candidate("stats-mlp-balanced-small", SpeechNetConfig(stats_dim=stats_dim, stats_hidden=64, embedding_dim=64, dropout=0.5),
                  TrainConfig(balance_corpora=True, weight_decay=5e-2)),
        Candidate("stats-mlp-balanced-augmented", SpeechNetConfig(stats_dim=stats_dim, stats_hidden=128, dropout=0.5),
                  TrainConfig(epochs=90, balance_corpora=True, clean_fraction=0.1)),
        Candidate("stats-mlp-balanced-40", SpeechNetConfig(stats_dim=stats_dim, stats_hidden=128, dropout=0.5),
                  TrainConfig(epochs=40, balance_corpora=True)),
        Candidate("stats-mlp-balanced-30", SpeechNetConfig(stats_dim=stats_dim, stats_hidden=128, dropout=0.5),
                  TrainConfig(epochs=30, balance_corpora=True)),
        Candidate(
            "logmel-cnn-specaug",
            SpeechNetConfig(sequence_channels=logmel, conv_channels=48, stats_dim=0, dropout=0.3),
            TrainConfig(epochs=20, crop_frames=150, balance_corpora=True, spec_augment_masks=2),
        ),
        Candidate(
            "logmel-cnn-specaug|stats-average",
            SpeechNetConfig(sequence_channels=logmel, conv_channels=48, stats_dim=stats_dim, stats_hidden=128, dropout=0.5,
                            average_branches=True),
            TrainConfig(epochs=20, crop_frames=150, balance_corpora=True, spec_augment_masks=2),
        ),
        Candidate("stats-mlp-balanced-40-d3", SpeechNetConfig(stats_dim=stats_dim, stats_hidden=128, dropout=0.3),
                  TrainConfig(epochs=40, balance_corpora=True)),
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
    parser.add_argument("--channel-copies", type=int, default=0,
                        help="extra copies per clip through a codec, 20 dB noise or 8 kHz (speech_augment.channel)")
    parser.add_argument("--extract-only", action="store_true", help="fill the feature cache, train nothing")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for training")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--seeds", type=int, default=2, help="cross-validation repeats")
    parser.add_argument("--candidates", nargs="*", help="names of candidates to cross-validate (default: all)")
    parser.add_argument("--no-cv", action="store_true", help="skip cross-validation, train --final directly")
    parser.add_argument("--final", help="candidate to ship (default: best mean CV accuracy over both corpora)")
    parser.add_argument("--ravdess-only", action="store_true",
                        help="ship the old recipe (stats-mlp on RAVDESS folds 0-3 only) when no joint candidate beats it in CV")
    parser.add_argument("--cv-only", action="store_true", help="cross-validate (results cached), train nothing to ship")
    args = parser.parse_args(argv)
    if args.no_cv and not args.final:
        parser.error("--no-cv needs --final NAME")
    torch.set_num_threads(args.threads)

    clips = load_corpus("ravdess", data_dir=args.data_dir) + load_corpus("nemo", data_dir=args.data_dir)
    data = SpeechSet.of(clips)
    augment_cfg, feature_cfg = AugmentConfig(), FeatureConfig()
    extractor = SpeechFeatureExtractor(feature_cfg)
    features = extract_all(clips, args.variants, args.cache_dir, args.workers, augment_cfg, feature_cfg, args.channel_copies)
    if args.extract_only:
        return 0
    names = extractor.channel_names
    pool = {candidate.name: candidate for candidate in candidates(extractor)}
    seeds = [args.seed + k for k in range(args.seeds)]
    both = ("ravdess", "nemo")

    # CV results are cached beside the features, keyed by everything that determines them, so the
    # candidates can be cross-validated in separate runs and the shipping run reuses them.
    results_path = args.cache_dir / cache_key(augment_cfg, feature_cfg) / "protocol_results.json"
    stored = json.loads(results_path.read_text()) if results_path.exists() else {}

    def cached(kind: str, name: str, corpora: tuple[str, ...], compute: Callable[[], dict]) -> dict:
        key = json.dumps([kind, dataclasses.asdict(pool[name]), corpora, seeds, args.variants, args.channel_copies], sort_keys=True)
        if key not in stored:
            stored[key] = compute()
            results_path.write_text(json.dumps(stored))
        return stored[key]

    def run_cv(label: str, name: str, corpora: tuple[str, ...]) -> dict:
        started = time.time()
        fit = fitter(pool[name], features, data, names)
        result = cached("cv", name, corpora, lambda: cross_validate(fit, data, corpora, seeds, log=lambda _: None))
        for corpus in both:
            print(format_row(f"CV {label} -> {corpus}", result[corpus]), f"({time.time() - started:.0f} s)", flush=True)
        return result

    def run_cross(name: str) -> dict[str, dict]:
        fit, out = fitter(pool[name], features, data, names), {}
        for source, target in (("ravdess", "nemo"), ("nemo", "ravdess")):
            out[f"{name}: {source} -> {target}"] = result = cached(
                f"cross {source}->{target}", name, (source, target), lambda s=source, t=target: cross_corpus(fit, data, s, t, seeds))
            print(format_row(f"cross-corpus {name} {source}->{target}", result), flush=True)
        return out

    cv: dict[str, dict] = {}
    if not args.no_cv:
        # The old recipe (the statistics MLP, each corpus on its own) on the same folds, for comparison.
        cv["old: stats-mlp on RAVDESS only"] = run_cv("old stats-mlp RAVDESS only", "stats-mlp", ("ravdess",))
        cv["old: stats-mlp on nEMO only"] = run_cv("old stats-mlp nEMO only", "stats-mlp", ("nemo",))
        for name in args.candidates or list(pool):
            cv[f"{name} on RAVDESS+nEMO"] = run_cv(f"{name} joint", name, both)
    if args.cv_only:
        for name in dict.fromkeys(["stats-mlp", *(args.candidates or pool)]):
            run_cross(name)
        return 0
    joint = {key.removesuffix(" on RAVDESS+nEMO"): value for key, value in cv.items() if key.endswith("RAVDESS+nEMO")}
    final_name = "stats-mlp" if args.ravdess_only else args.final or max(
        joint, key=lambda n: np.mean([joint[n][c]["accuracy_mean"] for c in both]))
    final = pool[final_name]
    train_corpora = ("ravdess",) if args.ravdess_only else both
    if not args.no_cv and not args.ravdess_only:
        # One tower serves every voice: compare with the model the old recipe ships (RAVDESS only), on both corpora.
        old, new = cv["old: stats-mlp on RAVDESS only"], cv[f"{final_name} on RAVDESS+nEMO"]
        mean = {name: np.mean([result[c]["accuracy_mean"] for c in both]) for name, result in (("old", old), ("new", new))}
        if mean["new"] <= mean["old"]:
            print(f"{final_name} ({mean['new']:.1f}%) does not beat the old recipe ({mean['old']:.1f}%) in CV over both corpora: not shipping")
            return 1

    train = data.rows(train_corpora, CV_FOLDS)
    net, norm = train_model(final, [features[i] for i in train], data.labels[train], names, args.seed, data.corpus[train])
    metrics: dict = {"cv": cv, "cv_seeds": seeds}
    # The dev actors/speakers (fold 4) are scored once, here, for the shipped model only.
    for corpus in both:
        dev = data.rows([corpus], [4])
        dev_features = [features[i] for i in dev]
        probabilities = predict(net, norm, dev_features, 0, names)
        predicted = decide(probabilities, CORPUS_CLASSES[corpus])
        augmented = np.concatenate([
            decide(predict(net, norm, dev_features, k, names), CORPUS_CLASSES[corpus]) for k in range(1, args.variants + 1)
        ])
        groups = np.array([clips[i].group for i in dev])
        metrics[f"dev_{corpus}"] = {
            **scores(data.labels[dev], predicted),
            "groups": sorted(set(groups)),
            "per_group_accuracy": {g: float((predicted == data.labels[dev])[groups == g].mean()) for g in sorted(set(groups))},
            "confusion": confusion(data.labels[dev], predicted),
            "va": va_scores(probabilities, data.va[dev]),
            "augmented": scores(np.tile(data.labels[dev], args.variants), augmented),
        }
        print(f"dev {corpus} ({', '.join(sorted(set(groups)))}): acc {metrics[f'dev_{corpus}']['accuracy']:.3f} "
              f"UAR {metrics[f'dev_{corpus}']['uar']:.3f}; augmented acc {metrics[f'dev_{corpus}']['augmented']['accuracy']:.3f}")

    if args.ravdess_only:
        data_note = (f"RAVDESS speech actors of folds 0-3 (16 actors, {train.size} clips): the old recipe, as no joint "
                     "RAVDESS+nEMO candidate beat it in CV on both corpora")
    else:
        data_note = (f"RAVDESS speech actors of folds 0-3 (16 actors) + nEMO speakers of folds 0-3 ({train.size} clips; "
                     "nEMO labels mapped to RAVDESS words)")
    data_note += ("; dev = fold 4 (RAVDESS actors 09, 10, 19, 20 and one nEMO speaker), scored once for this model, "
                  "never used for a choice")
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
            "data": data_note,
            "training_corpora": list(train_corpora),
            "label_map_nemo": {"sadness": "sad", "anger": "angry", "happiness": "happy", "fear": "fearful"},
            "trimming": dataclasses.asdict(speech_features.TrimConfig()),
            "augmented_copies_per_clip": args.variants,
            "augmentation": dataclasses.asdict(augment_cfg),
            "train_config": dataclasses.asdict(final.train),
            "seed": args.seed,
            "command": shlex.join(["python", "scripts/train_speech_tower.py", *(sys.argv[1:] if argv is None else argv)]),
        },
        "metrics": metrics,
    }
    args.out.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
    meta["metrics"]["latency_ms_5s_clip"] = measure_latency(args.out, [clips[i] for i in data.rows(["ravdess"], [4])[:2]])
    args.out.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"latency of embed() on a 5 s clip: {meta['metrics']['latency_ms_5s_clip']}", flush=True)
    # Last, as it is only reported: the weights above are usable while this runs.
    meta["metrics"]["cross_corpus"] = {k: v for name in dict.fromkeys(["stats-mlp", final_name]) for k, v in run_cross(name).items()}
    args.out.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB) and {args.out.with_suffix('.json').name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
