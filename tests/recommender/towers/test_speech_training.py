"""The speech tower's training script and its speaker-independent protocol (scripts/ is not a package)."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from recommender.emotion import LABEL_SETS
from recommender.towers.speech_builtin import SpeechEmotionNet, SpeechNetConfig

SCRIPTS = Path(__file__).resolve().parents[3] / "scripts"
LABELS = LABEL_SETS["ravdess"]


@pytest.fixture(scope="module")
def scripts():
    sys.path.insert(0, str(SCRIPTS))
    try:
        import speech_protocol
        import train_speech_tower

        yield speech_protocol, train_speech_tower
    finally:
        sys.path.remove(str(SCRIPTS))


def synthetic_set(protocol, clips_per_fold: int = 6):
    """Two corpora x five folds; nEMO rows only carry the six shared labels."""
    rows = [(corpus, fold) for corpus in ("ravdess", "nemo") for fold in range(5) for _ in range(clips_per_fold)]
    labels = [i % 8 if corpus == "ravdess" else protocol.CORPUS_CLASSES["nemo"][i % 6] for i, (corpus, _) in enumerate(rows)]
    return protocol.SpeechSet(
        labels=np.array(labels), corpus=np.array([c for c, _ in rows]), fold=np.array([f for _, f in rows]),
        va=np.random.default_rng(0).random((len(rows), 2)),
    )


def test_cross_validation_never_trains_or_tests_on_the_dev_fold(scripts):
    protocol, _ = scripts
    data = synthetic_set(protocol)
    seen_train, seen_test = [], []

    def fit(rows, seed):
        seen_train.append(rows)

        def predict(test):
            seen_test.append(test)
            assert not set(test) & set(rows)  # held-out actors are never in their own training set
            return np.eye(8)[data.labels[test]]

        return predict

    result = protocol.cross_validate(fit, data, ("ravdess", "nemo"), seeds=[0, 1], log=lambda _: None)
    assert len(seen_train) == 2 * len(protocol.CV_FOLDS)
    for rows in seen_train + seen_test:
        assert (data.fold[rows] != 4).all()
    assert result["ravdess"]["accuracy_mean"] == 1.0 and result["nemo"]["uar_mean"] == 1.0
    assert result["ravdess"]["clips"] == 4 * 6


def test_nemo_is_scored_on_its_own_six_classes(scripts):
    protocol, _ = scripts
    nemo = protocol.CORPUS_CLASSES["nemo"]
    assert [LABELS[k] for k in nemo] == ["neutral", "happy", "sad", "angry", "fearful", "surprised"]
    probabilities = np.full((2, 8), 0.01)
    probabilities[:, LABELS.index("calm")] = 0.9  # calm is no nEMO answer: the best of the six wins
    probabilities[0, LABELS.index("sad")] = 0.05
    probabilities[1, LABELS.index("angry")] = 0.05
    assert protocol.decide(probabilities, nemo).tolist() == [LABELS.index("sad"), LABELS.index("angry")]


def test_cross_corpus_scores_only_the_shared_emotions(scripts):
    protocol, _ = scripts
    data = synthetic_set(protocol)
    trained_on = []

    def fit(rows, seed):
        trained_on.append(set(data.corpus[rows]))
        return lambda test: np.eye(8)[data.labels[test]]

    result = protocol.cross_corpus(fit, data, "nemo", "ravdess", seeds=[0, 1])
    assert trained_on == [{"nemo"}, {"nemo"}]
    # RAVDESS folds 0-3 hold 24 clips, 6 of them calm or disgust.
    assert result["clips"] == 18 and result["accuracy_mean"] == 1.0


def test_lexicon_va_of_a_certain_prediction_is_the_label_va(scripts):
    protocol, _ = scripts
    from recommender.emotion import EmotionSpace

    true = EmotionSpace.default().va_matrix(LABELS)
    result = protocol.va_scores(np.eye(8), true)
    assert result["valence"]["r"] == pytest.approx(1.0) and result["arousal"]["mae"] == pytest.approx(0.0)


def test_training_on_a_corpus_without_calm_or_disgust_stays_finite(scripts):
    # nEMO has six of the eight classes: their balanced weights used to be 1/0 = inf and the loss NaN.
    protocol, train = scripts
    rng = np.random.default_rng(0)
    stats_dim = 12
    features = [train.ClipFeatures([np.zeros((5, 3), np.float16)] * 2, rng.standard_normal((2, stats_dim)).astype(np.float32))
                for _ in range(24)]
    labels = np.array([protocol.CORPUS_CLASSES["nemo"][i % 6] for i in range(24)])
    candidate = train.Candidate("mlp", SpeechNetConfig(stats_dim=stats_dim, stats_hidden=16, embedding_dim=8),
                                train.TrainConfig(epochs=2, batch_size=8))
    net, _ = train.train_model(candidate, features, labels, ("a", "b", "c"), seed=0)
    assert all(torch.isfinite(p).all() for p in net.parameters())


def test_averaged_branches_average_their_logits_and_embeddings():
    config = SpeechNetConfig(sequence_channels=["a", "b"], conv_channels=8, stats_dim=5, stats_hidden=6, embedding_dim=4,
                             average_branches=True)
    net = SpeechEmotionNet(config).eval()
    frames, mask, stats = torch.randn(3, 20, 2), torch.ones(3, 20, dtype=torch.bool), torch.randn(3, 5)
    with torch.no_grad():
        embedding, logits = net(frames, mask, stats)
        frame_embedding = net.embedding(net.pooling(net.encoder(frames.transpose(1, 2)), mask))
        stats_embedding = net.stats_embedding(net.stats_mlp(stats))
    assert embedding.shape == (3, 4)
    torch.testing.assert_close(embedding, (frame_embedding + stats_embedding) / 2)
    torch.testing.assert_close(logits, (net.classifier(frame_embedding) + net.stats_classifier(stats_embedding)) / 2)
    with pytest.raises(ValueError, match="average_branches"):
        SpeechEmotionNet(SpeechNetConfig(stats_dim=5, average_branches=True))


def test_corpus_balanced_weights_give_every_corpus_and_class_the_same_mass(scripts):
    _, train = scripts
    corpora = np.array(["ravdess"] * 6 + ["nemo"] * 3)
    labels = np.array([0, 0, 0, 0, 3, 3, 0, 3, 3])
    weights = train.stratum_weights(labels, corpora)
    cells = {(c, k): weights[(corpora == c) & (labels == k)].sum() for c, k in zip(corpora, labels)}
    assert len(cells) == 4 and np.allclose(list(cells.values()), 1.0)
