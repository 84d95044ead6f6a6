"""Music encoders as music towers: ``ast``, ``mert``, ``clap``.

A track is cut into overlapping windows (10 s, hop 5 s by default) whose vectors are averaged, so the
whole track counts rather than one excerpt.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from recommender.towers.base import TowerConfig, register_tower
from recommender.towers.huggingface.hub import load_feature_extractor, load_pretrained
from recommender.towers.huggingface.windows import HiddenStateTower, Layer, WindowedAudioTower, check_positive


@dataclass
class MusicModelConfig(TowerConfig):
    """A music encoder applied to overlapping windows of a track.

    Attributes:
        model: Hub id or local directory.
        window_seconds: Window length (at most what the model takes in one pass).
        hop_seconds: Step between window starts (``None``: half a window); the last window always ends at
            the end of the track.
        batch_size: Windows per forward pass.
        local_files_only: Never download; ``None`` follows ``HF_HUB_OFFLINE``.
    """

    model: str
    window_seconds: float = 10.0
    hop_seconds: float | None = None
    batch_size: int = 4
    local_files_only: bool | None = None

    def __post_init__(self) -> None:
        check_positive(window_seconds=self.window_seconds, hop_seconds=self.hop, batch_size=self.batch_size)
        if self.hop > self.window_seconds:
            raise ValueError(f"hop_seconds={self.hop} > window_seconds={self.window_seconds} would skip audio")

    @property
    def hop(self) -> float:
        return self.window_seconds / 2 if self.hop_seconds is None else self.hop_seconds


_AST_POOLINGS = ("pooled", "mean")


@dataclass
class ASTTowerConfig(MusicModelConfig):
    """Audio Spectrogram Transformer; ``pooling`` is ``"pooled"`` (mean of the [CLS] and distillation
    tokens, the model's own summary) or ``"mean"`` (mean of the last layer's patch tokens)."""

    model: str = "MIT/ast-finetuned-audioset-10-10-0.4593"
    pooling: str = "pooled"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.pooling not in _AST_POOLINGS:
            raise ValueError(f"pooling must be one of {_AST_POOLINGS}, got {self.pooling!r}")


@register_tower("music", "ast", ASTTowerConfig)
class ASTTower(WindowedAudioTower):
    """AST on log-mel filterbanks of 16 kHz audio."""

    def __init__(self, config: ASTTowerConfig) -> None:
        super().__init__(config)
        from transformers import ASTFeatureExtractor, ASTModel

        self.model = load_pretrained(ASTModel, config.model, local_files_only=config.local_files_only).eval()
        self.feature_extractor = load_feature_extractor(
            config.model,
            lambda: ASTFeatureExtractor(
                max_length=self.model.config.max_length, num_mel_bins=self.model.config.num_mel_bins
            ),
            local_files_only=config.local_files_only,
        )
        self.sample_rate = int(self.feature_extractor.sampling_rate)
        # Kaldi filterbanks: 25 ms frames every 10 ms; the extractor cuts anything past max_length frames.
        capacity = (self.feature_extractor.max_length - 1) * 0.010 + 0.025
        if config.window_seconds > capacity + 1e-9:
            raise ValueError(
                f"window_seconds={config.window_seconds} exceeds the {capacity:.3f} s this AST model takes"
            )

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def _windows(self, waveform: np.ndarray) -> np.ndarray:
        # Kaldi filterbanks need at least one 25 ms frame.
        return self._music_windows(waveform, min_samples=int(0.025 * self.sample_rate))

    def _encode(self, windows: np.ndarray) -> np.ndarray:
        import torch

        inputs = self.feature_extractor(list(windows), sampling_rate=self.sample_rate, return_tensors="pt")
        with torch.inference_mode():
            outputs = self.model(inputs["input_values"])
        if self.config.pooling == "pooled":
            return outputs.pooler_output.float().numpy()
        # The first two tokens are [CLS] and the distillation token; the rest are spectrogram patches.
        return outputs.last_hidden_state[:, 2:].mean(dim=1).float().numpy()


@dataclass
class MERTTowerConfig(MusicModelConfig):
    """MERT, a HuBERT-style music encoder on 24 kHz audio.

    Attributes:
        layer: Hidden state to pool: an index (-1 = last layer) or ``"mean"`` over all layers.
        trust_remote_code: Run the checkpoint's own modelling code (hub MERT-v1 checkpoints ship it).
            When off, a checkpoint whose config matches plain HuBERT (no CQT features, no DeepNorm, no
            attention relaxation -- true of the released MERT-v1 models) loads as ``HubertModel``.
    """

    model: str = "m-a-p/MERT-v1-95M"
    layer: Layer = -1
    trust_remote_code: bool = False


# MERT config keys whose non-default values change the network beyond what HubertModel implements.
_MERT_EXTENSIONS: dict[str, Callable[[Any], bool]] = {
    "feature_extractor_cqt": lambda value: not value,
    "deepnorm": lambda value: not value,
    "attention_relax": lambda value: value is None or value <= 0,
}
_HUBERT_SHAPED = ("hubert", "mert_model")


@register_tower("music", "mert", MERTTowerConfig)
class MERTTower(HiddenStateTower):
    """Mean over time of one MERT layer per window, averaged over the track's windows."""

    def __init__(self, config: MERTTowerConfig) -> None:
        super().__init__(config)
        self._setup(self._load_model(config), 24000)

    @staticmethod
    def _load_model(config: MERTTowerConfig) -> Any:
        from transformers import AutoModel, HubertConfig, HubertModel, PretrainedConfig

        load = dict(local_files_only=config.local_files_only)
        if config.trust_remote_code:
            return load_pretrained(AutoModel, config.model, trust_remote_code=True, **load)
        settings, _ = load_pretrained(PretrainedConfig, config.model, method="get_config_dict", **load)
        model_type = settings.get("model_type")
        if model_type not in _HUBERT_SHAPED:
            raise ValueError(
                f"{config.model}: model_type {model_type!r} is not a MERT or HuBERT checkpoint; "
                "set trust_remote_code=True if it ships its own modelling code"
            )
        extensions = sorted(
            key for key, plain in _MERT_EXTENSIONS.items() if key in settings and not plain(settings[key])
        )
        if extensions:
            raise ValueError(
                f"{config.model}: this checkpoint uses {', '.join(extensions)}, which plain HuBERT lacks; "
                "set trust_remote_code=True to run its own modelling code"
            )
        # Same weights and forward pass as HubertModel: load it through the standard class, no remote code.
        remote_only = ("model_type", "auto_map", "architectures")
        hubert = HubertConfig.from_dict({key: value for key, value in settings.items() if key not in remote_only})
        return load_pretrained(HubertModel, config.model, config=hubert, **load)

    def _windows(self, waveform: np.ndarray) -> np.ndarray:
        return self._music_windows(waveform, min_samples=self._min_samples)


@dataclass
class CLAPTowerConfig(MusicModelConfig):
    """LAION CLAP's audio branch; vectors are its L2-normalised audio embeddings (48 kHz input)."""

    model: str = "laion/clap-htsat-unfused"


@functools.cache
def _clap_audio_class() -> type:
    from transformers import ClapAudioModelWithProjection

    class ClapAudioFromFullCheckpoint(ClapAudioModelWithProjection):
        """The audio branch of a full ClapModel checkpoint; its text half is skipped without a warning."""

        _keys_to_ignore_on_load_unexpected = {r"^text_model\.", r"^text_projection\.", r"^logit_scale_[at]$"}

    return ClapAudioFromFullCheckpoint


@register_tower("music", "clap", CLAPTowerConfig)
class CLAPTower(WindowedAudioTower):
    """CLAP audio embeddings of each window, averaged and re-normalised."""

    def __init__(self, config: CLAPTowerConfig) -> None:
        super().__init__(config)
        from transformers import ClapFeatureExtractor

        loader = _clap_audio_class()
        self.model = load_pretrained(loader, config.model, local_files_only=config.local_files_only).eval()
        self.feature_extractor = load_feature_extractor(
            config.model, ClapFeatureExtractor, local_files_only=config.local_files_only
        )
        self.sample_rate = int(self.feature_extractor.sampling_rate)
        self._fusion = bool(self.model.config.enable_fusion)
        capacity = self.feature_extractor.nb_max_samples / self.sample_rate
        if config.window_seconds > capacity + 1e-9:
            # Longer windows would be randomly cropped by the extractor: embeddings would not be reproducible.
            raise ValueError(
                f"window_seconds={config.window_seconds} exceeds the {capacity:g} s this CLAP model takes"
            )

    @property
    def dim(self) -> int:
        return int(self.model.config.projection_dim)

    def _windows(self, waveform: np.ndarray) -> np.ndarray:
        return self._music_windows(waveform)

    def _encode(self, windows: np.ndarray) -> np.ndarray:
        import torch

        inputs = self.feature_extractor(
            list(windows),
            sampling_rate=self.sample_rate,
            return_tensors="pt",
            # The extractor's saved mode may not match the model (its class default is "fusion"); no
            # window is longer than the model's input, so neither mode crops anything.
            truncation="fusion" if self._fusion else "rand_trunc",
        )
        # For fused models the extractor marks a random clip as "longer" when none is; none of ours is.
        is_longer = torch.zeros_like(inputs["is_longer"])
        with torch.inference_mode():
            embeds = self.model(input_features=inputs["input_features"], is_longer=is_longer).audio_embeds
        return torch.nn.functional.normalize(embeds, dim=-1).float().numpy()

    def _finish(self, vector: np.ndarray) -> np.ndarray:
        return vector / max(float(np.linalg.norm(vector)), 1e-12)
