"""The retrieval benchmark of :mod:`recommender.evaluation`, run step by step so a page can show progress.

It scores the dashboard's own emotion model (the one that serves searches) on a labelled speech set
against a labelled music pool, next to baselines, and returns the same
:class:`~recommender.evaluation.Benchmark` that ``undertone evaluate`` reports. Features are computed
in small chunks through the shared on-disk feature cache, so the progress bar moves per file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from recommender.cli import UserFacingError
from recommender.data import CORPORA, LabelledClip, load_corpus
from recommender.emotion import LABEL_SETS, EmotionSpace
from recommender.evaluation import Benchmark, EvalSet, VariantResult, load_csv_pool, random_result, score_heads, train_variant
from recommender.features import FeatureCache
from recommender.model import EmotionModel
from recommender.towers.base import Tower
from recommender.training import FeatureSet, TrainConfig, load_training_data

Progress = Callable[[float, str], None]
"""``progress(fraction, message)`` with ``fraction`` in [0, 1]."""

CHUNK = 8  # files per feature-extraction step
TRAINED_BASELINES = ("va_regression", "triplet", "triplet_sp", "triplet_emosim")


@dataclass(frozen=True)
class BenchmarkRequest:
    """What to evaluate.

    Attributes:
        speech: Speech corpus name (``recommender.data.SPEECH_CORPORA``) or a CSV ``path,label[,valence,arousal]``.
        music: Music corpus names or CSV files forming the pool.
        split: Split of named corpora to query and rank (``dev`` is held out from training).
        baselines: ``random`` and/or trained variants (trained on the train split first).
        seeds: Runs per baseline (mean and spread are reported).
        train_config: Training config of trained baselines (name or JSON file).
    """

    speech: str
    music: tuple[str, ...]
    split: str = "dev"
    baselines: tuple[str, ...] = ("random",)
    seeds: int = 3
    train_config: str = "default"


def run_benchmark(
    model: EmotionModel,
    request: BenchmarkRequest,
    *,
    data_dir: Path | None = None,
    cache: FeatureCache | None = None,
    progress: Progress | None = None,
) -> Benchmark:
    """Score ``model`` and the requested baselines on ``request``'s speech queries and music pool."""
    if not request.music:
        raise UserFacingError("choose at least one music pool")
    unknown = [name for name in request.baselines if name != "random" and name not in TRAINED_BASELINES]
    if unknown:
        raise UserFacingError(f"unknown baseline(s) {unknown}; known: random, {', '.join(TRAINED_BASELINES)}")
    space = EmotionSpace.default()
    cache = cache or FeatureCache()
    report = progress or (lambda fraction, message: None)
    speech_clips = _clips(request.speech, request.split, space, data_dir)
    music_clips = [clip for spec in request.music for clip in _clips(spec, request.split, space, data_dir)]
    trained = [name for name in request.baselines if name in TRAINED_BASELINES]
    seeds = tuple(range(request.seeds))
    # Progress units: one per file embedded (twice when baselines use other towers), one per run.
    steps = _Steps(report, len(speech_clips) + len(music_clips) + 1 + len(seeds) * len(request.baselines) + (1 if trained else 0))

    dev = _eval_set(model.speech_tower, model.music_tower, speech_clips, music_clips, space, cache, steps)
    steps.advance(1, "scoring the model")
    variants = [VariantResult("model", [score_heads(model.heads, dev, model.config.speech_labels)])]
    if "random" in request.baselines:
        variants.append(VariantResult("random", [random_result(dev, seed) for seed in seeds]))
        steps.advance(len(seeds), "random baseline")
    if trained:
        steps.advance(0, "loading the training split (first run: minutes)")
        config = TrainConfig.from_file(request.train_config)
        train_data = load_training_data(config, data_dir=data_dir, cache=cache)
        steps.advance(1, "training data ready")
        towers = train_data.towers
        baseline_dev = dev
        same_towers = all(cache.directory(towers[m]) == cache.directory(getattr(model, f"{m}_tower")) for m in ("speech", "music"))
        if not same_towers:
            steps.total += len(speech_clips) + len(music_clips)
            baseline_dev = _eval_set(towers["speech"], towers["music"], speech_clips, music_clips, space, cache, steps)
        for name in trained:
            runs = []
            for seed in seeds:
                steps.advance(0, f"training {name}, seed {seed}")
                heads = train_variant(name, config, train_data, seed, progress=False)
                rank_by = "va" if name == "va_regression" else "embedding"
                runs.append(score_heads(heads, baseline_dev, train_data.model_config.speech_labels, rank_by=rank_by))
                steps.advance(1, f"{name}, seed {seed} done")
            variants.append(VariantResult(name, runs))
    setup = {
        "speech": request.speech, "music": list(request.music), "split": request.split, "seeds": list(seeds),
        "queries": len(dev.speech.clips), "pool": len(dev.music.clips), "model_fingerprint": model.fingerprint,
    }
    report(1.0, "done")
    return Benchmark(variants, dev, setup)


def music_labels(benchmark: Benchmark) -> list[str]:
    """The pool's label vocabulary, corpus by corpus (as in the paper's similarity figure)."""
    dev = benchmark.dev
    return list(dict.fromkeys(
        label for corpus in dict.fromkeys(dev.music.corpora) for label in LABEL_SETS.get(corpus, sorted(set(dev.music.labels)))
    ))


class _Steps:
    def __init__(self, report: Progress, total: int) -> None:
        self.report, self.total, self.done = report, max(total, 1), 0

    def advance(self, units: int, message: str) -> None:
        self.done += units
        self.report(min(self.done / self.total, 0.99), message)


def _clips(spec: str, split: str, space: EmotionSpace, data_dir: Path | None) -> list[LabelledClip]:
    if spec in CORPORA:
        return load_corpus(spec, split, data_dir)  # type: ignore[arg-type]
    path = Path(spec).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{spec} is neither a corpus ({', '.join(sorted(CORPORA))}) nor a CSV file")
    return load_csv_pool(path, space)


def _features(tower: Tower, clips: Sequence[LabelledClip], what: str, cache: FeatureCache, steps: _Steps) -> FeatureSet:
    vectors, kept = [], []
    for start in range(0, len(clips), CHUNK):
        chunk = clips[start:start + CHUNK]
        features, indices = cache.embed_files(tower, [clip.path for clip in chunk], description=what)
        vectors.append(features)
        kept += [start + index for index in indices]
        steps.advance(len(chunk), f"{what}: {min(start + CHUNK, len(clips))}/{len(clips)} files")
    if not kept:
        raise UserFacingError(f"none of the {len(clips)} {what} files could be read as audio")
    return FeatureSet(np.concatenate(vectors), [clips[index] for index in kept])


def _eval_set(
    speech_tower: Tower, music_tower: Tower, speech_clips: Sequence[LabelledClip], music_clips: Sequence[LabelledClip],
    space: EmotionSpace, cache: FeatureCache, steps: _Steps,
) -> EvalSet:
    speech = _features(speech_tower, speech_clips, "speech", cache, steps)
    music = _features(music_tower, music_clips, "music", cache, steps)
    return EvalSet.build(speech, music, space)
