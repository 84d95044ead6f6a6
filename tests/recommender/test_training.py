from pathlib import Path

import numpy as np
import pytest
import torch

from recommender.audio import write_audio
from recommender.data import LabelledClip
from recommender.emotion import LABEL_SETS, EmotionSpace
from recommender.features import FeatureCache, tower_fingerprint
from recommender.heads import HeadConfig, LinearVAHead
from recommender.losses import JointBatch, LossConfig, emosim_loss, retrieval_loss, sample_negatives, triplet_loss
from recommender.model import EmotionModel, ModelConfig, TowerSpec
from recommender.ridge import RidgeConfig, fit_ridge_va
from recommender.towers.base import build_tower
from recommender.training import FeatureSet, PairSampler, TrainConfig, train_heads

SPACE = EmotionSpace.default()


def unit(*rows):
    tensor = torch.tensor(rows, dtype=torch.float32)
    return tensor / tensor.norm(dim=1, keepdim=True)


# -- losses on hand examples --------------------------------------------------------------------------


def test_triplet_loss_hand_example():
    anchor = unit([1, 0], [1, 0])
    positive = unit([0.6, 0.8], [0, 1])
    negative = unit([0, 1], [0.6, 0.8])
    # Row 1: 0.4 - 0.6 + 0 < 0 -> 0. Row 2: 0.4 - 0 + 0.6 = 1.0. Mean 0.5.
    assert float(triplet_loss(anchor, positive, negative, margin=0.4)) == pytest.approx(0.5)


def test_emosim_loss_hand_example():
    speech = unit([1, 0])
    music = unit([1, 0], [0, 1])
    speech_va = torch.tensor([[0.0, 0.0]])
    music_va = torch.tensor([[0.3, 0.4], [0.0, 0.0]])
    # cosines (1, 0) vs VA similarities (1 - 0.5, 1 - 0) -> ((1 - 0.5)^2 + (0 - 1)^2) / 2.
    assert float(emosim_loss(speech, music, speech_va, music_va)) == pytest.approx(0.625)


def test_negatives_never_share_the_positive_emotion():
    anchors = unit([1, 0], [0, 1], [1, 1])
    va = torch.tensor([[0.9, 0.9], [0.9, 0.85], [0.1, 0.1]])
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        negatives = sample_negatives(anchors, anchors, va, va, LossConfig(min_gap=0.1), generator)
        # Items 0 and 1 are the same emotion: each one's only valid negative is item 2.
        assert negatives[0] == 2 and negatives[1] == 2
        assert negatives[2] in (0, 1)


def two_item_batch():
    # With two items the in-batch negative of each is the other, so every term is deterministic.
    return JointBatch(
        speech=unit([1, 0], [0, 1]),
        music=unit([0.8, 0.6], [1, 1]),
        speech_tag=unit([1, 0.2], [0.2, 1]),
        music_tag=unit([0.6, 0.8], [1, 0]),
        speech_va=torch.tensor([[0.9, 0.7], [0.2, 0.3]]),
        music_va=torch.tensor([[0.85, 0.7], [0.3, 0.3]]),
    )


def swapped(x):
    return x[[1, 0]]


def test_each_loss_variant_on_a_hand_example():
    batch, config = two_item_batch(), LossConfig()
    speech_music = triplet_loss(batch.speech, batch.music, swapped(batch.music), 0.4)
    speech_tag = triplet_loss(batch.speech, batch.speech_tag, swapped(batch.speech_tag), 0.4)
    music_tag = triplet_loss(batch.music, batch.music_tag, swapped(batch.music_tag), 0.4)
    emosim = emosim_loss(batch.speech, batch.music, batch.speech_va, batch.music_va)
    assert float(speech_music) > 0 and float(emosim) > 0

    assert float(retrieval_loss("triplet", batch, config)["total"]) == pytest.approx(float(speech_music))
    sp = retrieval_loss("triplet_sp", batch, config)
    assert float(sp["speech_tag"]) == pytest.approx(float(speech_tag))
    assert float(sp["total"]) == pytest.approx(float(0.4 * speech_music + 0.3 * speech_tag + 0.3 * music_tag))
    assert float(retrieval_loss("triplet_emosim", batch, config)["total"]) == pytest.approx(float(speech_music + 0.5 * emosim))
    both = retrieval_loss("triplet_sp_emosim", batch, config)["total"]
    assert float(both) == pytest.approx(float(0.4 * speech_music + 0.3 * speech_tag + 0.3 * music_tag + 0.5 * emosim))
    assert float(retrieval_loss("none", batch, config)["total"]) == 0.0
    with pytest.raises(KeyError, match="unknown loss"):
        retrieval_loss("contrastive", batch, config)


# -- sampling and a tiny training run -----------------------------------------------------------------


def synthetic_sets(rng: np.random.Generator, per_label: int = 12) -> tuple[FeatureSet, FeatureSet]:
    """Features that carry the emotion: speech = label one-hot + noise, music = its VA + noise."""
    labels = LABEL_SETS["ravdess"]
    speech_clips, speech_x = [], []
    for index, label in enumerate(labels):
        valence, arousal = SPACE.va(label)
        for n in range(per_label):
            speech_clips.append(LabelledClip(Path(f"{label}{n}.wav"), label, valence, arousal, f"actor{n % 4}", "train", "ravdess"))
            speech_x.append(np.eye(len(labels))[index] * 2 + rng.normal(scale=0.3, size=len(labels)))
    music_clips, music_x = [], []
    gems = LABEL_SETS["gems9"]
    for n in range(60):
        votes = dict(zip(gems, rng.dirichlet(np.full(len(gems), 0.5))))
        valence, arousal = SPACE.soft_va(votes)
        music_clips.append(LabelledClip(Path(f"m{n}.wav"), max(votes, key=votes.get), valence, arousal, f"t{n}", "train", "emotify", votes))
        music_x.append(np.concatenate([[valence, arousal] * 4, rng.normal(scale=0.05, size=4)]))
    for n, quadrant in enumerate(LABEL_SETS["quadrants"] * 5):
        valence, arousal = SPACE.va(quadrant)
        music_clips.append(LabelledClip(Path(f"q{n}.wav"), quadrant, valence, arousal, f"s{n}", "train", "own_csv"))
        music_x.append(np.concatenate([[valence, arousal] * 4, rng.normal(scale=0.05, size=4)]))
    return (
        FeatureSet(np.asarray(speech_x, np.float32), speech_clips),
        FeatureSet(np.asarray(music_x, np.float32), music_clips),
    )


def test_positives_are_music_of_the_most_similar_emotion():
    speech, music = synthetic_sets(np.random.default_rng(0))
    sampler = PairSampler(speech, music, TrainConfig(positive_pool=5), SPACE, np.random.default_rng(0))
    for label in ("happy", "sad", "angry"):
        quadrant = SPACE.most_similar(label, LABEL_SETS["quadrants"])
        assert {music.labels[i] for i in sampler.positives[label]["own_csv"]} == {quadrant}
        nearest = sampler.positives[label]["emotify"]
        distance = np.linalg.norm(music.va - SPACE.va(label), axis=1)
        emotify_rows = [i for i, corpus in enumerate(music.corpora) if corpus == "emotify"]
        assert max(distance[nearest]) <= sorted(distance[emotify_rows])[4] + 1e-9
    anchors = sampler.anchors()
    assert len(anchors) == 64 and len({speech.labels[i] for i in anchors}) >= 6  # class-balanced draws


@pytest.mark.parametrize("loss", ["triplet", "triplet_sp", "triplet_emosim", "none"])
def test_tiny_training_run_reduces_the_loss(loss):
    speech, music = synthetic_sets(np.random.default_rng(1))
    model_config = ModelConfig(towers={
        "speech": TowerSpec("builtin", dim=speech.features.shape[1]),
        "music": TowerSpec("musicnn", dim=music.features.shape[1]),
        "text": TowerSpec("minilm", dim=384),
        "tag": TowerSpec("va", dim=2),
    })
    config = TrainConfig(loss=loss, steps=150, batch_size=16, lr=3e-3, seed=0)
    result = train_heads(config, model_config, speech, music, build_tower("tag", "va"), progress=False)
    losses = np.array([entry["loss"] for entry in result.history])
    assert losses[-20:].mean() < 0.8 * losses[:20].mean()
    # The trained heads place speech queries nearer their own emotion's music than the opposite one.
    model = EmotionModel.from_heads(model_config, result.heads)
    with torch.inference_mode():
        s_emb, s_va, _ = model.heads.speech(torch.as_tensor(speech.features))
    happy = np.array(speech.labels) == "happy"
    assert abs(float(s_va[happy, 0].mean()) - 1.0) < 0.25


def test_affine_music_va_head_is_fitted_across_music_corpora():
    speech, music = synthetic_sets(np.random.default_rng(2))
    model_config = ModelConfig(
        towers={
            "speech": TowerSpec("builtin", dim=speech.features.shape[1]),
            "music": TowerSpec("musicnn+descriptors", dim=music.features.shape[1]),
            "text": TowerSpec("minilm", dim=384),
            "tag": TowerSpec("va", dim=2),
        },
        heads=HeadConfig(music_va="affine"),
    )
    config = TrainConfig(steps=5, batch_size=16, seed=0, ridge=RidgeConfig(folds=3, repeats=1, reference_corpus="emotify"))
    heads = train_heads(config, model_config, speech, music, build_tower("tag", "va"), progress=False).heads
    with torch.inference_mode():
        _, va, _ = heads.music(torch.as_tensor(music.features))
    # The MLP heads see standardised music features (tower outputs mix scales: activations near 1, Hz, BPM).
    scaled = heads.music_input(torch.as_tensor(music.features))
    assert torch.allclose(scaled.mean(0), torch.zeros(scaled.shape[1]), atol=1e-4)
    assert torch.allclose(scaled.std(0, correction=0), torch.ones(scaled.shape[1]), atol=1e-3)
    emotify = np.array(music.corpora) == "emotify"
    for axis in range(2):
        assert np.corrcoef(va[emotify, axis].numpy(), music.va[emotify, axis])[0, 1] > 0.9
    # On the reference corpus' own scale, not squashed through a sigmoid.
    assert abs(float(va[emotify, 0].mean()) - float(music.va[emotify, 0].mean())) < 0.05
    assert float(va[emotify, 0].std()) > 0.6 * float(music.va[emotify, 0].std())


# -- the feature cache (real tower, generated audio) ----------------------------------------------------


def test_feature_cache_reuses_vectors(tmp_path):
    tower = build_tower("music", "musicnn")
    t = np.arange(16000 * 4) / 16000
    paths = [
        write_audio(tmp_path / "low.wav", (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000),
        write_audio(tmp_path / "silent.wav", np.zeros(16000, np.float32), 16000),
        write_audio(tmp_path / "high.wav", (0.3 * np.sign(np.sin(2 * np.pi * 1760 * t))).astype(np.float32), 16000),
    ]
    cache = FeatureCache(tmp_path / "cache")
    first, kept = cache.embed_files(tower, paths)
    assert kept == [0, 2]  # the silent file is skipped, not embedded
    assert first.shape == (2, tower.dim)
    files = sorted((tmp_path / "cache").rglob("*.npz"))
    assert len(files) == 2
    second, _ = FeatureCache(tmp_path / "cache").embed_files(tower, paths)
    np.testing.assert_array_equal(first, second)
    assert sorted((tmp_path / "cache").rglob("*.npz")) == files
    assert tower_fingerprint(tower) == tower_fingerprint(build_tower("music", "musicnn"))
    assert tower_fingerprint(tower) != tower_fingerprint(build_tower("music", "musicnn", features=("penultimate",)))


def test_ridge_va_head_fits_signal_and_shrinks_noise():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(120, 30)).astype(np.float32)
    arousal = 1 / (1 + np.exp(-(features[:, 0] - 0.5 * features[:, 1])))  # a learnable axis
    valence = rng.uniform(0.3, 0.7, size=120)  # pure noise: nothing to learn
    head = LinearVAHead(30)
    alpha_valence, alpha_arousal = fit_ridge_va(head, features, np.stack([valence, arousal], 1), RidgeConfig(folds=4, repeats=2))
    assert alpha_valence > alpha_arousal
    test = rng.normal(size=(200, 30)).astype(np.float32)
    with torch.no_grad():
        predicted = torch.sigmoid(head(torch.as_tensor(test))).numpy()
    truth = 1 / (1 + np.exp(-(test[:, 0] - 0.5 * test[:, 1])))
    assert np.corrcoef(predicted[:, 1], truth)[0, 1] > 0.9
    assert predicted[:, 0].std() < 0.25 * valence.std()  # shrunk toward the training mean
    assert abs(predicted[:, 0].mean() - valence.mean()) < 0.05
