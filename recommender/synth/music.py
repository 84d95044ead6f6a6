"""Mood-conditioned procedural music (:func:`synthesize_music`).

A valence-arousal point (0-1) maps onto the cues listeners use (Juslin & Laukka 2004; Gabrielsson &
Lindstrom 2010): arousal drives tempo, note density, loudness, accents and percussion; valence drives
mode (major/minor), consonance, register and brightness. Genres pick the instruments
(:mod:`~recommender.synth.instruments`) and the accompaniment pattern.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import signal

from recommender.emotion import EmotionSpace
from recommender.synth.common import MUSIC_SAMPLE_RATE, Mood, resolve_va
from recommender.synth.instruments import INSTRUMENTS, drum_hit


def midi_to_hz(note: float) -> float:
    return 440.0 * 2.0 ** ((note - 69.0) / 12.0)


MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)

# Chord progressions as scale degrees (0 = tonic); minor ones lean on the darker iv/VI.
MAJOR_PROGRESSIONS = ((0, 4, 5, 3), (0, 3, 4, 0), (0, 5, 3, 4), (0, 3, 0, 4))
MINOR_PROGRESSIONS = ((0, 5, 2, 6), (0, 3, 4, 0), (0, 3, 5, 4), (0, 5, 3, 4))


@dataclass(frozen=True)
class MusicStyle:
    """Musical parameters a valence-arousal point maps to (see :func:`music_style`).

    Attributes:
        tempo_bpm: Beats per minute.
        subdivision: Melody grid, notes per beat (1, 2 or 4).
        onset_probability: Chance that a melody grid slot starts a note.
        mode: ``"major"`` or ``"minor"``.
        dissonance: 0-1; chance of a clashing tone (minor second, tritone) in each chord.
        root_midi: MIDI note of the bass tonic; the whole arrangement sits relative to it.
        brightness: 0-1; harmonic richness / FM index / filter cut-off of every instrument.
        loudness_dbfs: Target RMS level of the mix.
        percussion: 0-1; 0 means no drums, 1 a busy kit.
        legato: 0-1; how much of the gap to the next note a note holds.
        accent: 0-1; velocity contrast between strong and weak beats.
        reverb: 0-1; wet level of the room.
    """

    tempo_bpm: float
    subdivision: int
    onset_probability: float
    mode: str
    dissonance: float
    root_midi: int
    brightness: float
    loudness_dbfs: float
    percussion: float
    legato: float
    accent: float
    reverb: float

    @property
    def scale(self) -> tuple[int, ...]:
        return MAJOR_SCALE if self.mode == "major" else MINOR_SCALE


def music_style(valence: float, arousal: float) -> MusicStyle:
    """The documented mapping from a valence-arousal point to musical parameters."""
    return MusicStyle(
        tempo_bpm=58.0 + 112.0 * arousal,
        subdivision=1 if arousal < 0.3 else 2 if arousal < 0.65 else 4,
        onset_probability=0.45 + 0.5 * arousal,
        mode="major" if valence >= 0.5 else "minor",
        dissonance=float(np.clip((0.45 - valence) / 0.45, 0.0, 1.0)),
        root_midi=43 + int(round(12 * valence)),
        brightness=float(np.clip(0.1 + 0.5 * valence + 0.4 * arousal, 0.0, 1.0)),
        loudness_dbfs=-30.0 + 16.0 * arousal,
        percussion=float(np.clip((arousal - 0.3) / 0.6, 0.0, 1.0)),
        legato=float(np.clip(1.0 - 0.8 * arousal, 0.2, 1.0)),
        accent=0.15 + 0.6 * arousal,
        reverb=0.1 + 0.35 * (1.0 - arousal),
    )


@dataclass(frozen=True)
class Genre:
    """How a genre voices the arrangement.

    Attributes:
        lead: Instrument of the melody.
        chords: Instrument of the harmony.
        bass: Instrument of the bass line.
        comping: How chords are played: ``pad`` (held), ``stab`` (short hits), ``arpeggio``, ``strum``.
        kit: Drum sound: ``acoustic``, ``electronic``, ``chip``, or None for no drums at all.
        drum_gain: Drum level relative to the other parts.
    """

    lead: str
    chords: str
    bass: str
    comping: str
    kit: str | None
    drum_gain: float = 1.0


GENRES: dict[str, Genre] = {
    "ambient": Genre(lead="bell", chords="pad", bass="bass", comping="pad", kit=None),
    "piano": Genre(lead="epiano", chords="epiano", bass="epiano", comping="arpeggio", kit=None),
    "folk": Genre(lead="pluck", chords="pluck", bass="bass", comping="strum", kit="acoustic", drum_gain=0.6),
    "synthpop": Genre(lead="saw", chords="pad", bass="bass", comping="stab", kit="electronic"),
    "chiptune": Genre(lead="chip", chords="chip", bass="chip", comping="arpeggio", kit="chip", drum_gain=0.7),
    "electronic": Genre(lead="bell", chords="saw", bass="bass", comping="stab", kit="electronic", drum_gain=1.2),
    "cinematic": Genre(lead="strings", chords="strings", bass="strings", comping="pad", kit="acoustic", drum_gain=0.7),
    "soul": Genre(lead="organ", chords="epiano", bass="bass", comping="stab", kit="acoustic"),
}


@dataclass(frozen=True)
class Note:
    start: float  # seconds
    held: float  # seconds
    midi: int
    velocity: float
    part: str  # "lead" | "chords" | "bass"


@dataclass
class SynthesizedMusic:
    """A rendered track and what it was made of."""

    waveform: np.ndarray
    sample_rate: int
    valence: float
    arousal: float
    genre: str
    style: MusicStyle
    tonic_pc: int  # pitch class of the key's tonic (0 = C)
    notes: list[Note] = field(repr=False)
    drum_hits: list[tuple[float, str, float]] = field(repr=False)  # (seconds, kind, velocity)


def _chord_pitches(style: MusicStyle, degree: int, rng: np.random.Generator) -> list[int]:
    """A stacked-thirds chord on a scale degree (semitones above the tonic), sometimes with a seventh,
    and with a dissonant tone as often as ``style.dissonance`` says."""
    scale = style.scale
    steps = [0, 2, 4] + ([6] if rng.random() < 0.3 else [])
    pitches = [12 * ((degree + s) // 7) + scale[(degree + s) % 7] for s in steps]
    if rng.random() < style.dissonance:
        # The key's flat second or tritone (Phrygian/Locrian colour): a clash that never brightens the mode.
        clash = 1 if rng.random() < 0.5 else 6
        pitches.append(12 * (pitches[0] // 12 + 1) + clash)  # an octave above the root's octave
    return pitches


def _melody_motif(style: MusicStyle, chord_tones: list[set[int]], slots_per_bar: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """Two bars of melody as (slot, scale-step) onsets; strong slots land on chord tones."""
    onsets: list[tuple[int, int]] = []
    step = int(rng.integers(2, 6))
    for slot in range(2 * slots_per_bar):
        strong = slot % max(slots_per_bar // 2, 1) == 0
        if slot % slots_per_bar and rng.random() > (style.onset_probability + (0.2 if strong else 0.0)):
            continue
        step = int(np.clip(step + rng.choice([-2, -1, -1, 0, 1, 1, 2]), 0, 11))
        if strong:
            tones = chord_tones[slot // slots_per_bar]
            step = min(range(12), key=lambda s: (abs(s - step), s % 7 not in tones))
        onsets.append((slot, step))
    return onsets


def arrange(style: MusicStyle, genre: Genre, seconds: float, rng: np.random.Generator) -> tuple[int, list[Note], list[tuple[float, str, float]]]:
    """Notes and drum hits of a track: tonic pitch class, notes, (time, drum, velocity) hits."""
    beat = 60.0 / style.tempo_bpm
    bar = 4 * beat
    n_bars = int(math.ceil(seconds / bar)) + 1
    tonic_pc = int(rng.integers(12))
    offset = (tonic_pc - style.root_midi) % 12
    root = style.root_midi + offset - (12 if offset > 6 else 0)  # the tonic nearest the style's register
    scale = style.scale
    progressions = MAJOR_PROGRESSIONS if style.mode == "major" else MINOR_PROGRESSIONS
    progression = progressions[int(rng.integers(len(progressions)))]
    slots_per_bar = 4 * style.subdivision
    slot = beat / style.subdivision
    notes: list[Note] = []

    def pitch_of(step: int, octave_base: int) -> int:
        return octave_base + 12 * (step // 7) + scale[step % 7]

    def accent(position: float) -> float:
        """Velocity factor: on the beat 1, off the beat softer, the more so the higher the arousal."""
        return 1.0 - style.accent * 0.5 * (position % beat > 1e-6)

    chords = [_chord_pitches(style, progression[i % 4], rng) for i in range(n_bars)]
    chord_steps = [{(progression[i % 4] + s) % 7 for s in (0, 2, 4)} for i in range(4)]
    motifs = [_melody_motif(style, chord_steps[0:2], slots_per_bar, rng), _melody_motif(style, chord_steps[2:4], slots_per_bar, rng)]
    intro_bars = 1 if n_bars >= 6 else 0

    for index in range(n_bars):
        start = index * bar
        chord = [root + 12 + p for p in chords[index]]
        # Harmony
        if genre.comping == "pad":
            notes += [Note(start, bar * 0.98, p, 0.55, "chords") for p in chord]
        elif genre.comping == "stab":
            hits = [0, 2] if style.percussion < 0.4 else [0.5 * i for i in range(8) if i % 2 or style.percussion > 0.8]
            for h in hits:
                notes += [Note(start + h * beat, beat * 0.4 * style.legato + 0.05, p, 0.5 * accent(h * beat), "chords") for p in chord]
        elif genre.comping == "arpeggio":
            pattern = chord + [chord[1] + 12] if len(chord) < 4 else chord
            n_steps = max(slots_per_bar, 8)  # at least eighth notes
            step_time = bar / n_steps
            for i in range(n_steps):
                notes.append(Note(start + i * step_time, step_time * (0.5 + style.legato), pattern[i % len(pattern)], 0.45 * accent(i * step_time), "chords"))
        else:  # strum: chord tones staggered like a guitar, on every beat
            for b in range(4):
                for j, p in enumerate(chord):
                    notes.append(Note(start + b * beat + 0.015 * j, beat * (0.4 + 0.6 * style.legato), p, 0.4 * accent(b * beat), "chords"))
        # Bass
        bass_root = root + chords[index][0] - (12 if chords[index][0] >= 7 else 0)
        if style.percussion < 0.1:
            notes.append(Note(start, bar * 0.95, bass_root, 0.7, "bass"))
        elif style.percussion < 0.55:
            notes += [Note(start + b * beat, 2 * beat * 0.9, bass_root, 0.7, "bass") for b in (0, 2)]
        else:
            notes += [Note(start + i * beat / 2, beat / 2 * 0.8, bass_root + (12 if i % 4 == 3 else 0), 0.7 * accent(i * beat / 2), "bass") for i in range(8)]
        # Melody: motif A over the progression's first two bars, B over the last two; varied on repeats
        if index >= intro_bars:
            phrase_bar = index % 4
            motif = motifs[phrase_bar // 2]
            onsets = [(s - (phrase_bar % 2) * slots_per_bar, st) for s, st in motif if (s // slots_per_bar) == phrase_bar % 2]
            for i, (s, st) in enumerate(onsets):
                if index >= intro_bars + 4 and rng.random() < 0.25:
                    st = int(np.clip(st + rng.choice([-1, 1]), 0, 11))
                following = onsets[i + 1][0] if i + 1 < len(onsets) else slots_per_bar
                held = max((following - s) * slot * style.legato, slot * 0.4)
                notes.append(Note(start + s * slot, held, pitch_of(st, root + 24), 0.75 * accent(s * slot), "lead"))

    drums: list[tuple[float, str, float]] = []
    if genre.kit is not None and style.percussion > 0:
        p = style.percussion
        sixteenth = beat / 4
        hat_every = 1 if p > 0.7 else 2 if p > 0.15 else 4  # in sixteenths
        for index in range(n_bars):
            for i in range(16):
                time = index * bar + i * sixteenth
                if i % 8 == 0 or (genre.kit == "electronic" and p > 0.5 and i % 4 == 0) or (p > 0.6 and i == 10):
                    drums.append((time, "kick", 0.9))
                if p > 0.35 and i % 8 == 4:
                    drums.append((time, "snare", 0.75))
                if i % hat_every == 0:
                    drums.append((time, "hat", (0.8 if i % 4 == 0 else 0.5) * (0.4 + 0.6 * p)))
    return tonic_pc, notes, drums


def _reverb(mix: np.ndarray, sr: int, wet: float, rng: np.random.Generator) -> np.ndarray:
    """A room: convolution with exponentially decaying, darkened noise."""
    t = np.arange(int(1.6 * sr)) / sr
    impulse = rng.standard_normal(t.size) * np.exp(-t / 0.35)
    impulse = signal.lfilter([0.3], [1.0, -0.7], impulse)
    impulse /= np.sqrt(np.sum(impulse**2))
    return (1 - wet) * mix + wet * signal.fftconvolve(mix, impulse)[: mix.size]


def synthesize_music(
    mood: Mood,
    *,
    seconds: float = 20.0,
    genre: str = "piano",
    seed: int = 0,
    sample_rate: int = MUSIC_SAMPLE_RATE,
    space: EmotionSpace | None = None,
) -> SynthesizedMusic:
    """Render a track whose emotion is ``mood`` (an emotion word or a ``(valence, arousal)`` pair).

    Args:
        mood: Emotion word (resolved through ``space``) or valence-arousal in 0-1.
        seconds: Length of the track.
        genre: One of :data:`GENRES`.
        seed: Same seed, same arguments -> the same samples.
        sample_rate: Output rate.
        space: Emotion space for words (the built-in vocabulary by default).
    """
    if genre not in GENRES:
        raise ValueError(f"unknown genre {genre!r}; known: {sorted(GENRES)}")
    if seconds <= 0:
        raise ValueError("seconds must be positive")
    valence, arousal = resolve_va(mood, space)
    style = music_style(valence, arousal)
    spec = GENRES[genre]
    rng = np.random.default_rng(seed)
    tonic_pc, notes, drums = arrange(style, spec, seconds, rng)

    total = int(seconds * sample_rate)
    mix = np.zeros(total + 4 * sample_rate)
    part_gain = {"lead": 0.32, "chords": 0.16, "bass": 0.34}
    part_instrument = {"lead": spec.lead, "chords": spec.chords, "bass": spec.bass}
    rendered: dict[tuple[str, float, float, float], np.ndarray] = {}  # loops repeat notes: render each once
    for note in notes:
        begin = int(note.start * sample_rate)
        if begin >= total:
            continue
        name = part_instrument[note.part]
        key = (name, note.midi, round(note.held, 3), note.velocity)
        if key not in rendered:
            rendered[key] = INSTRUMENTS[name](midi_to_hz(note.midi), note.held, note.velocity, style.brightness, sample_rate, rng)
        audio = part_gain[note.part] * (1 + 0.08 * rng.standard_normal()) * rendered[key]
        end = min(begin + audio.size, mix.size)
        mix[begin:end] += audio[: end - begin]
    if drums:
        drum_mix = np.zeros_like(mix)
        for time, kind, velocity in drums:
            begin = int(time * sample_rate)
            if begin >= total:
                continue
            audio = drum_hit(kind, spec.kit, velocity, sample_rate, rng)
            end = min(begin + audio.size, mix.size)
            drum_mix[begin:end] += audio[: end - begin]
        mix += 0.35 * spec.drum_gain * (0.5 + 0.5 * style.percussion) * drum_mix
    mix = _reverb(mix, sample_rate, style.reverb, rng)[:total]
    # Fades, then level to the target loudness and soft-limit the peaks.
    fade_in, fade_out = min(int(0.05 * sample_rate), total // 4), min(int(1.5 * sample_rate), total // 4)
    mix[:fade_in] *= np.linspace(0.0, 1.0, fade_in)
    mix[total - fade_out:] *= np.linspace(1.0, 0.0, fade_out) ** 2
    rms = np.sqrt(np.mean(mix**2)) + 1e-12
    mix *= 10 ** (style.loudness_dbfs / 20) / rms
    mix = np.tanh(mix * 1.2) / 1.2 if np.max(np.abs(mix)) > 0.9 else mix
    return SynthesizedMusic(mix.astype(np.float32), sample_rate, valence, arousal, genre, style, tonic_pc, notes, drums)
