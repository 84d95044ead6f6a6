"""The builtin speech tower: an emotion encoder trained here on RAVDESS (nEMO optional), weights shipped in the package.

Pipeline: Silero VAD trims leading/trailing silence -> :class:`SpeechFeatureExtractor` frame descriptors
and utterance statistics -> :class:`SpeechEmotionNet` -> an 8-way RAVDESS emotion classifier (nEMO's
Polish labels are trained as their RAVDESS words). The net is an MLP on utterance statistics,
optionally fused with (or averaged with) a dilated 1-D CNN over the frames with attentive statistics
pooling; ``scripts/train_speech_tower.py`` picks between them by leave-actors-out cross-validation and
reproduces the shipped weights (``speech_builtin.json`` records which won, CV and dev metrics).
The tower's embedding is the penultimate layer (before its ReLU); ``emotion_probabilities`` is the
classifier's softmax.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn

from recommender.audio import prepare_waveform
from recommender.emotion import LABEL_SETS
from recommender.towers.base import Tower, TowerConfig, frame_windows, register_tower, torch_threads
from recommender.towers.speech_features import (
    SAMPLE_RATE,
    FeatureConfig,
    SilenceTrimmer,
    SpeechFeatureExtractor,
    TrimConfig,
)

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
SHIPPED_WEIGHTS = WEIGHTS_DIR / "speech_builtin.safetensors"


@dataclass
class SpeechNetConfig:
    """Architecture of :class:`SpeechEmotionNet`.

    Attributes:
        sequence_channels: Names of the frame descriptors the CNN reads (empty: no CNN branch).
        stats_dim: Length of the utterance-statistics vector (0: no statistics branch).
        conv_channels: Width of the CNN.
        conv_dilations: One dilated conv layer per entry (kernel 3; the first layer uses kernel 5).
        stats_hidden: Width of the statistics MLP.
        embedding_dim: Width of the penultimate layer (the tower's embedding).
        num_classes: Emotion classes.
        dropout: Dropout before the embedding and the classifier.
        average_branches: With both branches, give each its own embedding and classifier and average
            them (an ensemble trained jointly) instead of one classifier on the concatenation.
    """

    sequence_channels: list[str] = field(default_factory=list)
    stats_dim: int = 0
    conv_channels: int = 128
    conv_dilations: list[int] = field(default_factory=lambda: [1, 2, 3])
    stats_hidden: int = 256
    embedding_dim: int = 128
    num_classes: int = 8
    dropout: float = 0.3
    average_branches: bool = False


class AttentiveStatsPooling(nn.Module):
    """Attention-weighted mean and standard deviation over time (Okabe et al., 2018)."""

    def __init__(self, channels: int, hidden: int = 64) -> None:
        super().__init__()
        self.attention = nn.Sequential(nn.Conv1d(channels, hidden, 1), nn.Tanh(), nn.Conv1d(hidden, 1, 1))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``x`` (B, C, T), ``mask`` (B, T) true on real frames -> (B, 2C)."""
        scores = self.attention(x).squeeze(1).masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=1).unsqueeze(1)
        mean = (x * weights).sum(dim=2)
        variance = ((x - mean.unsqueeze(2)).square() * weights).sum(dim=2)
        return torch.cat([mean, variance.clamp_min(1e-6).sqrt()], dim=1)


class SpeechEmotionNet(nn.Module):
    """Frame CNN + statistics MLP -> embedding -> emotion logits.

    Inputs arrive standardised (see :meth:`standardise`); padded frames must be zero after it.
    """

    def __init__(self, config: SpeechNetConfig) -> None:
        super().__init__()
        self.config = cfg = config
        fused = 0
        if cfg.sequence_channels:
            layers: list[nn.Module] = []
            width = len(cfg.sequence_channels)
            for index, dilation in enumerate(cfg.conv_dilations):
                kernel = 5 if index == 0 else 3
                layers += [
                    nn.Conv1d(width, cfg.conv_channels, kernel, dilation=dilation, padding=dilation * (kernel // 2)),
                    nn.BatchNorm1d(cfg.conv_channels),
                    nn.ReLU(),
                ]
                width = cfg.conv_channels
            self.encoder = nn.Sequential(*layers)
            self.pooling = AttentiveStatsPooling(cfg.conv_channels)
            fused += 2 * cfg.conv_channels
        if cfg.stats_dim:
            self.stats_mlp = nn.Sequential(nn.Linear(cfg.stats_dim, cfg.stats_hidden), nn.BatchNorm1d(cfg.stats_hidden), nn.ReLU())
            fused += cfg.stats_hidden
        if not fused:
            raise ValueError("SpeechNetConfig needs sequence_channels, stats_dim or both")
        if cfg.average_branches and not (cfg.sequence_channels and cfg.stats_dim):
            raise ValueError("average_branches needs both sequence_channels and stats_dim")
        if cfg.average_branches:
            fused = 2 * cfg.conv_channels
            self.stats_embedding = self._embedding(cfg.stats_hidden)
            self.stats_classifier = self._classifier()
        self.embedding = self._embedding(fused)
        self.classifier = self._classifier()

    def _embedding(self, width: int) -> nn.Module:
        return nn.Sequential(nn.Dropout(self.config.dropout), nn.Linear(width, self.config.embedding_dim), nn.BatchNorm1d(self.config.embedding_dim))

    def _classifier(self) -> nn.Module:
        cfg = self.config
        return nn.Sequential(nn.ReLU(), nn.Dropout(cfg.dropout), nn.Linear(cfg.embedding_dim, cfg.num_classes))

    def forward(
        self, frames: torch.Tensor | None, mask: torch.Tensor | None, stats: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``frames`` (B, T, C), ``mask`` (B, T), ``stats`` (B, D) -> (embeddings (B, E), logits (B, K))."""
        parts = []
        if self.config.sequence_channels:
            hidden = self.encoder(frames.transpose(1, 2))
            parts.append(self.pooling(hidden, mask))
        if self.config.stats_dim:
            parts.append(self.stats_mlp(stats))
        if self.config.average_branches:
            frame_embedding, stats_embedding = self.embedding(parts[0]), self.stats_embedding(parts[1])
            logits = (self.classifier(frame_embedding) + self.stats_classifier(stats_embedding)) / 2
            return (frame_embedding + stats_embedding) / 2, logits
        embedding = self.embedding(torch.cat(parts, dim=1))
        return embedding, self.classifier(embedding)


@dataclass
class BuiltinSpeechConfig(TowerConfig):
    """Options of the builtin speech tower.

    Attributes:
        weights: A ``.safetensors`` file with its ``.json`` beside it; None uses the shipped weights.
        trim_silence: Cut leading/trailing non-speech before analysis.
        use_vad: Find speech with Silero VAD (False: an energy gate only).
        window_seconds: Speech longer than this is analysed in windows of this length whose
            embeddings and probabilities are averaged (bounds memory on long recordings).
        threads: Torch intra-op threads while the tower runs (restored afterwards); the work is
            many small ops, where more threads cost more than they give (on a busy 2-core machine
            2 threads made a 5 s clip ~10x slower). None leaves torch's setting alone.
    """

    weights: str | None = None
    trim_silence: bool = True
    use_vad: bool = True
    window_seconds: float = 20.0
    threads: int | None = 1

    def __post_init__(self) -> None:
        if not isinstance(self.window_seconds, (int, float)) or self.window_seconds < 1.0:
            raise ValueError(f"window_seconds must be a number >= 1, got {self.window_seconds!r}")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise ValueError(f"threads must be a positive integer or None, got {self.threads!r}")
        for name in ("trim_silence", "use_vad"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")


class SpeechEmotionWeights:
    """A trained :class:`SpeechEmotionNet` with everything needed to feed it (from safetensors + JSON)."""

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        meta_path = path.with_suffix(".json")
        for required in (path, meta_path):
            if not required.is_file():
                raise FileNotFoundError(f"speech tower weights: {required} not found")
        self.path = path
        self.meta: dict[str, Any] = json.loads(meta_path.read_text())
        self.labels: tuple[str, ...] = tuple(self.meta["labels"])
        self.features = SpeechFeatureExtractor(FeatureConfig(**self.meta["features"]))
        self.net_config = SpeechNetConfig(**self.meta["architecture"])
        self.net = SpeechEmotionNet(self.net_config)
        self.net.load_state_dict(load_file(path))
        self.net.eval()
        normalisation = self.meta["normalisation"]
        self.sequence_index = [self.features.channel_names.index(name) for name in self.net_config.sequence_channels]
        self.frame_mean, self.frame_std = (torch.tensor(normalisation[key], dtype=torch.float32) for key in ("frame_mean", "frame_std"))
        self.stats_mean, self.stats_std = (torch.tensor(normalisation[key], dtype=torch.float32) for key in ("stats_mean", "stats_std"))

    def inputs(self, waveform: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Standardised ``(frames (T, C), stats (D,))`` of one trimmed 16 kHz clip."""
        frames = self.features.frames(waveform)
        stats = self.features.statistics(frames)
        sequence = (frames[:, self.sequence_index] - self.frame_mean) / self.frame_std
        return sequence, (stats - self.stats_mean) / self.stats_std

    @torch.inference_mode()
    def run(self, inputs: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Embeddings and class probabilities of a batch of :meth:`inputs` results."""
        frames, mask = pad_sequences([sequence for sequence, _ in inputs])
        stats = torch.stack([stat for _, stat in inputs])
        embeddings, logits = self.net(frames, mask, stats)
        return embeddings, torch.softmax(logits, dim=1)


def pad_sequences(sequences: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-pad ``(T_i, C)`` sequences to ``(B, T_max, C)`` with a ``(B, T_max)`` validity mask."""
    longest = max(sequence.shape[0] for sequence in sequences)
    frames = torch.zeros(len(sequences), longest, sequences[0].shape[1])
    mask = torch.zeros(len(sequences), longest, dtype=torch.bool)
    for row, sequence in enumerate(sequences):
        frames[row, : sequence.shape[0]] = sequence
        mask[row, : sequence.shape[0]] = True
    return frames, mask


@register_tower("speech", "builtin", BuiltinSpeechConfig)
class BuiltinSpeechTower(Tower[np.ndarray]):
    """Speech emotion encoder; ``speech_builtin.json`` records its training corpora, CV and dev metrics."""

    sample_rate = SAMPLE_RATE

    def __init__(self, config: BuiltinSpeechConfig) -> None:
        super().__init__(config)
        self.model = SpeechEmotionWeights(config.weights or SHIPPED_WEIGHTS)
        self.trimmer = SilenceTrimmer(TrimConfig(use_vad=config.use_vad))
        if tuple(self.model.labels) != LABEL_SETS["ravdess"]:
            raise ValueError(f"{self.model.path}: labels {self.model.labels} are not the RAVDESS label order")

    @property
    def dim(self) -> int:
        return self.model.net_config.embedding_dim

    @property
    def labels(self) -> tuple[str, ...]:
        """Emotion labels of :meth:`emotion_probabilities`, in RAVDESS order."""
        return self.model.labels

    def embed(self, item: np.ndarray) -> np.ndarray:
        return self.predict_many([item])[0][0]

    def embed_many(self, items: Iterable[np.ndarray]) -> np.ndarray:
        return self.predict_many(items)[0]

    def emotion_probabilities(self, waveform: np.ndarray) -> dict[str, float]:
        """Probability of each RAVDESS emotion, in label order."""
        probabilities = self.predict_many([waveform])[1][0]
        return {label: float(p) for label, p in zip(self.labels, probabilities)}

    @torch.inference_mode()
    def predict_many(self, waveforms: Iterable[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings ``(n, dim)`` and emotion probabilities ``(n, 8)`` in one batched pass.

        Each waveform is mono float32 at 16 kHz. Speech longer than ``window_seconds`` (after
        trimming) is cut into windows whose embeddings and probabilities are averaged.
        """
        inputs, owners = [], []
        with torch_threads(self.config.threads):
            for index, waveform in enumerate(waveforms):
                for window in self._windows(waveform):
                    inputs.append(self.model.inputs(window))
                    owners.append(index)
            if not inputs:
                return np.zeros((0, self.dim), np.float32), np.zeros((0, len(self.labels)), np.float32)
            embeddings, probabilities = self.model.run(inputs)
        owner = torch.tensor(owners)
        count = int(owner[-1]) + 1
        sizes = torch.bincount(owner, minlength=count).unsqueeze(1).float()
        pooled = [torch.zeros(count, values.shape[1]).index_add_(0, owner, values) / sizes for values in (embeddings, probabilities)]
        return pooled[0].numpy().astype(np.float32), pooled[1].numpy().astype(np.float32)

    def _windows(self, waveform: np.ndarray) -> list[torch.Tensor]:
        samples = torch.from_numpy(prepare_waveform(waveform, SAMPLE_RATE, SAMPLE_RATE, allow_silence=True))
        if self.config.trim_silence:
            samples = self.trimmer(samples)
        window = int(self.config.window_seconds * SAMPLE_RATE)
        if samples.numel() <= window:
            return [samples]
        # Windows overlap by a quarter so no stretch of speech sits only at a window edge.
        return [torch.from_numpy(chunk) for chunk in frame_windows(samples.numpy(), window, window * 3 // 4)]
