"""Speaker-independent evaluation protocol of the builtin speech tower (used by ``train_speech_tower.py``).

- Cross-validation: leave-actors-out over the non-dev folds 0-3 of RAVDESS (sex-balanced actor pairs)
  and nEMO (speakers). Fold ``k`` trains on the other non-dev folds of the training corpora and scores
  fold ``k`` of every corpus; repeated over seeds. The dev fold (4) is never touched here.
- Cross-corpus: train on one corpus' non-dev folds, score the other's non-dev folds on the six emotions
  both share.
- Scoring: accuracy and UAR per corpus; RAVDESS over its 8 classes, nEMO over its 6 (the argmax is
  taken over the classes the corpus has, so the 8-way net is not penalised for calm/disgust it cannot
  be asked about). Valence/arousal: the predicted label distribution through the emotion lexicon,
  against the VA of the true label (Pearson r and MAE per axis).

Models are opaque here: a :data:`Fit` takes training rows and a seed and returns a function from rows
to ``(n, 8)`` class probabilities in RAVDESS label order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from recommender.data import DEV_FOLD, LabelledClip
from recommender.emotion import LABEL_SETS, EmotionSpace

LABELS = LABEL_SETS["ravdess"]
CV_FOLDS = tuple(fold for fold in range(DEV_FOLD))
NEMO_TO_RAVDESS = {
    "neutral": "neutral", "sadness": "sad", "anger": "angry", "happiness": "happy", "fear": "fearful", "surprised": "surprised",
}
SHARED = tuple(label for label in LABELS if label in NEMO_TO_RAVDESS.values())
CORPUS_CLASSES = {"ravdess": tuple(range(len(LABELS))), "nemo": tuple(LABELS.index(label) for label in SHARED)}

Predict = Callable[[np.ndarray], np.ndarray]
Fit = Callable[[np.ndarray, int], Predict]


def ravdess_label(clip: LabelledClip) -> str:
    """The clip's emotion as a RAVDESS word (nEMO words mapped onto their RAVDESS counterparts)."""
    return NEMO_TO_RAVDESS[clip.label] if clip.corpus == "nemo" else clip.label


@dataclass(frozen=True)
class SpeechSet:
    """Per-clip arrays the protocol needs (row ``i`` = clip ``i``)."""

    labels: np.ndarray  # RAVDESS label index
    corpus: np.ndarray  # corpus name
    fold: np.ndarray
    va: np.ndarray  # (n, 2) valence, arousal of the true label

    @classmethod
    def of(cls, clips: Sequence[LabelledClip]) -> SpeechSet:
        return cls(
            labels=np.array([LABELS.index(ravdess_label(clip)) for clip in clips]),
            corpus=np.array([clip.corpus for clip in clips]),
            fold=np.array([clip.fold for clip in clips]),
            va=np.array([(clip.valence, clip.arousal) for clip in clips], dtype=np.float64),
        )

    def rows(self, corpora: Sequence[str], folds: Sequence[int]) -> np.ndarray:
        return np.flatnonzero(np.isin(self.corpus, corpora) & np.isin(self.fold, folds))


def decide(probabilities: np.ndarray, classes: Sequence[int]) -> np.ndarray:
    """Argmax restricted to ``classes`` (label indices into the 8 RAVDESS labels)."""
    classes = np.asarray(classes)
    return classes[probabilities[:, classes].argmax(1)]


def scores(true: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    recalls = [float((predicted[true == k] == k).mean()) for k in range(len(LABELS)) if (true == k).any()]
    return {"accuracy": float((true == predicted).mean()), "uar": float(np.mean(recalls))}


def confusion(true: np.ndarray, predicted: np.ndarray) -> list[list[int]]:
    matrix = np.zeros((len(LABELS), len(LABELS)), dtype=int)
    np.add.at(matrix, (true, predicted), 1)
    return matrix.tolist()


def va_scores(probabilities: np.ndarray, true_va: np.ndarray, space: EmotionSpace | None = None) -> dict[str, dict[str, float]]:
    """Pearson r and MAE per axis of the lexicon VA of the predicted distribution against the label VA."""
    predicted = probabilities @ (space or EmotionSpace.default()).va_matrix(LABELS)
    return {
        axis: {"r": float(np.corrcoef(predicted[:, k], true_va[:, k])[0, 1]), "mae": float(np.abs(predicted[:, k] - true_va[:, k]).mean())}
        for k, axis in enumerate(("valence", "arousal"))
    }


def summarise(data: SpeechSet, rows: np.ndarray, runs: list[np.ndarray], classes: Sequence[int]) -> dict:
    """Accuracy/UAR mean +- std over runs (seeds) of the pooled out-of-fold predictions, plus per-fold spread,
    the confusion summed over runs and VA r/MAE of the mean distribution."""
    true = data.labels[rows]
    per_run = [scores(true, decide(probabilities, classes)) for probabilities in runs]
    per_fold = [
        scores(true[data.fold[rows] == fold], decide(probabilities[data.fold[rows] == fold], classes))["accuracy"]
        for probabilities in runs for fold in np.unique(data.fold[rows])
    ]
    summed = np.sum([confusion(true, decide(probabilities, classes)) for probabilities in runs], axis=0)
    return {
        "clips": int(rows.size),
        "accuracy_mean": float(np.mean([s["accuracy"] for s in per_run])),
        "accuracy_std": float(np.std([s["accuracy"] for s in per_run])),
        "uar_mean": float(np.mean([s["uar"] for s in per_run])),
        "uar_std": float(np.std([s["uar"] for s in per_run])),
        "fold_accuracy_std": float(np.std(per_fold)),
        "per_seed": per_run,
        "confusion": summed.tolist(),
        "va": va_scores(np.mean(runs, axis=0), data.va[rows]),
    }


def cross_validate(fit: Fit, data: SpeechSet, train_corpora: Sequence[str], seeds: Sequence[int],
                   log: Callable[[str], None] = print) -> dict[str, dict]:
    """Leave-folds-out CV over folds 0-3: train on ``train_corpora``, score every corpus' held-out fold."""
    corpora = sorted(set(data.corpus))
    test_rows = {corpus: data.rows([corpus], CV_FOLDS) for corpus in corpora}
    runs: dict[str, list[np.ndarray]] = {corpus: [] for corpus in corpora}
    for seed in seeds:
        out_of_fold = np.zeros((len(data.labels), len(LABELS)))
        for fold in CV_FOLDS:
            predict = fit(data.rows(train_corpora, [f for f in CV_FOLDS if f != fold]), seed * 100 + fold)
            held_out = data.rows(corpora, [fold])
            out_of_fold[held_out] = predict(held_out)
            log(f"    seed {seed} fold {fold} done")
        for corpus in corpora:
            runs[corpus].append(out_of_fold[test_rows[corpus]])
    return {corpus: summarise(data, test_rows[corpus], runs[corpus], CORPUS_CLASSES[corpus]) for corpus in corpora}


def cross_corpus(fit: Fit, data: SpeechSet, source: str, target: str, seeds: Sequence[int]) -> dict:
    """Train on ``source``'s folds 0-3, score ``target``'s folds 0-3 on the shared emotions only."""
    shared = CORPUS_CLASSES["nemo"]
    train = data.rows([source], CV_FOLDS)
    test = data.rows([target], CV_FOLDS)
    test = test[np.isin(data.labels[test], shared)]
    runs = [fit(train, seed)(test) for seed in seeds]
    return summarise(data, test, runs, shared)


def format_row(name: str, result: dict) -> str:
    return (f"{name:34s} acc {100 * result['accuracy_mean']:.1f} +- {100 * result['accuracy_std']:.1f}  "
            f"UAR {100 * result['uar_mean']:.1f} +- {100 * result['uar_std']:.1f}  (fold std {100 * result['fold_accuracy_std']:.1f}; "
            f"VA r {result['va']['valence']['r']:.2f}/{result['va']['arousal']['r']:.2f})")
