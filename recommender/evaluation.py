"""Speech-to-music retrieval benchmark (CLI: ``undertone evaluate``).

Any labelled speech set queries any labelled music pool (corpus names from :mod:`recommender.data`, or
CSV files with ``path,label[,valence,arousal]``). Every query ranks the whole pool by cosine similarity
in the joint space; :mod:`recommender.metrics` scores the rankings. Relevance follows Doh et al.
(ICASSP 2023): binary = the music label is the speech label's most similar label in that music
corpus' vocabulary; graded = VA similarity of the speech label and the music's VA.

In the same run, baselines train on the train split over several seeds: ``random`` (a random ranking),
``va_regression`` (heads trained with regression losses only; rank by distance of predicted VA), and
the metric-learning variants of :mod:`recommender.losses`. Results go to ``results.json``,
``results.md`` and PNG plots in the output directory. The ``undertone evaluate`` command lives in
:mod:`recommender.model_cli`.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from recommender.data import CORPORA, LabelledClip, music_fold
from recommender.emotion import EmotionSpace, pairwise_va_similarity
from recommender.features import FeatureCache
from recommender.heads import EmotionHeads
from recommender.metrics import RetrievalScores, accuracy, regression_scores, retrieval_scores
from recommender.model import EmotionModel
from recommender.model_cli import DEFAULT_VARIANTS
from recommender.training import FeatureSet, corpus_vocabulary, TrainConfig, TrainingData, Towers, load_features, load_training_data, train_heads

logger = logging.getLogger(__name__)

RETRIEVAL_METRICS = ("MRR", "P@5", "nDCG@5")


# -- data ---------------------------------------------------------------------------------------------


def load_csv_pool(path: Path, space: EmotionSpace) -> list[LabelledClip]:
    """Clips listed in a CSV with columns ``path,label[,valence,arousal]`` (paths relative to the CSV)."""
    clips = []
    with Path(path).open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"path", "label"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: needs columns path,label[,valence,arousal]; missing {sorted(missing)}")
        for row in reader:
            audio = Path(row["path"])
            audio = audio if audio.is_absolute() else Path(path).parent / audio
            if row.get("valence") not in (None, "") and row.get("arousal") not in (None, ""):
                valence, arousal = float(row["valence"]), float(row["arousal"])
            else:
                valence, arousal = space.va(row["label"])
            clips.append(LabelledClip(audio, row["label"], float(valence), float(arousal), str(audio), "dev", Path(path).stem))
    return clips


def load_pool(spec: str, split: str | None, tower, *, space: EmotionSpace, data_dir: Path | None, cache: FeatureCache) -> FeatureSet:
    """Features of a corpus (by name, one split) or of a CSV file (all rows)."""
    if spec in CORPORA:
        return load_features(tower, [spec], split, data_dir=data_dir, cache=cache)
    clips = load_csv_pool(Path(spec), space)
    features, kept = cache.embed_files(tower, [clip.path for clip in clips], description=Path(spec).name)
    return FeatureSet(features, [clips[i] for i in kept])


def relevance(speech: Sequence[LabelledClip], music: Sequence[LabelledClip], space: EmotionSpace) -> tuple[np.ndarray, np.ndarray]:
    """Binary and graded relevance ``(n_speech, n_music)``.

    Binary: the music label is the speech label's most similar label within the music corpus'
    vocabulary (:func:`~recommender.training.corpus_vocabulary`: e.g. GEMS-9 for Emotify, even where
    the pool lacks some of its labels, whose queries then have no binary score; for a CSV pool the labels
    present, placed at their own VA when they are not emotion words). Graded: ``1 - distance`` between
    the speech label's VA and the music's VA.
    """
    present: dict[str, list[LabelledClip]] = {}
    for clip in music:
        present.setdefault(clip.corpus, []).append(clip)
    target = {}
    for corpus, clips in present.items():
        words = corpus_vocabulary(corpus, [clip.label for clip in clips])
        points = np.stack([_label_va(word, clips, space) for word in words])
        for label in {clip.label for clip in speech}:
            target[(label, corpus)] = words[int(np.argmax(pairwise_va_similarity(space.va(label)[None], points)[0]))]
    relevant = np.array([[m.label == target[(s.label, m.corpus)] for m in music] for s in speech], dtype=bool)
    speech_va = np.array([(c.valence, c.arousal) for c in speech])
    music_va = np.array([(c.valence, c.arousal) for c in music])
    return relevant, pairwise_va_similarity(speech_va, music_va)


def _label_va(word: str, clips: Sequence[LabelledClip], space: EmotionSpace) -> np.ndarray:
    """A label's VA point: the emotion space's, or (a CSV label that is not an emotion word) its clips' mean."""
    if word in space:
        return space.va(word)
    return np.mean([(clip.valence, clip.arousal) for clip in clips if clip.label == word], axis=0)


@dataclass
class EvalSet:
    """Dev speech queries, the music pool and their relevance."""

    speech: FeatureSet
    music: FeatureSet
    relevant: np.ndarray
    gains: np.ndarray

    @classmethod
    def build(cls, speech: FeatureSet, music: FeatureSet, space: EmotionSpace) -> "EvalSet":
        relevant, gains = relevance(speech.clips, music.clips, space)
        return cls(speech, music, relevant, gains)

    @property
    def judged(self) -> np.ndarray:
        """Queries with a relevant track in the pool (the only ones MRR and P@k count)."""
        return self.relevant.any(axis=1)

    def unjudged_labels(self) -> list[str]:
        """Query labels whose best-matching music label is missing from the pool."""
        return sorted({label for label, ok in zip(self.speech.labels, self.judged) if not ok})

    @classmethod
    def pool(cls, sets: Sequence["EvalSet"]) -> "EvalSet":
        """Independent evaluations side by side: queries and pools stacked, relevance block-diagonal."""
        relevant = np.zeros((sum(len(s.speech.clips) for s in sets), sum(len(s.music.clips) for s in sets)), bool)
        gains = np.zeros(relevant.shape)
        row = col = 0
        for s in sets:
            rows, cols = s.relevant.shape
            relevant[row:row + rows, col:col + cols], gains[row:row + rows, col:col + cols] = s.relevant, s.gains
            row, col = row + rows, col + cols
        return cls(FeatureSet.concat([s.speech for s in sets]), FeatureSet.concat([s.music for s in sets]), relevant, gains)


# -- scoring ------------------------------------------------------------------------------------------


@dataclass
class HeadOutputs:
    speech_embedding: np.ndarray
    speech_va: np.ndarray
    speech_probabilities: np.ndarray
    music_embedding: np.ndarray
    music_va: np.ndarray


@torch.inference_mode()
def run_heads(heads: EmotionHeads, data: EvalSet) -> HeadOutputs:
    heads.eval()
    s_emb, s_va, s_logits = heads.speech(torch.as_tensor(data.speech.features))
    m_emb, m_va, _ = heads.music(torch.as_tensor(data.music.features))
    return HeadOutputs(s_emb.numpy(), s_va.numpy(), torch.softmax(s_logits, -1).numpy(), m_emb.numpy(), m_va.numpy())


def embedding_scores(outputs: HeadOutputs) -> np.ndarray:
    return outputs.speech_embedding @ outputs.music_embedding.T


def va_scores(outputs: HeadOutputs) -> np.ndarray:
    """Negative euclidean distance between predicted speech VA and predicted music VA."""
    return pairwise_va_similarity(outputs.speech_va, outputs.music_va)


@dataclass
class RunResult:
    """One trained (or random) ranker on the dev data."""

    retrieval: RetrievalScores
    extra: dict[str, float] = field(default_factory=dict)
    outputs: HeadOutputs | None = None


def score_heads(heads: EmotionHeads, data: EvalSet, speech_labels: Sequence[str], *, rank_by: str = "embedding") -> RunResult:
    """Retrieval metrics plus the heads' speech-emotion accuracy and music VA regression."""
    outputs = run_heads(heads, data)
    scores = embedding_scores(outputs) if rank_by == "embedding" else va_scores(outputs)
    extra = {
        "speech_accuracy": accuracy(np.array(speech_labels)[outputs.speech_probabilities.argmax(1)], data.speech.labels),
        **music_va_scores(outputs.music_va, data.music.va, data.music.corpora),
    }
    return RunResult(retrieval_scores(scores, data.relevant, data.gains), extra, outputs)


def music_va_scores(predicted: np.ndarray, target: np.ndarray, corpora: Sequence[str]) -> dict[str, float]:
    """MAE and R^2 of predicted music VA per corpus and axis, keyed ``{corpus}_{axis}_{metric}``."""
    corpora = np.asarray(corpora)
    scores = {}
    for corpus in dict.fromkeys(corpora.tolist()):
        rows = corpora == corpus
        for axis, name in enumerate(("valence", "arousal")):
            for metric, value in regression_scores(predicted[rows, axis], target[rows, axis]).items():
                scores[f"{corpus}_{name}_{metric}"] = value
    return scores


def random_result(data: EvalSet, seed: int) -> RunResult:
    scores = np.random.default_rng(seed).random(data.relevant.shape)
    return RunResult(retrieval_scores(scores, data.relevant, data.gains))


# -- the benchmark ------------------------------------------------------------------------------------


@dataclass
class VariantResult:
    name: str
    runs: list[RunResult]

    def summary(self) -> dict[str, dict[str, float]]:
        """Metric -> {mean, std} over seeds."""
        table: dict[str, list[float]] = {}
        for run in self.runs:
            for key, value in {**run.retrieval.mean(), **run.extra}.items():
                table.setdefault(key, []).append(value)
        return {key: {"mean": float(np.mean(v)), "std": float(np.std(v))} for key, v in table.items()}

    def per_class(self, labels: Sequence[str]) -> dict[str, dict[str, float]]:
        """Query label -> metric means over seeds."""
        rows: dict[str, dict[str, list[float]]] = {}
        for run in self.runs:
            for label, metrics in run.retrieval.by_class(list(labels)).items():
                for key, value in metrics.items():
                    rows.setdefault(label, {}).setdefault(key, []).append(value)
        return {label: {k: float(np.mean(v)) for k, v in metrics.items()} for label, metrics in rows.items()}


def train_variant(name: str, config: TrainConfig, data: TrainingData, seed: int, progress: bool) -> EmotionHeads:
    loss = "none" if name == "va_regression" else name
    return train_heads(config.replace(loss=loss, seed=seed), data.model_config, data.speech, data.music, data.tag_tower, progress=progress).heads


def run_variant(
    name: str, config: TrainConfig, train_data: TrainingData | None, devs: Sequence[EvalSet], seeds: Sequence[int], progress: bool = True
) -> list[VariantResult]:
    """One ranker over ``seeds``, scored on each dev set (heads train once per seed); one result per dev set."""
    if name == "random":
        return [VariantResult(name, [random_result(dev, seed) for seed in seeds]) for dev in devs]
    assert train_data is not None
    runs: list[list[RunResult]] = [[] for _ in devs]
    for seed in seeds:
        heads = train_variant(name, config, train_data, seed, progress)
        for dev, dev_runs in zip(devs, runs):
            dev_runs.append(score_heads(heads, dev, train_data.model_config.speech_labels, rank_by="va" if name == "va_regression" else "embedding"))
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


def speech_tower_accuracy(tower, clips: Sequence[LabelledClip]) -> float | None:
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
    progress: bool = True,
) -> list[Benchmark]:
    """Train every variant on the train split for each seed and score it on ``speech`` x each music pool.

    Each variant's heads train once per seed and are scored on every pool. ``train_data`` (from
    :func:`~recommender.training.load_training_data` with ``config``) saves loading features again.
    """
    space = EmotionSpace.default()
    cache = FeatureCache()
    if train_data is None and any(v != "random" for v in variants):
        train_data = load_training_data(config, data_dir=data_dir, cache=cache)
    if train_data is not None:
        towers = train_data.towers
    else:
        towers = Towers(model.config if model is not None else config.model_config())
    devs = [build_dev_set(towers, speech, pool, split, space, data_dir, cache) for pool in pools]
    results: list[list[VariantResult]] = [[] for _ in pools]
    for name in variants:
        logger.info("variant %s", name)
        for pool_results, result in zip(results, run_variant(name, config, train_data, devs, seeds, progress)):
            pool_results.append(result)
    tower_accuracy = speech_tower_accuracy(towers["speech"], devs[0].speech.clips) if train_data is not None else None
    benchmarks = []
    for pool, dev, pool_results in zip(pools, devs, results):
        if model is not None:
            model_dev = dev if train_data is None else build_dev_set(Towers(model.config), speech, pool, split, space, data_dir, cache)
            pool_results.append(VariantResult("model", [score_heads(model.heads, model_dev, model.config.speech_labels)]))
        setup = {
            "speech": speech, "music": list(pool), "split": split, "seeds": list(seeds),
            "queries": len(dev.speech.clips), "judged_queries": int(dev.judged.sum()), "pool": len(dev.music.clips),
            "train_config": config.to_dict(), "model_fingerprint": model.fingerprint if model is not None else None,
        }
        benchmarks.append(Benchmark(pool_results, dev, setup, tower_accuracy))
    return benchmarks


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
    """Track-independent k-fold estimate over a whole music corpus.

    A small dev pool (28 Emotify tracks) makes noisy estimates. Here every fold of ``corpus`` (all its
    clips, train and dev split; folds from :func:`~recommender.data.music_fold`) is in turn the pool: the
    heads train on the other folds (plus the train split of any other music corpus in ``config``) and
    the dev speech queries rank the held-out fold. Per-query scores of all folds are pooled, so MRR,
    P@5 and nDCG@5 are over ``folds x queries`` rankings; music VA regression is scored on every clip
    of the corpus, each predicted by heads that never saw it. Speech queries stay the dev speakers (the
    speech tower was trained on the train speakers).
    """
    space, cache = EmotionSpace.default(), FeatureCache()
    if train_data is None and any(v != "random" for v in variants):
        train_data = load_training_data(config, data_dir=data_dir, cache=cache)
    towers = train_data.towers if train_data is not None else Towers(config.model_config())
    queries = load_pool(speech, "dev", towers["speech"], space=space, data_dir=data_dir, cache=cache)
    music = load_features(towers["music"], [corpus], None, data_dir=data_dir, cache=cache)
    fold_of = np.array([music_fold(clip, folds) for clip in music.clips])
    devs = [EvalSet.build(queries, music.subset(np.flatnonzero(fold_of == fold)), space) for fold in range(folds)]
    runs: dict[str, list[list[RunResult]]] = {name: [[] for _ in seeds] for name in variants}
    for fold, dev in enumerate(devs):
        logger.info("fold %d of %s: %d held-out clips", fold, corpus, len(dev.music.clips))
        fold_data = None
        if train_data is not None:
            others = [i for i, clip in enumerate(train_data.music.clips) if clip.corpus != corpus]
            fold_music = FeatureSet.concat([train_data.music.subset(others), music.subset(np.flatnonzero(fold_of != fold))])
            fold_data = dataclasses.replace(train_data, music=fold_music)
        for name in variants:
            for seed_runs, result in zip(runs[name], run_variant(name, config, fold_data, [dev], seeds, progress)[0].runs):
                seed_runs.append(result)
    pooled = EvalSet.pool(devs)
    results = [VariantResult(name, [_pool_runs(fold_runs, devs) for fold_runs in per_seed]) for name, per_seed in runs.items()]
    tower_accuracy = speech_tower_accuracy(towers["speech"], queries.clips) if train_data is not None else None
    setup = {
        "speech": speech, "music": [corpus], "split": "dev", "seeds": list(seeds), "folds": folds,
        "queries": len(queries.clips), "judged_queries": int(pooled.judged.sum()), "pool": len(music.clips),
        "train_config": config.to_dict(), "model_fingerprint": None,
    }
    return Benchmark(results, pooled, setup, tower_accuracy)


def _pool_runs(runs: Sequence[RunResult], devs: Sequence[EvalSet]) -> RunResult:
    """One seed's fold results as one run: per-query scores concatenated, music VA scored on all folds."""
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
    return RunResult(scores, extra)


def build_dev_set(
    towers: Towers, speech: str, music: Sequence[str], split: str, space: EmotionSpace, data_dir: Path | None, cache: FeatureCache
) -> EvalSet:
    """Queries from ``speech`` against the pool of all ``music`` (corpus names or CSVs), featurised by ``towers``."""
    speech_set = load_pool(speech, split, towers["speech"], space=space, data_dir=data_dir, cache=cache)
    music_set = FeatureSet.concat([load_pool(m, split, towers["music"], space=space, data_dir=data_dir, cache=cache) for m in music])
    return EvalSet.build(speech_set, music_set, space)


# -- reports ------------------------------------------------------------------------------------------


def markdown_table(benchmark: Benchmark) -> str:
    """The retrieval table (mean +- std over seeds) and the heads' auxiliary metrics."""
    setup = benchmark.setup
    lines = [
        f"Speech `{setup['speech']}` ({setup['queries']} queries, split `{setup['split']}`) -> music "
        f"`{', '.join(setup['music'])}` (pool of {setup['pool']}); mean +- std over seeds {setup['seeds']}.",
        "",
    ]
    if setup.get("folds"):
        lines[0] = (
            f"Speech `{setup['speech']}` ({setup['queries']} queries, split `{setup['split']}`) -> music `{', '.join(setup['music'])}`, "
            f"{setup['folds']}-fold cross-validation over all {setup['pool']} clips (each fold ranked by heads trained without it; "
            f"{setup['folds'] * setup['queries']} rankings per seed); mean +- std over seeds {setup['seeds']}."
        )
    unjudged = benchmark.dev.unjudged_labels()
    if unjudged:
        lines += [
            f"MRR and P@5 are over the {int(benchmark.dev.judged.sum())} query rankings with a relevant track in their pool: the best-matching "
            f"label of {', '.join(unjudged)} is missing from (some) pools (nDCG@5 covers every query).",
            "",
        ]
    lines += [
        "| variant | " + " | ".join(RETRIEVAL_METRICS) + " | speech acc. | " + " | ".join(_va_columns(benchmark)) + " |",
        "| --- | " + " | ".join("---" for _ in RETRIEVAL_METRICS) + " | --- | " + " | ".join("---" for _ in _va_columns(benchmark)) + " |",
    ]
    for variant in benchmark.variants:
        summary = variant.summary()
        cells = [_cell(summary, metric) for metric in RETRIEVAL_METRICS]
        cells.append(_cell(summary, "speech_accuracy"))
        cells += [_cell(summary, column) for column in _va_columns(benchmark)]
        lines.append(f"| {variant.name} | " + " | ".join(cells) + " |")
    if benchmark.speech_tower_accuracy is not None:
        lines += ["", f"Speech tower's own classifier, accuracy on the queries: {benchmark.speech_tower_accuracy:.3f}."]
    lines += ["", "Per query class (MRR / P@5 / nDCG@5, mean over seeds):", ""]
    labels = list(dict.fromkeys(benchmark.dev.speech.labels))
    lines.append("| variant | " + " | ".join(labels) + " |")
    lines.append("| --- | " + " | ".join("---" for _ in labels) + " |")
    for variant in benchmark.variants:
        per_class = variant.per_class(benchmark.dev.speech.labels)
        lines.append(
            f"| {variant.name} | "
            + " | ".join(" / ".join(_short(per_class[l][m]) for m in RETRIEVAL_METRICS) for l in labels)
            + " |"
        )
    return "\n".join(lines) + "\n"


def _va_columns(benchmark: Benchmark) -> list[str]:
    corpora = list(dict.fromkeys(benchmark.dev.music.corpora))
    return [f"{corpus}_{axis}_{metric}" for corpus in corpora for axis in ("valence", "arousal") for metric in ("MAE", "R2")]


def _short(value: float) -> str:
    return "-" if np.isnan(value) else f"{value:.2f}"


def _cell(summary: dict[str, dict[str, float]], key: str) -> str:
    if key not in summary:
        return "-"
    return f"{summary[key]['mean']:.3f} +- {summary[key]['std']:.3f}"


def write_report(benchmark: Benchmark, out_dir: Path) -> list[Path]:
    """``results.json``, ``results.md`` and the plots; returns the written paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "results.json", out_dir / "results.md"]
    written[0].write_text(json.dumps(benchmark.to_dict(), indent=2) + "\n", encoding="utf-8")
    written[1].write_text(markdown_table(benchmark), encoding="utf-8")
    written += write_plots(benchmark, out_dir)
    return written


def write_plots(benchmark: Benchmark, out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    space = EmotionSpace.default()
    dev = benchmark.dev
    speech_labels = list(dict.fromkeys(dev.speech.labels))
    music_labels = [label for corpus in dict.fromkeys(dev.music.corpora) for label in corpus_vocabulary(corpus, dev.music.labels)]
    paths = []

    # 1. The VA plane: labels, and the pool's true vs predicted VA (best trained variant, first seed).
    figure, axes = plt.subplots(figsize=(7, 6))
    best = benchmark.best() if any(v.runs and v.runs[0].outputs is not None for v in benchmark.variants) else None
    if best is not None:
        predicted = best.runs[0].outputs.music_va
        for (tv, ta), (pv, pa) in zip(dev.music.va, predicted):
            axes.plot([tv, pv], [ta, pa], color="0.8", linewidth=0.6, zorder=1)
        axes.scatter(*dev.music.va.T, s=14, facecolors="none", edgecolors="tab:blue", label="music: annotated VA", zorder=2)
        axes.scatter(*predicted.T, s=14, color="tab:orange", label=f"music: predicted VA ({best.name})", zorder=3)
    for labels, marker, colour in ((speech_labels, "o", "tab:red"), (music_labels, "s", "tab:green")):
        points = space.va_matrix(labels)
        axes.scatter(*points.T, marker=marker, color=colour, s=40, zorder=4)
        for label, (v, a) in zip(labels, points):
            axes.annotate(label, (v, a), fontsize=8, xytext=(3, 3), textcoords="offset points")
    axes.set(xlim=(0, 1.05), ylim=(0, 1.05), xlabel="valence", ylabel="arousal", title="Emotion labels and music on the VA plane")
    if best is not None:
        axes.legend(loc="lower right", fontsize=8)
    paths.append(_save(figure, out_dir / "va_plane.png"))

    # 2. Speech x music label similarity (the paper's Fig. 3).
    matrix = space.similarity_matrix(speech_labels, music_labels)
    figure, axes = plt.subplots(figsize=(1.0 + 0.6 * len(music_labels), 1.0 + 0.5 * len(speech_labels)))
    image = axes.imshow(matrix, cmap="viridis")
    axes.set_xticks(range(len(music_labels)), music_labels, rotation=45, ha="right")
    axes.set_yticks(range(len(speech_labels)), speech_labels)
    for (i, j), value in np.ndenumerate(matrix):
        axes.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7, color="white" if value < 0.6 else "black")
    figure.colorbar(image, ax=axes, label="1 - VA distance")
    axes.set_title("Speech x music label similarity")
    paths.append(_save(figure, out_dir / "label_similarity.png"))

    # 3. The joint space (PCA to 2-D) of the best variant: speech queries and music by nearest speech label.
    if best is not None:
        outputs = best.runs[0].outputs
        points = np.concatenate([outputs.speech_embedding, outputs.music_embedding])
        centred = points - points.mean(0)
        _, _, components = np.linalg.svd(centred, full_matrices=False)
        projected = centred @ components[:2].T
        n = len(outputs.speech_embedding)
        music_as_speech = [space.nearest_label(point, speech_labels) for point in dev.music.va]
        colours = {label: plt.get_cmap("tab10")(i % 10) for i, label in enumerate(speech_labels)}
        figure, axes = plt.subplots(figsize=(7, 6))
        for label in speech_labels:
            rows = [i for i, l in enumerate(dev.speech.labels) if l == label]
            axes.scatter(*projected[rows].T, s=12, color=colours[label], alpha=0.6, label=f"speech: {label}")
            rows = [n + i for i, l in enumerate(music_as_speech) if l == label]
            if rows:
                axes.scatter(*projected[rows].T, s=40, marker="^", color=colours[label], edgecolors="black", linewidths=0.5)
        axes.set(title=f"Joint space, PCA ({best.name}); triangles = music coloured by nearest speech label", xlabel="PC1", ylabel="PC2")
        axes.title.set_fontsize(9)
        axes.legend(fontsize=7, markerscale=1.5)
        paths.append(_save(figure, out_dir / "joint_space.png"))
    return paths


def _save(figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    import matplotlib.pyplot as plt

    plt.close(figure)
    return path
