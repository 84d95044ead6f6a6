"""Hugging Face towers, run on tiny randomly initialised checkpoints saved to disk and loaded by path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers

from recommender.errors import CorruptAudioError, EmptyAudioError, ModelNotFoundError
from recommender.towers.base import build_tower
from recommender.towers.huggingface import receptive_field

RNG = np.random.default_rng(7)

# Three conv layers (80x downsampling), two transformer layers of width 32.
SPEECH_SHAPE = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    conv_dim=(16, 16, 16),
    conv_kernel=(10, 3, 3),
    conv_stride=(5, 4, 4),
    num_conv_pos_embeddings=16,
    num_conv_pos_embedding_groups=2,
)
SPEECH_MODELS = {
    "wav2vec2": (transformers.Wav2Vec2Config, transformers.Wav2Vec2Model, {}),
    "hubert": (transformers.HubertConfig, transformers.HubertModel, {}),
    "wavlm": (transformers.WavLMConfig, transformers.WavLMModel, dict(num_buckets=16, max_bucket_distance=64)),
}


def noise(seconds: float, rate: int, level: float = 0.1) -> np.ndarray:
    return (RNG.standard_normal(int(seconds * rate)) * level).astype(np.float32)


def save(model, directory: Path, extractor=None) -> Path:
    model.save_pretrained(directory)
    if extractor is not None:
        extractor.save_pretrained(directory)
    return directory


def reference_hidden(model, extractor, waveform: np.ndarray, layer: int | str = -1) -> np.ndarray:
    """Mean over time of one hidden state, computed directly with transformers."""
    inputs = extractor(waveform, sampling_rate=extractor.sampling_rate, return_tensors="pt")
    with torch.inference_mode():
        hidden = model.eval()(inputs["input_values"], output_hidden_states=True).hidden_states
    selected = torch.stack(hidden[1:]).mean(0) if layer == "mean" else hidden[layer]
    return selected.mean(dim=1)[0].numpy()


@pytest.fixture(scope="module")
def speech_dirs(tmp_path_factory) -> dict[str, tuple[Path, object]]:
    root = tmp_path_factory.mktemp("speech")
    torch.manual_seed(0)
    made = {}
    for name, (config_cls, model_cls, extra) in SPEECH_MODELS.items():
        model = model_cls(config_cls(**SPEECH_SHAPE, **extra))
        made[name] = (save(model, root / name, transformers.Wav2Vec2FeatureExtractor()), model)
    return made


# --- speech -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SPEECH_MODELS))
def test_speech_tower_is_the_time_mean_of_the_last_layer(speech_dirs, name):
    directory, model = speech_dirs[name]
    tower = build_tower("speech", name, model=str(directory))
    clip = noise(1.5, 16000)

    vector = tower.embed(clip)

    assert tower.dim == 32 and tower.sample_rate == 16000
    assert vector.shape == (32,) and vector.dtype == np.float32
    np.testing.assert_allclose(vector, reference_hidden(model, tower.feature_extractor, clip), atol=1e-5)


def test_layer_selects_the_hidden_state(speech_dirs):
    directory, model = speech_dirs["hubert"]
    clip = noise(1.0, 16000)
    towers = {layer: build_tower("speech", "hubert", model=str(directory), layer=layer) for layer in (0, 1, -1, "mean")}
    vectors = {layer: tower.embed(clip) for layer, tower in towers.items()}

    extractor = transformers.Wav2Vec2FeatureExtractor()
    for layer, vector in vectors.items():
        np.testing.assert_allclose(vector, reference_hidden(model, extractor, clip, layer), atol=1e-5)
    assert not np.allclose(vectors[1], vectors[-1])
    assert not np.allclose(vectors["mean"], vectors[-1])


@pytest.mark.parametrize("layer", [3, -4, "middle", 1.5])
def test_layer_out_of_range_is_refused(speech_dirs, layer):
    with pytest.raises(ValueError, match="layer"):
        build_tower("speech", "wav2vec2", model=str(speech_dirs["wav2vec2"][0]), layer=layer)


def test_long_speech_is_encoded_in_chunks_covering_all_of_it(speech_dirs):
    directory, model = speech_dirs["wavlm"]
    tower = build_tower("speech", "wavlm", model=str(directory), max_seconds=1.0)
    clip = noise(2.5, 16000)

    # Chunks at 0 s and 1 s, and a last one aligned to the end (1.5-2.5 s).
    chunks = [clip[0:16000], clip[16000:32000], clip[24000:40000]]
    expected = np.mean([reference_hidden(model, tower.feature_extractor, chunk) for chunk in chunks], axis=0)
    np.testing.assert_allclose(tower.embed(clip), expected, atol=1e-5)

    quiet_end = clip.copy()
    quiet_end[-4000:] = 0.0
    assert not np.allclose(tower.embed(clip), tower.embed(quiet_end), atol=1e-4)


def test_clips_shorter_than_the_receptive_field_are_padded(speech_dirs):
    tower = build_tower("speech", "wav2vec2", model=str(speech_dirs["wav2vec2"][0]))
    assert receptive_field((10, 3, 3, 3, 3, 2, 2), (5, 2, 2, 2, 2, 2, 2)) == 400  # wav2vec 2.0's 25 ms
    assert receptive_field(SPEECH_SHAPE["conv_kernel"], SPEECH_SHAPE["conv_stride"]) == 60
    assert np.isfinite(tower.embed(noise(0.002, 16000))).all()


def test_stereo_input_is_mixed_down(speech_dirs):
    tower = build_tower("speech", "hubert", model=str(speech_dirs["hubert"][0]))
    mono = noise(0.5, 16000)
    np.testing.assert_allclose(tower.embed(np.stack([mono, mono], axis=1)), tower.embed(mono), atol=1e-6)


def test_bad_waveforms_raise_typed_errors(speech_dirs):
    tower = build_tower("speech", "wav2vec2", model=str(speech_dirs["wav2vec2"][0]))
    with pytest.raises(EmptyAudioError):
        tower.embed(np.zeros(0, np.float32))
    with pytest.raises(CorruptAudioError, match="NaN"):
        tower.embed(np.full(1600, np.nan, np.float32))
    with pytest.raises(TypeError, match="load_audio"):
        tower.embed("speech.wav")


def test_feature_extractor_comes_from_the_model_directory(speech_dirs, tmp_path):
    _, model = speech_dirs["wav2vec2"]
    plain = save(model, tmp_path / "plain")
    unnormalised = save(model, tmp_path / "raw", transformers.Wav2Vec2FeatureExtractor(do_normalize=False))

    assert build_tower("speech", "wav2vec2", model=str(plain)).feature_extractor.do_normalize is True
    tower = build_tower("speech", "wav2vec2", model=str(unnormalised))
    assert tower.feature_extractor.do_normalize is False
    clip = noise(0.5, 16000, level=0.01)
    np.testing.assert_allclose(tower.embed(clip), reference_hidden(model, tower.feature_extractor, clip), atol=1e-5)


def test_missing_model_directory_is_a_clear_error(tmp_path):
    missing = tmp_path / "no" / "such-model"
    with pytest.raises(ModelNotFoundError, match="no such model directory"):
        build_tower("speech", "wav2vec2", model=str(missing))
    with pytest.raises(ModelNotFoundError, match="cannot load HubertModel.*no file named model.safetensors"):
        build_tower("speech", "hubert", model=str(tmp_path))  # exists, but holds no model


def test_offline_hub_id_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError, match="downloads are off"):
        build_tower("speech", "wavlm", model="undertone-tests/not-a-model")


# --- music: AST ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ast_dir(tmp_path_factory) -> tuple[Path, object]:
    torch.manual_seed(1)
    # 256 filterbank frames: the model takes 2.575 s per pass.
    model = transformers.ASTModel(
        transformers.ASTConfig(
            hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, max_length=256
        )
    )
    return save(model, tmp_path_factory.mktemp("ast"), transformers.ASTFeatureExtractor(max_length=256)), model


def ast_reference(model, extractor, window: np.ndarray) -> np.ndarray:
    inputs = extractor(window, sampling_rate=16000, return_tensors="pt")
    with torch.inference_mode():
        return model.eval()(inputs["input_values"]).pooler_output[0].numpy()


def test_ast_averages_windows_over_the_whole_track(ast_dir):
    directory, model = ast_dir
    tower = build_tower("music", "ast", model=str(directory), window_seconds=2.0, batch_size=2)
    track = noise(3.5, 16000)

    # Windows at 0 and 1 s, then one ending at the end of the track (1.5-3.5 s).
    windows = [track[0:32000], track[16000:48000], track[24000:56000]]
    expected = np.mean([ast_reference(model, tower.feature_extractor, window) for window in windows], axis=0)
    assert tower.dim == 32 and tower.sample_rate == 16000
    np.testing.assert_allclose(tower.embed(track), expected, atol=1e-5)


def test_ast_sound_in_the_last_window_counts(ast_dir):
    tower = build_tower("music", "ast", model=str(ast_dir[0]), window_seconds=2.0, hop_seconds=2.0)
    silent = np.zeros(16000 * 9, np.float32)
    ending = silent.copy()
    ending[-8000:] = noise(0.5, 16000, level=0.3)
    assert not np.allclose(tower.embed(silent), tower.embed(ending), atol=1e-4)


def test_ast_mean_pooling_differs_from_the_pooled_output(ast_dir):
    track = noise(2.0, 16000)
    pooled = build_tower("music", "ast", model=str(ast_dir[0]), window_seconds=2.0).embed(track)
    mean = build_tower("music", "ast", model=str(ast_dir[0]), window_seconds=2.0, pooling="mean").embed(track)
    assert mean.shape == pooled.shape == (32,)
    assert not np.allclose(mean, pooled)


def test_ast_window_longer_than_the_model_input_is_refused(ast_dir):
    with pytest.raises(ValueError, match="exceeds the 2.575 s"):
        build_tower("music", "ast", model=str(ast_dir[0]))  # default 10 s windows


def test_music_config_is_validated():
    with pytest.raises(ValueError, match="hop_seconds"):
        build_tower("music", "ast", hop_seconds=0)
    with pytest.raises(ValueError, match="skip audio"):
        build_tower("music", "mert", window_seconds=5.0, hop_seconds=6.0)
    with pytest.raises(ValueError, match="pooling"):
        build_tower("music", "ast", pooling="max")


# --- music: MERT --------------------------------------------------------------------------------------


MERT_EXTRAS = {
    "feature_extractor_cqt": False,
    "feature_extractor_cqt_bins": 336,
    "deepnorm": False,
    "attention_relax": -1.0,
    "sample_rate": 24000,
    "auto_map": {"AutoConfig": "configuration_MERT.MERTConfig", "AutoModel": "modeling_MERT.MERTModel"},
    "architectures": ["MERTModel"],
}


def write_mert_checkpoint(directory: Path, model, **overrides) -> Path:
    """A HuBERT-shaped checkpoint laid out like the hub's MERT-v1: ``mert_model`` config, weight-norm
    parameters under their legacy ``weight_g``/``weight_v`` names, a 24 kHz feature extractor."""
    from safetensors.torch import save_file

    save(model, directory, transformers.Wav2Vec2FeatureExtractor(sampling_rate=24000))
    config = json.loads((directory / "config.json").read_text())
    config.update(MERT_EXTRAS, model_type="mert_model", **overrides)
    (directory / "config.json").write_text(json.dumps(config))
    legacy = {"parametrizations.weight.original0": "weight_g", "parametrizations.weight.original1": "weight_v"}
    state = {}
    for key, value in model.state_dict().items():
        for new, old in legacy.items():
            key = key.replace(new, old)
        state[key] = value.contiguous()
    save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})
    return directory


@pytest.fixture(scope="module")
def mert_model():
    torch.manual_seed(2)
    return transformers.HubertModel(transformers.HubertConfig(**SPEECH_SHAPE)).eval()


def test_mert_checkpoint_loads_through_hubert_at_24khz(mert_model, tmp_path):
    directory = write_mert_checkpoint(tmp_path / "mert", mert_model)
    tower = build_tower("music", "mert", model=str(directory), window_seconds=1.0, hop_seconds=1.0, layer="mean")
    track = noise(2.0, 24000)

    assert tower.sample_rate == 24000 and tower.dim == 32
    # Two 1 s windows of 24000 samples each: a tower working at 16 kHz would cut them elsewhere.
    windows = [track[:24000], track[24000:]]
    expected = np.mean([reference_hidden(mert_model, tower.feature_extractor, w, "mean") for w in windows], axis=0)
    np.testing.assert_allclose(tower.embed(track), expected, atol=1e-5)


@pytest.mark.parametrize("override", [{"deepnorm": True}, {"feature_extractor_cqt": True}, {"attention_relax": 32.0}])
def test_mert_extensions_need_remote_code(mert_model, tmp_path, override):
    directory = write_mert_checkpoint(tmp_path / "mert", mert_model, **override)
    with pytest.raises(ValueError, match=f"{next(iter(override))}.*trust_remote_code=True"):
        build_tower("music", "mert", model=str(directory))


def test_mert_refuses_other_architectures(speech_dirs):
    with pytest.raises(ValueError, match="'wav2vec2' is not a MERT or HuBERT checkpoint"):
        build_tower("music", "mert", model=str(speech_dirs["wav2vec2"][0]))


# --- music: CLAP --------------------------------------------------------------------------------------


def tiny_clap(fusion: bool) -> object:
    audio = dict(
        depths=(1, 1), num_attention_heads=(2, 2), patch_embeds_hidden_size=16, hidden_size=32,
        projection_dim=16, spec_size=64, num_mel_bins=16, window_size=4,
    )
    if fusion:
        audio.update(enable_fusion=True, fusion_type="aff_2d")
    text = dict(vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    config = transformers.ClapConfig(text_config=dict(text, projection_dim=16), audio_config=audio, projection_dim=16)
    return transformers.ClapModel(config).eval()


@pytest.fixture(scope="module")
def clap_dir(tmp_path_factory) -> tuple[Path, object]:
    torch.manual_seed(3)
    model = tiny_clap(fusion=False)
    # Hub CLAP extractors say truncation="fusion" even for unfused models; the tower must cope.
    extractor = transformers.ClapFeatureExtractor(feature_size=16, max_length_s=2, truncation="fusion")
    return save(model, tmp_path_factory.mktemp("clap"), extractor), model


def test_clap_matches_get_audio_features_over_windows(clap_dir):
    directory, model = clap_dir
    tower = build_tower("music", "clap", model=str(directory), window_seconds=2.0, hop_seconds=1.0)
    track = noise(3.0, 48000)

    extractor = transformers.ClapFeatureExtractor(feature_size=16, max_length_s=2, truncation="rand_trunc")
    windows = [track[0:96000], track[48000:144000]]
    with torch.inference_mode():
        inputs = extractor(windows, sampling_rate=48000, return_tensors="pt")
        per_window = model.get_audio_features(**inputs).pooler_output
    expected = per_window.mean(0).numpy()
    expected /= np.linalg.norm(expected)

    vector = tower.embed(track)
    assert tower.sample_rate == 48000 and tower.dim == 16
    np.testing.assert_allclose(vector, expected, atol=1e-5)
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)


def test_clap_track_shorter_than_a_window(clap_dir):
    tower = build_tower("music", "clap", model=str(clap_dir[0]), window_seconds=2.0)
    assert np.isfinite(tower.embed(noise(0.3, 48000))).all()


def test_fused_clap_uses_no_random_fusion(tmp_path):
    torch.manual_seed(4)
    model = tiny_clap(fusion=True)
    extractor = transformers.ClapFeatureExtractor(feature_size=16, max_length_s=2)
    tower = build_tower("music", "clap", model=str(save(model, tmp_path / "fused", extractor)), window_seconds=2.0)
    track = noise(2.0, 48000)

    # No window is longer than the model input, so none takes the fusion branch (the extractor
    # would otherwise mark a random one as "longer").
    inputs = extractor([track], sampling_rate=48000, return_tensors="pt")
    with torch.inference_mode():
        expected = model.get_audio_features(inputs["input_features"], is_longer=torch.zeros_like(inputs["is_longer"]))
    np.testing.assert_allclose(tower.embed(track), expected.pooler_output[0].numpy(), atol=1e-5)


def test_clap_window_longer_than_the_model_input_is_refused(clap_dir):
    with pytest.raises(ValueError, match="exceeds the 2 s"):
        build_tower("music", "clap", model=str(clap_dir[0]), window_seconds=3.0)
