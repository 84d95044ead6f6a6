"""Towers backed by Hugging Face ``transformers`` checkpoints.

Speech: ``wav2vec2``, ``hubert``, ``wavlm`` (mean over time of one hidden layer, or of all of them).
Music: ``ast``, ``mert``, ``clap``; a track is cut into overlapping windows (10 s, hop 5 s by default)
whose vectors are averaged, so the whole track counts rather than one excerpt.

``model`` is a hub id or a local directory written by ``save_pretrained``; the feature extractor is
read from the same place when it has one. Nothing is downloaded when ``local_files_only`` is set, or
when it is left unset and ``HF_HUB_OFFLINE`` is on. ``transformers`` is imported when a tower is built,
not when this module is imported.
"""

from __future__ import annotations

import functools
import os
from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Union

import numpy as np

from recommender.audio import prepare_waveform
from recommender.towers.base import Tower, TowerConfig, frame_windows, register_tower, window_starts

if TYPE_CHECKING:
    import torch

Layer = Union[int, str]
"""A hidden-state index (0 = the input to the first transformer layer, -1 = the last layer) or ``"mean"``."""

_TRUTHY = {"1", "true", "yes", "on"}
_OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


class ModelNotFoundError(FileNotFoundError):
    """A model that is neither a local directory nor loadable from the hub (or its offline cache)."""


def hub_offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` (or the older ``TRANSFORMERS_OFFLINE``) forbids downloads."""
    return any(os.environ.get(name, "").strip().lower() in _TRUTHY for name in _OFFLINE_VARIABLES)


def _looks_like_path(model: str) -> bool:
    # Hub ids are "name" or "owner/name"; anything else that is path-shaped must exist locally.
    if os.path.isabs(model) or model.startswith((".", "~")) or model.count("/") > 1:
        return True
    return os.sep != "/" and os.sep in model


def load_pretrained(
    loader: Any, model: str, *, local_files_only: bool | None = None, method: str = "from_pretrained", **kwargs: Any
) -> Any:
    """``loader.from_pretrained(model)`` with offline handling and a clear error when nothing is found.

    Args:
        loader: A ``transformers`` class with ``from_pretrained`` (a model, tokenizer or feature extractor).
        model: Hub id or local directory.
        local_files_only: Never download; ``None`` follows ``HF_HUB_OFFLINE``.
        method: The class method to call, e.g. ``get_config_dict`` to read a config without building it.
        kwargs: Passed on to the method.

    Raises:
        ModelNotFoundError: The directory does not exist, or the id is neither cached nor downloadable.
    """
    offline = hub_offline() if local_files_only is None else local_files_only
    path = Path(model).expanduser()
    if path.is_dir():
        model, offline = str(path), True
    elif _looks_like_path(model):
        raise ModelNotFoundError(f"{model}: no such model directory")
    try:
        return getattr(loader, method)(model, local_files_only=offline, **kwargs)
    except OSError as error:
        where = "in the local Hugging Face cache (downloads are off)" if offline else "on the hub or in its cache"
        raise ModelNotFoundError(
            f"cannot load {loader.__name__} from {model!r}: not found {where} ({error})"
        ) from error


def load_feature_extractor(model: str, default: Callable[[], Any], *, local_files_only: bool | None = None) -> Any:
    """The feature extractor saved with ``model`` (``AutoFeatureExtractor``), else ``default()``."""
    from transformers import AutoFeatureExtractor

    path = Path(model).expanduser()
    if path.is_dir() and not (path / "preprocessor_config.json").is_file():
        return default()
    try:
        return load_pretrained(AutoFeatureExtractor, model, local_files_only=local_files_only)
    except ModelNotFoundError:
        return default()


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


def _positive(**values: float) -> None:
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value!r}")


class _WindowedAudioTower(Tower[np.ndarray]):
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
            return _pad_to(waveform, min_samples)[None, :]
        return frame_windows(waveform, window, hop)


def _pad_to(waveform: np.ndarray, samples: int) -> np.ndarray:
    return np.pad(waveform, (0, samples - waveform.size)) if waveform.size < samples else waveform


class _HiddenStateTower(_WindowedAudioTower):
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


# --- speech -------------------------------------------------------------------------------------------


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
        _positive(max_seconds=self.max_seconds, batch_size=self.batch_size)


@dataclass
class Wav2Vec2TowerConfig(SpeechModelConfig):
    model: str = "facebook/wav2vec2-base"


@dataclass
class HubertTowerConfig(SpeechModelConfig):
    model: str = "facebook/hubert-base-ls960"


@dataclass
class WavLMTowerConfig(SpeechModelConfig):
    model: str = "microsoft/wavlm-base-plus"


class SpeechModelTower(_HiddenStateTower):
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
            return _pad_to(waveform, self._min_samples)[None, :]
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


# --- music --------------------------------------------------------------------------------------------


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
        _positive(window_seconds=self.window_seconds, hop_seconds=self.hop, batch_size=self.batch_size)
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
class ASTTower(_WindowedAudioTower):
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
class MERTTower(_HiddenStateTower):
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
class CLAPTower(_WindowedAudioTower):
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
