"""What every Hugging Face audio tower shares: input checks, hidden-layer choice and windowed encoding."""

from __future__ import annotations

import os
from abc import abstractmethod
from typing import TYPE_CHECKING, Any

import numpy as np

from recommender.audio import prepare_waveform
from recommender.towers.base import Tower, frame_windows
from recommender.towers.huggingface.hub import load_feature_extractor

if TYPE_CHECKING:
    import torch

Layer = int | str
"""A hidden-state index (0 = the input to the first transformer layer, -1 = the last layer) or ``"mean"``."""


def as_waveform(waveform: np.ndarray, sample_rate: int) -> np.ndarray:
    """Check that a tower input is a usable mono waveform (raises :class:`recommender.audio.AudioError`)."""
    if isinstance(waveform, (str, bytes, os.PathLike)):
        raise TypeError("audio towers take a decoded waveform; read files with recommender.audio.load_audio first")
    # Same rate in and out: validation only. Silence is legitimate inside a track or a pause.
    return prepare_waveform(waveform, sample_rate, sample_rate, allow_silence=True)


def check_layer(layer: Layer, num_layers: int) -> None:
    """Reject a ``layer`` that does not name one of the ``num_layers + 1`` hidden states or ``"mean"``."""
    if layer == "mean":
        return
    if isinstance(layer, bool) or not isinstance(layer, int) or not -(num_layers + 1) <= layer <= num_layers:
        raise ValueError(
            f"layer must be 'mean' or an index into the {num_layers + 1} hidden states "
            f"(0 = input to the first layer, {num_layers} or -1 = last), got {layer!r}"
        )


def select_layer(hidden_states: tuple[torch.Tensor, ...], layer: Layer) -> torch.Tensor:
    """One hidden state ``(batch, time, dim)``, or the mean of the transformer layers' outputs."""
    if layer == "mean":
        import torch

        return torch.stack(hidden_states[1:]).mean(dim=0)
    return hidden_states[layer]


def receptive_field(kernels: tuple[int, ...], strides: tuple[int, ...]) -> int:
    """Samples a strided conv stack needs to emit one frame (400 for wav2vec 2.0's 16 kHz encoder)."""
    size = 1
    for kernel, stride in zip(reversed(kernels), reversed(strides)):
        size = (size - 1) * stride + kernel
    return size


def check_positive(**values: float) -> None:
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value!r}")


class WindowedAudioTower(Tower[np.ndarray]):
    """Validate a waveform, cut it into equal windows, encode them in batches and average the vectors."""

    def embed(self, item: np.ndarray) -> np.ndarray:
        waveform = as_waveform(item, self.sample_rate)
        windows = self._windows(waveform)
        batch = self.config.batch_size
        vectors = np.concatenate([self._encode(windows[i : i + batch]) for i in range(0, len(windows), batch)])
        return self._finish(vectors.mean(axis=0)).astype(np.float32)

    @abstractmethod
    def _windows(self, waveform: np.ndarray) -> np.ndarray:
        """``(n, samples)`` windows covering the waveform, all the same length."""

    @abstractmethod
    def _encode(self, windows: np.ndarray) -> np.ndarray:
        """``(n, dim)`` vectors for a batch of windows."""

    def _finish(self, vector: np.ndarray) -> np.ndarray:
        return vector

    def _music_windows(self, waveform: np.ndarray, min_samples: int = 1) -> np.ndarray:
        window = int(round(self.config.window_seconds * self.sample_rate))
        hop = int(round(self.config.hop * self.sample_rate))
        if waveform.size <= window:
            # A short track is one window of its own length: the extractors pad it their own way.
            return pad_to(waveform, min_samples)[None, :]
        return frame_windows(waveform, window, hop)


def pad_to(waveform: np.ndarray, samples: int) -> np.ndarray:
    return np.pad(waveform, (0, samples - waveform.size)) if waveform.size < samples else waveform


class HiddenStateTower(WindowedAudioTower):
    """wav2vec 2.0-style encoders (raw waveform in, hidden states out): speech models and MERT."""

    def _setup(self, model: Any, default_rate: int) -> None:
        from transformers import Wav2Vec2FeatureExtractor

        self.model = model.eval()
        self.feature_extractor = load_feature_extractor(
            self.config.model,
            lambda: Wav2Vec2FeatureExtractor(sampling_rate=getattr(model.config, "sample_rate", default_rate)),
            local_files_only=self.config.local_files_only,
        )
        self.sample_rate = int(self.feature_extractor.sampling_rate)
        check_layer(self.config.layer, model.config.num_hidden_layers)
        self._min_samples = receptive_field(tuple(model.config.conv_kernel), tuple(model.config.conv_stride))

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def _encode(self, windows: np.ndarray) -> np.ndarray:
        import torch

        # Windows in a batch share one length, so there is no padding and no attention mask to pass.
        inputs = self.feature_extractor(list(windows), sampling_rate=self.sample_rate, return_tensors="pt")
        with torch.inference_mode():
            outputs = self.model(inputs["input_values"], output_hidden_states=True)
        return select_layer(outputs.hidden_states, self.config.layer).mean(dim=1).float().numpy()
