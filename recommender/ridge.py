"""Closed-form ridge regression for the linear music valence-arousal head.

With a few hundred labelled tracks an MLP head overfits valence; ridge regression, with its strength
chosen by repeated cross-validation, does not. :func:`fit_ridge_va` (the ``ridge`` head) fits logit(VA)
on pooled tracks. :func:`fit_affine_va` (the ``affine`` head) fits VA itself across several corpora
whose labels differ in scale (Emotify's vote-weighted valence spreads 0.09, 4Q's mood-word valence 0.26):
each corpus weighs the same in the loss, relative to its own variance, and the predictions' spread is
kept from collapsing to the mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from recommender.heads import LinearVAHead


@dataclass
class RidgeConfig:
    """Closed-form fit of a ``ridge`` music VA head (see :func:`fit_ridge_va`).

    Attributes:
        alphas: Candidate regularisation strengths (on standardised features).
        folds: Cross-validation folds.
        repeats: Repetitions of the k-fold split with different shuffles.
        spread_floor: ``affine`` head only: if the held-out predictions' standard deviation on the reference
            corpus is below this fraction of its labels', the weights are scaled up to reach it. Ridge shrinks
            a weakly predictable axis toward the mean, and a near-constant valence cannot rank music.
        reference_corpus: ``affine`` head only: the corpus whose label scale the head predicts on. 4Q's VA is
            the NRC-VAD of mood words, the scale speech labels use; Emotify's vote-weighted VA is compressed
            (votes average toward the middle).
        standardise: ``affine`` head only: per axis (valence, arousal), fit per-corpus standardised labels
            (for scales that disagree between corpora) rather than the labels as they are.
    """

    alphas: tuple[float, ...] = tuple(float(a) for a in np.logspace(0, 5, 16))
    folds: int = 5
    repeats: int = 4
    spread_floor: float = 0.6
    reference_corpus: str = "moods4q"
    standardise: tuple[bool, bool] = (True, False)



def fit_ridge_va(head: LinearVAHead, features: np.ndarray, va: np.ndarray, config: RidgeConfig, seed: int = 0) -> tuple[float, float]:
    """Fit a linear VA head by ridge regression on logit(VA), one regularisation strength per axis.

    Each axis' strength comes from repeated k-fold cross-validation with the one-standard-error rule:
    the strongest regularisation whose mean held-out error is within one standard error of the best.
    With ~100 labelled tracks this keeps the weakly predictable valence close to the training mean
    instead of fitting noise.

    Returns:
        The chosen (valence, arousal) strengths.
    """
    x = np.asarray(features, np.float64)
    y = _logit(np.asarray(va, np.float64))
    alphas = np.asarray(config.alphas, np.float64)
    rng = np.random.default_rng(seed)
    errors = []  # (splits, alphas, 2)
    for _ in range(config.repeats):
        order = rng.permutation(len(x))
        for fold in np.array_split(order, config.folds):
            train = np.setdiff1d(order, fold)
            predictions = ridge_path(x[train], y[train], x[fold], alphas)  # (alphas, n_fold, 2)
            errors.append(((predictions - y[fold]) ** 2).mean(axis=1))
    errors = np.stack(errors)
    mean, standard_error = errors.mean(0), errors.std(0) / np.sqrt(len(errors))
    chosen = []
    for axis in range(2):
        best = int(mean[:, axis].argmin())
        within = np.flatnonzero(mean[:, axis] <= mean[best, axis] + standard_error[best, axis])
        chosen.append(float(alphas[within.max()]))
    centre, scale = x.mean(0), _scale(x)
    weights, bias = [], []
    for axis, alpha in enumerate(chosen):
        w, b = _ridge((x - centre) / scale, y[:, axis], alpha)
        weights.append(w)
        bias.append(b)
    with torch.no_grad():
        head.mean.copy_(torch.as_tensor(centre, dtype=torch.float32))
        head.scale.copy_(torch.as_tensor(scale, dtype=torch.float32))
        head.linear.weight.copy_(torch.as_tensor(np.stack(weights), dtype=torch.float32))
        head.linear.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))
    return chosen[0], chosen[1]


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-3, 1 - 1e-3)
    return np.log(p / (1 - p))


def _scale(x: np.ndarray) -> np.ndarray:
    scale = x.std(0)
    return np.where(scale > 1e-8, scale, 1.0)


def _ridge(z: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """Weights and intercept of ridge regression on standardised ``z``."""
    offset = y.mean()
    w = np.linalg.solve(z.T @ z + alpha * np.eye(z.shape[1]), z.T @ (y - offset))
    return w, float(offset)


def ridge_path(x: np.ndarray, y: np.ndarray, x_eval: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """Predictions on ``x_eval`` for every alpha at once (one SVD of the standardised training data)."""
    centre, scale = x.mean(0), _scale(x)
    z, z_eval = (x - centre) / scale, (x_eval - centre) / scale
    u, s, vt = np.linalg.svd(z, full_matrices=False)
    offset = y.mean(0)
    uty = u.T @ (y - offset)  # (k, 2)
    shrink = s[None, :] / (s[None, :] ** 2 + alphas[:, None])  # (alphas, k)
    coefficients = np.einsum("kd,ak,kt->adt", vt, shrink, uty)  # (alphas, d, 2)
    return np.einsum("nd,adt->ant", z_eval, coefficients) + offset


@dataclass
class AffineFit:
    """What :func:`fit_affine_va` chose, per axis (valence, arousal).

    Attributes:
        alphas: Regularisation strengths (lowest corpus-balanced held-out error).
        spread: Held-out predicted / true standard deviation at that strength, before the floor.
        stretch: Factor applied to the weights to bring the spread up to the floor (1: none needed).
        scales: Corpus -> ``(mean, std)`` of its labels, per axis; ``reference`` is the scale the head outputs.
        reference: The corpus whose label scale the head predicts on (or ``pooled``), on standardised axes.
        standardised: Which axes were fitted on per-corpus standardised labels.
    """

    alphas: tuple[float, float]
    spread: tuple[float, float]
    stretch: tuple[float, float]
    scales: dict[str, tuple[np.ndarray, np.ndarray]]
    reference: str
    standardised: tuple[bool, bool]


def fit_affine_va(
    head: LinearVAHead, features: np.ndarray, va: np.ndarray, corpora: Sequence[str], groups: Sequence[str],
    config: RidgeConfig, seed: int = 0,
) -> AffineFit:
    """Fit ``va = x @ W + b`` across corpora whose labels differ in scale.

    On the axes ``config.standardise`` names, each corpus' labels are standardised (its mean and standard
    deviation removed), so corpora whose scales disagree (valence) agree on what the features must explain:
    where a track lies within its corpus; the prediction is then mapped onto ``config.reference_corpus``'
    label scale (the mean of the corpora's scales when it is absent). Other axes (arousal, on similar
    scales in both corpora) fit the labels as they are, so the features may also explain the corpora's
    different levels. Either way rows weigh ``1 / (n_c var_c)``: the loss is the mean over corpora of each
    corpus' ``1 - R^2``. The strength per axis is chosen by repeated k-fold cross-validation over whole
    ``groups`` (an artist's clips are never on both sides); the held-out predictions at that strength also
    measure the spread, which ``config.spread_floor`` bounds from below.
    """
    x = np.asarray(features, np.float64)
    y = np.asarray(va, np.float64)
    corpora, groups = np.asarray(corpora), np.asarray(groups)
    scales = {c: (y[corpora == c].mean(0), np.maximum(y[corpora == c].std(0), 1e-6)) for c in dict.fromkeys(corpora.tolist())}
    standardise = np.asarray(config.standardise, bool)
    target, weights = y.copy(), np.empty_like(y)
    for corpus, (mean, std) in scales.items():
        rows = corpora == corpus
        target[rows] = np.where(standardise, (y[rows] - mean) / std, y[rows])
        weights[rows] = 1.0 / (rows.sum() * np.where(standardise, 1.0, std**2))
    weights /= weights.mean(0)
    reference = config.reference_corpus if config.reference_corpus in scales else "pooled"
    ref_mean, ref_std = scales.get(reference) or (np.mean([m for m, _ in scales.values()], 0), np.mean([s for _, s in scales.values()], 0))
    # Output = out_mean + out_std * fitted target: the reference scale on standardised axes, identity on the others.
    out_mean, out_std = np.where(standardise, ref_mean, 0.0), np.where(standardise, ref_std, 1.0)
    centre, scale = x.mean(0), _scale(x)
    z = (x - centre) / scale
    alphas = np.asarray(config.alphas, np.float64)
    rng = np.random.default_rng(seed)
    unique = np.unique(groups)
    errors, held_out = [], []  # per split: (alphas, 2); per repeat: (alphas, n, 2)
    for _ in range(config.repeats):
        fold_of_group = dict(zip(rng.permutation(unique), np.arange(unique.size) % config.folds))
        fold_of = np.array([fold_of_group[g] for g in groups])
        predictions = np.zeros((alphas.size, len(x), 2))
        for fold in range(config.folds):
            test, train = fold_of == fold, fold_of != fold
            for axis in range(2):
                predictions[:, test, axis] = _weighted_ridge_path(z[train], target[train, axis], weights[train, axis], z[test], alphas)
            residual = (predictions[:, test] - target[test]) ** 2 * weights[test]
            errors.append(residual.sum(1) / weights[test].sum(0))
        held_out.append(predictions)
    chosen = np.mean(errors, axis=0).argmin(0)  # (2,)
    spreads, stretches, rows = [], [], []
    for axis in range(2):
        spread = float(np.mean([_spread(p[chosen[axis], :, axis], target[:, axis], corpora, reference) for p in held_out]))
        stretch = max(1.0, config.spread_floor / spread) if spread > 0 else 1.0
        w, b = _weighted_ridge(z, target[:, axis], weights[:, axis], float(alphas[chosen[axis]]))
        # Stretch deviations around the weighted mean target (which the intercept keeps), then map to the output scale.
        level = float(weights[:, axis] @ target[:, axis] / weights[:, axis].sum())
        rows.append((out_std[axis] * stretch * w, out_mean[axis] + out_std[axis] * (level + stretch * (b - level))))
        spreads.append(spread)
        stretches.append(stretch)
    with torch.no_grad():
        head.mean.copy_(torch.as_tensor(centre, dtype=torch.float32))
        head.scale.copy_(torch.as_tensor(scale, dtype=torch.float32))
        head.linear.weight.copy_(torch.as_tensor(np.stack([w for w, _ in rows]), dtype=torch.float32))
        head.linear.bias.copy_(torch.as_tensor([b for _, b in rows], dtype=torch.float32))
    scales[reference] = (np.asarray(ref_mean), np.asarray(ref_std))
    return AffineFit(
        (float(alphas[chosen[0]]), float(alphas[chosen[1]])), (spreads[0], spreads[1]), (stretches[0], stretches[1]),
        scales, reference, (bool(standardise[0]), bool(standardise[1])),
    )


def _spread(predicted: np.ndarray, target: np.ndarray, corpora: np.ndarray, reference: str) -> float:
    """Predicted / true standard deviation on the reference corpus (the scale users get), else the mean over corpora."""
    names = [reference] if reference in corpora else np.unique(corpora)
    return float(np.mean([predicted[corpora == c].std() / max(target[corpora == c].std(), 1e-9) for c in names]))


def _weighted_ridge(z: np.ndarray, y: np.ndarray, w: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """Weights and intercept minimising ``sum w (y - z @ b - c)^2 + alpha |b|^2``."""
    mean_z, mean_y = w @ z / w.sum(), float(w @ y / w.sum())
    root = np.sqrt(w)[:, None]
    zc, yc = (z - mean_z) * root, (y - mean_y) * root[:, 0]
    coefficients = np.linalg.solve(zc.T @ zc + alpha * np.eye(z.shape[1]), zc.T @ yc)
    return coefficients, mean_y - float(mean_z @ coefficients)


def _weighted_ridge_path(z: np.ndarray, y: np.ndarray, w: np.ndarray, z_eval: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """``(alphas, n_eval)`` predictions of :func:`_weighted_ridge` for every alpha (one SVD)."""
    mean_z, mean_y = w @ z / w.sum(), float(w @ y / w.sum())
    root = np.sqrt(w)[:, None]
    u, s, vt = np.linalg.svd((z - mean_z) * root, full_matrices=False)
    uty = u.T @ ((y - mean_y) * root[:, 0])
    shrink = s[None, :] / (s[None, :] ** 2 + alphas[:, None])
    coefficients = (shrink * uty) @ vt  # (alphas, d)
    return coefficients @ (z_eval - mean_z).T + mean_y


def fit_linear_music_va(
    head: LinearVAHead, kind: str, features: np.ndarray, va: np.ndarray, corpora: Sequence[str], groups: Sequence[str],
    config: RidgeConfig, seed: int = 0,
) -> AffineFit | None:
    """Fit a closed-form music VA head of either kind: ``affine`` (:func:`fit_affine_va`) or ``ridge`` (:func:`fit_ridge_va`)."""
    if kind == "affine":
        return fit_affine_va(head, features, va, corpora, groups, config, seed)
    fit_ridge_va(head, features, va, config, seed)
    return None
