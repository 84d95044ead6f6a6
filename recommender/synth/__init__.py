"""Mood-conditioned procedural music and emotional speech, made entirely by Undertone's own code.

Nothing here is recorded, sampled or downloaded: every sample comes from numpy formulas, seeded and
deterministic. The demo catalog and its voice queries are built from it, and tests use it to get
audio whose emotion is known by construction.

- :mod:`.music` -- :func:`synthesize_music`, from a valence-arousal point to an arranged, rendered track;
  its instruments and drums are in :mod:`.instruments`.
- :mod:`.voice` -- :func:`synthesize_speech`, a formant voice with emotional prosody.
- :mod:`.catalog` -- :func:`demo_catalog`, the demo's tracks and their metadata.
- :mod:`.common` -- sample rates, the licence of generated audio, and how a mood is given.
"""

from recommender.synth.catalog import CatalogEntry, demo_catalog
from recommender.synth.common import GENERATED_LICENCE, MUSIC_SAMPLE_RATE, SPEECH_SAMPLE_RATE, Mood, resolve_va
from recommender.synth.music import GENRES, SynthesizedMusic, synthesize_music
from recommender.synth.voice import SynthesizedSpeech, VoiceProsody, synthesize_speech

__all__ = [
    "GENERATED_LICENCE",
    "GENRES",
    "MUSIC_SAMPLE_RATE",
    "SPEECH_SAMPLE_RATE",
    "CatalogEntry",
    "Mood",
    "SynthesizedMusic",
    "SynthesizedSpeech",
    "VoiceProsody",
    "demo_catalog",
    "resolve_va",
    "synthesize_music",
    "synthesize_speech",
]
