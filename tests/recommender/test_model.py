"""The EmotionModel contract (docs/contracts.md) on the shipped model, with audio generated here."""

import numpy as np
import pytest

from recommender.audio import resample
from recommender.emotion import LABEL_SETS
from recommender.errors import AudioError, ConfigError, SilentAudioError, UnknownEmotionError
from recommender.model import BUILTIN_DIR, Analysis, EmotionModel
from recommender.settings import default_data_dir
from recommender.synth import synthesize_music, synthesize_speech
from recommender.towers.musicnn import DEFAULT_MAX_PATCHES


@pytest.fixture(scope="module")
def model() -> EmotionModel:
    return EmotionModel.load("builtin")


@pytest.fixture(scope="module")
def speech():
    clip = synthesize_speech("angry", seconds=3.0, seed=1)
    return clip.waveform, clip.sample_rate


@pytest.fixture(scope="module")
def music():
    happy = synthesize_music("happy", seconds=8.0, genre="piano", seed=2)
    sad = synthesize_music("sad", seconds=6.0, genre="piano", seed=3)
    return [(happy.waveform, happy.sample_rate), (sad.waveform, sad.sample_rate)]


def assert_valid(analysis: Analysis, model: EmotionModel, labels) -> None:
    assert analysis.embedding.shape == (model.joint_dim,) and analysis.embedding.dtype == np.float32
    assert np.linalg.norm(analysis.embedding) == pytest.approx(1.0, abs=1e-5)
    assert 0.0 <= analysis.valence <= 1.0 and 0.0 <= analysis.arousal <= 1.0
    assert set(analysis.emotions) == set(labels)
    probabilities = list(analysis.emotions.values())
    assert probabilities == sorted(probabilities, reverse=True)
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-4)


def test_fingerprint_follows_the_weights(model, tmp_path):
    """Stores remember the fingerprint of the model that wrote them: any change to the heads must show."""
    from safetensors.torch import load_file, save_file

    model.save(tmp_path / "copy")
    weights = tmp_path / "copy" / "heads.safetensors"
    tensors = load_file(weights)
    name = sorted(tensors)[0]
    tensors[name] = tensors[name] + 1e-3
    save_file(tensors, weights)
    changed = EmotionModel.load(tmp_path / "copy")
    assert changed.fingerprint != model.fingerprint and changed.joint_dim == model.joint_dim
    assert EmotionModel.load(BUILTIN_DIR).fingerprint == model.fingerprint


def test_fingerprint_follows_the_bound_on_analysed_music_windows(model):
    """Long tracks are analysed on a bounded number of windows: another bound makes other vectors, so
    skip-unchanged re-ingestion must see another model."""
    every = EmotionModel.load("builtin", music_max_windows=0)
    sixteen = EmotionModel.load("builtin", music_max_windows=16)
    default = EmotionModel.load("builtin", music_max_windows=DEFAULT_MAX_PATCHES)
    assert len({model.fingerprint, every.fingerprint, sixteen.fingerprint}) == 3
    assert every.music_tower.config.max_patches is None and sixteen.music_tower.config.max_patches == 16
    assert model.music_tower.config.max_patches == DEFAULT_MAX_PATCHES
    assert default.fingerprint == model.fingerprint  # the tower's own bound, spelled out: the same analysis
    with pytest.raises(ConfigError):
        EmotionModel.load("builtin", music_max_windows=-1)


def test_speech(model, speech):
    waveform, rate = speech
    analysis = model.analyze_speech(waveform, rate)
    assert_valid(analysis, model, LABEL_SETS["ravdess"])
    assert analysis.duration == pytest.approx(len(waveform) / rate)
    # Any input rate: the model resamples, so 44.1 kHz input lands on (nearly) the same point.
    upsampled = model.analyze_speech(resample(waveform, rate, 44100), 44100)
    assert float(upsampled.embedding @ analysis.embedding) > 0.95


def test_speech_emotions_come_from_the_builtin_towers_classifier(model, speech):
    waveform, rate = speech
    heard = model.speech_tower.emotion_probabilities(waveform)
    emotions = model.analyze_speech(waveform, rate).emotions
    assert list(emotions) == sorted(heard, key=heard.get, reverse=True)
    assert emotions == pytest.approx(heard, abs=1e-6)


def test_speech_va_source_is_chosen_per_axis(model, speech):
    """``speech_va`` picks, per axis, the VA head or the heard emotions through the lexicon."""
    import dataclasses

    waveform, rate = speech
    emotions = model.analyze_speech(waveform, rate).emotions
    through_lexicon = sum(p * model.space.va(label) for label, p in emotions.items())
    analyses = {}
    for sources in (("head", "head"), ("labels", "head"), ("head", "labels")):
        config = dataclasses.replace(model.config, speech_va=dict(zip(("valence", "arousal"), sources)))
        variant = EmotionModel(config, model.heads, model.space, "test")
        variant.speech_tower = model.speech_tower
        analyses[sources] = variant.analyze_speech(waveform, rate)
    head = analyses["head", "head"]
    assert analyses["labels", "head"].valence == pytest.approx(through_lexicon[0], abs=1e-5)
    assert analyses["labels", "head"].arousal == pytest.approx(head.arousal, abs=1e-6)
    assert analyses["head", "labels"].arousal == pytest.approx(through_lexicon[1], abs=1e-5)
    assert analyses["head", "labels"].valence == pytest.approx(head.valence, abs=1e-6)
    with pytest.raises(ValueError, match="speech_va"):
        dataclasses.replace(model.config, speech_va={"valence": "text", "arousal": "head"})


def test_bad_speech_raises_typed_errors(model):
    with pytest.raises(SilentAudioError):
        model.analyze_speech(np.zeros(16000, np.float32), 16000)
    with pytest.raises(AudioError):
        model.analyze_speech(np.full(16000, np.nan, np.float32), 16000)
    with pytest.raises(AudioError):
        model.analyze_speech(np.zeros(0, np.float32), 16000)


def test_music_single_and_batched_agree(model, music):
    batched = model.analyze_music_many(music)
    assert len(batched) == 2 and model.analyze_music_many([]) == []
    for (waveform, rate), analysis in zip(music, batched):
        assert_valid(analysis, model, LABEL_SETS["gems9"])
        assert analysis.duration == pytest.approx(len(waveform) / rate)
        single = model.analyze_music(waveform, rate)
        np.testing.assert_allclose(single.embedding, analysis.embedding, atol=1e-4)
        assert single.valence == pytest.approx(analysis.valence, abs=1e-4)


def test_text_is_placed_zero_shot(model):
    happy = model.analyze_text("What a wonderful day, I am so happy and excited!")
    sad = model.analyze_text("I miss her so much. Everything feels empty and hopeless.")
    for analysis in (happy, sad):
        assert_valid(analysis, model, LABEL_SETS["ravdess"])
        assert analysis.duration is None
    assert happy.valence > sad.valence
    assert next(iter(happy.emotions)) == "happy"
    with pytest.raises(ValueError):
        model.analyze_text("   ")


def test_transcript_is_late_fused(model, speech):
    waveform, rate = speech
    transcript = "I can't believe you did this again."
    audio, text = model.analyze_speech(waveform, rate), model.analyze_text(transcript)
    fused = model.analyze_speech(waveform, rate, transcript=transcript)
    weight = model.config.text.fusion_weight
    expected = (1 - weight) * audio.embedding + weight * text.embedding
    np.testing.assert_allclose(fused.embedding, expected / np.linalg.norm(expected), atol=1e-5)
    assert fused.valence == pytest.approx((1 - weight) * audio.valence + weight * text.valence)
    assert fused.emotions == audio.emotions and fused.duration == audio.duration
    assert model.analyze_speech(waveform, rate, transcript="  ").embedding == pytest.approx(audio.embedding)


def test_emotion_words_and_va_points(model):
    happy, sad = model.analyze_emotion("happy"), model.analyze_emotion("Sad")
    assert (happy.valence, happy.arousal) == pytest.approx((1.0, 0.735))
    assert_valid(happy, model, LABEL_SETS["ravdess"])
    assert next(iter(happy.emotions)) == "happy"
    point = model.analyze_va(0.95, 0.75)
    assert float(point.embedding @ happy.embedding) > float(point.embedding @ sad.embedding)
    assert model.analyze_emotion("tension").valence == pytest.approx(0.304)
    with pytest.raises(UnknownEmotionError):
        model.analyze_emotion("wistful")
    for bad in ((1.2, 0.5), (0.5, -0.1)):
        with pytest.raises(ValueError):
            model.analyze_va(*bad)


def test_lexicon_extends_the_vocabulary():
    lexicon = default_data_dir() / "lexicon" / "NRC-VAD-Lexicon.txt"
    if not lexicon.is_file():
        pytest.skip("NRC-VAD lexicon not available")
    analysis = EmotionModel.load("builtin", lexicon=lexicon).analyze_emotion("wistful")
    assert 0.0 <= analysis.valence <= 1.0 and np.linalg.norm(analysis.embedding) == pytest.approx(1.0, abs=1e-5)


def test_save_load_round_trip(model, tmp_path, music):
    model.save(tmp_path / "copy")
    assert sorted(p.name for p in (tmp_path / "copy").iterdir()) == ["config.json", "heads.safetensors"]
    copy = EmotionModel.load(tmp_path / "copy")
    assert copy.fingerprint == model.fingerprint
    np.testing.assert_array_equal(copy.analyze_va(0.3, 0.7).embedding, model.analyze_va(0.3, 0.7).embedding)
    waveform, rate = music[0]
    np.testing.assert_allclose(copy.analyze_music(waveform, rate).embedding, model.analyze_music(waveform, rate).embedding, atol=1e-6)


def test_untrained_model_from_config_is_seeded():
    first, again, other = (EmotionModel.from_config("default", seed=s) for s in (0, 0, 1))
    assert first.fingerprint == again.fingerprint != other.fingerprint
    assert first.analyze_va(0.5, 0.5).embedding.shape == (64,)


def test_missing_model_files_are_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        EmotionModel.load(tmp_path / "nowhere")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="heads.safetensors"):
        EmotionModel.load(tmp_path / "half")


def test_music_valence_is_not_a_constant_on_real_music(model):
    """Issue 10: the shipped head gave every track valence 0.64-0.65. On 4Q dev clips (artists the head never
    saw), predicted valence must spread like the labels and put happy/calm (Q1, Q4) above angry/sad (Q2, Q3)."""
    from recommender.audio import load_audio
    from recommender.data import load_corpus
    from recommender.errors import CorpusMissingError

    try:
        clips = load_corpus("moods4q", "dev")
    except CorpusMissingError:
        pytest.skip("4Q corpus not available (../shared/data)")
    clips = [clip for quadrant in ("Q1", "Q2", "Q3", "Q4") for clip in [c for c in clips if c.label == quadrant][:6]]
    rate = model.music_sample_rate
    analyses = model.analyze_music_many([(load_audio(clip.path, rate, max_seconds=None), rate) for clip in clips])
    predicted = np.array([a.valence for a in analyses])
    truth = np.array([clip.valence for clip in clips])
    positive = np.array([clip.label in ("Q1", "Q4") for clip in clips])
    assert predicted.std() > 0.3 * truth.std()
    assert predicted[positive].mean() > predicted[~positive].mean() + 0.05


def test_models_saved_before_the_music_input_scaler_still_load(model, tmp_path):
    from safetensors.torch import load_file, save_file

    from recommender.model import WEIGHTS_FILE

    untrained = EmotionModel.from_config(model.config, seed=3)
    untrained.save(tmp_path / "old")
    state = {k: v for k, v in load_file(tmp_path / "old" / WEIGHTS_FILE).items() if not k.startswith("music_input.")}
    save_file(state, str(tmp_path / "old" / WEIGHTS_FILE))
    loaded = EmotionModel.load(tmp_path / "old")
    assert loaded.fingerprint == untrained.fingerprint  # identity scaler, same heads
