"""The emotion space: emotion words as points on the valence-arousal plane.

Speech and music corpora name emotions differently (RAVDESS says "fearful", GEMS says "tension"); both
are placed on the NRC-VAD valence-arousal plane (0-1 scale, as in Doh et al., ICASSP 2023) and compared
there. Similarity is ``1 - euclidean distance``, so identical points score 1 and opposite corners
``1 - sqrt(2)``.

Coordinates of the built-in labels are NRC-VAD v1 values (Mohammad, 2018). Two labels are not single
lexicon words: ``joyful_activation`` is the mean of "joyful" and "activation", and ``solemnity`` uses
"solemn". EMOPIA quadrants sit at the centres of their quadrants. Other words resolve through a
user-supplied NRC-VAD lexicon file.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recommender.errors import ConfigError, UnknownEmotionError

VA = tuple[float, float]

BUILTIN_VA: dict[str, VA] = {
    # RAVDESS / IEMOCAP / Hi,KIA speech labels
    "neutral": (0.469, 0.184),
    "calm": (0.875, 0.100),
    "happy": (1.000, 0.735),
    "sad": (0.225, 0.333),
    "angry": (0.122, 0.830),
    "fearful": (0.083, 0.482),
    "disgust": (0.052, 0.775),
    "surprised": (0.784, 0.855),
    "excitement": (0.896, 0.684),
    "frustration": (0.060, 0.730),
    # nEMO speech labels (its other three are RAVDESS words)
    "anger": (0.167, 0.865),
    "happiness": (0.960, 0.732),
    "fear": (0.073, 0.840),
    # AudioSet music moods
    "funny": (0.918, 0.610),
    "tender": (0.630, 0.520),
    "exciting": (0.950, 0.792),
    "scary": (0.062, 0.952),
    # GEMS-9 (Emotify)
    "amazement": (0.750, 0.800),
    "solemnity": (0.708, 0.370),
    "tenderness": (0.949, 0.276),
    "nostalgia": (0.417, 0.337),
    "calmness": (0.934, 0.105),
    "power": (0.719, 0.670),
    "joyful_activation": (0.8855, 0.770),
    "tension": (0.304, 0.810),
    "sadness": (0.052, 0.288),
    # Valence-arousal quadrants (4Q): Q1 V+A+, Q2 V-A+, Q3 V-A-, Q4 V+A-
    "Q1": (0.75, 0.75),
    "Q2": (0.25, 0.75),
    "Q3": (0.25, 0.25),
    "Q4": (0.75, 0.25),
    "noise": (0.260, 0.883),
}

LABEL_SETS: dict[str, tuple[str, ...]] = {
    "ravdess": ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"),
    "iemocap": ("angry", "happy", "neutral", "sad", "excitement", "frustration"),
    "hikia": ("angry", "happy", "neutral", "sad"),
    "audioset_mood": ("happy", "funny", "sad", "tender", "exciting", "angry", "scary"),
    "gems9": (
        "amazement", "solemnity", "tenderness", "nostalgia", "calmness",
        "power", "joyful_activation", "tension", "sadness",
    ),
    "quadrants": ("Q1", "Q2", "Q3", "Q4"),
    "nemo": ("neutral", "sadness", "anger", "happiness", "fear", "surprised"),
    "neutral_noise": ("neutral", "noise"),
}

MAX_DISTANCE = math.sqrt(2.0)


def load_lexicon(path: str | Path) -> dict[str, VA]:
    """Read an NRC-VAD lexicon (tab-separated ``Word Valence Arousal [Dominance]``, header optional)."""
    entries: dict[str, VA] = {}
    with Path(path).open(encoding="utf-8") as handle:
        for row in csv.reader(handle, delimiter="\t"):
            if len(row) < 3:
                continue
            try:
                entries[row[0].strip().lower()] = (float(row[1]), float(row[2]))
            except ValueError:
                continue  # header line
    if not entries:
        raise ConfigError(f"{path}: no 'word<TAB>valence<TAB>arousal' rows found")
    return entries


def va_similarity(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float | np.ndarray:
    """``1 - euclidean distance`` between VA points; broadcasts over leading axes."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    result = 1.0 - np.sqrt(np.sum(diff * diff, axis=-1))
    return float(result) if np.ndim(result) == 0 else result


def pairwise_va_similarity(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Similarity matrix between two sets of VA points, shapes ``(n, 2)`` x ``(m, 2)`` -> ``(n, m)``."""
    rows = np.asarray(rows, dtype=np.float64)[:, None, :]
    cols = np.asarray(cols, dtype=np.float64)[None, :, :]
    return 1.0 - np.sqrt(np.sum((rows - cols) ** 2, axis=-1))


@dataclass(frozen=True)
class EmotionSpace:
    """Emotion words and their valence-arousal coordinates.

    Args:
        labels: Known words -> (valence, arousal); the built-in vocabulary by default.
        lexicon: Fallback for any other word (see :func:`load_lexicon`).
    """

    labels: Mapping[str, VA]
    lexicon: Mapping[str, VA] | None = None

    @classmethod
    def default(cls, lexicon_path: str | Path | None = None) -> EmotionSpace:
        return cls(dict(BUILTIN_VA), load_lexicon(lexicon_path) if lexicon_path else None)

    def __contains__(self, word: str) -> bool:
        try:
            self.va(word)
        except UnknownEmotionError:
            return False
        return True

    def va(self, word: str) -> np.ndarray:
        """Valence-arousal of ``word`` (case-insensitive; built-in labels win over the lexicon)."""
        key = word.strip()
        for candidate in (key, key.lower(), key.upper(), key.lower().replace(" ", "_")):
            if candidate in self.labels:
                return np.asarray(self.labels[candidate], dtype=np.float64)
        if self.lexicon is not None and key.lower() in self.lexicon:
            return np.asarray(self.lexicon[key.lower()], dtype=np.float64)
        hint = "" if self.lexicon is not None else " (give an NRC-VAD lexicon file to use any English word)"
        raise UnknownEmotionError(f"unknown emotion word {word!r}{hint}")

    def va_matrix(self, words: Iterable[str]) -> np.ndarray:
        return np.stack([self.va(word) for word in words])

    def similarity(self, a: str, b: str) -> float:
        return float(va_similarity(self.va(a), self.va(b)))

    def similarity_matrix(self, rows: Sequence[str], cols: Sequence[str]) -> np.ndarray:
        """The ``rows x cols`` VA-similarity matrix (the paper's Fig. 3 for speech x music labels)."""
        return pairwise_va_similarity(self.va_matrix(rows), self.va_matrix(cols))

    def most_similar(self, word: str, candidates: Sequence[str]) -> str:
        """The candidate label closest to ``word`` on the VA plane (the cross-corpus label mapping)."""
        scores = self.similarity_matrix([word], candidates)[0]
        return candidates[int(np.argmax(scores))]

    def label_mapping(self, sources: Sequence[str], targets: Sequence[str]) -> dict[str, str]:
        """Each source label -> its most similar target label."""
        return {source: self.most_similar(source, targets) for source in sources}

    def nearest_label(self, point: Sequence[float], candidates: Sequence[str]) -> str:
        """The candidate label nearest to a VA point."""
        scores = va_similarity(self.va_matrix(candidates), np.asarray(point, dtype=np.float64))
        return candidates[int(np.argmax(scores))]

    def soft_va(self, distribution: Mapping[str, float]) -> np.ndarray:
        """Probability-weighted VA of a label distribution (e.g. GEMS vote fractions)."""
        words = [word for word, weight in distribution.items() if weight > 0]
        if not words:
            raise ValueError("distribution has no positive weight")
        weights = np.asarray([distribution[word] for word in words], dtype=np.float64)
        return (self.va_matrix(words) * weights[:, None]).sum(axis=0) / weights.sum()
