"""The MusiCNN music tower: equivalence with the original TF model, patching, mel, config and input checks."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from recommender.errors import AudioError, CorruptAudioError, EmptyAudioError
from recommender.towers.base import build_tower
from recommender.towers.musicnn import DEFAULT_MAX_PATCHES, FrontendBranch, MusicnnConfig, MusicnnTower, spread_evenly

REPO = Path(__file__).resolve().parents[3]
REFERENCE = json.loads((REPO / "tests" / "data" / "musicnn_reference.json").read_text())
SR = 16000
PATCH = 187

# Measured by `convert_musicnn.py verify` over synthetic signals and Emotify excerpts, both models:
# worst tag-probability difference 5.1e-6, worst penultimate difference 3.5e-5. Tolerances leave ~10x
# headroom for other CPUs/BLAS builds while still catching any layer or pre-processing mistake.
TAGS_ATOL = 5e-5
PENULTIMATE_ATOL = 3e-4


def _load_converter():
    spec = importlib.util.spec_from_file_location("convert_musicnn", REPO / "scripts" / "convert_musicnn.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tower() -> MusicnnTower:
    return build_tower("music", "musicnn")


@pytest.fixture(scope="module")
def reference_signal() -> np.ndarray:
    return _load_converter().reference_signal()


def _noise(seconds: float, level: float, seed: int) -> np.ndarray:
    return (level * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)


def _tone(seconds: float, hz: float, level: float = 0.5) -> np.ndarray:
    return (level * np.sin(2 * np.pi * hz * np.arange(int(seconds * SR)) / SR)).astype(np.float32)


@pytest.mark.parametrize("model", ["MSD_musicnn", "MTT_musicnn"])
def test_port_matches_original_tensorflow_outputs(model: str, reference_signal: np.ndarray) -> None:
    tower = build_tower("music", "musicnn", model=model)
    expected = REFERENCE["models"][model]
    outputs = tower.patch_outputs(reference_signal)
    assert len(outputs.logits) == len(REFERENCE["patch_starts"]) == 2  # the reference is exactly two patches
    np.testing.assert_allclose(torch.sigmoid(outputs.logits).numpy(), expected["tags"], atol=TAGS_ATOL, rtol=0)
    np.testing.assert_allclose(outputs.penultimate.numpy(), expected["penultimate"], atol=PENULTIMATE_ATOL, rtol=0)

    embedding = tower.embed(reference_signal)
    pooled = np.concatenate([np.mean(expected["penultimate"], axis=0), np.mean(expected["tags"], axis=0)])
    np.testing.assert_allclose(embedding, pooled, atol=PENULTIMATE_ATOL, rtol=0)
    tags = tower.tags(reference_signal)
    assert list(tags) == list(tower.tag_names)
    np.testing.assert_allclose(list(tags.values()), np.mean(expected["tags"], axis=0), atol=TAGS_ATOL, rtol=0)


@pytest.mark.parametrize("frames, bands", [(7, 38), (128, 1)])
def test_frontend_pools_before_the_norm_without_changing_the_result(frames: int, bands: int) -> None:
    torch.manual_seed(0)
    branch = FrontendBranch(filters=16, frames=frames, bands=bands, eps=1e-3).eval()
    with torch.no_grad():
        branch.norm.weight.copy_(torch.randn(16))  # about half the scales negative: the min path is used
        branch.norm.bias.copy_(torch.randn(16))
        branch.norm.running_mean.copy_(torch.rand(16))
        branch.norm.running_var.copy_(torch.rand(16) + 0.1)
        spectrogram = torch.randn(3, 1, 187, 96)
        padded = F.pad(spectrogram, (0, 0, (frames - 1) // 2, frames // 2))
        literal = branch.norm(F.relu(branch.conv(padded))).amax(dim=3)  # the original's order of operations
        torch.testing.assert_close(branch(spectrogram), literal, atol=1e-5, rtol=1e-5)
        assert branch(spectrogram).shape == (3, 16, 187)


def test_log_mel_matches_librosa(tower: MusicnnTower, reference_signal: np.ndarray) -> None:
    log_mel = tower.log_mel(torch.from_numpy(reference_signal))
    assert log_mel.shape == (REFERENCE["num_frames"], 96)
    np.testing.assert_allclose(log_mel.mean(0).numpy(), REFERENCE["log_mel_band_means"], atol=1e-4, rtol=0)


def _slaney_band_centres(n_mels: int = 96, fmax: float = 8000.0) -> np.ndarray:
    """Slaney's auditory-toolbox mel scale by hand: linear below 1 kHz, logarithmic above."""
    log_step = math.log(6.4) / 27.0

    def hz_to_mel(hz: float) -> float:
        return 3 * hz / 200 if hz < 1000 else 15 + math.log(hz / 1000) / log_step

    def mel_to_hz(mel: float) -> float:
        return 200 * mel / 3 if mel < 15 else 1000 * math.exp(log_step * (mel - 15))

    return np.array([mel_to_hz(m) for m in np.linspace(0, hz_to_mel(fmax), n_mels + 2)[1:-1]])


@pytest.mark.parametrize("band", [12, 40, 80])
def test_log_mel_of_a_tone_peaks_in_the_band_centred_on_it(tower: MusicnnTower, band: int) -> None:
    hz = _slaney_band_centres()[band]
    log_mel = tower.log_mel(torch.from_numpy(_tone(2.0, hz)))
    assert int(log_mel[10:-10].mean(0).argmax()) == band


def test_log_mel_is_zero_for_silence_and_slaney_normalised_for_white_noise(tower: MusicnnTower) -> None:
    assert torch.equal(tower.log_mel(torch.zeros(SR)), torch.zeros(63, 96))
    # Slaney normalisation gives every triangle unit area, so flat-spectrum noise has ~equal power per band.
    mel = tower.log_mel.mel(torch.from_numpy(_noise(20.0, 0.1, seed=1))).mean(1)
    assert float(mel[8:].max() / mel[8:].min()) < 1.2
    assert float(mel.max() / mel.min()) < 1.6  # the lowest bands span only a few FFT bins


def test_embedding_shape_and_values(tower: MusicnnTower) -> None:
    embedding = tower.embed(_noise(4.0, 0.2, seed=2))
    assert tower.dim == 250
    assert embedding.shape == (250,) and embedding.dtype == np.float32
    assert np.isfinite(embedding).all()
    tag_part = embedding[200:]
    assert ((tag_part > 0) & (tag_part < 1)).all()
    assert len(tower.tags(_noise(4.0, 0.2, seed=2))) == 50


def test_embed_many_batches_across_clips_like_embed(reference_signal: np.ndarray) -> None:
    tower = build_tower("music", "musicnn", batch_size=3)  # 2 + 1 + 4 patches: batches straddle clips
    clips = [reference_signal, _tone(1.0, 440.0), _noise(10.0, 0.3, seed=3)]
    batched = tower.embed_many(clips)
    assert batched.shape == (3, tower.dim)
    np.testing.assert_allclose(batched, np.stack([tower.embed(clip) for clip in clips]), atol=1e-5, rtol=0)
    assert tower.embed_many([]).shape == (0, tower.dim)


def test_patches_cover_the_whole_track(tower: MusicnnTower) -> None:
    quiet = _noise(20.0, 0.01, seed=4)
    log_mel = tower.log_mel(torch.from_numpy(quiet))
    patches = tower.patches(quiet)
    assert patches.shape[1:] == (PATCH, 96)
    torch.testing.assert_close(patches[-1], log_mel[-PATCH:])  # the last patch ends at the end
    assert len(patches) == math.ceil(log_mel.shape[0] / PATCH)

    # Loud music only in the last half second, past where back-to-back patches stop (the original dropped it).
    ending = quiet.copy()
    ending[-SR // 2 :] += _tone(0.5, 220.0) + _tone(0.5, 330.0)
    change = np.abs(tower.embed(ending) - tower.embed(quiet)).max()
    assert change > 0.05


def test_spread_evenly_takes_the_middle_of_equal_runs() -> None:
    starts = list(range(0, 100 * PATCH, PATCH))
    assert spread_evenly(starts, None) == starts and spread_evenly(starts[:5], 8) == starts[:5]
    assert spread_evenly(starts, 4) == [starts[12], starts[37], starts[62], starts[87]]
    assert spread_evenly(starts[:10], 1) == [starts[5]]
    chosen = spread_evenly(starts, 32)
    assert len(set(chosen)) == 32 and chosen == sorted(chosen)
    gaps = np.diff([starts.index(start) for start in chosen])
    assert gaps.min() >= 3 and gaps.max() <= 4  # 100 windows / 32: every stretch of the track counts alike


def test_long_tracks_analyse_a_bounded_subset_of_the_full_patches() -> None:
    bounded = build_tower("music", "musicnn", max_patches=6)
    full = build_tower("music", "musicnn", max_patches=None)
    assert MusicnnConfig().max_patches == DEFAULT_MAX_PATCHES
    track = _noise(59.5, 0.2, seed=6)  # 20 patches
    every = full.patches(track)
    chosen = bounded.patches(track)
    assert len(every) == 20 and len(chosen) == 6
    indices = spread_evenly(list(range(20)), 6)
    torch.testing.assert_close(chosen, every[indices])  # the same windows as a full analysis, not new ones
    pooled = full.patch_outputs(track).penultimate[indices].mean(0)
    torch.testing.assert_close(torch.from_numpy(bounded.embed(track)[:200]), pooled, atol=1e-5, rtol=1e-5)
    short = track[: int(14.5 * SR)]  # 5 patches: under the bound, analysed whole
    assert len(full.patches(short)) == 5
    np.testing.assert_array_equal(bounded.embed(short), full.embed(short))


def test_overlapping_patches(tower: MusicnnTower) -> None:
    overlapping = build_tower("music", "musicnn", hop_seconds=1.5)
    clip = _noise(12.0, 0.2, seed=5)  # 751 frames
    assert overlapping.hop_frames == 94
    patches = overlapping.patches(clip)
    assert len(patches) == 7  # starts 0, 94, ..., 564; the last ends exactly at frame 751
    torch.testing.assert_close(patches[1], tower.log_mel(torch.from_numpy(clip))[94 : 94 + PATCH])
    assert len(tower.patches(clip)) == 5


@pytest.mark.parametrize("samples", [SR, 100, 1])
def test_short_input_is_repeated_to_one_patch(tower: MusicnnTower, samples: int) -> None:
    clip = _tone(1.0, 440.0)[:samples] if samples > 1 else np.array([0.3], np.float32)
    patches = tower.patches(clip)
    assert patches.shape == (1, PATCH, 96)
    frames = tower.log_mel(torch.from_numpy(clip)).shape[0]
    torch.testing.assert_close(patches[0, frames : 2 * frames], patches[0, :frames])
    assert np.isfinite(tower.embed(clip)).all()


@pytest.mark.parametrize(
    "waveform, error",
    [
        (np.zeros((2, SR), np.float32), CorruptAudioError),
        (np.zeros(0, np.float32), EmptyAudioError),
        (np.array([0.1, np.nan] * SR, np.float32), CorruptAudioError),
        (np.ones(SR, np.int16), CorruptAudioError),
    ],
)
def test_bad_waveforms_raise_typed_audio_errors(tower: MusicnnTower, waveform: np.ndarray, error: type) -> None:
    with pytest.raises(error) as raised:
        tower.embed(waveform)
    assert isinstance(raised.value, AudioError)


def test_feature_layout_is_configurable(reference_signal: np.ndarray) -> None:
    tower = build_tower("music", "musicnn", features=["penultimate_std", "mean_pool", "max_pool"])
    assert tower.dim == 200 + 753 + 753
    embedding = tower.embed(reference_signal)
    assert embedding.shape == (tower.dim,)
    outputs = tower.patch_outputs(reference_signal)
    np.testing.assert_allclose(embedding[:200], outputs.penultimate.numpy().std(0), atol=1e-5)
    np.testing.assert_allclose(embedding[200:953], outputs.mean_pool.numpy().mean(0), atol=1e-5)


def test_mtt_model_and_weights_override() -> None:
    mtt = build_tower("music", "musicnn", model="MTT_musicnn")
    assert mtt.tag_names[:3] == ("guitar", "classical", "slow")
    bundled = build_tower("music", "musicnn")
    assert bundled.tag_names[:3] == ("rock", "pop", "alternative")
    override = build_tower("music", "musicnn", weights=str(mtt.config.weights_path))
    clip = _tone(3.0, 440.0)
    np.testing.assert_array_equal(override.embed(clip), mtt.embed(clip))


def test_config_round_trips_through_json() -> None:
    config = MusicnnConfig(model="MTT_musicnn", hop_seconds=1.0, features=["tags"])
    restored = MusicnnConfig(**json.loads(json.dumps(config.to_dict())))
    assert restored == config and restored.features == ("tags",)


@pytest.mark.parametrize(
    "options, error",
    [
        ({"model": "MSD_vgg"}, ValueError),
        ({"hop_seconds": 0.0}, ValueError),
        ({"hop_seconds": 3.5}, ValueError),
        ({"features": ["penultimate", "loudness"]}, ValueError),
        ({"features": []}, ValueError),
        ({"features": ["tags", "tags"]}, ValueError),
        ({"batch_size": 0}, ValueError),
        ({"max_patches": 0}, ValueError),
        ({"window": 3}, TypeError),
        ({"weights": "/nonexistent/musicnn.safetensors"}, FileNotFoundError),
    ],
)
def test_invalid_options_are_refused(options: dict, error: type) -> None:
    with pytest.raises(error):
        build_tower("music", "musicnn", **options)
