"""The corpus split rules behind every reported number, on small generated label files (no corpora needed)."""

import csv
from collections import Counter
from pathlib import Path

import pytest

from recommender.data import CORPORA, load_corpus, music_fold
from recommender.emotion import LABEL_SETS
from recommender.errors import CorpusMissingError, UsageError


def write_labels(root: Path, corpus: str, rows: list[dict]) -> None:
    (root / corpus).mkdir(parents=True)
    with (root / corpus / "labels.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def by_group(clips) -> dict[str, set[int]]:
    folds: dict[str, set[int]] = {}
    for clip in clips:
        folds.setdefault(clip.group, set()).add(clip.fold)
    return folds


def check_common_rules(clips) -> None:
    """Every corpus: a group lives in one fold, and the dev split is exactly fold 4."""
    assert all(len(folds) == 1 for folds in by_group(clips).values())
    assert all((clip.split == "dev") == (clip.fold == 4) for clip in clips)
    assert all(music_fold(clip) == clip.fold for clip in clips)


def test_ravdess_folds_pair_one_man_and_one_woman(tmp_path):
    rows = [
        {"file": f"ravdess/{actor}-{emotion}.opus", "actor": actor, "sex": "male" if actor % 2 else "female", "emotion": emotion}
        for actor in range(1, 21) for emotion in LABEL_SETS["ravdess"]
    ]
    write_labels(tmp_path, "ravdess", rows)
    clips = load_corpus("ravdess", data_dir=tmp_path)
    check_common_rules(clips)
    actors_in = {fold: {int(c.group[5:]) for c in clips if c.fold == fold} for fold in range(5)}
    assert actors_in[4] == {9, 10, 19, 20}
    for actors in actors_in.values():
        assert len(actors) == 4 and sum(actor % 2 for actor in actors) == 2  # two men, two women
    assert {c.group for c in load_corpus("ravdess", "dev", data_dir=tmp_path)} == {"actor09", "actor10", "actor19", "actor20"}


def test_nemo_folds_keep_speakers_whole_and_mix_sexes(tmp_path):
    speakers = {"EB0": "female", "IC0": "female", "KD0": "female", "MK0": "female",
                "KS0": "male", "MP0": "male", "SM0": "male", "TP0": "male", "WR0": "male"}
    rows = [
        {"file": f"nemo/{speaker}_{emotion}_{n}.opus", "speaker": speaker, "sex": sex, "emotion": emotion}
        for speaker, sex in speakers.items() for emotion in LABEL_SETS["nemo"] for n in range(2)
    ]
    write_labels(tmp_path, "nemo", rows)
    clips = load_corpus("nemo", data_dir=tmp_path)
    check_common_rules(clips)
    groups_per_fold = Counter(folds.pop() for folds in by_group(clips).values())
    assert sorted(groups_per_fold.values()) == [1, 2, 2, 2, 2]
    for fold in range(4):
        sexes = {speakers[c.group.removeprefix("nemo_")] for c in clips if c.fold == fold}
        assert sexes == {"female", "male"}
    # The label set's words all have a VA point (no lexicon needed).
    assert {c.label for c in clips} == set(LABEL_SETS["nemo"])


def test_emotify_folds_are_positions_within_each_genre(tmp_path):
    gems = LABEL_SETS["gems9"]
    rows = []
    for genre in ("classical", "rock"):
        for track in (3, 1, 7, 2, 5, 9, 4, 8, 6, 10):  # unsorted on purpose: position is by id
            rows.append({"file": f"emotify/{genre}_{track:03d}.opus", "genre": genre, "track_id": track,
                         **{label: 1.0 if label == gems[track % 9] else 0.0 for label in gems}})
    write_labels(tmp_path, "emotify", rows)
    clips = load_corpus("emotify", data_dir=tmp_path)
    check_common_rules(clips)
    for clip in clips:
        track = int(clip.group.split("_")[1])
        assert clip.fold == (track - 1) % 5
    assert Counter((c.group.split("_")[0], c.fold) for c in clips) == {(g, f): 2 for g in ("classical", "rock") for f in range(5)}


def test_moods4q_folds_keep_artists_whole_and_balance_quadrants(tmp_path):
    rows, song = [], 0
    for artist, sizes in {"A": 4, "B": 3, "C": 3, "D": 2, "E": 2, "F": 2, "G": 1, "H": 1, "I": 1, "J": 1}.items():
        for _ in range(sizes * 2):
            song += 1
            quadrant = f"Q{song % 4 + 1}"
            rows.append({"file": f"moods4q/{quadrant}_{song}.opus", "artist": artist, "quadrant": quadrant,
                         "valence": 0.8 if quadrant in ("Q1", "Q4") else 0.2, "arousal": 0.8 if quadrant in ("Q1", "Q2") else 0.2})
    write_labels(tmp_path, "moods4q", rows)
    clips = load_corpus("moods4q", data_dir=tmp_path)
    check_common_rules(clips)
    sizes = Counter(clip.fold for clip in clips)
    assert max(sizes.values()) - min(sizes.values()) <= 2
    # The clip's own VA, not the quadrant centre.
    assert {(c.valence, c.arousal) for c in clips} == {(0.8, 0.8), (0.2, 0.8), (0.2, 0.2), (0.8, 0.2)}


def test_other_fold_counts_hash_whole_groups(tmp_path):
    rows = [{"file": f"ravdess/{a}-{e}.opus", "actor": a, "sex": "male", "emotion": e} for a in range(1, 21) for e in ("happy", "sad")]
    write_labels(tmp_path, "ravdess", rows)
    clips = load_corpus("ravdess", data_dir=tmp_path)
    three = {}
    for clip in clips:
        assert three.setdefault(clip.group, music_fold(clip, 3)) == music_fold(clip, 3) < 3


def test_missing_corpus_and_unknown_name_are_clear_errors(tmp_path):
    for name in CORPORA:
        with pytest.raises(CorpusMissingError, match="UNDERTONE_DATA_DIR"):
            load_corpus(name, data_dir=tmp_path)
    with pytest.raises(UsageError, match="unknown corpus 'emopia'"):
        load_corpus("emopia", data_dir=tmp_path)
