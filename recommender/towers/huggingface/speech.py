"""Self-supervised speech encoders as speech towers: ``wav2vec2``, ``hubert``, ``wavlm``.

A clip is encoded in chunks of at most ``max_seconds``; the mean over time of one hidden layer (or of
all of them) is its vector.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from recommender.towers.base import TowerConfig, register_tower, window_starts
from recommender.towers.huggingface.hub import load_pretrained
from recommender.towers.huggingface.windows import HiddenStateTower, Layer, check_positive, pad_to


@dataclass
class SpeechModelConfig(TowerConfig):
    """A self-supervised speech encoder.

    Attributes:
        model: Hub id or local directory.
        layer: Hidden state to pool: an index (-1 = last layer) or ``"mean"`` over all layers.
        max_seconds: Longer input is encoded in chunks of this length whose frames are averaged together.
        batch_size: Chunks per forward pass.
        local_files_only: Never download; ``None`` follows ``HF_HUB_OFFLINE``.
    """

    model: str
    layer: Layer = -1
    max_seconds: float = 30.0
    batch_size: int = 4
    local_files_only: bool | None = None

    def __post_init__(self) -> None:
        check_positive(max_seconds=self.max_seconds, batch_size=self.batch_size)


@dataclass
class Wav2Vec2TowerConfig(SpeechModelConfig):
    model: str = "facebook/wav2vec2-base"


@dataclass
class HubertTowerConfig(SpeechModelConfig):
    model: str = "facebook/hubert-base-ls960"


@dataclass
class WavLMTowerConfig(SpeechModelConfig):
    model: str = "microsoft/wavlm-base-plus"


class SpeechModelTower(HiddenStateTower):
    """Mean over time of one hidden layer of a 16 kHz speech encoder."""

    model_class: ClassVar[str]

    def __init__(self, config: SpeechModelConfig) -> None:
        super().__init__(config)
        import transformers

        loader = getattr(transformers, self.model_class)
        self._setup(load_pretrained(loader, config.model, local_files_only=config.local_files_only), 16000)

    def _windows(self, waveform: np.ndarray) -> np.ndarray:
        chunk = max(int(self.config.max_seconds * self.sample_rate), self._min_samples)
        if waveform.size <= chunk:
            return pad_to(waveform, self._min_samples)[None, :]
        # Back-to-back chunks, the last one aligned to the end so every chunk has the same length.
        return np.stack([waveform[start : start + chunk] for start in window_starts(waveform.size, chunk, chunk)])


@register_tower("speech", "wav2vec2", Wav2Vec2TowerConfig)
class Wav2Vec2Tower(SpeechModelTower):
    model_class = "Wav2Vec2Model"


@register_tower("speech", "hubert", HubertTowerConfig)
class HubertTower(SpeechModelTower):
    model_class = "HubertModel"


@register_tower("speech", "wavlm", WavLMTowerConfig)
class WavLMTower(SpeechModelTower):
    model_class = "WavLMModel"
