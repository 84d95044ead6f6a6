"""Training augmentation of the builtin speech tower: one random real-world corruption per copy of a clip.

Noise (white/pink/brown, speech-shaped modulated noise, mains hum) at 0-30 dB SNR, gain and clipping,
speed perturbation (+-10 %, shifting pitch and tempo), synthetic reverberation, microphone colouring
(tilt + bump EQ), telephone / narrowband-codec / low-pass band limits, padding with noise that the VAD
must trim. ``train_speech_tower.py`` hashes these functions' source into its feature-cache key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torchaudio.functional as AF

from recommender.towers.speech_features import SAMPLE_RATE


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of the training augmentations."""

    p_speed: float = 0.4
    speed_rates: tuple[int, ...] = (17600, 16800, 15200, 14400)  # resample 16 kHz -> rate, play at 16 kHz
    p_reverb: float = 0.3
    rt60_seconds: tuple[float, float] = (0.2, 0.9)
    p_equalise: float = 0.4
    tilt_db_per_octave: tuple[float, float] = (-3.0, 3.0)
    bump_db: tuple[float, float] = (-6.0, 6.0)
    p_band_limit: float = 0.3
    p_pad: float = 0.3
    pad_seconds: tuple[float, float] = (0.2, 1.0)
    p_noise: float = 0.75
    snr_db: tuple[float, float] = (0.0, 30.0)
    gain_db: tuple[float, float] = (-12.0, 12.0)
    p_clip: float = 0.1


def augment(waveform: torch.Tensor, rng: np.random.Generator, cfg: AugmentConfig) -> torch.Tensor:
    """One random real-world corruption of a clean 16 kHz clip."""
    x = waveform
    if rng.random() < cfg.p_speed:
        x = AF.resample(x, SAMPLE_RATE, int(rng.choice(cfg.speed_rates)))
    if rng.random() < cfg.p_reverb:
        x = _reverberate(x, rng, cfg)
    if rng.random() < cfg.p_equalise:
        x = _equalise(x, rng, cfg)
    if rng.random() < cfg.p_band_limit:
        x = _band_limit(x, rng)
    speech_power = float(x.square().mean()) + 1e-12
    if rng.random() < cfg.p_pad:
        lead, tail = (int(rng.uniform(*cfg.pad_seconds) * SAMPLE_RATE) for _ in range(2))
        x = torch.nn.functional.pad(x, (lead, tail))
    if rng.random() < cfg.p_noise:
        noise = _noise(x, rng)
        snr = rng.uniform(*cfg.snr_db)
        x = x + noise * math.sqrt(speech_power / (float(noise.square().mean()) + 1e-12) / 10 ** (snr / 10))
    x = x * 10 ** (rng.uniform(*cfg.gain_db) / 20)
    peak = float(x.abs().max())
    if rng.random() < cfg.p_clip:
        x = x.clamp(-0.3 * peak, 0.3 * peak)
    elif peak > 1.0:
        x = x / peak
    return x.contiguous()


def _band_limit(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """A telephone, low-bit-rate codec or cheap microphone band: what lossy channels remove first."""
    kind = rng.choice(["telephone", "narrowband", "lowpass"])
    if kind == "telephone":
        x = AF.highpass_biquad(x, SAMPLE_RATE, 300.0)
        return AF.lowpass_biquad(x, SAMPLE_RATE, 3400.0)
    if kind == "narrowband":
        # A round trip through 8 kHz sampling, as narrowband Opus/AMR or an 8 kHz recording leaves it.
        return AF.resample(AF.resample(x, SAMPLE_RATE, 8000), 8000, SAMPLE_RATE)[: x.numel()]
    # Opus/MP3 at low bit rates drop the top band (4-7 kHz cut-offs at 16-64 kb/s).
    return AF.lowpass_biquad(x, SAMPLE_RATE, float(rng.choice([4000.0, 5500.0, 7000.0])))


def _reverberate(x: torch.Tensor, rng: np.random.Generator, cfg: AugmentConfig) -> torch.Tensor:
    rt60 = rng.uniform(*cfg.rt60_seconds)
    t = torch.arange(int(rt60 * SAMPLE_RATE)) / SAMPLE_RATE
    tail = torch.from_numpy(rng.standard_normal(t.numel()).astype(np.float32)) * torch.exp(-6.9 * t / rt60)
    rir = tail * 10 ** (-rng.uniform(0, 15) / 20) / tail.norm()  # direct-to-reverberant 0-15 dB
    rir[0] = 1.0
    wet = AF.fftconvolve(x, rir)
    return wet * (x.norm() / wet.norm().clamp_min(1e-8))


def _equalise(x: torch.Tensor, rng: np.random.Generator, cfg: AugmentConfig) -> torch.Tensor:
    """A microphone/room colouring: a spectral tilt plus one octave-wide bump or notch."""
    octaves = torch.log2(torch.fft.rfftfreq(x.numel(), 1 / SAMPLE_RATE).clamp_min(50.0) / 1000)
    centre = math.log2(rng.uniform(200.0, 4000.0) / 1000)
    gain_db = rng.uniform(*cfg.tilt_db_per_octave) * octaves
    gain_db = gain_db + rng.uniform(*cfg.bump_db) * torch.exp(-0.5 * ((octaves - centre) / 0.5) ** 2)
    coloured = torch.fft.irfft(torch.fft.rfft(x) * 10 ** (gain_db / 20), x.numel())
    return coloured * (x.norm() / coloured.norm().clamp_min(1e-8))


def _noise(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    n = x.numel()
    kind = rng.choice(["white", "pink", "brown", "speech_shaped", "hum"])
    if kind == "hum":
        t = torch.arange(n) / SAMPLE_RATE
        base = float(rng.choice([50.0, 60.0]))
        return sum(torch.sin(2 * math.pi * base * k * t + rng.uniform(0, 2 * math.pi)) / k for k in range(1, 6))
    phases = torch.from_numpy(rng.uniform(0, 2 * math.pi, n // 2 + 1).astype(np.float32))
    if kind == "speech_shaped":
        # The clip's own long-term spectrum with random phase, amplitude-modulated at a syllabic rate.
        magnitude = torch.fft.rfft(x).abs()
        noise = torch.fft.irfft(magnitude * torch.exp(1j * phases), n)
        t = torch.arange(n) / SAMPLE_RATE
        return noise * (1 + 0.8 * torch.sin(2 * math.pi * rng.uniform(2, 6) * t + rng.uniform(0, 2 * math.pi)))
    exponent = {"white": 0.0, "pink": 0.5, "brown": 1.0}[kind]
    freqs = torch.linspace(1.0, SAMPLE_RATE / 2, n // 2 + 1)
    return torch.fft.irfft(freqs.pow(-exponent) * torch.exp(1j * phases), n)


CHANNELS = ("opus", "mp3", "noise_20db", "narrowband_8k")


def channel(waveform: torch.Tensor, kind: str, rng: np.random.Generator) -> torch.Tensor:
    """One everyday transmission channel, as the robustness test applies it, with randomised strength.

    ``opus`` and ``mp3`` are real codec round trips through libsndfile (Opus ~10-40 kb/s, MP3 ~24-64 kb/s);
    ``noise_20db`` adds white or pink noise at 15-25 dB SNR; ``narrowband_8k`` resamples through 8 kHz
    (or the 300-3400 Hz telephone band). Every copy also gets a random gain of -15..+3 dB.
    """
    x = waveform
    if kind in ("opus", "mp3"):
        import io

        import soundfile as sf

        fmt, subtype = ("OGG", "OPUS") if kind == "opus" else ("MP3", "MPEG_LAYER_III")
        level = rng.uniform(0.6, 0.95) if kind == "opus" else rng.uniform(0.3, 0.9)
        buffer = io.BytesIO()
        peak = float(x.abs().max()) + 1e-9
        sf.write(buffer, (x / max(peak, 1.0)).numpy(), SAMPLE_RATE, format=fmt, subtype=subtype, compression_level=level)
        buffer.seek(0)
        decoded, _ = sf.read(buffer, dtype="float32")
        x = torch.from_numpy(decoded[: x.numel()].copy())
    elif kind == "noise_20db":
        noise = _noise(x, rng) if rng.random() < 0.3 else torch.from_numpy(rng.standard_normal(x.numel()).astype(np.float32))
        snr = rng.uniform(15.0, 25.0)
        x = x + noise * math.sqrt(float(x.square().mean()) / (float(noise.square().mean()) + 1e-12) / 10 ** (snr / 10))
    elif kind == "narrowband_8k":
        if rng.random() < 0.7:
            x = AF.resample(AF.resample(x, SAMPLE_RATE, 8000), 8000, SAMPLE_RATE)[: x.numel()]
        else:
            x = AF.lowpass_biquad(AF.highpass_biquad(x, SAMPLE_RATE, 300.0), SAMPLE_RATE, 3400.0)
    else:
        raise ValueError(f"unknown channel {kind!r}; known: {CHANNELS}")
    x = x * 10 ** (rng.uniform(-15.0, 3.0) / 20)
    peak = float(x.abs().max())
    return (x / peak if peak > 1.0 else x).contiguous()
