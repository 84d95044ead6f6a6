import math

import numpy as np
import pytest

from recommender.emotion import (
    BUILTIN_VA,
    LABEL_SETS,
    EmotionSpace,
    UnknownEmotionError,
    load_lexicon,
    va_similarity,
)
from recommender.settings import default_data_dir

LEXICON = default_data_dir() / "lexicon" / "NRC-VAD-Lexicon.txt"


def test_every_label_set_is_placed():
    space = EmotionSpace.default()
    for labels in LABEL_SETS.values():
        points = space.va_matrix(labels)
        assert points.shape == (len(labels), 2)
        assert ((points >= 0) & (points <= 1)).all()


def test_similarity_is_one_minus_euclidean_distance():
    space = EmotionSpace.default()
    # happy (1.000, 0.735) vs sad (0.225, 0.333): distance sqrt(0.775^2 + 0.402^2)
    assert space.similarity("happy", "sad") == pytest.approx(1 - math.hypot(0.775, 0.402))
    assert space.similarity("calm", "calm") == pytest.approx(1.0)
    assert va_similarity((0, 0), (1, 1)) == pytest.approx(1 - math.sqrt(2))


def test_cross_corpus_mapping_follows_the_plane():
    space = EmotionSpace.default()
    mapping = space.label_mapping(LABEL_SETS["ravdess"], LABEL_SETS["gems9"])
    assert mapping["calm"] == "calmness"
    assert mapping["happy"] == "joyful_activation"
    assert mapping["angry"] == "tension"
    assert mapping["sad"] == "sadness"
    assert space.most_similar("sad", LABEL_SETS["quadrants"]) == "Q3"
    assert space.most_similar("angry", LABEL_SETS["quadrants"]) == "Q2"


def test_similarity_matrix_shape_and_symmetry():
    space = EmotionSpace.default()
    matrix = space.similarity_matrix(LABEL_SETS["ravdess"], LABEL_SETS["gems9"])
    assert matrix.shape == (8, 9)
    square = space.similarity_matrix(LABEL_SETS["gems9"], LABEL_SETS["gems9"])
    np.testing.assert_allclose(square, square.T)
    np.testing.assert_allclose(np.diag(square), 1.0)


def test_lookup_is_forgiving_about_case_and_spaces():
    space = EmotionSpace.default()
    np.testing.assert_allclose(space.va("Joyful Activation"), BUILTIN_VA["joyful_activation"])
    np.testing.assert_allclose(space.va("q2"), BUILTIN_VA["Q2"])


def test_unknown_word_without_lexicon_says_how_to_fix():
    with pytest.raises(UnknownEmotionError, match="lexicon"):
        EmotionSpace.default().va("melancholy")


@pytest.mark.skipif(not LEXICON.exists(), reason="NRC-VAD lexicon not available")
def test_any_word_through_the_lexicon():
    space = EmotionSpace.default(LEXICON)
    np.testing.assert_allclose(space.va("melancholy"), (0.188, 0.260))
    assert space.most_similar("melancholy", LABEL_SETS["gems9"]) in {"sadness", "nostalgia"}
    # built-in labels win over the lexicon
    np.testing.assert_allclose(space.va("Q1"), BUILTIN_VA["Q1"])
    assert "xyzzyplugh" not in space


def test_lexicon_file_format(tmp_path):
    path = tmp_path / "lex.txt"
    path.write_text("Word\tValence\tArousal\tDominance\nserene\t0.9\t0.1\t0.5\n")
    assert load_lexicon(path) == {"serene": (0.9, 0.1)}
    (tmp_path / "bad.txt").write_text("nothing here")
    with pytest.raises(ValueError, match="no 'word"):
        load_lexicon(tmp_path / "bad.txt")


def test_soft_va_weights_votes():
    space = EmotionSpace.default()
    point = space.soft_va({"calmness": 3.0, "tension": 1.0, "sadness": 0.0})
    expected = (3 * np.asarray(BUILTIN_VA["calmness"]) + np.asarray(BUILTIN_VA["tension"])) / 4
    np.testing.assert_allclose(point, expected)
    with pytest.raises(ValueError):
        space.soft_va({"calmness": 0.0})
