"""Emotional speech (:func:`synthesize_speech`): a Klatt-style source-filter synthesizer.

A glottal pulse train shaped by emotional prosody (pitch level and range, speaking rate, loudness,
breathy or pressed voice, rising or falling phrase ends; Scherer 2003) drives a cascade of vowel
formant resonators. It babbles consonant-vowel syllables, not words: a voice-like query with a known
emotion, clearly synthetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import signal

from recommender.emotion import EmotionSpace
from recommender.synth.common import SPEECH_SAMPLE_RATE, Mood, resolve_va


@dataclass(frozen=True)
class VoiceProsody:
    """How an emotion shapes a voice (see :func:`voice_prosody`).

    Attributes:
        pitch_hz: Median fundamental frequency.
        pitch_range: Width of pitch movements, semitones.
        syllables_per_second: Speaking rate.
        loudness_dbfs: RMS level of the voiced parts.
        breathiness: 0-1; aspiration noise and a softer, more open glottal pulse.
        tension: 0-1; pressed voice: short open phase, stronger high harmonics.
        jitter: Relative cycle-to-cycle pitch perturbation.
        final_slope: Semitones the pitch moves over a phrase's last syllable (+ rising, - falling).
    """

    pitch_hz: float
    pitch_range: float
    syllables_per_second: float
    loudness_dbfs: float
    breathiness: float
    tension: float
    jitter: float
    final_slope: float


SPEAKER_PITCH_HZ = {"female": 205.0, "male": 115.0}
SPEAKER_FORMANT_SCALE = {"female": 1.17, "male": 1.0}


def voice_prosody(valence: float, arousal: float, speaker: str = "female") -> VoiceProsody:
    """Prosody of a valence-arousal point: arousal raises pitch, range, rate and loudness and tightens
    the voice; low valence flattens melody and makes phrase ends fall, high valence makes them rise."""
    if speaker not in SPEAKER_PITCH_HZ:
        raise ValueError(f"unknown speaker {speaker!r}; known: {sorted(SPEAKER_PITCH_HZ)}")
    return VoiceProsody(
        pitch_hz=SPEAKER_PITCH_HZ[speaker] * 2 ** ((9.0 * arousal - 3.5 + 1.5 * (valence - 0.5)) / 12),
        pitch_range=1.5 + 7.0 * arousal + 3.0 * valence,
        syllables_per_second=2.6 + 3.6 * arousal,
        loudness_dbfs=-32.0 + 18.0 * arousal,
        breathiness=float(np.clip(0.65 * (1 - arousal) - 0.15, 0.0, 1.0)),
        tension=float(np.clip(1.4 * arousal * (1 - valence), 0.0, 1.0)),
        jitter=0.004 + 0.02 * arousal * (1 - valence),
        final_slope=-5.0 + 8.0 * valence,
    )


# Formants (Hz) of an adult male voice (Peterson & Barney 1952) and bandwidths; nasal murmur for m/n.
_VOWELS = {"a": (730, 1090, 2440), "e": (530, 1840, 2480), "i": (270, 2290, 3010), "o": (570, 840, 2410), "u": (300, 870, 2240)}
_NASAL = (280, 1300, 2500)
_BANDWIDTHS = (80.0, 110.0, 160.0, 250.0)
_F4 = 3500.0
# Consonants: (kind, noise band low/high Hz, seconds)
_CONSONANTS = {
    "s": ("fricative", 4500, 7500, 0.09), "sh": ("fricative", 2200, 4800, 0.09), "f": ("fricative", 1500, 7000, 0.07),
    "h": ("aspirate", 0, 0, 0.06), "t": ("plosive", 3000, 7000, 0.05), "k": ("plosive", 1500, 4000, 0.055),
    "p": ("plosive", 500, 2500, 0.05), "m": ("nasal", 0, 0, 0.07), "n": ("nasal", 0, 0, 0.06), "l": ("liquid", 0, 0, 0.06),
}
SPEECH_FRAME_RATE = 100  # f0 contour frames per second


@dataclass
class SynthesizedSpeech:
    """A synthetic voice clip and the pitch contour it was made with.

    ``f0`` has one value per 1/:data:`SPEECH_FRAME_RATE` s: the intended fundamental frequency in Hz,
    0 where the frame is unvoiced (consonant noise or pause).
    """

    waveform: np.ndarray
    sample_rate: int
    valence: float
    arousal: float
    prosody: VoiceProsody
    f0: np.ndarray
    frame_rate: int = SPEECH_FRAME_RATE


def _glottal_pulses(phase: np.ndarray, open_quotient: float) -> np.ndarray:
    """Rosenberg glottal flow over each period's phase (0-1); its derivative is the excitation."""
    rise = 0.6 * open_quotient
    flow = np.where(
        phase < rise,
        0.5 * (1 - np.cos(np.pi * phase / rise)),
        np.where(phase < open_quotient, np.cos(0.5 * np.pi * (phase - rise) / (open_quotient - rise)), 0.0),
    )
    return np.diff(flow, prepend=flow[0])


def _formant_cascade(source: np.ndarray, formants: np.ndarray, sr: int, block: int = 64) -> np.ndarray:
    """Klatt cascade of second-order resonators whose frequencies follow ``formants`` (n_samples, 4)."""
    out = source.astype(np.float64)
    for index, bandwidth in enumerate(_BANDWIDTHS):
        radius = math.exp(-math.pi * bandwidth / sr)
        state = np.zeros(2)
        filtered = np.empty_like(out)
        for begin in range(0, out.size, block):
            end = min(begin + block, out.size)
            theta = 2 * math.pi * formants[(begin + end) // 2, index] / sr
            a = [1.0, -2 * radius * math.cos(theta), radius * radius]
            filtered[begin:end], state = signal.lfilter([sum(a)], a, out[begin:end], zi=state)
        out = filtered
    return out


def synthesize_speech(
    mood: Mood,
    *,
    seconds: float = 4.0,
    speaker: str = "female",
    seed: int = 0,
    sample_rate: int = SPEECH_SAMPLE_RATE,
    space: EmotionSpace | None = None,
) -> SynthesizedSpeech:
    """Babbled speech (consonant-vowel syllables in breath groups) spoken with the prosody of ``mood``.

    Args:
        mood: Emotion word or ``(valence, arousal)`` in 0-1.
        seconds: Length of the clip (pauses included).
        speaker: ``"female"`` or ``"male"`` (pitch and formant scale).
        seed: Same seed, same arguments -> the same samples.
        sample_rate: Output rate.
        space: Emotion space for words.
    """
    if seconds <= 0.5:
        raise ValueError("seconds must be above 0.5")
    valence, arousal = resolve_va(mood, space)
    prosody = voice_prosody(valence, arousal, speaker)
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    formant_scale = SPEAKER_FORMANT_SCALE[speaker]

    # Plan: breath groups of 4-8 syllables separated by pauses; per sample: voiced?, f0, formants, gains.
    semitones = np.zeros(n)  # pitch offset from prosody.pitch_hz
    voiced = np.zeros(n, dtype=bool)
    voice_gain = np.zeros(n)
    noise_gain = np.zeros(n)
    noise_band = np.zeros((n, 2))
    formants = np.zeros((n, 4))
    formants[:] = np.array([*_VOWELS["e"], _F4]) * formant_scale
    time = 0.15 + 0.1 * rng.random()
    syllable_seconds = 1.0 / prosody.syllables_per_second
    while time < seconds - 0.4:
        n_syllables = int(rng.integers(4, 9))
        group_start = time
        for position in range(n_syllables):
            length = syllable_seconds * rng.uniform(0.8, 1.25)
            if time + length > seconds - 0.1:
                break
            consonant = str(rng.choice(list(_CONSONANTS))) if rng.random() < 0.8 else None
            vowel = _VOWELS[str(rng.choice(list(_VOWELS)))]
            cursor = int(time * sample_rate)
            vowel_start = cursor
            if consonant is not None:
                kind, low, high, duration = _CONSONANTS[consonant]
                duration = min(duration, 0.4 * length)
                stop = cursor + int(duration * sample_rate)
                if kind in ("fricative", "plosive"):
                    burst = slice(cursor, stop if kind == "fricative" else cursor + int(0.025 * sample_rate))
                    noise_gain[burst] = 0.5 if kind == "fricative" else 0.8
                    noise_band[burst] = (low, high)
                elif kind == "aspirate":
                    noise_gain[cursor:stop] = 0.25
                    noise_band[cursor:stop] = (300, 3000)
                else:  # nasal / liquid: voiced, quieter, with murmur formants
                    voiced[cursor:stop] = True
                    voice_gain[cursor:stop] = 0.35
                    formants[cursor:stop, :3] = np.array(_NASAL if kind == "nasal" else (360, 1100, 2700)) * formant_scale
                vowel_start = stop
            vowel_stop = int((time + length * rng.uniform(0.85, 0.95)) * sample_rate)
            voiced[vowel_start:vowel_stop] = True
            voice_gain[vowel_start:vowel_stop] = 1.0
            formants[vowel_start:vowel_stop, :3] = np.array(vowel) * formant_scale
            # Pitch: declination across the group, accents on stressed syllables, and the phrase-final
            # movement (rise for positive, fall for negative valence) over the last syllable.
            progress = (time - group_start) / max(n_syllables * syllable_seconds, 1e-3)
            accent = prosody.pitch_range * (0.55 if position % 2 == 0 else 0.15) * rng.uniform(0.6, 1.2)
            span = slice(cursor, vowel_stop)
            local = np.linspace(0.0, 1.0, vowel_stop - cursor)
            shape = accent * np.sin(np.pi * np.clip(local * 1.2, 0, 1))  # rise-fall within the syllable
            semitones[span] = prosody.pitch_range * (0.25 - 0.5 * progress) + shape
            if position == n_syllables - 1 or time + 2 * length > seconds - 0.1:
                semitones[span] += prosody.final_slope * local
            time += length
        time += rng.uniform(0.25, 0.5) * (1.4 - 0.6 * arousal)  # pause between breath groups

    # Smooth articulators (coarticulation) and pitch, then build the source.
    smooth = lambda x, ms: signal.filtfilt(*signal.butter(2, 1000.0 / ms / (sample_rate / 2)), x, axis=0)  # noqa: E731
    formants = smooth(formants, 40)
    f0 = prosody.pitch_hz * 2 ** (smooth(semitones, 60) / 12)
    f0 *= 1 + prosody.jitter * rng.standard_normal(n).cumsum() / np.sqrt(np.arange(1, n + 1))  # slow wander
    f0 *= 1 + prosody.jitter * np.repeat(rng.standard_normal(n // 80 + 1), 80)[:n]  # cycle-scale jitter
    phase = np.cumsum(f0 / sample_rate) % 1.0
    open_quotient = float(np.clip(0.6 + 0.25 * prosody.breathiness - 0.25 * prosody.tension, 0.35, 0.9))
    source = _glottal_pulses(phase, open_quotient)
    source /= np.std(source) + 1e-12
    envelope = smooth(voice_gain * voiced, 15)
    shimmer = 1 + 0.08 * prosody.breathiness * rng.standard_normal(n // 160 + 1).repeat(160)[:n]
    aspiration = prosody.breathiness * 0.6 * rng.standard_normal(n)
    excitation = envelope * (source * shimmer + aspiration)
    # Spectral tilt: soft/breathy voices lose high harmonics, pressed ones keep them.
    tilt = float(np.clip(0.75 - 0.55 * prosody.tension + 0.2 * prosody.breathiness, 0.1, 0.95))
    excitation = signal.lfilter([1 - tilt], [1, -tilt], excitation)
    voice = _formant_cascade(excitation, formants, sample_rate)

    noise = np.zeros(n)
    gain = smooth(noise_gain, 5)
    for low, high in {tuple(band) for band in noise_band[noise_gain > 0]}:
        mask = np.all(noise_band == (low, high), axis=1)
        sos = signal.butter(2, [low / (sample_rate / 2), min(high / (sample_rate / 2), 0.95)], "bandpass", output="sos")
        noise += signal.sosfilt(sos, rng.standard_normal(n)) * smooth(mask * 1.0, 5)
    voice = voice / (np.sqrt(np.mean(voice[voiced] ** 2)) + 1e-12)
    noise = 0.35 * gain * noise / (np.std(noise) + 1e-12)
    clip = voice + noise
    clip *= 10 ** (prosody.loudness_dbfs / 20)
    clip = np.tanh(clip * 1.5) / 1.5 if np.max(np.abs(clip)) > 0.9 else clip

    frame = sample_rate // SPEECH_FRAME_RATE
    n_frames = n // frame
    frames_voiced = voiced[: n_frames * frame].reshape(n_frames, frame).mean(axis=1) > 0.5
    frame_f0 = f0[frame // 2 :: frame][:n_frames] * frames_voiced
    return SynthesizedSpeech(clip.astype(np.float32), sample_rate, valence, arousal, prosody, frame_f0.astype(np.float32))
