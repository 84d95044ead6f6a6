import math

import numpy as np
import pytest

from recommender.metrics import (
    accuracy,
    ndcg_at_k,
    precision_at_k,
    rank,
    reciprocal_rank,
    regression_scores,
    retrieval_scores,
)

# One query over a pool of five: scores rank the pool as items 1, 4, 2, 3, 0.
SCORES = np.array([[0.1, 0.9, 0.5, 0.3, 0.7]])
RELEVANT = np.array([[1, 0, 0, 1, 0]], dtype=bool)  # relevant items land at ranks 4 and 5
GAINS = np.array([[1.0, 0.0, 0.5, 0.2, 0.0]])  # in rank order: 0, 0, 0.5, 0.2, 1.0


def test_rank_orders_best_first_and_keeps_pool_order_for_ties():
    assert rank(SCORES)[0].tolist() == [1, 4, 2, 3, 0]
    assert rank(np.array([[0.5, 0.9, 0.5, 0.5]]))[0].tolist() == [1, 0, 2, 3]


def test_hand_computed_ranking():
    result = retrieval_scores(SCORES, RELEVANT, GAINS, k=3)
    assert result.mrr[0] == pytest.approx(1 / 4)
    assert result.precision[0] == pytest.approx(0.0)  # nothing relevant in the top 3
    # DCG@3 = 0/log2(2) + 0/log2(3) + 0.5/log2(4) = 0.25; IDCG@3 over gains sorted 1, 0.5, 0.2.
    assert result.ndcg[0] == pytest.approx(0.25 / (1.0 + 0.5 / math.log2(3) + 0.2 / 2.0))
    assert result.ndcg[0] == pytest.approx(0.1766204, abs=1e-6)
    at_five = retrieval_scores(SCORES, RELEVANT, GAINS, k=5)
    assert at_five.precision[0] == pytest.approx(2 / 5)


def test_perfect_and_reversed_rankings():
    gains = np.array([0.9, 0.6, 0.3, 0.1, -0.2])
    perfect = retrieval_scores(gains[None], (gains > 0.5)[None], gains[None], k=5)
    assert perfect.mrr[0] == 1.0 and perfect.precision[0] == pytest.approx(2 / 5) and perfect.ndcg[0] == pytest.approx(1.0)
    reversed_ = retrieval_scores(-gains[None], (gains > 0.5)[None], gains[None], k=2)
    assert reversed_.mrr[0] == pytest.approx(1 / 4)
    # Negative similarity counts as negative gain: ranking the opposite corner first scores below 0.
    assert reversed_.ndcg[0] == pytest.approx((-0.2 + 0.1 / math.log2(3)) / (0.9 + 0.6 / math.log2(3)))


def test_no_relevant_item_gives_zero():
    assert reciprocal_rank(np.zeros(4, bool)) == 0.0
    assert precision_at_k(np.zeros(4, bool), 2) == 0.0
    assert ndcg_at_k(np.zeros(4), 2) == 0.0


def test_queries_without_a_relevant_item_are_left_out_of_mrr_and_precision_only():
    scores = np.array([[0.9, 0.1, 0.5], [0.9, 0.1, 0.5], [0.2, 0.1, 0.9]])
    relevant = np.array([[0, 1, 0], [0, 0, 0], [1, 0, 0]], dtype=bool)
    gains = np.array([[0.2, 1.0, 0.5], [0.3, 0.9, 0.1], [1.0, 0.1, 0.1]])
    result = retrieval_scores(scores, relevant, gains, k=2)
    # Query 0: order 0, 2, 1 -> first relevant at rank 3; query 2: order 2, 0, 1 -> rank 2.
    assert result.mrr[0] == pytest.approx(1 / 3) and np.isnan(result.mrr[1]) and result.mrr[2] == pytest.approx(1 / 2)
    assert np.isnan(result.precision[1]) and result.judged == 2
    means = result.mean()
    assert means["MRR"] == pytest.approx((1 / 3 + 1 / 2) / 2)
    assert means["P@2"] == pytest.approx((0 + 0.5) / 2)
    # nDCG still scores the unjudged query: order 0, 2, 1 with gains 0.3, 0.1, 0.9.
    ideal = 0.9 + 0.3 / math.log2(3)
    assert result.ndcg[1] == pytest.approx((0.3 + 0.1 / math.log2(3)) / ideal)
    assert means["nDCG@2"] == pytest.approx(result.ndcg.mean())
    per_class = result.by_class(["sad", "sad", "happy"])
    assert per_class["sad"]["MRR"] == pytest.approx(1 / 3)
    assert np.isnan(result.by_class(["a", "b", "c"])["b"]["MRR"])


def test_mean_and_per_class():
    scores = np.array([[0.9, 0.1], [0.9, 0.1], [0.1, 0.9]])
    relevant = np.array([[1, 0], [0, 1], [0, 1]], dtype=bool)
    result = retrieval_scores(scores, relevant, relevant.astype(float), k=1)
    assert result.mrr.tolist() == [1.0, 0.5, 1.0]
    assert result.mean()["MRR"] == pytest.approx(2.5 / 3)
    per_class = result.by_class(["happy", "sad", "sad"])
    assert per_class["happy"]["P@1"] == 1.0
    assert per_class["sad"]["P@1"] == pytest.approx(0.5)
    assert list(per_class) == ["happy", "sad"]


def test_regression_scores():
    target = np.array([0.2, 0.4, 0.6, 0.8])
    assert regression_scores(target, target) == {"MAE": 0.0, "R2": 1.0}
    mean_only = regression_scores(np.full(4, 0.5), target)
    assert mean_only["R2"] == pytest.approx(0.0)
    assert mean_only["MAE"] == pytest.approx(0.2)
    assert regression_scores(target[::-1], target)["R2"] == pytest.approx(1 - 0.8 / 0.2)


def test_accuracy():
    assert accuracy(["a", "b", "c"], ["a", "b", "b"]) == pytest.approx(2 / 3)
