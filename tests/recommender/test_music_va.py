"""The affine music VA head (corpus-balanced ridge with a spread floor) and its cross-validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from recommender.data import LabelledClip
from recommender.emotion import LABEL_SETS
from recommender.evaluation.music_va import cross_validate_gems, cross_validate_music_va, learning_curve, quadrants
from recommender.heads import LinearVAHead, music_va_output
from recommender.ridge import RidgeConfig, fit_affine_va


def _two_corpora(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A wide-valence corpus (4Q-like, n=200) and a narrow-valence one (Emotify-like, n=120) sharing a strong valence
    signal; arousal is a weak signal on one scale in both."""
    n_wide, n_narrow = 200, 120
    features = rng.normal(size=(n_wide + n_narrow, 20))
    corpora = np.array(["moods4q"] * n_wide + ["emotify"] * n_narrow)
    signal_v = features[:, 1] + 0.3 * rng.normal(size=len(features))
    signal_a = features[:, 0] + 2.0 * rng.normal(size=len(features))  # arousal: mostly noise
    scale = np.stack([np.where(corpora == "moods4q", 0.2, 0.05), np.full(len(corpora), 0.15)], 1)
    centre = np.stack([np.where(corpora == "moods4q", 0.5, 0.65), np.where(corpora == "moods4q", 0.5, 0.55)], 1)
    va = np.clip(centre + scale * np.stack([signal_v / signal_v.std(), signal_a / signal_a.std()], 1), 0, 1)
    groups = np.array([f"g{i // 2}" for i in range(len(features))])  # pairs of clips share a group
    return features, va, corpora, groups


def _predict(head: LinearVAHead, features: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return music_va_output(head(torch.as_tensor(features, dtype=torch.float32)), "affine").numpy()


def test_affine_head_keeps_a_weak_axis_spread_and_fits_the_strong_one():
    rng = np.random.default_rng(0)
    features, va, corpora, groups = _two_corpora(rng)
    head = LinearVAHead(features.shape[1])
    fit = fit_affine_va(head, features, va, corpora, groups, RidgeConfig(folds=4, repeats=2, spread_floor=0.6))
    assert fit.stretch[1] > 1.0 and fit.spread[1] < 0.6  # ridge alone shrank arousal toward the mean
    assert fit.standardised == (True, False)
    predicted = _predict(head, features)
    for corpus in ("moods4q", "emotify"):
        rows = corpora == corpus
        assert np.corrcoef(predicted[rows, 0], va[rows, 0])[0, 1] > 0.9
    # Standardised valence comes out on the reference corpus' (4Q's) scale, however narrow the other corpus' labels.
    wide, narrow = corpora == "moods4q", corpora == "emotify"
    assert abs(predicted[wide, 0].mean() - va[wide, 0].mean()) < 0.03
    assert predicted[narrow, 0].std() > 2 * va[narrow, 0].std()
    assert fit.reference == "moods4q" and set(fit.scales) == {"moods4q", "emotify"}
    # Arousal is fitted as labelled, stretched to the floor.
    assert predicted[wide, 1].std() > 0.5 * va[wide, 1].std()
    assert ((predicted >= 0) & (predicted <= 1)).all()

    unfloored = LinearVAHead(features.shape[1])
    fit_affine_va(unfloored, features, va, corpora, groups, RidgeConfig(folds=4, repeats=2, spread_floor=0.0))
    assert _predict(unfloored, features)[:, 1].std() < predicted[:, 1].std()


def test_cross_validation_scores_every_clip_held_out_and_reports_quadrants():
    rng = np.random.default_rng(1)
    features, va, corpora, _ = _two_corpora(rng)
    clips = _clips(va, corpora)
    result = cross_validate_music_va("affine", features, clips, RidgeConfig(folds=4, repeats=1))
    scores, calibrated = result.scores(), result.scores(calibrated=True)
    assert set(scores) == {"moods4q", "emotify"}
    assert scores["moods4q"]["valence_R2"] > 0.7 and calibrated["emotify"]["valence_R2"] > 0.7
    assert scores["emotify"]["valence_R2"] < calibrated["emotify"]["valence_R2"]  # 4Q's scale misfits Emotify's labels
    assert scores["emotify"]["arousal_R2"] == calibrated["emotify"]["arousal_R2"]  # arousal is not standardised
    assert scores["moods4q"]["quadrant_accuracy"] > 0.4
    assert scores["moods4q"]["valence_spread"] > 0.5
    # Fitting on one corpus only still predicts (and scores) every clip.
    only = cross_validate_music_va("affine", features, clips, RidgeConfig(folds=4, repeats=1), train_corpora=["emotify"])
    assert set(only.scores()) == {"moods4q", "emotify"}


def test_quadrants_split_the_plane_at_the_middle():
    points = np.array([[0.8, 0.8], [0.2, 0.8], [0.2, 0.2], [0.8, 0.2]])
    assert quadrants(points).tolist() == ["Q1", "Q2", "Q3", "Q4"]


def _clips(va: np.ndarray, corpora: np.ndarray) -> list[LabelledClip]:
    return [
        LabelledClip(
            Path(f"{i}.wav"), str(quadrants(va[i : i + 1])[0]) if corpora[i] == "moods4q" else "calmness", float(va[i, 0]),
            float(va[i, 1]), f"g{i // 2}", "train", str(corpora[i]), fold=(i // 2) % 5,
        )
        for i in range(len(va))
    ]


def test_learning_curve_with_all_groups_is_the_cross_validation_and_fewer_groups_score_lower():
    rng = np.random.default_rng(2)
    features, va, corpora, _ = _two_corpora(rng)
    clips, config = _clips(va, corpora), RidgeConfig(folds=4, repeats=1)
    curve = learning_curve("affine", features, clips, "emotify", (0.2, 1.0), config, seeds=(0,))
    full = cross_validate_music_va("affine", features, clips, config)
    assert curve[1.0][0]["predicted"] == full.scores()
    assert curve[1.0][0]["own_scale"] == full.scores(calibrated=True)
    assert curve[0.2][0]["own_scale"]["emotify"]["valence_R2"] < curve[1.0][0]["own_scale"]["emotify"]["valence_R2"]


def test_gems_cross_validation_beats_the_majority_class_where_features_carry_the_votes():
    rng = np.random.default_rng(3)
    labels = LABEL_SETS["gems9"]
    n = 300
    features = rng.normal(size=(n, 12))
    logits = 2.0 * features[:, :9] + 0.5 * rng.normal(size=(n, 9))
    votes = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    clips = [
        LabelledClip(
            Path(f"{i}.wav"), labels[int(votes[i].argmax())], 0.5, 0.5, f"t{i}", "train", "emotify",
            soft_labels=dict(zip(labels, votes[i].tolist())), fold=i % 5,
        )
        for i in range(n)
    ]
    result = cross_validate_gems(features, clips, RidgeConfig(folds=4, repeats=1))
    scores = result.scores()
    assert np.allclose(result.predicted.sum(1), 1.0) and (result.predicted >= 0).all()
    assert scores["uniform"] == 1 / 9 and scores["majority"] < 0.3
    assert scores["top1"] > 0.6
