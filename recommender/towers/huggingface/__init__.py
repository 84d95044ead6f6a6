"""Towers backed by Hugging Face ``transformers`` checkpoints; importing this package registers them.

- :mod:`.hub` -- loading a hub id or a local directory (offline handling, :class:`ModelNotFoundError`).
- :mod:`.windows` -- what the audio towers share: input checks, hidden-layer choice, windowed encoding.
- :mod:`.speech` -- ``wav2vec2``, ``hubert``, ``wavlm``.
- :mod:`.music` -- ``ast``, ``mert``, ``clap``.

``transformers`` is imported when a tower is built, not when this package is imported.
"""

from recommender.errors import ModelNotFoundError
from recommender.towers.huggingface.hub import hub_offline, load_feature_extractor, load_pretrained
from recommender.towers.huggingface.music import (
    ASTTower,
    ASTTowerConfig,
    CLAPTower,
    CLAPTowerConfig,
    MERTTower,
    MERTTowerConfig,
    MusicModelConfig,
)
from recommender.towers.huggingface.speech import (
    HubertTower,
    HubertTowerConfig,
    SpeechModelConfig,
    SpeechModelTower,
    Wav2Vec2Tower,
    Wav2Vec2TowerConfig,
    WavLMTower,
    WavLMTowerConfig,
)
from recommender.towers.huggingface.windows import Layer, as_waveform, check_layer, receptive_field, select_layer

__all__ = [
    "ASTTower",
    "ASTTowerConfig",
    "CLAPTower",
    "CLAPTowerConfig",
    "HubertTower",
    "HubertTowerConfig",
    "Layer",
    "MERTTower",
    "MERTTowerConfig",
    "ModelNotFoundError",
    "MusicModelConfig",
    "SpeechModelConfig",
    "SpeechModelTower",
    "Wav2Vec2Tower",
    "Wav2Vec2TowerConfig",
    "WavLMTower",
    "WavLMTowerConfig",
    "as_waveform",
    "check_layer",
    "hub_offline",
    "load_feature_extractor",
    "load_pretrained",
    "receptive_field",
    "select_layer",
]
