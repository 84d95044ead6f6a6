from pathlib import Path

import numpy as np
import pytest

from recommender.data import LabelledClip
from recommender.emotion import EmotionSpace
from recommender.evaluation import load_csv_pool, relevance

SPACE = EmotionSpace.default()


def clip(label, corpus, va=None):
    valence, arousal = va if va is not None else SPACE.va(label)
    return LabelledClip(Path(f"{label}.wav"), label, float(valence), float(arousal), label, "dev", corpus)


def test_relevance_uses_the_corpus_vocabulary_even_for_labels_missing_from_the_pool():
    speech = [clip("sad", "ravdess"), clip("happy", "ravdess")]
    music = [clip("nostalgia", "emotify"), clip("joyful_activation", "emotify"), clip("Q3", "emopia")]
    relevant, gains = relevance(speech, music, SPACE)
    # sad -> sadness in GEMS-9, absent here: nostalgia is NOT relevant, though it is the nearest present label.
    assert relevant.tolist() == [[False, False, True], [False, True, False]]
    assert gains[0, 0] == pytest.approx(1 - np.hypot(0.225 - 0.417, 0.333 - 0.337))
    assert gains[1, 1] == pytest.approx(SPACE.similarity("happy", "joyful_activation"))


def test_csv_pool_vocabulary_is_its_labels(tmp_path):
    (tmp_path / "pool.csv").write_text("path,label,valence,arousal\na.wav,bright,0.9,0.8\nb.wav,dark,0.1,0.8\nc.wav,sad,,\n")
    pool = load_csv_pool(tmp_path / "pool.csv", SPACE)
    assert [c.path for c in pool] == [tmp_path / "a.wav", tmp_path / "b.wav", tmp_path / "c.wav"]
    assert (pool[2].valence, pool[2].arousal) == pytest.approx(tuple(SPACE.va("sad")))
    relevant, _ = relevance([clip("happy", "ravdess"), clip("angry", "ravdess"), clip("sad", "ravdess")], pool, SPACE)
    # The vocabulary is the CSV's labels; "bright" and "dark" are no emotion words, so they sit at their rows' VA.
    assert relevant.tolist() == [[True, False, False], [False, True, False], [False, False, True]]


def test_csv_pool_needs_path_and_label(tmp_path):
    (tmp_path / "bad.csv").write_text("file,emotion\na.wav,happy\n")
    with pytest.raises(ValueError, match="path,label"):
        load_csv_pool(tmp_path / "bad.csv", SPACE)
