"""Instruments and drums of the procedural music: numpy formulas, no samples.

An instrument renders one note: (frequency, seconds held, velocity, brightness, sample rate, rng) ->
samples including the release tail. Tones come from band-limited wavetables (no aliasing); drums from
swept sines and shaped noise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

Instrument = Callable[[float, float, float, float, int, np.random.Generator], np.ndarray]
INSTRUMENTS: dict[str, Instrument] = {}


def instrument(name: str) -> Callable[[Instrument], Instrument]:
    def decorator(function: Instrument) -> Instrument:
        INSTRUMENTS[name] = function
        return function

    return decorator


def _envelope(held: float, sr: int, attack: float, decay: float, sustain: float, release: float) -> np.ndarray:
    """Attack ramp, exponential decay towards ``sustain`` while held, exponential release afterwards."""
    n_held = max(int(held * sr), 1)
    n_total = n_held + int(release * 3 * sr)  # the tail ends 26 dB down
    t = np.arange(n_total) / sr
    env = sustain + (1.0 - sustain) * np.exp(-np.maximum(t - attack, 0.0) / max(decay, 1e-3))
    env *= np.minimum(t / max(attack, 1e-4), 1.0)
    level_at_release = env[n_held - 1]
    tail = t[n_held:] - t[n_held - 1]
    env[n_held:] = level_at_release * np.exp(-tail / max(release, 1e-3))
    return env


_TABLE_SIZE = 2048


def _wavetable(freq: float, amplitudes: Sequence[float], sr: int) -> np.ndarray:
    """One period of a harmonic tone, keeping only the partials below Nyquist (no aliasing)."""
    k = np.arange(1, len(amplitudes) + 1)
    amps = np.where(k * freq < 0.45 * sr, np.asarray(amplitudes, dtype=float), 0.0)
    cycle = np.arange(_TABLE_SIZE) / _TABLE_SIZE
    return amps @ np.sin(2 * np.pi * np.outer(k, cycle))


def _play(table: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Read a wavetable at ``phase`` (in periods), linearly interpolated: cost independent of partials."""
    position = (phase % 1.0) * _TABLE_SIZE
    index = position.astype(np.int64)
    frac = position - index
    return table[index] * (1 - frac) + table[(index + 1) % _TABLE_SIZE] * frac


def _tone(freq: float, amplitudes: Sequence[float], n: int, sr: int, detune_cents: float = 0.0) -> np.ndarray:
    hz = freq * 2 ** (detune_cents / 1200)
    return _play(_wavetable(hz, amplitudes, sr), hz * np.arange(n) / sr)


@instrument("pad")
def _pad(freq, held, velocity, brightness, sr, rng):
    env = _envelope(held, sr, attack=0.35, decay=1.0, sustain=0.8, release=0.6)
    amps = np.arange(1, 13, dtype=float) ** -(2.6 - 1.6 * brightness)
    tone = _tone(freq, amps, env.size, sr, -5.0) + _tone(freq, amps, env.size, sr, 5.0)
    return velocity * 0.5 * env * tone


@instrument("organ")
def _organ(freq, held, velocity, brightness, sr, rng):
    env = _envelope(held, sr, attack=0.015, decay=0.3, sustain=0.9, release=0.08)
    amps = [1.0, 0.7, 0.45, 0.35 * brightness, 0.0, 0.25 * brightness, 0.0, 0.2 * brightness]
    return velocity * env * _tone(freq, amps, env.size, sr)


@instrument("epiano")
def _epiano(freq, held, velocity, brightness, sr, rng):
    env = _envelope(held, sr, attack=0.004, decay=0.8, sustain=0.15, release=0.25)
    t = np.arange(env.size) / sr
    index = (0.3 + 1.8 * brightness) * velocity * np.exp(-t / 0.35)
    tone = np.sin(2 * np.pi * freq * t + index * np.sin(2 * np.pi * freq * t))
    tine = 0.12 * brightness * np.sin(2 * np.pi * 14 * freq * t) * np.exp(-t / 0.04) if 14 * freq < 0.45 * sr else 0.0
    return velocity * env * (tone + tine)


@instrument("bell")
def _bell(freq, held, velocity, brightness, sr, rng):
    env = _envelope(held, sr, attack=0.002, decay=1.0, sustain=0.0, release=0.4)
    t = np.arange(env.size) / sr
    index = (0.5 + 2.5 * brightness) * np.exp(-t / 0.6)
    return velocity * 0.6 * env * np.sin(2 * np.pi * freq * t + index * np.sin(2 * np.pi * 3.5 * freq * t))


@instrument("pluck")
def _pluck(freq, held, velocity, brightness, sr, rng):
    # A plucked string loses its high partials first: cross-fade from a bright to a dull spectrum.
    env = _envelope(held, sr, attack=0.002, decay=0.5 + 0.4 * brightness, sustain=0.0, release=0.08)
    k = np.arange(1, 16, dtype=float)
    phase = freq * np.arange(env.size) / sr
    bright = _play(_wavetable(freq, k ** -(1.3 - 0.6 * brightness), sr), phase)
    dull = _play(_wavetable(freq, k[:3] ** -2.0, sr), phase)
    fade = np.exp(-np.arange(env.size) / sr / (0.06 + 0.1 * brightness))
    return velocity * env * (fade * bright + (1 - fade) * dull)


@instrument("chip")
def _chip(freq, held, velocity, brightness, sr, rng):
    env = _envelope(held, sr, attack=0.003, decay=0.15, sustain=0.6, release=0.03)
    k = np.arange(1, 30, dtype=float)
    amps = np.where(k % 2 == 1, 1.0 / k, 0.0) * (k <= 3 + 26 * brightness)  # band-limited square wave
    return velocity * 0.6 * env * _tone(freq, amps, env.size, sr)


@instrument("saw")
def _saw(freq, held, velocity, brightness, sr, rng):
    env = _envelope(held, sr, attack=0.01, decay=0.25, sustain=0.6, release=0.12)
    amps = 1.0 / np.arange(1, int(3 + 25 * brightness) + 1, dtype=float)
    tone = _tone(freq, amps, env.size, sr, -8.0) + _tone(freq, amps, env.size, sr, 8.0)
    return velocity * 0.35 * env * tone


@instrument("strings")
def _strings(freq, held, velocity, brightness, sr, rng):
    env = _envelope(held, sr, attack=0.25, decay=1.5, sustain=0.85, release=0.4)
    t = np.arange(env.size) / sr
    # Vibrato starts in phase on every note, so a chord's coinciding partials do not beat against each other.
    vibrato = 1 + 0.0015 * np.sin(2 * np.pi * 5.2 * t) * np.minimum(t / 0.5, 1)
    amps = 1.0 / np.arange(1, int(4 + 14 * brightness) + 1, dtype=float)
    return velocity * 0.45 * env * _play(_wavetable(freq, amps, sr), freq * np.cumsum(vibrato) / sr)


@instrument("bass")
def _bass(freq, held, velocity, brightness, sr, rng):
    env = _envelope(held, sr, attack=0.006, decay=0.5, sustain=0.5, release=0.08)
    amps = [1.0, 0.35 + 0.3 * brightness, 0.12 + 0.2 * brightness, 0.1 * brightness]
    return velocity * env * _tone(freq, amps, env.size, sr)


def _noise_burst(rng: np.random.Generator, seconds: float, sr: int, tau: float, highpass_order: int) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    noise = rng.standard_normal(t.size)
    for _ in range(highpass_order):  # each first difference tilts the spectrum up 6 dB/octave
        noise = np.diff(noise, prepend=0.0)
    return noise / (np.std(noise) + 1e-9) * np.exp(-t / tau)


def _kick(velocity: float, sr: int, deep: bool) -> np.ndarray:
    t = np.arange(int(0.45 * sr)) / sr
    sweep = (42 if deep else 55) + 120 * np.exp(-t / 0.03)
    return velocity * np.sin(2 * np.pi * np.cumsum(sweep) / sr) * np.exp(-t / (0.3 if deep else 0.18))


def _snare(velocity: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    noise = 0.45 * _noise_burst(rng, 0.25, sr, 0.07, 1)
    t = np.arange(noise.size) / sr
    return velocity * (noise + 0.5 * np.sin(2 * np.pi * 185 * t) * np.exp(-t / 0.05))


def _hat(velocity: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    return velocity * 0.22 * _noise_burst(rng, 0.08, sr, 0.018, 2)


def drum_hit(kind: str, kit: str, velocity: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """One ``kick``/``snare``/``hat`` hit; the ``chip`` kit makes all three from shaped noise, like a game console."""
    if kit == "chip":
        seconds, tau, highpass, gain = {"kick": (0.15, 0.04, 0, 0.5), "snare": (0.12, 0.05, 1, 0.4), "hat": (0.04, 0.01, 2, 0.15)}[kind]
        return velocity * gain * _noise_burst(rng, seconds, sr, tau, highpass)
    if kind == "kick":
        return _kick(velocity, sr, deep=kit == "electronic")
    return _snare(velocity, sr, rng) if kind == "snare" else _hat(velocity, sr, rng)
