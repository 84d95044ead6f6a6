"""The benchmark's report: ``results.json``, a markdown table (``results.md``) and PNG plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from recommender.emotion import EmotionSpace
from recommender.evaluation.benchmark import Benchmark
from recommender.evaluation.scoring import RETRIEVAL_METRICS
from recommender.training import corpus_vocabulary

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def music_labels(benchmark: Benchmark) -> list[str]:
    """The pool's label vocabulary, corpus by corpus (the labels relevance is judged against)."""
    dev = benchmark.dev
    corpora = dict.fromkeys(dev.music.corpora)
    return list(dict.fromkeys(label for corpus in corpora for label in corpus_vocabulary(corpus, dev.music.labels)))


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
            + " | ".join(" / ".join(_short(per_class[label][m]) for m in RETRIEVAL_METRICS) for label in labels)
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
    """The VA plane, the speech x music label similarity and the joint space (PCA) as PNG files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    space = EmotionSpace.default()
    dev = benchmark.dev
    speech_labels = list(dict.fromkeys(dev.speech.labels))
    pool_labels = music_labels(benchmark)
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
    for labels, marker, colour in ((speech_labels, "o", "tab:red"), (pool_labels, "s", "tab:green")):
        points = space.va_matrix(labels)
        axes.scatter(*points.T, marker=marker, color=colour, s=40, zorder=4)
        for label, (v, a) in zip(labels, points):
            axes.annotate(label, (v, a), fontsize=8, xytext=(3, 3), textcoords="offset points")
    axes.set(xlim=(0, 1.05), ylim=(0, 1.05), xlabel="valence", ylabel="arousal", title="Emotion labels and music on the VA plane")
    if best is not None:
        axes.legend(loc="lower right", fontsize=8)
    paths.append(_save(figure, out_dir / "va_plane.png"))

    # 2. Speech x music label similarity (the paper's Fig. 3).
    matrix = space.similarity_matrix(speech_labels, pool_labels)
    figure, axes = plt.subplots(figsize=(1.0 + 0.6 * len(pool_labels), 1.0 + 0.5 * len(speech_labels)))
    image = axes.imshow(matrix, cmap="viridis")
    axes.set_xticks(range(len(pool_labels)), pool_labels, rotation=45, ha="right")
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
            rows = [i for i, heard in enumerate(dev.speech.labels) if heard == label]
            axes.scatter(*projected[rows].T, s=12, color=colours[label], alpha=0.6, label=f"speech: {label}")
            rows = [n + i for i, nearest in enumerate(music_as_speech) if nearest == label]
            if rows:
                axes.scatter(*projected[rows].T, s=40, marker="^", color=colours[label], edgecolors="black", linewidths=0.5)
        axes.set(title=f"Joint space, PCA ({best.name}); triangles = music coloured by nearest speech label", xlabel="PC1", ylabel="PC2")
        axes.title.set_fontsize(9)
        axes.legend(fontsize=7, markerscale=1.5)
        paths.append(_save(figure, out_dir / "joint_space.png"))
    return paths


def _save(figure: Figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    import matplotlib.pyplot as plt

    plt.close(figure)
    return path
