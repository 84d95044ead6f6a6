"""Musical descriptors and the ``musicnn+descriptors`` tower, on generated audio whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.errors import EmptyAudioError
from recommender.towers.base import build_tower
from recommender.towers.music_descriptors import DESCRIPTOR_NAMES, music_descriptors, segment_starts

SR = 16000


def _chord(midi_notes: list[int], seconds: float = 6.0) -> np.ndarray:
    """Notes with four harmonics each, steady, at a moderate level."""
    t = np.arange(int(seconds * SR)) / SR
    wave = sum(
        0.5**h * np.sin(2 * np.pi * 440.0 * 2 ** ((note - 69) / 12) * (h + 1) * t) for note in midi_notes for h in range(4)
    )
    return (0.2 * wave / np.abs(wave).max()).astype(np.float32)


def _clicks(bpm: float, seconds: float = 8.0) -> np.ndarray:
    """Short noise bursts at a steady tempo."""
    signal = np.zeros(int(seconds * SR), np.float32)
    burst = np.random.default_rng(0).normal(scale=0.3, size=400).astype(np.float32) * np.hanning(400).astype(np.float32)
    for start in np.arange(0, signal.size - 400, 60.0 / bpm * SR).astype(int):
        signal[start : start + 400] += burst
    return signal


def _named(values: np.ndarray) -> dict[str, float]:
    return dict(zip(DESCRIPTOR_NAMES, values.tolist()))


def test_major_music_has_positive_mode_and_minor_negative():
    # C major then A minor progressions (each chord 1.5 s): the key profiles must tell the modes apart.
    major = np.concatenate([_chord(notes, 1.5) for notes in ([60, 64, 67], [65, 69, 72], [67, 71, 74], [60, 64, 67])])
    minor = np.concatenate([_chord(notes, 1.5) for notes in ([57, 60, 64], [62, 65, 69], [64, 68, 71], [57, 60, 64])])
    major_d, minor_d = _named(music_descriptors(major)), _named(music_descriptors(minor))
    assert major_d["mode"] > 0 > minor_d["mode"]
    assert minor_d["minor_triad_share"] > major_d["minor_triad_share"]
    assert major_d["chord_change_rate"] > 0


def test_rhythm_brightness_and_roughness_follow_the_signal():
    slow, fast = _named(music_descriptors(_clicks(70))), _named(music_descriptors(_clicks(140)))
    assert fast["onset_rate"] > 1.5 * slow["onset_rate"]
    assert fast["tempo_bpm"] == pytest.approx(140, rel=0.08)
    low, high = _named(music_descriptors(_chord([48]))), _named(music_descriptors(_chord([84])))
    assert high["centroid_mean"] > 2 * low["centroid_mean"]
    # A minor second beats roughly; a fifth barely does.
    second, fifth = _named(music_descriptors(_chord([60, 61]))), _named(music_descriptors(_chord([60, 67])))
    assert second["dissonance_mean"] > fifth["dissonance_mean"]


def test_descriptors_are_finite_for_short_quiet_and_long_input():
    for waveform in (np.full(300, 1e-4, np.float32), _chord([60], 0.2), np.tile(_chord([60, 64, 67], 2.0), 40)):
        values = music_descriptors(waveform)
        assert values.shape == (len(DESCRIPTOR_NAMES),) and np.isfinite(values).all()
    with pytest.raises(EmptyAudioError):
        music_descriptors(np.zeros(0, np.float32))


def test_segments_are_bounded_and_spread_over_the_track():
    assert segment_starts(5 * SR, 10 * SR, 6) == [0]
    assert segment_starts(30 * SR, 10 * SR, 6) == [0, 10 * SR, 20 * SR]  # no more windows than cover it
    starts = segment_starts(600 * SR, 10 * SR, 6)
    assert len(starts) == 6 and starts[0] == 0 and starts[-1] == 590 * SR


def test_tower_appends_descriptors_to_musicnn():
    plain = build_tower("music", "musicnn")
    tower = build_tower("music", "musicnn+descriptors", segments=2)
    assert tower.dim == plain.dim + len(DESCRIPTOR_NAMES)
    waveforms = [_chord([60, 64, 67], 4.0), _clicks(120, 5.0)]
    vectors = tower.embed_many(waveforms)
    assert vectors.shape == (2, tower.dim)
    np.testing.assert_allclose(vectors[:, : plain.dim], plain.embed_many(waveforms), atol=1e-5)
    np.testing.assert_allclose(vectors[1, plain.dim :], music_descriptors(waveforms[1], segments=2), rtol=1e-6)
    with pytest.raises(ValueError, match="segments"):
        build_tower("music", "musicnn+descriptors", segments=0)
