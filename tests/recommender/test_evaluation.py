from pathlib import Path

import numpy as np
import pytest

from recommender.data import LabelledClip, load_corpus
from recommender.emotion import EmotionSpace
from recommender.evaluation import (
    EvalSet,
    HeadOutputs,
    RunResult,
    cross_validate_music,
    cross_validate_pools,
    load_csv_pool,
    markdown_table,
    relevance,
    write_report,
)
from recommender.evaluation import benchmark as benchmark_module
from recommender.evaluation.benchmark import _pool_runs
from recommender.metrics import RetrievalScores, regression_scores
from recommender.training import FeatureSet, TrainConfig

SPACE = EmotionSpace.default()


def clip(label, corpus, va=None):
    valence, arousal = va if va is not None else SPACE.va(label)
    return LabelledClip(Path(f"{label}.wav"), label, float(valence), float(arousal), label, "dev", corpus)


def test_relevance_uses_the_corpus_vocabulary_even_for_labels_missing_from_the_pool():
    speech = [clip("sad", "ravdess"), clip("happy", "ravdess")]
    music = [clip("nostalgia", "emotify"), clip("joyful_activation", "emotify"), clip("Q3", "moods4q")]
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


def feature_set(labels, corpus, va=None):
    clips = [clip(label, corpus, None if va is None else va[i]) for i, label in enumerate(labels)]
    return FeatureSet(np.zeros((len(clips), 2), np.float32), clips)


def test_pooled_folds_keep_each_query_to_its_own_pool():
    fold_a = EvalSet.build(feature_set(["sad", "happy"], "ravdess"), feature_set(["nostalgia", "joyful_activation"], "emotify"), SPACE)
    fold_b = EvalSet.build(feature_set(["sad", "happy"], "ravdess"), feature_set(["sadness"], "emotify"), SPACE)
    pooled = EvalSet.pool([fold_a, fold_b])
    assert pooled.relevant.shape == (4, 3)
    # Fold a has no "sadness" track (sad has nothing relevant there); fold b has nothing for happy.
    assert pooled.relevant.tolist() == [[False, False, False], [False, True, False], [False, False, True], [False, False, False]]
    assert pooled.gains[0, 2] == 0 and pooled.gains[2, 2] == pytest.approx(fold_b.gains[0, 0])

    def run(mrr, predicted_va):
        outputs = HeadOutputs(np.zeros((2, 2)), np.zeros((2, 2)), np.zeros((2, 8)), np.zeros((len(predicted_va), 2)), np.array(predicted_va))
        return RunResult(RetrievalScores(np.array(mrr), np.array(mrr), np.array([0.5, 0.7]), 5), {"speech_accuracy": 0.5}, outputs)

    predicted = [[0.4, 0.3], [0.9, 0.7]], [[0.1, 0.3]]
    merged = _pool_runs([run([np.nan, 1.0], predicted[0]), run([0.5, np.nan], predicted[1])], [fold_a, fold_b])
    assert merged.retrieval.mean()["MRR"] == pytest.approx(0.75) and merged.retrieval.judged == 2
    assert merged.retrieval.mean()["nDCG@5"] == pytest.approx(0.6)
    target = np.concatenate([fold_a.music.va, fold_b.music.va])
    expected = regression_scores(np.array(predicted[0] + predicted[1])[:, 0], target[:, 0])
    assert merged.extra["emotify_valence_MAE"] == pytest.approx(expected["MAE"])
    assert merged.extra["emotify_valence_R2"] == pytest.approx(expected["R2"])


def test_music_cross_validation_holds_out_every_track_once(tmp_path, small_corpora):
    config = TrainConfig.from_file("default").replace(steps=20)
    benchmark = cross_validate_music(
        config, corpus="emotify", folds=5, variants=("random", "triplet"), seeds=(0,), progress=False, data_dir=small_corpora
    )
    # every track; the dev speakers
    tracks, queries = len(load_corpus("emotify", data_dir=small_corpora)), len(load_corpus("ravdess", "dev", data_dir=small_corpora))
    groups = [clip.group for clip in benchmark.dev.music.clips]
    assert len(groups) == len(set(groups)) == tracks == benchmark.setup["pool"]
    assert len(benchmark.dev.speech.clips) == 5 * benchmark.setup["queries"] == 5 * queries
    triplet = next(v for v in benchmark.variants if v.name == "triplet")
    assert len(triplet.runs[0].retrieval.mrr) == 5 * queries
    summary = triplet.summary()
    assert 0 < summary["MRR"]["mean"] <= 1 and np.isfinite(summary["emotify_arousal_R2"]["mean"])
    assert 0 <= summary["mood_top1"]["mean"] <= 1  # the mood head against each track's most-voted GEMS emotion
    table = markdown_table(benchmark)
    assert f"5-fold cross-validation over all {tracks} clips" in table and "| triplet |" in table
    assert {p.name for p in write_report(benchmark, tmp_path)} >= {"results.json", "results.md", "va_plane.png"}


def test_pools_cross_validate_together_and_a_corpus_the_setup_does_not_train_on_stays_unseen(small_corpora, monkeypatch):
    trained_on: list[set[str]] = []
    real = benchmark_module.run_variant

    def recording(name, config, train_data, devs, seeds, progress=True, steps=None):
        if train_data is not None:
            trained_on.append({clip.corpus for clip in train_data.music.clips})
        return real(name, config, train_data, devs, seeds, progress, steps)

    monkeypatch.setattr(benchmark_module, "run_variant", recording)
    config = TrainConfig.from_file("default").replace(steps=10, music_corpora=("emotify",))
    emotify, moods4q = cross_validate_pools(
        config, corpora=("emotify", "moods4q"), variants=("triplet",), seeds=(0,), progress=False, data_dir=small_corpora,
        check_speech_tower=False,
    )
    assert trained_on == [{"emotify"}] * 5  # heads train once per fold, never on 4Q
    assert emotify.setup["pool"] == len(load_corpus("emotify", data_dir=small_corpora))
    assert moods4q.setup["pool"] == len(load_corpus("moods4q", data_dir=small_corpora))
    assert {clip.corpus for clip in moods4q.dev.music.clips} == {"moods4q"}
    assert "mood_top1" in emotify.variants[0].summary() and "mood_top1" not in moods4q.variants[0].summary()
