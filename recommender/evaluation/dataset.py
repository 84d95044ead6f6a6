"""The data of a retrieval benchmark: labelled speech queries, a labelled music pool and their relevance.

Queries and pools are corpora by name (:mod:`recommender.data`) or CSV files with
``path,label[,valence,arousal]``. Relevance follows Doh et al. (ICASSP 2023): binary = the music label
is the speech label's most similar label in that music corpus' vocabulary; graded = VA similarity of
the speech label and the music's VA.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recommender.data import CORPORA, LabelledClip, load_corpus
from recommender.emotion import EmotionSpace, pairwise_va_similarity
from recommender.errors import UsageError
from recommender.features import FeatureCache
from recommender.towers.base import Tower
from recommender.training import FeatureSet, Towers, corpus_vocabulary

Progress = Callable[[float, str], None]
"""``progress(fraction, message)`` with ``fraction`` in [0, 1] (e.g. a dashboard's progress bar)."""

TowerSet = Towers | Mapping[str, Tower]
"""Towers by modality (``"speech"``, ``"music"``): a training set's, or a loaded model's."""

PROGRESS_CHUNK = 8  # files per feature-extraction step when progress is reported


class Steps:
    """Progress in units of work (a file featurised, a training run) towards a total that may grow."""

    def __init__(self, report: Progress | None, total: int = 0) -> None:
        self.report, self.total, self.done = report, total, 0

    def advance(self, units: int, message: str) -> None:
        self.done += units
        if self.report is not None:
            self.report(min(self.done / max(self.total, 1), 0.99), message)


def load_csv_pool(path: Path, space: EmotionSpace) -> list[LabelledClip]:
    """Clips listed in a CSV with columns ``path,label[,valence,arousal]`` (paths relative to the CSV)."""
    clips = []
    with Path(path).open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"path", "label"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: needs columns path,label[,valence,arousal]; missing {sorted(missing)}")
        for row in reader:
            audio = Path(row["path"])
            audio = audio if audio.is_absolute() else Path(path).parent / audio
            if row.get("valence") not in (None, "") and row.get("arousal") not in (None, ""):
                valence, arousal = float(row["valence"]), float(row["arousal"])
            else:
                valence, arousal = space.va(row["label"])
            clips.append(LabelledClip(audio, row["label"], float(valence), float(arousal), str(audio), "dev", Path(path).stem))
    return clips


def pool_clips(spec: str, split: str | None, space: EmotionSpace, data_dir: Path | None) -> list[LabelledClip]:
    """The clips of a corpus (by name, one split; ``None``: all) or of a CSV file (all rows)."""
    if spec in CORPORA:
        return load_corpus(spec, split, data_dir)  # type: ignore[arg-type]
    path = Path(spec).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{spec} is neither a corpus ({', '.join(sorted(CORPORA))}) nor a CSV file")
    return load_csv_pool(path, space)


def embed_clips(tower: Tower, clips: Sequence[LabelledClip], what: str, cache: FeatureCache, steps: Steps | None = None) -> FeatureSet:
    """Tower features of ``clips`` (cached); clips that cannot be decoded are left out.

    Raises:
        UsageError: None of the clips could be read as audio.
    """
    # Small chunks only when someone watches the progress: each chunk is one progress step.
    chunk = PROGRESS_CHUNK if steps is not None and steps.report is not None else max(len(clips), 1)
    vectors, kept = [], []
    for start in range(0, len(clips), chunk):
        part = clips[start:start + chunk]
        features, indices = cache.embed_files(tower, [clip.path for clip in part], description=what)
        vectors.append(features)
        kept += [start + index for index in indices]
        if steps is not None:
            steps.advance(len(part), f"{what}: {min(start + chunk, len(clips))}/{len(clips)} files")
    if not kept:
        raise UsageError(f"none of the {len(clips)} {what} files could be read as audio")
    return FeatureSet(np.concatenate(vectors), [clips[index] for index in kept])


def load_pool(spec: str, split: str | None, tower: Tower, *, space: EmotionSpace, data_dir: Path | None, cache: FeatureCache) -> FeatureSet:
    """Features of a corpus (by name, one split) or of a CSV file (all rows)."""
    return embed_clips(tower, pool_clips(spec, split, space, data_dir), _description(spec, split), cache)


def relevance(speech: Sequence[LabelledClip], music: Sequence[LabelledClip], space: EmotionSpace) -> tuple[np.ndarray, np.ndarray]:
    """Binary and graded relevance ``(n_speech, n_music)``.

    Binary: the music label is the speech label's most similar label within the music corpus'
    vocabulary (:func:`~recommender.training.corpus_vocabulary`: e.g. GEMS-9 for Emotify, even where
    the pool lacks some of its labels, whose queries then have no binary score; for a CSV pool the labels
    present, placed at their own VA when they are not emotion words). Graded: ``1 - distance`` between
    the speech label's VA and the music's VA.
    """
    present: dict[str, list[LabelledClip]] = {}
    for clip in music:
        present.setdefault(clip.corpus, []).append(clip)
    target = {}
    for corpus, clips in present.items():
        words = corpus_vocabulary(corpus, [clip.label for clip in clips])
        points = np.stack([_label_va(word, clips, space) for word in words])
        for label in {clip.label for clip in speech}:
            target[(label, corpus)] = words[int(np.argmax(pairwise_va_similarity(space.va(label)[None], points)[0]))]
    relevant = np.array([[m.label == target[(s.label, m.corpus)] for m in music] for s in speech], dtype=bool)
    speech_va = np.array([(c.valence, c.arousal) for c in speech])
    music_va = np.array([(c.valence, c.arousal) for c in music])
    return relevant, pairwise_va_similarity(speech_va, music_va)


def _label_va(word: str, clips: Sequence[LabelledClip], space: EmotionSpace) -> np.ndarray:
    """A label's VA point: the emotion space's, or (a CSV label that is not an emotion word) its clips' mean."""
    if word in space:
        return space.va(word)
    return np.mean([(clip.valence, clip.arousal) for clip in clips if clip.label == word], axis=0)


@dataclass
class EvalSet:
    """Dev speech queries, the music pool and their relevance."""

    speech: FeatureSet
    music: FeatureSet
    relevant: np.ndarray
    gains: np.ndarray

    @classmethod
    def build(cls, speech: FeatureSet, music: FeatureSet, space: EmotionSpace) -> EvalSet:
        relevant, gains = relevance(speech.clips, music.clips, space)
        return cls(speech, music, relevant, gains)

    @property
    def judged(self) -> np.ndarray:
        """Queries with a relevant track in the pool (the only ones MRR and P@k count)."""
        return self.relevant.any(axis=1)

    def unjudged_labels(self) -> list[str]:
        """Query labels whose best-matching music label is missing from the pool."""
        return sorted({label for label, ok in zip(self.speech.labels, self.judged) if not ok})

    @classmethod
    def pool(cls, sets: Sequence[EvalSet]) -> EvalSet:
        """Independent evaluations side by side: queries and pools stacked, relevance block-diagonal."""
        relevant = np.zeros((sum(len(s.speech.clips) for s in sets), sum(len(s.music.clips) for s in sets)), bool)
        gains = np.zeros(relevant.shape)
        row = col = 0
        for s in sets:
            rows, cols = s.relevant.shape
            relevant[row:row + rows, col:col + cols], gains[row:row + rows, col:col + cols] = s.relevant, s.gains
            row, col = row + rows, col + cols
        return cls(FeatureSet.concat([s.speech for s in sets]), FeatureSet.concat([s.music for s in sets]), relevant, gains)


def build_dev_set(
    towers: TowerSet, speech: str, music: Sequence[str], split: str, space: EmotionSpace, data_dir: Path | None, cache: FeatureCache,
    steps: Steps | None = None,
) -> EvalSet:
    """Queries from ``speech`` against the pool of all ``music`` (corpus names or CSVs), featurised by ``towers``."""
    speech_clips = pool_clips(speech, split, space, data_dir)
    music_clips = {spec: pool_clips(spec, split, space, data_dir) for spec in music}
    if steps is not None:  # one progress unit per file
        steps.total += len(speech_clips) + sum(len(clips) for clips in music_clips.values())
    speech_set = embed_clips(towers["speech"], speech_clips, _description(speech, split), cache, steps)
    music_set = FeatureSet.concat([embed_clips(towers["music"], clips, _description(spec, split), cache, steps) for spec, clips in music_clips.items()])
    return EvalSet.build(speech_set, music_set, space)


def _description(spec: str, split: str | None) -> str:
    return f"{spec} {split or 'all'}" if spec in CORPORA else Path(spec).name
