"""Retrieval and regression metrics, as Doh et al. (ICASSP 2023) report them.

Every speech query ranks the whole music pool by score (ties keep pool order). With binary relevance
(a music item is relevant when its label is the speech label's most similar music label):

- MRR: mean over queries of ``1 / rank`` of the first relevant item.
- P@k: fraction of relevant items among the top ``k``.

A query with no relevant item in the pool (its mapped label is absent, e.g. GEMS "sadness" from a small
pool) has no binary score: it is left out of MRR and P@k (NaN per query), as trec_eval leaves out
queries without judgements, rather than scoring 0 for every ranker and diluting the comparison.

With graded relevance ``g`` (VA similarity of the speech label and the music label/VA, ``1 - distance``):

- nDCG@k: ``DCG@k / IDCG@k`` with ``DCG@k = sum_{i<=k} g_i / log2(i + 1)`` and IDCG@k the DCG@k of
  the pool sorted by ``g``. Similarities below zero (opposite corners of the VA plane) count as
  negative gain, as in the paper's use of the raw similarity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def rank(scores: np.ndarray) -> np.ndarray:
    """Pool indices best first for each row of ``(n_queries, n_items)`` scores (stable for ties)."""
    return np.argsort(-np.asarray(scores, dtype=np.float64), axis=-1, kind="stable")


def reciprocal_rank(relevant_in_rank_order: np.ndarray) -> float:
    """``1 / position`` of the first True (1-based), 0 if there is none."""
    hits = np.flatnonzero(relevant_in_rank_order)
    return 1.0 / (hits[0] + 1) if hits.size else 0.0


def precision_at_k(relevant_in_rank_order: np.ndarray, k: int) -> float:
    """Fraction of the first ``k`` items that are relevant."""
    return float(np.count_nonzero(relevant_in_rank_order[:k])) / k


def dcg_at_k(gains_in_rank_order: np.ndarray, k: int) -> float:
    gains = np.asarray(gains_in_rank_order, dtype=np.float64)[:k]
    return float(np.sum(gains / np.log2(np.arange(2, gains.size + 2))))


def ndcg_at_k(gains_in_rank_order: np.ndarray, k: int) -> float:
    """DCG@k of the ranking over DCG@k of the ideal ranking of the same gains."""
    ideal = dcg_at_k(np.sort(np.asarray(gains_in_rank_order, dtype=np.float64))[::-1], k)
    return dcg_at_k(gains_in_rank_order, k) / ideal if ideal > 0 else 0.0


@dataclass
class RetrievalScores:
    """Per-query metric values (arrays of length ``n_queries``)."""

    mrr: np.ndarray
    precision: np.ndarray
    ndcg: np.ndarray
    k: int

    def mean(self) -> dict[str, float]:
        """Means over queries; MRR and P@k over the queries that have a relevant item (NaN if none has)."""
        return {"MRR": _mean(self.mrr), f"P@{self.k}": _mean(self.precision), f"nDCG@{self.k}": _mean(self.ndcg)}

    @property
    def judged(self) -> int:
        """Queries with at least one relevant item in the pool."""
        return int(np.count_nonzero(~np.isnan(self.mrr)))

    def by_class(self, labels: np.ndarray | list[str]) -> dict[str, dict[str, float]]:
        """Means over the queries of each label."""
        labels = np.asarray(labels)
        return {
            str(label): RetrievalScores(self.mrr[labels == label], self.precision[labels == label], self.ndcg[labels == label], self.k).mean()
            for label in dict.fromkeys(labels.tolist())
        }


def _mean(values: np.ndarray) -> float:
    kept = values[~np.isnan(values)]
    return float(kept.mean()) if kept.size else float("nan")


def retrieval_scores(scores: np.ndarray, relevant: np.ndarray, gains: np.ndarray, k: int = 5) -> RetrievalScores:
    """MRR, P@k and nDCG@k of every query.

    Args:
        scores: ``(n_queries, n_items)`` higher = better match.
        relevant: ``(n_queries, n_items)`` binary relevance; a row without any True gets NaN MRR and P@k.
        gains: ``(n_queries, n_items)`` graded relevance.
        k: Cut-off of P@k and nDCG@k.
    """
    order = rank(scores)
    relevant_ranked = np.take_along_axis(np.asarray(relevant, dtype=bool), order, axis=1)
    gains_ranked = np.take_along_axis(np.asarray(gains, dtype=np.float64), order, axis=1)
    judged = relevant_ranked.any(axis=1)
    return RetrievalScores(
        mrr=np.array([reciprocal_rank(row) if ok else np.nan for row, ok in zip(relevant_ranked, judged)]),
        precision=np.array([precision_at_k(row, k) if ok else np.nan for row, ok in zip(relevant_ranked, judged)]),
        ndcg=np.array([ndcg_at_k(row, k) for row in gains_ranked]),
        k=k,
    )


def regression_scores(predicted: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """MAE and coefficient of determination R^2 (1 - SSE/SST; below 0 is worse than the mean)."""
    predicted, target = np.asarray(predicted, np.float64), np.asarray(target, np.float64)
    residual = np.sum((target - predicted) ** 2)
    total = np.sum((target - target.mean()) ** 2)
    return {"MAE": float(np.mean(np.abs(target - predicted))), "R2": float(1.0 - residual / total) if total > 0 else float("nan")}


def accuracy(predicted: np.ndarray, target: np.ndarray) -> float:
    return float(np.mean(np.asarray(predicted) == np.asarray(target)))
