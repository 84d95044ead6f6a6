"""Musical descriptors that carry valence, and the ``musicnn+descriptors`` music tower that appends them.

MusiCNN's tags hear timbre and arousal well but barely hear mode or harmony, which the music-emotion
literature ties to valence (Panda et al. 2018; Gabrielsson & Lindstroem 2010). These descriptors add
that, computed with ``torch.stft`` and numpy only (no extra dependency), on at most ``segments`` evenly
spaced windows of ``segment_seconds`` each and averaged, so a long track costs no more than a minute of
audio:

- tonality: Krumhansl-Kessler key profiles against the mean chroma (key clarity, best major and minor
  correlation, mode = their difference), mode on 3 s windows (mean, std), chroma entropy, and the mean
  chroma rotated to the best key's tonic (which scale degrees sound);
- harmony: chroma flux (harmonic change), triad-template chord changes per second, share of minor triads;
- roughness: Sethares/Plomp-Levelt dissonance of each frame's spectral peaks, spectral flatness;
- rhythm: spectral-flux onsets per second, flux statistics, tempo and tempo strength from the onset
  envelope's autocorrelation;
- dynamics: RMS in dB (mean, std, range, mean change), low-energy frame ratio;
- brightness: spectral centroid, roll-off, bandwidth, zero-crossing rate, share of energy above 1.5 kHz;
- spectral contrast: peak-valley level in six octave bands (mean, std), low/mid/high band energy shares.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch

from recommender.towers.base import register_tower
from recommender.towers.musicnn import SAMPLE_RATE, MusicnnConfig, MusicnnTower, _checked_waveform

# Krumhansl & Kessler (1982) probe-tone profiles, tonic first.
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
CONTRAST_EDGES = (200.0, 400.0, 800.0, 1600.0, 3200.0, 8000.0)

DESCRIPTOR_NAMES: tuple[str, ...] = (
    "key_clarity", "major_strength", "minor_strength", "mode", "local_mode_mean", "local_mode_std", "chroma_entropy",
    *(f"scale_degree_{i}" for i in range(12)),
    "harmonic_change_mean", "harmonic_change_std", "chord_change_rate", "minor_triad_share",
    "dissonance_mean", "dissonance_std", "flatness_mean", "flatness_std",
    "onset_rate", "flux_mean", "flux_std", "tempo_bpm", "tempo_strength",
    "rms_db_mean", "rms_db_std", "rms_db_range", "rms_db_change", "low_energy_ratio",
    "centroid_mean", "centroid_std", "rolloff_mean", "rolloff_std", "bandwidth_mean", "zero_crossing_rate", "high_energy_share",
    *(f"contrast_{i}_mean" for i in range(6)), *(f"contrast_{i}_std" for i in range(6)),
    "low_energy_share", "mid_energy_share", "high_band_share",
)
"""Names of :func:`music_descriptors`' output, in order."""

_EPS = 1e-10


def _spectrogram(segment: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Magnitude STFT ``(bins, frames)`` float32 of a segment zero-padded to at least one window."""
    signal = torch.from_numpy(np.pad(segment, (0, max(0, n_fft - segment.size)))).float()
    spectrum = torch.stft(signal, n_fft, hop, window=_WINDOWS[n_fft], center=False, return_complex=True)
    # |z| from the parts: complex abs is several times slower on CPU.
    return (spectrum.real.square() + spectrum.imag.square()).sqrt().numpy()


@dataclass(frozen=True)
class _Filters:
    """Frequency-bin maps for one FFT size (built once per size)."""

    freqs: np.ndarray
    chroma: np.ndarray  # (12, bins): bins of 55 Hz - 5 kHz to pitch classes, C = 0


def _filters(n_fft: int) -> _Filters:
    freqs = np.fft.rfftfreq(n_fft, 1.0 / SAMPLE_RATE)
    chroma = np.zeros((12, freqs.size))
    band = (freqs >= 55.0) & (freqs <= 5000.0)
    midi = 69.0 + 12.0 * np.log2(freqs[band] / 440.0)
    # Soft assignment: each bin shares itself between its two nearest pitch classes.
    lower = np.floor(midi)
    weight_upper = midi - lower
    columns = np.flatnonzero(band)
    np.add.at(chroma, (lower.astype(int) % 12, columns), 1.0 - weight_upper)
    np.add.at(chroma, ((lower.astype(int) + 1) % 12, columns), weight_upper)
    return _Filters(freqs, chroma)


_CHROMA_FFT, _CHROMA_HOP = 4096, 1024
_TIMBRE_FFT, _TIMBRE_HOP = 1024, 256
_CHROMA_FILTERS = _filters(_CHROMA_FFT)
_TIMBRE_FILTERS = _filters(_TIMBRE_FFT)
_WINDOWS = {n_fft: torch.hann_window(n_fft) for n_fft in (_CHROMA_FFT, _TIMBRE_FFT)}
_CHROMA_MAP = torch.from_numpy(_CHROMA_FILTERS.chroma.astype(np.float32))
_KEY_PROFILES = np.stack(
    [np.roll(profile, key) for profile in (MAJOR_PROFILE, MINOR_PROFILE) for key in range(12)]
)  # (24, 12): 12 major keys, then 12 minor
_TRIADS = np.stack(
    [np.roll(np.isin(np.arange(12), third).astype(float), root) for third in ((0, 4, 7), (0, 3, 7)) for root in range(12)]
)  # (24, 12): major triads, then minor


def _correlations(chroma: np.ndarray, templates: np.ndarray) -> np.ndarray:
    """Pearson correlation of chroma vectors ``(..., 12)`` with each template ``(t, 12)`` -> ``(..., t)``."""
    c = chroma - chroma.mean(-1, keepdims=True)
    t = templates - templates.mean(-1, keepdims=True)
    norm = np.linalg.norm(c, axis=-1, keepdims=True) * np.linalg.norm(t, axis=-1)
    return (c @ t.T) / np.maximum(norm, _EPS)


def _tonal(segment: np.ndarray) -> list[float]:
    """Key, mode, scale degrees, harmonic change and chords from a 256 ms-window chroma."""
    magnitude = _spectrogram(segment, _CHROMA_FFT, _CHROMA_HOP)
    # Spectral peaks only: broadband energy (drums, noise) would otherwise flatten the chroma.
    peaks = np.zeros_like(magnitude)
    is_peak = (magnitude[1:-1] > magnitude[:-2]) & (magnitude[1:-1] >= magnitude[2:])
    peaks[1:-1] = np.where(is_peak, magnitude[1:-1], 0.0)
    magnitude = peaks
    # torch for the one sizeable product: it honours the caller's thread limit, numpy's BLAS may not.
    chroma = (_CHROMA_MAP @ torch.from_numpy(magnitude)).T.double().numpy()  # (frames, 12)
    chroma = chroma / np.maximum(chroma.sum(1, keepdims=True), _EPS)
    mean = chroma.mean(0)
    keys = _correlations(mean, _KEY_PROFILES)
    major, minor = keys[:12].max(), keys[12:].max()
    tonic = int(keys.argmax()) % 12
    frames_per_second = SAMPLE_RATE / _CHROMA_HOP
    # Local mode on ~3 s windows: music that modulates or mixes modes shows it here.
    window = max(1, int(round(3 * frames_per_second)))
    local = np.array([chroma[s : s + window].mean(0) for s in range(0, max(1, len(chroma) - window + 1), window)])
    local_keys = _correlations(local, _KEY_PROFILES)
    local_mode = local_keys[:, :12].max(1) - local_keys[:, 12:].max(1)
    entropy = -(mean * np.log(np.maximum(mean, _EPS))).sum() / np.log(12)
    # Harmony on ~0.5 s steps (about a beat): chroma flux and the best-fitting triad.
    step = max(1, int(round(0.5 * frames_per_second)))
    beats = np.array([chroma[s : s + step].mean(0) for s in range(0, len(chroma), step)])
    unit = beats / np.maximum(np.linalg.norm(beats, axis=1, keepdims=True), _EPS)
    change = 1.0 - (unit[1:] * unit[:-1]).sum(1) if len(unit) > 1 else np.zeros(1)
    chords = _correlations(beats, _TRIADS).argmax(1)
    seconds = max(len(beats) * step / frames_per_second, _EPS)
    return [
        float(max(major, minor)), float(major), float(minor), float(major - minor),
        float(local_mode.mean()), float(local_mode.std()), float(entropy),
        *np.roll(mean, -tonic).tolist(),
        float(change.mean()), float(change.std()), float((chords[1:] != chords[:-1]).sum() / seconds), float((chords >= 12).mean()),
    ]


def _dissonance(magnitude: np.ndarray, freqs: np.ndarray, peaks: int = 16) -> np.ndarray:
    """Sethares' (1993) Plomp-Levelt roughness of each frame's ``peaks`` strongest bins, per unit energy."""
    top = np.argpartition(magnitude, -peaks, axis=0)[-peaks:]  # (peaks, frames)
    f = freqs[top].T  # (frames, peaks)
    a = np.take_along_axis(magnitude, top, axis=0).T
    low, high = np.minimum(f[:, :, None], f[:, None, :]), np.abs(f[:, :, None] - f[:, None, :])
    s = 0.24 / (0.0207 * low + 18.96)
    curve = np.exp(-3.51 * s * high) - np.exp(-5.75 * s * high)
    pairs = a[:, :, None] * a[:, None, :] * curve
    return pairs.sum((1, 2)) / 2 / np.maximum((a**2).sum(1), _EPS)


def _timbral(segment: np.ndarray) -> list[float]:
    """Roughness, rhythm, dynamics, brightness and spectral contrast from a 64 ms-window STFT."""
    magnitude = _spectrogram(segment, _TIMBRE_FFT, _TIMBRE_HOP)
    freqs = _TIMBRE_FILTERS.freqs
    power = magnitude**2
    total = np.maximum(power.sum(0), _EPS)
    frames_per_second = SAMPLE_RATE / _TIMBRE_HOP
    dissonance = _dissonance(magnitude, freqs)
    flatness = np.exp(np.log(magnitude + _EPS).mean(0)) / (magnitude.mean(0) + _EPS)
    # Onsets: half-wave rectified log-spectral flux, peaks above a moving median.
    log_mag = np.log1p(100.0 * magnitude)
    flux = np.maximum(np.diff(log_mag, axis=1), 0).sum(0) if magnitude.shape[1] > 1 else np.zeros(1)
    width = int(frames_per_second)  # 1 s moving median
    padded = np.pad(flux, width // 2, mode="edge")
    threshold = np.median(np.lib.stride_tricks.sliding_window_view(padded, width), axis=1)[: flux.size] + 0.5 * flux.std()
    is_peak = (flux > threshold) & (flux >= np.roll(flux, 1)) & (flux >= np.roll(flux, -1))
    onset_rate = is_peak.sum() / max(flux.size / frames_per_second, _EPS)
    tempo, strength = _tempo(flux - flux.mean(), frames_per_second)
    rms_db = 10 * np.log10(power.mean(0) + _EPS)
    rms = np.sqrt(power.mean(0))
    centroid = (freqs[:, None] * power).sum(0) / total
    rolloff = freqs[np.minimum((np.cumsum(power, 0) < 0.85 * total).sum(0), freqs.size - 1)]
    bandwidth = np.sqrt((((freqs[:, None] - centroid) ** 2) * power).sum(0) / total)
    signs = np.signbit(segment)
    zero_crossings = float((signs[1:] != signs[:-1]).mean()) if segment.size > 1 else 0.0
    high_share = power[freqs >= 1500.0].sum(0) / total
    contrast = []
    for low, high in zip((0.0, *CONTRAST_EDGES[:-1]), CONTRAST_EDGES):
        band = np.sort(magnitude[(freqs >= low) & (freqs < high)], axis=0)
        k = max(1, int(round(0.2 * band.shape[0])))
        contrast.append(np.log(band[-k:].mean(0) + _EPS) - np.log(band[:k].mean(0) + _EPS))
    contrast = np.array(contrast)
    energy = power.sum(1)
    bands = [energy[freqs < 200.0].sum(), energy[(freqs >= 200.0) & (freqs < 2000.0)].sum(), energy[freqs >= 2000.0].sum()]
    return [
        float(dissonance.mean()), float(dissonance.std()), float(flatness.mean()), float(flatness.std()),
        float(onset_rate), float(flux.mean()), float(flux.std()), tempo, strength,
        float(rms_db.mean()), float(rms_db.std()), float(np.percentile(rms_db, 95) - np.percentile(rms_db, 5)),
        float(np.abs(np.diff(rms_db)).mean()) if rms_db.size > 1 else 0.0, float((rms < rms.mean()).mean()),
        float(centroid.mean()), float(centroid.std()), float(rolloff.mean()), float(rolloff.std()), float(bandwidth.mean()),
        zero_crossings, float(high_share.mean()),
        *contrast.mean(1).tolist(), *contrast.std(1).tolist(),
        *(np.array(bands) / max(sum(bands), _EPS)).tolist(),
    ]


def _tempo(envelope: np.ndarray, frames_per_second: float) -> tuple[float, float]:
    """Tempo (BPM, 40-200) at the onset envelope's strongest autocorrelation, and that correlation."""
    n = envelope.size
    if n < 4 or not np.any(envelope):
        return 0.0, 0.0
    spectrum = np.fft.rfft(envelope, 2 * n)
    autocorrelation = np.fft.irfft(spectrum * np.conj(spectrum))[:n]
    autocorrelation /= max(autocorrelation[0], _EPS)
    lags = np.arange(n)
    valid = (lags >= frames_per_second * 60 / 200) & (lags <= frames_per_second * 60 / 40)
    if not valid.any():
        return 0.0, 0.0
    best = int(lags[valid][autocorrelation[valid].argmax()])
    return float(60 * frames_per_second / best), float(autocorrelation[best])


def segment_starts(num_samples: int, segment: int, count: int) -> list[int]:
    """Starts of at most ``count`` evenly spaced windows of ``segment`` samples spanning the signal."""
    if num_samples <= segment:
        return [0]
    last = num_samples - segment
    count = min(count, -(-num_samples // segment))  # no more windows than it takes to cover the track
    return sorted({int(round(last * i / max(count - 1, 1))) for i in range(count)})


def music_descriptors(waveform: np.ndarray, segments: int = 6, segment_seconds: float = 10.0) -> np.ndarray:
    """``(len(DESCRIPTOR_NAMES),)`` float32 descriptors of a 16 kHz mono waveform, averaged over segments."""
    samples = _checked_waveform(waveform).numpy()
    length = int(segment_seconds * SAMPLE_RATE)
    rows = [
        _tonal(samples[start : start + length]) + _timbral(samples[start : start + length])
        for start in segment_starts(samples.size, length, segments)
    ]
    return np.nan_to_num(np.mean(rows, axis=0)).astype(np.float32)


@dataclass
class MusicnnDescriptorsConfig(MusicnnConfig):
    """MusiCNN options plus where the descriptors are measured.

    Attributes:
        segments: At most this many evenly spaced windows per track get descriptors (cost is bounded).
        segment_seconds: Length of each window.
    """

    segments: int = 6
    segment_seconds: float = 10.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.segments < 1 or self.segment_seconds <= 0:
            raise ValueError(f"segments must be >= 1 and segment_seconds > 0, got {self.segments}, {self.segment_seconds}")


@register_tower("music", "musicnn+descriptors", MusicnnDescriptorsConfig)
class MusicnnDescriptorsTower(MusicnnTower):
    """MusiCNN's pooled outputs followed by :data:`DESCRIPTOR_NAMES` (see the module docstring)."""

    def __init__(self, config: MusicnnDescriptorsConfig) -> None:
        super().__init__(config)
        self.config: MusicnnDescriptorsConfig = config

    @property
    def dim(self) -> int:
        return super().dim + len(DESCRIPTOR_NAMES)

    def embed_many(self, items: Iterable[np.ndarray]) -> np.ndarray:
        items = list(items)
        network = super().embed_many(items)
        descriptors = [music_descriptors(item, self.config.segments, self.config.segment_seconds) for item in items]
        if not items:
            return np.zeros((0, self.dim), np.float32)
        return np.concatenate([network, np.stack(descriptors)], axis=1).astype(np.float32)
