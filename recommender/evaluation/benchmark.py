"""Speech-to-music retrieval benchmark (CLI: ``undertone evaluate``; the dashboard's Evaluation page).

Any labelled speech set queries any labelled music pool (:mod:`.dataset`). In the same run, baselines
train on the train split over several seeds: ``random`` (a random ranking), ``va_regression`` (heads
trained with regression losses only; rank by distance of predicted VA), and the metric-learning
variants of :mod:`recommender.losses`; a saved model can be scored next to them. :mod:`.report` writes
the results.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recommender.data import LabelledClip, music_fold
from recommender.emotion import EmotionSpace
from recommender.errors import UsageError
from recommender.evaluation.dataset import EvalSet, Progress, Steps, TowerSet, build_dev_set, load_pool
from recommender.evaluation.scoring import RunResult, VariantResult, music_mood_scores, music_va_scores, random_result, score_heads
from recommender.features import FeatureCache
from recommender.heads import EmotionHeads
from recommender.losses import LOSSES
from recommender.metrics import RetrievalScores, accuracy
from recommender.model import EmotionModel
from recommender.towers.base import Tower
from recommender.training import FeatureSet, Towers, TrainConfig, TrainingData, load_features, load_training_data, train_heads

logger = logging.getLogger(__name__)

DEFAULT_VARIANTS = ("random", "va_regression", "triplet", "triplet_sp", "triplet_emosim")
"""What ``undertone evaluate`` compares by default."""
TRAINED_VARIANTS = DEFAULT_VARIANTS[1:]
"""The default baselines that train heads first (the dashboard offers these)."""


def check_variants(variants: Sequence[str]) -> None:
    """Refuse unknown variant names before any data is loaded.

    Raises:
        UsageError: A name that is neither ``random``, ``va_regression`` nor a loss of :mod:`recommender.losses`.
    """
    known = ("random", "va_regression", *(loss for loss in LOSSES if loss != "none"))
    unknown = [name for name in variants if name not in known]
    if unknown:
        raise UsageError(f"unknown variant(s) {unknown}; known: {', '.join(known)}")


def train_variant(name: str, config: TrainConfig, data: TrainingData, seed: int, progress: bool) -> EmotionHeads:
    loss = "none" if name == "va_regression" else name
    return train_heads(config.replace(loss=loss, seed=seed), data.model_config, data.speech, data.music, data.tag_tower, progress=progress).heads


def run_variant(
    name: str,
    config: TrainConfig,
    train_data: TrainingData | None,
    devs: Sequence[EvalSet],
    seeds: Sequence[int],
    progress: bool = True,
    steps: Steps | None = None,
) -> list[VariantResult]:
    """One ranker over ``seeds``, scored on each dev set (heads train once per seed); one result per dev set."""
    steps = steps or Steps(None)
    if name == "random":
        results = [VariantResult(name, [random_result(dev, seed) for seed in seeds]) for dev in devs]
        steps.advance(len(seeds), "random baseline")
        return results
    assert train_data is not None
    runs: list[list[RunResult]] = [[] for _ in devs]
    for seed in seeds:
        steps.advance(0, f"training {name}, seed {seed}")
        heads = train_variant(name, config, train_data, seed, progress)
        for dev, dev_runs in zip(devs, runs):
            dev_runs.append(score_heads(
                heads, dev, train_data.model_config.speech_labels, rank_by="va" if name == "va_regression" else "embedding",
                mood_labels=train_data.model_config.mood_labels,
            ))
        steps.advance(1, f"{name}, seed {seed} done")
    return [VariantResult(name, dev_runs) for dev_runs in runs]


@dataclass
class Benchmark:
    """Everything ``undertone evaluate`` reports."""

    variants: list[VariantResult]
    dev: EvalSet
    setup: dict[str, Any]
    speech_tower_accuracy: float | None = None

    def to_dict(self) -> dict[str, Any]:
        labels = self.dev.speech.labels
        return {
            "setup": self.setup,
            "speech_tower_accuracy": self.speech_tower_accuracy,
            "variants": {v.name: {"summary": v.summary(), "per_class": v.per_class(labels), "seeds": len(v.runs)} for v in self.variants},
        }

    def best(self, metric: str = "MRR") -> VariantResult:
        trained = [v for v in self.variants if v.runs and v.runs[0].outputs is not None]
        return max(trained, key=lambda v: v.summary()[metric]["mean"])


def speech_tower_accuracy(tower: Tower, clips: Sequence[LabelledClip]) -> float | None:
    """Accuracy of the speech tower's own classifier, when it has one whose labels cover the clips'."""
    if not hasattr(tower, "emotion_probabilities"):
        return None
    from recommender.audio import load_audio

    predicted = []
    for clip in clips:
        probabilities = tower.emotion_probabilities(load_audio(clip.path, int(tower.sample_rate), max_seconds=None))
        predicted.append(max(probabilities, key=probabilities.get))
    return accuracy(predicted, [clip.label for clip in clips])


def run_benchmark(config: TrainConfig, *, music: Sequence[str] = ("emotify",), **options: Any) -> Benchmark:
    """:func:`run_benchmarks` on one music pool (the corpora or CSVs in ``music`` together)."""
    return run_benchmarks(config, pools=[music], **options)[0]


def run_benchmarks(
    config: TrainConfig,
    *,
    pools: Sequence[Sequence[str]] = (("emotify",),),
    variants: Sequence[str] = DEFAULT_VARIANTS,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    speech: str = "ravdess",
    split: str = "dev",
    model: EmotionModel | None = None,
    data_dir: Path | None = None,
    train_data: TrainingData | None = None,
    cache: FeatureCache | None = None,
    progress: bool = True,
    report: Progress | None = None,
) -> list[Benchmark]:
    """Train every variant on the train split for each seed and score it on ``speech`` x each music pool.

    Each variant's heads train once per seed and are scored on every pool; ``model`` (its heads as
    they are) is scored last, on features of its own towers.

    Args:
        config: Training config of the trained variants.
        pools: Music pools, each one or more corpus names or CSV files ranked together.
        variants: ``random``, ``va_regression`` or losses of :mod:`recommender.losses`.
        seeds: One training run (or random ranking) per seed.
        speech: Query corpus name or CSV.
        split: Split of named corpora to query and rank.
        model: Also score this model.
        data_dir: Labelled corpora (default: the settings').
        train_data: From :func:`~recommender.training.load_training_data` with ``config``: saves loading features again.
        cache: Feature cache (default: the user's).
        progress: Show training progress bars.
        report: Called with ``(fraction done, message)`` per featurised file chunk and per run.

    Raises:
        UsageError: Unknown variants, or a pool none of whose files can be read.
    """
    check_variants(variants)
    space = EmotionSpace.default()
    cache = cache or FeatureCache()
    trained = any(v != "random" for v in variants)
    steps = Steps(report, len(seeds) * len(variants) + (len(pools) if model is not None else 0) + int(trained and train_data is None))
    if train_data is None and trained:
        steps.advance(0, "loading the training split (first run: minutes)")
        train_data = load_training_data(config, data_dir=data_dir, cache=cache)
        steps.advance(1, "training data ready")
    model_towers: TowerSet | None = {"speech": model.speech_tower, "music": model.music_tower} if model is not None else None
    towers: TowerSet = train_data.towers if train_data is not None else model_towers or Towers(config.model_config())
    devs = [build_dev_set(towers, speech, pool, split, space, data_dir, cache, steps) for pool in pools]
    results: list[list[VariantResult]] = [[] for _ in pools]
    for name in variants:
        logger.info("variant %s", name)
        for pool_results, result in zip(results, run_variant(name, config, train_data, devs, seeds, progress, steps)):
            pool_results.append(result)
    tower_accuracy = speech_tower_accuracy(towers["speech"], devs[0].speech.clips) if train_data is not None else None
    benchmarks = []
    for pool, dev, pool_results in zip(pools, devs, results):
        if model is not None and model_towers is not None:
            same = _same_towers(towers, model_towers, cache)
            model_dev = dev if same else build_dev_set(model_towers, speech, pool, split, space, data_dir, cache, steps)
            pool_results.append(VariantResult("model", [score_heads(model.heads, model_dev, model.config.speech_labels)]))
            steps.advance(1, "model scored")
        setup = {
            "speech": speech, "music": list(pool), "split": split, "seeds": list(seeds),
            "queries": len(dev.speech.clips), "judged_queries": int(dev.judged.sum()), "pool": len(dev.music.clips),
            "train_config": config.to_dict(), "model_fingerprint": model.fingerprint if model is not None else None,
        }
        benchmarks.append(Benchmark(pool_results, dev, setup, tower_accuracy))
    if report is not None:
        report(1.0, "done")
    return benchmarks


def _same_towers(a: TowerSet, b: TowerSet, cache: FeatureCache) -> bool:
    """Whether two tower sets make the same features (the cache keys features by tower fingerprint)."""
    return a is b or all(cache.directory(a[m]) == cache.directory(b[m]) for m in ("speech", "music"))


def cross_validate_music(
    config: TrainConfig,
    *,
    corpus: str = "emotify",
    folds: int = 5,
    variants: Sequence[str] = DEFAULT_VARIANTS,
    seeds: Sequence[int] = (0, 1, 2),
    speech: str = "ravdess",
    data_dir: Path | None = None,
    train_data: TrainingData | None = None,
    progress: bool = True,
) -> Benchmark:
    """Track-independent k-fold estimate over a whole music corpus (:func:`cross_validate_pools` with one pool).

    A small dev pool (28 Emotify tracks) makes noisy estimates. Here every fold of ``corpus`` (all its
    clips, train and dev split; folds from :func:`~recommender.data.music_fold`) is in turn the pool: the
    heads train on the other folds (plus the train split of any other music corpus in ``config``) and
    the dev speech queries rank the held-out fold. Per-query scores of all folds are pooled, so MRR,
    P@5 and nDCG@5 are over ``folds x queries`` rankings; music VA regression is scored on every clip
    of the corpus, each predicted by heads that never saw it. Speech queries stay the dev speakers (the
    speech tower was trained on the train speakers).
    """
    return cross_validate_pools(
        config, corpora=(corpus,), folds=folds, variants=variants, seeds=seeds, speech=speech, data_dir=data_dir,
        train_data=train_data, progress=progress,
    )[0]


def cross_validate_pools(
    config: TrainConfig,
    *,
    corpora: Sequence[str] = ("emotify", "moods4q"),
    folds: int = 5,
    variants: Sequence[str] = DEFAULT_VARIANTS,
    seeds: Sequence[int] = (0, 1, 2),
    speech: str = "ravdess",
    data_dir: Path | None = None,
    train_data: TrainingData | None = None,
    progress: bool = True,
    check_speech_tower: bool = True,
) -> list[Benchmark]:
    """:func:`cross_validate_music` over several corpora at once, one :class:`Benchmark` per corpus.

    Fold ``k`` of every corpus is held out together and the heads train once per fold: on the other
    folds of those ``corpora`` that ``config`` trains on (a setup that does not train on a corpus, such as
    an Emotify-only model ranking 4Q, never sees it), plus the train split of ``config``'s other music
    corpora. Each corpus' fold ``k`` is then a pool of its own.

    Args:
        check_speech_tower: Also score the speech tower's own classifier on the queries (decodes them again).
    """
    check_variants(variants)
    space, cache = EmotionSpace.default(), FeatureCache()
    if train_data is None and any(v != "random" for v in variants):
        train_data = load_training_data(config, data_dir=data_dir, cache=cache)
    towers = train_data.towers if train_data is not None else Towers(config.model_config())
    queries = load_pool(speech, "dev", towers["speech"], space=space, data_dir=data_dir, cache=cache)
    musics = [load_features(towers["music"], [corpus], None, data_dir=data_dir, cache=cache) for corpus in corpora]
    fold_ofs = [np.array([music_fold(clip, folds) for clip in music.clips]) for music in musics]
    devs = [[EvalSet.build(queries, music.subset(np.flatnonzero(fold_of == fold)), space) for fold in range(folds)] for music, fold_of in zip(musics, fold_ofs)]
    runs: dict[str, list[list[list[RunResult]]]] = {name: [[[] for _ in seeds] for _ in corpora] for name in variants}
    for fold in range(folds):
        logger.info("fold %d: %s held-out clips", fold, ", ".join(f"{len(d[fold].music.clips)} {c}" for c, d in zip(corpora, devs)))
        fold_data = None
        if train_data is not None:
            others = [i for i, clip in enumerate(train_data.music.clips) if clip.corpus not in corpora]
            held_in = [music.subset(np.flatnonzero(fold_of != fold)) for corpus, music, fold_of in zip(corpora, musics, fold_ofs) if corpus in config.music_corpora]
            fold_data = dataclasses.replace(train_data, music=FeatureSet.concat([train_data.music.subset(others), *held_in]))
        for name in variants:
            for corpus_runs, result in zip(runs[name], run_variant(name, config, fold_data, [d[fold] for d in devs], seeds, progress)):
                for seed_runs, run in zip(corpus_runs, result.runs):
                    seed_runs.append(run)
    mood_labels = train_data.model_config.mood_labels if train_data is not None else ()
    tower_accuracy = speech_tower_accuracy(towers["speech"], queries.clips) if train_data is not None and check_speech_tower else None
    benchmarks = []
    for index, (corpus, music) in enumerate(zip(corpora, musics)):
        pooled = EvalSet.pool(devs[index])
        results = [VariantResult(name, [_pool_runs(fold_runs, devs[index], mood_labels) for fold_runs in runs[name][index]]) for name in variants]
        setup = {
            "speech": speech, "music": [corpus], "split": "dev", "seeds": list(seeds), "folds": folds,
            "queries": len(queries.clips), "judged_queries": int(pooled.judged.sum()), "pool": len(music.clips),
            "train_config": config.to_dict(), "model_fingerprint": None,
        }
        benchmarks.append(Benchmark(results, pooled, setup, tower_accuracy))
    return benchmarks


def _pool_runs(runs: Sequence[RunResult], devs: Sequence[EvalSet], mood_labels: Sequence[str] = ()) -> RunResult:
    """One seed's fold results as one run: per-query scores concatenated, music VA and mood top-1 scored on all folds."""
    scores = RetrievalScores(*(np.concatenate([getattr(r.retrieval, part) for r in runs]) for part in ("mrr", "precision", "ndcg")), runs[0].retrieval.k)
    if runs[0].outputs is None:
        return RunResult(scores)
    extra = {
        "speech_accuracy": float(np.mean([r.extra["speech_accuracy"] for r in runs])),
        **music_va_scores(
            np.concatenate([r.outputs.music_va for r in runs]), np.concatenate([dev.music.va for dev in devs]),
            [corpus for dev in devs for corpus in dev.music.corpora],
        ),
    }
    if runs[0].outputs.music_mood_probabilities is not None:
        extra.update(music_mood_scores(
            np.concatenate([r.outputs.music_mood_probabilities for r in runs]), [clip for dev in devs for clip in dev.music.clips], mood_labels,
        ))
    return RunResult(scores, extra)
