"""The shipped speech tower hears the same emotion in a clip after everyday damage (issue 11, item 5).

A fixed set of unseen-actor clips (every 6th of the RAVDESS dev fold); a condition passes when the clip
keeps its top emotion in at least 80% of them. Measured on these 40 clips when the tests were written
(the tower trained on 8 RAVDESS actors before it, in brackets): -12 dB 0.95 (0.95), Opus 0.93 (0.85),
MP3 0.82 (0.78); 20 dB white noise 0.68 (0.62) and an 8 kHz round trip 0.65 (0.47) miss the goal, so
those two are strict expected failures: they turn red once the tower gets there. Re-measured for the
same shipped tower on 2026-12-06: 0.95, 0.95, 0.82, 0.62, 0.65; a tower trained with real codec, 20 dB
noise and 8 kHz copies (``train_speech_tower.py --channel-copies``, not shipped): 0.95, 0.97, 0.88, 0.68, 0.65.
"""

import io

import numpy as np
import pytest
import soundfile as sf

from recommender.audio import load_audio, resample
from recommender.data import load_corpus
from recommender.errors import CorpusMissingError, SilentAudioError

GOAL = 0.8


def _roundtrip(waveform: np.ndarray, format: str, subtype: str, **options) -> np.ndarray:
    buffer = io.BytesIO()
    sf.write(buffer, waveform, 16000, format=format, subtype=subtype, **options)
    return load_audio(buffer.getvalue(), 16000)


def _noise(waveform: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(0)
    return waveform + rng.normal(size=waveform.size).astype(np.float32) * np.sqrt(np.mean(waveform**2) / 100)


CONDITIONS = {
    "quieter by 12 dB": lambda w: w * 10 ** (-12 / 20),
    "opus 16 kb/s": lambda w: _roundtrip(w, "OGG", "OPUS", compression_level=0.83),
    "mp3": lambda w: _roundtrip(w, "MP3", "MPEG_LAYER_III"),
    "20 dB white noise": _noise,
    "8 kHz round trip": lambda w: resample(resample(w, 16000, 8000), 8000, 16000),
}
MISSED = {"20 dB white noise", "8 kHz round trip"}


@pytest.fixture(scope="module")
def clips(model):
    try:
        dev = load_corpus("ravdess", "dev")
    except CorpusMissingError:
        pytest.skip("corpora not available (../shared/data)")
    waveforms = [load_audio(clip.path, 16000) for clip in dev[::6][:40]]
    return [(waveform, _top(model, waveform)) for waveform in waveforms]


def _top(model, waveform: np.ndarray) -> str:
    try:
        return next(iter(model.analyze_speech(waveform, 16000).emotions))
    except SilentAudioError:  # RAVDESS is quiet: 12 dB down, a few clips fall under the silence floor (-60 dBFS)
        return "refused as silent"


@pytest.mark.parametrize(
    "condition",
    [pytest.param(name, marks=pytest.mark.xfail(strict=True, reason="below the goal today")) if name in MISSED else name for name in CONDITIONS],
)
def test_the_top_emotion_survives(model, clips, condition):
    damage = CONDITIONS[condition]
    kept = np.mean([_top(model, damage(waveform)) == top for waveform, top in clips])
    assert kept >= GOAL, f"{condition}: top emotion kept in {kept:.0%} of {len(clips)} clips"
