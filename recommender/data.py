"""Labelled corpora for training and evaluation, read in place (never copied into the project).

Every corpus becomes a list of :class:`LabelledClip`: an audio file, its emotion label, its
valence-arousal point (0-1 NRC-VAD scale), a group key for independence (speaker or song), its
cross-validation fold and its split.

Every corpus has five folds that never split a group, and fold 4 is its dev split, so cross-validation
and the fixed train/dev split agree everywhere:
- RAVDESS (speech, 20 actors): actors in pairs of one man and one woman, pair ``(actor - 1) // 2``
  mod 5; fold 4 (dev) = actors 09, 10, 19, 20.
- nEMO (Polish speech, 9 actors): women and men dealt in turn over the folds (sorted by speaker id).
- Emotify (music): position of the track within its genre (by track id) mod 5 (genre-balanced).
- 4Q (music, ``moods4q``): whole artists, largest first, each to the fold with the fewest clips of its
  quadrants (quadrant-stratified, artist-grouped).
"""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from recommender.emotion import LABEL_SETS, EmotionSpace
from recommender.errors import CorpusMissingError, UsageError
from recommender.settings import default_data_dir

Split = Literal["train", "dev"]
FOLDS = 5
DEV_FOLD = FOLDS - 1


@dataclass(frozen=True)
class LabelledClip:
    """One labelled recording.

    Attributes:
        path: Audio file.
        label: Emotion word in the corpus' own vocabulary (see ``LABEL_SETS``).
        valence: Valence in [0, 1].
        arousal: Arousal in [0, 1].
        group: Independence key (speaker, song, artist); never split across folds.
        split: ``train`` or ``dev`` (fold 4).
        corpus: Corpus name.
        soft_labels: Label distribution where the corpus has one (Emotify vote fractions).
        fold: Cross-validation fold (0-4); see the module docstring for each corpus' rule.
    """

    path: Path
    label: str
    valence: float
    arousal: float
    group: str
    split: Split
    corpus: str
    soft_labels: dict[str, float] | None = None
    fold: int | None = None


def _require(path: Path) -> Path:
    if not path.exists():
        raise CorpusMissingError(f"{path} not found: point UNDERTONE_DATA_DIR at the corpora (see ../shared/data/README.md)")
    return path


def _rows(root: Path, corpus: str) -> list[dict[str, str]]:
    with _require(root / corpus / "labels.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _split(fold: int) -> Split:
    return "dev" if fold == DEV_FOLD else "train"


def ravdess_fold(actor: int) -> int:
    """RAVDESS numbers men odd and women even, so each pair (1-2, 3-4, ...) holds one of each."""
    return (actor - 1) // 2 % FOLDS


def load_ravdess(data_dir: Path | None = None, space: EmotionSpace | None = None) -> list[LabelledClip]:
    """RAVDESS speech, 8 emotions, 20 actors; folds by sex-balanced actor pairs."""
    root = _require(Path(data_dir or default_data_dir()))
    space = space or EmotionSpace.default()
    clips = []
    for row in _rows(root, "ravdess"):
        actor = int(row["actor"])
        valence, arousal = space.va(row["emotion"])
        fold = ravdess_fold(actor)
        clips.append(LabelledClip(
            path=root / row["file"], label=row["emotion"], valence=float(valence), arousal=float(arousal),
            group=f"actor{actor:02d}", split=_split(fold), corpus="ravdess", fold=fold,
        ))
    return clips


def sex_balanced_folds(speakers: dict[str, str]) -> dict[str, int]:
    """Deal speakers to folds in turn, all of one sex before the other, so each fold mixes both."""
    order = sorted(speakers, key=lambda speaker: (speakers[speaker], speaker))
    return {speaker: position % FOLDS for position, speaker in enumerate(order)}


def load_nemo(data_dir: Path | None = None, space: EmotionSpace | None = None) -> list[LabelledClip]:
    """nEMO Polish speech, 6 emotions, 9 actors; folds by speaker (sex-balanced)."""
    root = _require(Path(data_dir or default_data_dir()))
    space = space or EmotionSpace.default()
    rows = _rows(root, "nemo")
    folds = sex_balanced_folds({row["speaker"]: row["sex"] for row in rows})
    clips = []
    for row in rows:
        valence, arousal = space.va(row["emotion"])
        fold = folds[row["speaker"]]
        clips.append(LabelledClip(
            path=root / row["file"], label=row["emotion"], valence=float(valence), arousal=float(arousal),
            group=f"nemo_{row['speaker']}", split=_split(fold), corpus="nemo", fold=fold,
        ))
    return clips


def genre_folds(rows: list[dict[str, str]]) -> dict[int, int]:
    """Track id -> position of the track within its genre (by id) mod 5: genre-balanced folds."""
    folds = {}
    for genre in {row["genre"] for row in rows}:
        ids = sorted(int(row["track_id"]) for row in rows if row["genre"] == genre)
        folds.update({track: position % FOLDS for position, track in enumerate(ids)})
    return folds


def load_emotify(data_dir: Path | None = None, space: EmotionSpace | None = None) -> list[LabelledClip]:
    """Emotify music with GEMS-9 vote fractions; label = most voted, VA = vote-weighted VA."""
    root = _require(Path(data_dir or default_data_dir()))
    space = space or EmotionSpace.default()
    gems = LABEL_SETS["gems9"]
    rows = _rows(root, "emotify")
    folds = genre_folds(rows)
    clips = []
    for row in rows:
        votes = {label: float(row[label]) for label in gems}
        valence, arousal = space.soft_va(votes)
        track = int(row["track_id"])
        clips.append(LabelledClip(
            path=root / row["file"], label=max(votes, key=votes.get), valence=float(valence), arousal=float(arousal),
            group=f"{row['genre']}_{track:03d}", split=_split(folds[track]),
            corpus="emotify", soft_labels=votes, fold=folds[track],
        ))
    return clips


def group_folds(groups: list[str], strata: list[str]) -> dict[str, int]:
    """Whole groups to folds, stratified: largest group first, each to the fold that holds the fewest clips
    of the group's strata so far (then the fewest clips, then the lowest fold)."""
    members: dict[str, Counter[str]] = {}
    for group, stratum in zip(groups, strata, strict=True):
        members.setdefault(group, Counter())[stratum] += 1
    per_stratum = [Counter() for _ in range(FOLDS)]
    load = [0] * FOLDS
    folds = {}
    for group in sorted(members, key=lambda name: (-members[name].total(), name)):
        mix = members[group]
        fold = min(range(FOLDS), key=lambda f: (sum(per_stratum[f][s] * n for s, n in mix.items()), load[f], f))
        folds[group] = fold
        per_stratum[fold].update(mix)
        load[fold] += mix.total()
    return folds


def load_moods4q(data_dir: Path | None = None, space: EmotionSpace | None = None) -> list[LabelledClip]:
    """4Q popular music: label = quadrant Q1-Q4, VA = the clip's own (mean NRC-VAD of its mood words); folds by artist."""
    root = _require(Path(data_dir or default_data_dir()))
    rows = _rows(root, "moods4q")
    folds = group_folds([row["artist"] for row in rows], [row["quadrant"] for row in rows])
    clips = []
    for row in rows:
        fold = folds[row["artist"]]
        clips.append(LabelledClip(
            path=root / row["file"], label=row["quadrant"], valence=float(row["valence"]), arousal=float(row["arousal"]),
            group=f"artist:{row['artist']}", split=_split(fold), corpus="moods4q", fold=fold,
        ))
    return clips


def music_fold(clip: LabelledClip, folds: int = FOLDS) -> int:
    """The clip's cross-validation fold: the corpus' own for 5 folds, else a stable hash of its group."""
    if clip.fold is not None and folds == FOLDS:
        return clip.fold
    return int(hashlib.sha1(clip.group.encode()).hexdigest(), 16) % folds


CORPORA: dict[str, Callable[..., list[LabelledClip]]] = {
    "ravdess": load_ravdess,
    "nemo": load_nemo,
    "emotify": load_emotify,
    "moods4q": load_moods4q,
}
SPEECH_CORPORA = ("ravdess", "nemo")
MUSIC_CORPORA = ("emotify", "moods4q")


def load_corpus(name: str, split: Split | None = None, data_dir: Path | None = None) -> list[LabelledClip]:
    """Load a corpus by name, optionally keeping one split."""
    try:
        loader = CORPORA[name]
    except KeyError:
        raise UsageError(f"unknown corpus {name!r}; known: {sorted(CORPORA)}") from None
    clips = loader(data_dir)
    return [clip for clip in clips if split is None or clip.split == split]
