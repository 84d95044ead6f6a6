"""Scoring rankers on an :class:`~recommender.evaluation.dataset.EvalSet`: trained heads, or a random ranking.

Every query ranks the whole pool; :mod:`recommender.metrics` scores the rankings. Trained heads also
report their speech-emotion accuracy, music valence-arousal regression and music mood (GEMS-9) top-1 accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from recommender.data import LabelledClip
from recommender.emotion import pairwise_va_similarity
from recommender.evaluation.dataset import EvalSet
from recommender.heads import EmotionHeads
from recommender.metrics import RetrievalScores, accuracy, regression_scores, retrieval_scores

RETRIEVAL_METRICS = ("MRR", "P@5", "nDCG@5")


@dataclass
class HeadOutputs:
    speech_embedding: np.ndarray
    speech_va: np.ndarray
    speech_probabilities: np.ndarray
    music_embedding: np.ndarray
    music_va: np.ndarray
    music_mood_probabilities: np.ndarray | None = None


@torch.inference_mode()
def run_heads(heads: EmotionHeads, data: EvalSet) -> HeadOutputs:
    heads.eval()
    s_emb, s_va, s_logits = heads.speech(torch.as_tensor(data.speech.features))
    m_emb, m_va, m_logits = heads.music(torch.as_tensor(data.music.features))
    return HeadOutputs(
        s_emb.numpy(), s_va.numpy(), torch.softmax(s_logits, -1).numpy(), m_emb.numpy(), m_va.numpy(), torch.softmax(m_logits, -1).numpy()
    )


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


def score_heads(
    heads: EmotionHeads, data: EvalSet, speech_labels: Sequence[str], *, rank_by: str = "embedding", mood_labels: Sequence[str] = ()
) -> RunResult:
    """Retrieval metrics plus the heads' speech-emotion accuracy, music VA regression and (given ``mood_labels``,
    the mood head's classes) mood top-1 accuracy."""
    outputs = run_heads(heads, data)
    scores = embedding_scores(outputs) if rank_by == "embedding" else va_scores(outputs)
    extra = {
        "speech_accuracy": accuracy(np.array(speech_labels)[outputs.speech_probabilities.argmax(1)], data.speech.labels),
        **music_va_scores(outputs.music_va, data.music.va, data.music.corpora),
        **music_mood_scores(outputs.music_mood_probabilities, data.music.clips, mood_labels),
    }
    return RunResult(retrieval_scores(scores, data.relevant, data.gains), extra, outputs)


def music_mood_scores(probabilities: np.ndarray | None, clips: Sequence[LabelledClip], mood_labels: Sequence[str]) -> dict[str, float]:
    """``mood_top1``: how often the mood head's most likely class is the clip's label (the most-voted GEMS emotion),
    over the clips that have mood votes (Emotify); empty when there are none or no labels are given."""
    rows = [i for i, clip in enumerate(clips) if clip.soft_labels and clip.label in mood_labels]
    if probabilities is None or not rows:
        return {}
    predicted = np.asarray(mood_labels)[probabilities[rows].argmax(1)]
    return {"mood_top1": accuracy(predicted, [clips[i].label for i in rows])}


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
