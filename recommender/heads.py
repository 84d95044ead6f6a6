"""The trainable part of the emotion model: small heads on top of frozen tower features.

Following Doh et al. (ICASSP 2023), each modality gets a projection MLP
(Linear-BatchNorm-ReLU-Dropout-Linear-BatchNorm) into the shared joint space, whose outputs are
L2-normalised so cosine similarity is a dot product. Beside the projections sit valence/arousal
regressors (sigmoid, 0-1 NRC-VAD scale), a speech emotion classifier and a music mood classifier.
The tag branch projects an emotion word's tag-tower vector into the same space; the
structure-preserving loss ties speech and music to their label's tag embedding.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

MUSIC_VA_HEADS = ("affine", "ridge", "mlp")


@dataclass
class HeadConfig:
    """Sizes of the heads.

    Attributes:
        joint_dim: Dimension of the joint emotion space.
        hidden_dim: Width of every head's hidden layer.
        dropout: Dropout after the hidden layer.
        music_va: ``affine`` (the shipped config): ``clip(x @ W + b, 0, 1)`` on standardised features, fitted in
            closed form by ridge regression across music corpora with each corpus weighted equally and a floor
            on the spread of its predictions (:func:`recommender.ridge.fit_affine_va`); ``ridge``: the same
            linear map in logit space (sigmoid output), fitted on pooled tracks (its valence collapses to the
            mean); ``mlp``: like the speech VA head, trained by gradient descent.
    """

    joint_dim: int = 64
    hidden_dim: int = 256
    dropout: float = 0.2
    music_va: str = "mlp"

    def __post_init__(self) -> None:
        if self.music_va not in MUSIC_VA_HEADS:
            raise ValueError(f"music_va must be one of {MUSIC_VA_HEADS}, got {self.music_va!r}")


class FeatureScaler(nn.Module):
    """Fixed standardisation ``(x - mean) / scale``, set from the training features (identity until then).

    Tower outputs can mix scales (MusiCNN activations near 1, descriptors in Hz or BPM); the MLP heads
    would otherwise follow the largest numbers.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("scale", torch.ones(dim))

    def fit(self, features: torch.Tensor) -> None:
        std = features.std(dim=0, correction=0)
        with torch.no_grad():
            self.mean.copy_(features.mean(dim=0))
            self.scale.copy_(torch.where(std > 1e-8, std, torch.ones_like(std)))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return (features - self.mean) / self.scale


class ProjectionHead(nn.Module):
    """Linear-BN-ReLU-Dropout-Linear-BN, then L2 normalisation (the paper's projection MLP)."""

    def __init__(self, in_dim: int, config: HeadConfig) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(in_dim, config.hidden_dim),
            nn.BatchNorm1d(config.hidden_dim),
            nn.ReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.hidden_dim, config.joint_dim),
            nn.BatchNorm1d(config.joint_dim),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.layers(features), dim=-1)


class MLPHead(nn.Module):
    """Linear-BN-ReLU-Dropout-Linear returning raw outputs (logits or pre-sigmoid values)."""

    def __init__(self, in_dim: int, out_dim: int, config: HeadConfig) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(in_dim, config.hidden_dim),
            nn.BatchNorm1d(config.hidden_dim),
            nn.ReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.hidden_dim, out_dim),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers(features)


class LinearVAHead(nn.Module):
    """Standardise features, then one linear map to valence/arousal (pre-sigmoid for ``ridge``, direct for ``affine``).

    Its weights come from :func:`recommender.ridge.fit_ridge_va` (ridge regression in logit space) or
    :func:`recommender.ridge.fit_affine_va`, not from gradient descent.
    """

    def __init__(self, in_dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(in_dim))
        self.register_buffer("scale", torch.ones(in_dim))
        self.linear = nn.Linear(in_dim, 2)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear((features - self.mean) / self.scale)


def music_va_output(raw: torch.Tensor, kind: str) -> torch.Tensor:
    """A music VA head's raw output -> VA in [0, 1]."""
    # An affine head predicts VA itself: a sigmoid would squash the spread it was fitted to keep.
    return raw.clamp(0.0, 1.0) if kind == "affine" else torch.sigmoid(raw)


class EmotionHeads(nn.Module):
    """Every trainable head of the model.

    Args:
        speech_dim: Speech tower output size.
        music_dim: Music tower output size.
        tag_dim: Tag tower output size.
        num_speech_labels: Classes of the speech emotion classifier.
        num_moods: Classes of the music mood head (GEMS-9 by default).
        config: Head sizes.
    """

    def __init__(
        self, speech_dim: int, music_dim: int, tag_dim: int, num_speech_labels: int, num_moods: int, config: HeadConfig
    ) -> None:
        super().__init__()
        self.config = config
        self.speech_projection = ProjectionHead(speech_dim, config)
        self.music_input = FeatureScaler(music_dim)
        self.music_projection = ProjectionHead(music_dim, config)
        self.tag_projection = ProjectionHead(tag_dim, config)
        self.speech_va = MLPHead(speech_dim, 2, config)
        self.music_va = MLPHead(music_dim, 2, config) if config.music_va == "mlp" else LinearVAHead(music_dim)
        self.speech_emotion = MLPHead(speech_dim, num_speech_labels, config)
        self.music_mood = MLPHead(music_dim, num_moods, config)

    def speech(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Speech features -> (joint embedding, VA in [0, 1], emotion logits)."""
        return self.speech_projection(features), torch.sigmoid(self.speech_va(features)), self.speech_emotion(features)

    def music(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Music features -> (joint embedding, VA in [0, 1], mood logits)."""
        features = self.music_input(features)
        va = music_va_output(self.music_va(features), self.config.music_va)
        return self.music_projection(features), va, self.music_mood(features)

    def tag(self, features: torch.Tensor) -> torch.Tensor:
        """Tag-tower vectors -> joint embedding."""
        return self.tag_projection(features)
