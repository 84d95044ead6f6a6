"""Cross-validated music valence-arousal: every clip scored by a VA head that never saw it.

Music corpora are cross-validated together: fold ``k`` of every corpus (its own group-safe folds, see
:mod:`recommender.data`: Emotify by genre position, 4Q by artist) is held out at once and the closed-form
VA head is fitted on the other folds of all corpora, as the shipped head is fitted on their train splits.

Reported per corpus: MAE and R^2 per axis, the spread (predicted / true standard deviation: a head that
predicts the mean everywhere has R^2 near 0 and spread near 0, and cannot rank music by valence), and
for 4Q the quadrant accuracy of the predicted VA point (quadrants split at 0.5 on both axes, the middle
of the NRC-VAD scale; the clips' own labelled VA lands in the labelled quadrant 84% of the time).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from recommender.data import FOLDS, LabelledClip, music_fold
from recommender.emotion import LABEL_SETS
from recommender.heads import LinearVAHead, music_va_output
from recommender.metrics import regression_scores
from recommender.ridge import AffineFit, RidgeConfig, fit_linear_music_va, ridge_path

QUADRANT_SPLIT = 0.5


def quadrants(va: np.ndarray) -> np.ndarray:
    """``(n, 2)`` VA points -> 4Q quadrant names: Q1 V+A+, Q2 V-A+, Q3 V-A-, Q4 V+A-."""
    positive, active = va[:, 0] >= QUADRANT_SPLIT, va[:, 1] >= QUADRANT_SPLIT
    return np.where(active, np.where(positive, "Q1", "Q2"), np.where(positive, "Q4", "Q3"))


def fit_music_va(
    kind: str, features: np.ndarray, clips: Sequence[LabelledClip], config: RidgeConfig, seed: int = 0
) -> tuple[LinearVAHead, AffineFit | None]:
    """A closed-form music VA head (``affine`` or ``ridge``) fitted on labelled clips, and what the fit chose."""
    head = LinearVAHead(features.shape[1])
    va = np.array([(clip.valence, clip.arousal) for clip in clips])
    fit = fit_linear_music_va(head, kind, features, va, [c.corpus for c in clips], [c.group for c in clips], config, seed)
    return head, fit


def predict_music_va(head: LinearVAHead, kind: str, features: np.ndarray) -> np.ndarray:
    """``(n, 2)`` VA in [0, 1] from a fitted head."""
    with torch.inference_mode():
        return music_va_output(head(torch.as_tensor(np.asarray(features, np.float32))), kind).numpy().astype(np.float64)


@dataclass
class MusicVAResult:
    """Held-out VA predictions, row-aligned with ``clips``.

    Attributes:
        predicted: What the head outputs (an ``affine`` head: on its reference corpus' label scale).
        clips: The clips.
        calibrated: ``affine`` only: the same predictions, on standardised axes mapped from the reference scale
            onto each clip's own corpus scale (training-fold mean and standard deviation of that corpus' labels). This scores how
            well the head places a track *within* its corpus; ``predicted`` is what users get.
    """

    predicted: np.ndarray
    clips: list[LabelledClip]
    calibrated: np.ndarray | None = None

    def scores(self, calibrated: bool = False) -> dict[str, dict[str, float]]:
        """Corpus -> metric -> value (see the module docstring)."""
        values = self.calibrated if calibrated and self.calibrated is not None else self.predicted
        return music_va_metrics(values, self.clips)


def cross_validate_music_va(
    kind: str,
    features: np.ndarray,
    clips: Sequence[LabelledClip],
    config: RidgeConfig | None = None,
    seed: int = 0,
    train_corpora: Sequence[str] | None = None,
) -> MusicVAResult:
    """Predict every clip with a head fitted on the clips of the other folds (all corpora together).

    Args:
        train_corpora: Fit on these corpora's clips only (default: all); every clip is still predicted.
    """
    config = config or RidgeConfig()
    features = np.asarray(features, np.float64)
    fold_of = np.array([music_fold(clip) for clip in clips])
    corpora = np.array([clip.corpus for clip in clips])
    usable = np.array([train_corpora is None or clip.corpus in train_corpora for clip in clips])
    predicted = np.zeros((len(clips), 2))
    calibrated = np.zeros((len(clips), 2)) if kind == "affine" else None
    for fold in range(FOLDS):
        train, test = np.flatnonzero((fold_of != fold) & usable), fold_of == fold
        head, fit = fit_music_va(kind, features[train], [clips[i] for i in train], config, seed)
        predicted[test] = predict_music_va(head, kind, features[test])
        if calibrated is not None:
            calibrated[test] = _own_scale(head, fit, features[test], corpora[test], predicted[test])
    return MusicVAResult(predicted, list(clips), calibrated)


def _own_scale(head: LinearVAHead, fit: AffineFit | None, features: np.ndarray, corpora: Sequence[str], predicted: np.ndarray) -> np.ndarray:
    """An ``affine`` head's predictions on standardised axes mapped from its reference scale onto each clip's
    own corpus scale (training-fold mean and standard deviation of that corpus' labels); ``predicted`` elsewhere."""
    if fit is None:
        return predicted
    with torch.inference_mode():
        raw = head(torch.as_tensor(features, dtype=torch.float32)).numpy().astype(np.float64)
    ref_mean, ref_std = fit.scales[fit.reference]
    own = [fit.scales.get(corpus, (ref_mean, ref_std)) for corpus in corpora]
    means, stds = np.array([m for m, _ in own]), np.array([s for _, s in own])
    mapped = np.clip(means + stds * (raw - ref_mean) / ref_std, 0.0, 1.0)
    return np.where(fit.standardised, mapped, predicted)


def music_va_metrics(predicted: np.ndarray, clips: Sequence[LabelledClip]) -> dict[str, dict[str, float]]:
    """Corpus -> ``{axis}_R2``, ``{axis}_MAE``, ``{axis}_spread`` (and 4Q's ``quadrant_accuracy``)."""
    truth = np.array([(clip.valence, clip.arousal) for clip in clips])
    corpora = np.array([clip.corpus for clip in clips])
    table = {}
    for corpus in dict.fromkeys(corpora.tolist()):
        rows = corpora == corpus
        scores: dict[str, float] = {}
        for axis, name in enumerate(("valence", "arousal")):
            for metric, value in regression_scores(predicted[rows, axis], truth[rows, axis]).items():
                scores[f"{name}_{metric}"] = value
            scores[f"{name}_spread"] = float(predicted[rows, axis].std() / truth[rows, axis].std())
        if corpus == "moods4q":
            labels = np.array([clip.label for clip in clips])[rows]
            scores["quadrant_accuracy"] = float((quadrants(predicted[rows]) == labels).mean())
        table[corpus] = scores
    return table


VA_TABLE_HEADER = (
    "| setup | 4Q quadrant acc. | 4Q valence R^2 / MAE | 4Q arousal R^2 / MAE | 4Q valence spread "
    "| Emotify valence R^2 / MAE | Emotify arousal R^2 / MAE | Emotify valence spread | Emotify, own scale: valence / arousal R^2 |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
)


def va_table(results: dict[str, MusicVAResult]) -> str:
    """Markdown table of cross-validated music VA, one row per setup (4Q and Emotify columns)."""
    lines = [VA_TABLE_HEADER]
    for name, result in results.items():
        q, e = (result.scores()[c] for c in ("moods4q", "emotify"))
        own = "-"
        if result.calibrated is not None:
            calibrated = result.scores(calibrated=True)["emotify"]
            own = f"{calibrated['valence_R2']:.3f} / {calibrated['arousal_R2']:.3f}"
        lines.append(
            f"| {name} | {q['quadrant_accuracy']:.3f} | {q['valence_R2']:.3f} / {q['valence_MAE']:.3f} "
            f"| {q['arousal_R2']:.3f} / {q['arousal_MAE']:.3f} | {q['valence_spread']:.2f} "
            f"| {e['valence_R2']:.3f} / {e['valence_MAE']:.3f} | {e['arousal_R2']:.3f} / {e['arousal_MAE']:.3f} "
            f"| {e['valence_spread']:.2f} | {own} |"
        )
    return "\n".join(lines)


@dataclass
class GemsResult:
    """Held-out GEMS-9 vote distributions of Emotify clips, row-aligned with ``clips``.

    Attributes:
        predicted: ``(n, 9)`` predicted vote fractions (clipped at 0, renormalised), columns in ``labels`` order.
        clips: The Emotify clips.
        labels: The GEMS-9 labels.
        majority: Per clip, the training folds' most frequent most-voted emotion (the majority-class baseline).
    """

    predicted: np.ndarray
    clips: list[LabelledClip]
    labels: tuple[str, ...]
    majority: np.ndarray

    def scores(self) -> dict[str, float]:
        """Top-1 accuracy against the most-voted emotion, and chance: training majority class, uniform (1/9)."""
        truth = np.array([clip.label for clip in self.clips])
        top1 = np.asarray(self.labels)[self.predicted.argmax(1)]
        return {"top1": float((top1 == truth).mean()), "majority": float((self.majority == truth).mean()), "uniform": 1.0 / len(self.labels)}


def cross_validate_gems(features: np.ndarray, clips: Sequence[LabelledClip], config: RidgeConfig | None = None, seed: int = 0) -> GemsResult:
    """Predict every Emotify clip's GEMS-9 vote fractions by ridge regression fitted on the other folds.

    The regularisation strength is chosen inside the training folds (repeated k-fold over them: nested
    cross-validation), one strength for all nine outputs, by held-out squared error of the fractions.
    """
    config = config or RidgeConfig()
    labels = LABEL_SETS["gems9"]
    rows = [i for i, clip in enumerate(clips) if clip.soft_labels]
    x = np.asarray(features, np.float64)[rows]
    kept = [clips[i] for i in rows]
    votes = np.array([[clip.soft_labels[label] for label in labels] for clip in kept])
    votes /= votes.sum(1, keepdims=True)
    fold_of = np.array([music_fold(clip) for clip in kept])
    alphas = np.asarray(config.alphas, np.float64)
    rng = np.random.default_rng(seed)
    predicted, majority = np.zeros_like(votes), np.empty(len(kept), dtype=object)
    for fold in range(FOLDS):
        train, test = np.flatnonzero(fold_of != fold), np.flatnonzero(fold_of == fold)
        errors = np.zeros(alphas.size)
        for _ in range(config.repeats):
            inner = np.array_split(rng.permutation(train), config.folds)
            for held in inner:
                fit = np.setdiff1d(train, held)
                errors += ((ridge_path(x[fit], votes[fit], x[held], alphas) - votes[held]) ** 2).sum((1, 2))
        alpha = alphas[errors.argmin()]
        raw = ridge_path(x[train], votes[train], x[test], np.array([alpha]))[0]
        clipped = np.clip(raw, 0.0, None) + 1e-9
        predicted[test] = clipped / clipped.sum(1, keepdims=True)
        labels_train = [kept[i].label for i in train]
        majority[test] = max(set(labels_train), key=labels_train.count)
    return GemsResult(predicted, kept, labels, majority.astype(str))


def learning_curve(
    kind: str, features: np.ndarray, clips: Sequence[LabelledClip], corpus: str, fractions: Sequence[float],
    config: RidgeConfig | None = None, seeds: Sequence[int] = (0, 1, 2),
) -> dict[float, list[dict[str, dict[str, dict[str, float]]]]]:
    """Cross-validated music VA with only a fraction of ``corpus``' training groups (tracks, artists) per fold.

    The test folds stay whole and the other corpora train in full, so the curve shows what more ``corpus``
    data buys. Returns fraction -> per seed ``{"predicted": table}`` (and for ``affine`` heads ``"own_scale"``,
    as :meth:`MusicVAResult.scores` with ``calibrated``), tables as :func:`music_va_metrics`.
    """
    config = config or RidgeConfig()
    features = np.asarray(features, np.float64)
    fold_of = np.array([music_fold(clip) for clip in clips])
    corpora = np.array([clip.corpus for clip in clips])
    in_corpus = corpora == corpus
    groups = np.array([clip.group for clip in clips])
    curve: dict[float, list[dict[str, dict[str, dict[str, float]]]]] = {}
    for fraction in fractions:
        for seed in seeds:
            rng = np.random.default_rng(seed)
            predicted, calibrated = np.zeros((len(clips), 2)), np.zeros((len(clips), 2))
            for fold in range(FOLDS):
                candidates = np.unique(groups[in_corpus & (fold_of != fold)])
                chosen = set(rng.choice(candidates, size=round(fraction * candidates.size), replace=False).tolist())
                train = np.flatnonzero((fold_of != fold) & (~in_corpus | np.isin(groups, list(chosen))))
                test = fold_of == fold
                head, fit = fit_music_va(kind, features[train], [clips[i] for i in train], config, seed)
                predicted[test] = predict_music_va(head, kind, features[test])
                calibrated[test] = _own_scale(head, fit, features[test], corpora[test], predicted[test])
            table = {"predicted": music_va_metrics(predicted, clips)}
            if kind == "affine":
                table["own_scale"] = music_va_metrics(calibrated, clips)
            curve.setdefault(fraction, []).append(table)
    return curve
