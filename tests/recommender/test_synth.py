"""The procedural music and speech carry the emotion they were asked for, measurably in the audio."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from recommender import synth

SR = synth.MUSIC_SAMPLE_RATE


def onset_rate(waveform: np.ndarray, sample_rate: int) -> float:
    """Onsets per second: peaks of log-compressed half-octave band flux (prominent ones only)."""
    hop = 512
    freqs, _, spectrum = signal.stft(waveform, sample_rate, nperseg=2048, noverlap=2048 - hop)
    edges = 60 * 2 ** np.arange(0, 8.1, 0.5)
    bands = np.stack([(np.abs(spectrum[(freqs >= lo) & (freqs < hi)]) ** 2).sum(axis=0) for lo, hi in zip(edges[:-1], edges[1:])])
    flux = np.maximum(np.diff(np.log1p(1000 * np.sqrt(bands)), axis=1), 0).sum(axis=0)
    peaks, _ = signal.find_peaks(flux, prominence=0.3 * flux.max(), distance=int(0.06 * sample_rate / hop))
    return len(peaks) / (waveform.size / sample_rate)


def chroma(waveform: np.ndarray, sample_rate: int) -> np.ndarray:
    """Energy per pitch class from 120 Hz up (lower bins are too coarse to tell semitones apart)."""
    freqs, _, spectrum = signal.stft(waveform, sample_rate, nperseg=8192)
    power = (np.abs(spectrum) ** 2).mean(axis=1)
    keep = (freqs > 120) & (freqs < 2000)
    pitch_classes = np.round(12 * np.log2(freqs[keep] / 440.0) + 69).astype(int) % 12
    return np.bincount(pitch_classes, weights=power[keep], minlength=12)


def rms_db(waveform: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(waveform**2))))


def estimate_f0(waveform: np.ndarray, sample_rate: int, frame_rate: int, fmin: float = 70, fmax: float = 500) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame pitch (first normalised-autocorrelation peak near the best one) and voicing strength."""
    hop, size = sample_rate // frame_rate, int(0.04 * sample_rate)
    lags = np.arange(int(sample_rate / fmax), int(sample_rate / fmin))
    f0, strength = np.zeros(waveform.size // hop), np.zeros(waveform.size // hop)
    for i in range(f0.size):
        start = hop * i + hop // 2 - size // 2
        if start < 0 or start + size + lags[-1] > waveform.size:
            continue
        frame = waveform[start : start + size]
        if np.std(frame) < 1e-6:
            continue
        shifted = np.stack([waveform[start + lag : start + lag + size] for lag in lags])
        r = shifted @ frame / (np.linalg.norm(shifted, axis=1) * np.linalg.norm(frame) + 1e-12)
        peaks = signal.argrelmax(r)[0]
        peaks = peaks[r[peaks] > 0.85 * r.max()]
        f0[i] = sample_rate / lags[peaks[0] if peaks.size else np.argmax(r)]
        strength[i] = r.max()
    return f0, strength


def test_music_is_deterministic_per_seed():
    first = synth.synthesize_music((0.7, 0.6), seconds=3, genre="synthpop", seed=5)
    again = synth.synthesize_music((0.7, 0.6), seconds=3, genre="synthpop", seed=5)
    other = synth.synthesize_music((0.7, 0.6), seconds=3, genre="synthpop", seed=6)
    np.testing.assert_array_equal(first.waveform, again.waveform)
    assert not np.array_equal(first.waveform, other.waveform)
    assert first.waveform.dtype == np.float32 and first.waveform.size == 3 * SR
    assert np.isfinite(first.waveform).all() and np.abs(first.waveform).max() <= 1.0


@pytest.mark.parametrize("genre", sorted(synth.GENRES))
def test_arousal_speeds_up_onsets_and_raises_energy(genre):
    fast = synth.synthesize_music((0.5, 0.85), seconds=8, genre=genre, seed=1).waveform
    slow = synth.synthesize_music((0.5, 0.15), seconds=8, genre=genre, seed=1).waveform
    assert onset_rate(fast, SR) > 1.5 * onset_rate(slow, SR)
    assert rms_db(fast) > rms_db(slow) + 6


@pytest.mark.parametrize("genre", sorted(synth.GENRES))
def test_valence_sets_major_or_minor_mode(genre):
    # Arousal 0.3 has no drums yet, whose noise would blur the pitch classes.
    happy = synth.synthesize_music((0.85, 0.3), seconds=8, genre=genre, seed=0)
    sad = synth.synthesize_music((0.15, 0.3), seconds=8, genre=genre, seed=0)
    happy_chroma = np.roll(chroma(happy.waveform, SR), -happy.tonic_pc)
    sad_chroma = np.roll(chroma(sad.waveform, SR), -sad.tonic_pc)
    # The third above the tonic: major (4 semitones) in happy music, minor (3) in sad music.
    assert happy_chroma[4] > 2 * happy_chroma[3]
    assert sad_chroma[3] > 2 * sad_chroma[4]


def test_mood_words_resolve_through_the_emotion_space():
    calm = synth.synthesize_music("calm", seconds=2, seed=0)
    assert (calm.valence, calm.arousal) == pytest.approx((0.875, 0.100))
    assert calm.style.mode == "major" and calm.style.tempo_bpm < 80
    with pytest.raises(KeyError):
        synth.synthesize_music("no-such-feeling", seconds=2)
    with pytest.raises(ValueError):
        synth.synthesize_music((1.5, 0.2), seconds=2)
    with pytest.raises(ValueError):
        synth.synthesize_music((0.5, 0.5), seconds=2, genre="polka")


def test_demo_catalog_covers_the_plane_with_unique_titles():
    entries = synth.demo_catalog(48, seed=3)
    assert entries == synth.demo_catalog(48, seed=3)
    assert len({e.title for e in entries}) == 48 and len({e.file_stem for e in entries}) == 48
    va = np.array([(e.valence, e.arousal) for e in entries])
    quadrants = np.bincount((va[:, 0] >= 0.5).astype(int) * 2 + (va[:, 1] >= 0.5).astype(int), minlength=4)
    assert quadrants.min() >= 8  # every quadrant of the plane is well populated
    assert all(e.genre in synth.GENRES and e.licence == synth.GENERATED_LICENCE for e in entries)


def test_speech_is_deterministic_and_voiced_with_the_requested_contour():
    clip = synth.synthesize_speech("happy", seconds=3, seed=4)
    np.testing.assert_array_equal(clip.waveform, synth.synthesize_speech("happy", seconds=3, seed=4).waveform)
    estimated, strength = estimate_f0(clip.waveform.astype(np.float64), clip.sample_rate, clip.frame_rate)
    n = min(estimated.size, clip.f0.size)
    voiced = clip.f0[:n] > 0
    assert voiced.mean() > 0.3  # mostly talking, with pauses
    tracked = voiced & (strength[:n] > 0.6)
    assert tracked.sum() > 0.9 * voiced.sum()  # the intended voiced frames really are periodic
    error = np.abs(12 * np.log2(estimated[:n][tracked] / clip.f0[:n][tracked]))
    assert np.median(error) < 0.5 and np.percentile(error, 90) < 1.5  # semitones


@pytest.mark.parametrize("speaker", ["female", "male"])
def test_speech_prosody_follows_the_emotion(speaker):
    clips = {e: synth.synthesize_speech(e, seconds=4, seed=2, speaker=speaker) for e in ("happy", "sad", "angry", "calm")}
    pitch = {e: np.median(c.f0[c.f0 > 0]) for e, c in clips.items()}
    spread = {e: np.percentile(12 * np.log2(c.f0[c.f0 > 0]), 90) - np.percentile(12 * np.log2(c.f0[c.f0 > 0]), 10) for e, c in clips.items()}
    loudness = {e: rms_db(c.waveform) for e, c in clips.items()}
    for aroused, quiet in (("happy", "sad"), ("angry", "calm"), ("happy", "calm"), ("angry", "sad")):
        assert pitch[aroused] > pitch[quiet] * 1.15
        assert spread[aroused] > spread[quiet]
        assert loudness[aroused] > loudness[quiet] + 6
    assert clips["happy"].prosody.syllables_per_second > clips["sad"].prosody.syllables_per_second
    assert clips["angry"].prosody.tension > clips["happy"].prosody.tension
    assert clips["sad"].prosody.final_slope < 0 < clips["happy"].prosody.final_slope


def test_a_neural_speech_detector_hears_the_voice_as_speech_and_the_music_as_not():
    import torch
    from silero_vad import get_speech_timestamps, load_silero_vad

    detector = load_silero_vad()

    def speech_seconds(waveform: np.ndarray) -> float:
        stamps = get_speech_timestamps(torch.from_numpy(waveform), detector, sampling_rate=16000)
        return sum(stamp["end"] - stamp["start"] for stamp in stamps) / 16000

    for emotion, speaker in (("angry", "female"), ("sad", "male")):
        voice = synth.synthesize_speech(emotion, seconds=4, seed=1, speaker=speaker)
        assert speech_seconds(voice.waveform) > 2.0
    music = synth.synthesize_music((0.5, 0.5), seconds=4, genre="piano", seed=1, sample_rate=16000)
    assert speech_seconds(music.waveform) < 0.5
