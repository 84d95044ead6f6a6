"""Closed-form ridge regression for the linear music valence-arousal head.

With a few hundred labelled tracks an MLP head overfits valence; ridge regression in logit space, with
its strength chosen by repeated cross-validation, does not.
"""

from __future__ import annotations

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
    """

    alphas: tuple[float, ...] = tuple(float(a) for a in np.logspace(0, 5, 16))
    folds: int = 5
    repeats: int = 4



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
            predictions = _ridge_path(x[train], y[train], x[fold], alphas)  # (alphas, n_fold, 2)
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


def _ridge_path(x: np.ndarray, y: np.ndarray, x_eval: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """Predictions on ``x_eval`` for every alpha at once (one SVD of the standardised training data)."""
    centre, scale = x.mean(0), _scale(x)
    z, z_eval = (x - centre) / scale, (x_eval - centre) / scale
    u, s, vt = np.linalg.svd(z, full_matrices=False)
    offset = y.mean(0)
    uty = u.T @ (y - offset)  # (k, 2)
    shrink = s[None, :] / (s[None, :] ** 2 + alphas[:, None])  # (alphas, k)
    coefficients = np.einsum("kd,ak,kt->adt", vt, shrink, uty)  # (alphas, d, 2)
    return np.einsum("nd,adt->ant", z_eval, coefficients) + offset
