"""MusiCNN (Pons & Serra 2019), ported to PyTorch with its pretrained weights: the built-in music tower.

The network is the ``musicnn`` 0.1.0 package's, layer for layer: a musically motivated front-end (timbral
convolutions spanning 38 and 67 mel bands, temporal convolutions spanning 128/64/32 frames, each max-pooled
over frequency), a mid-end of three 1-D convolutions with residual connections, and a back-end that max-
and mean-pools every mid-end feature over time, then a 200-unit dense layer (the *penultimate* features)
and 50 sigmoid tags. Batch norms follow each ReLU, as in the original. Weights were converted from the
TF1 checkpoints by ``scripts/convert_musicnn.py``, which also checked the port against the original graph.

A track is cut into 3 s patches (187 log-mel frames) that cover all of it. A track of up to
``max_patches`` patches (32 by default: 96 s) sends every patch through the network; a longer one sends
``max_patches`` of them, one from the middle of each of ``max_patches`` equal stretches of the track, so
the cost of a track is bounded and every part of it still counts alike. The per-patch outputs are
averaged. ``docs/benchmarks.md`` ("Bounded analysis") measures how close that stays to all patches.

Embedding layout (``MusicnnConfig.features``, concatenated in that order; default 250-d):

============== ==== ================================================================================
``penultimate`` 200 patch mean of the penultimate layer (batch-normed ReLU units)
``tags``         50 patch mean of the tag probabilities, in :attr:`MusicnnTower.tag_names` order
``penultimate_std`` 200 patch standard deviation of the penultimate layer (how the track changes)
``mean_pool``   753 patch mean of the back-end's temporal mean pool (front- and mid-end features)
``max_pool``    753 patch mean of the back-end's temporal max pool
============== ==== ================================================================================

The weights are ISC-licensed (see ``recommender/weights/MUSICNN_LICENSE.txt``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
import torchaudio
from safetensors.torch import load_file
from torch import nn

from recommender.errors import CorruptAudioError, EmptyAudioError
from recommender.towers.base import Tower, TowerConfig, register_tower, window_starts

SAMPLE_RATE = 16000
PATCH_SECONDS = 3.0
DEFAULT_MAX_PATCHES = 32
WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
WEIGHT_FILES = {"MSD_musicnn": "musicnn_msd.safetensors", "MTT_musicnn": "musicnn_mtt.safetensors"}


class MusicnnOutput(NamedTuple):
    """Per-patch outputs of :class:`MusicnnNet`, each with the patches on the first axis."""

    logits: torch.Tensor  # (n, tags)
    penultimate: torch.Tensor  # (n, backend_units)
    mean_pool: torch.Tensor  # (n, 753): temporal mean of the front- and mid-end features
    max_pool: torch.Tensor  # (n, 753): temporal max of the same


@dataclass(frozen=True)
class MusicnnArchitecture:
    """What a converted checkpoint's JSON says about the network and its input (see ``convert_musicnn.py``)."""

    model: str
    tags: tuple[str, ...]
    sample_rate: int = SAMPLE_RATE
    n_fft: int = 512
    hop_length: int = 256
    n_mels: int = 96
    patch_frames: int = 187
    timbral_kernels: tuple[int, ...] = (38, 67)
    timbral_filters: int = 204
    temporal_kernels: tuple[int, ...] = (128, 64, 32)
    temporal_filters: int = 51
    midend_filters: int = 64
    backend_units: int = 200
    batch_norm_eps: float = 1e-3

    @classmethod
    def from_json(cls, path: Path) -> MusicnnArchitecture:
        raw = json.loads(path.read_text())
        known = cls.__dataclass_fields__
        values = {key: tuple(value) if isinstance(value, list) else value for key, value in raw.items() if key in known}
        return cls(**values)

    @property
    def frontend_channels(self) -> int:
        return self.timbral_filters * len(self.timbral_kernels) + self.temporal_filters * len(self.temporal_kernels)

    @property
    def pooled_channels(self) -> int:
        """Channels pooled by the back-end: the front-end's plus the three mid-end layers'."""
        return self.frontend_channels + 3 * self.midend_filters


class LogMelSpectrogram(nn.Module):
    """``log10(10000 * mel + 1)`` of librosa's default mel (slaney scale and norm, power 2, centred frames).

    The original computed it with librosa (``pad_mode="reflect"`` was then the default) and cast the mel to
    float16, which overflows on loud broadband audio; this keeps float32.
    """

    def __init__(self, arch: MusicnnArchitecture) -> None:
        super().__init__()
        self.n_fft = arch.n_fft
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=arch.sample_rate,
            n_fft=arch.n_fft,
            hop_length=arch.hop_length,
            n_mels=arch.n_mels,
            f_min=0.0,
            f_max=arch.sample_rate / 2,
            power=2.0,
            norm="slaney",
            mel_scale="slaney",
            center=True,
            pad_mode="reflect",
        )

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(samples,)`` -> ``(frames, n_mels)``."""
        if waveform.numel() < self.n_fft:  # reflect padding needs at least half a window either side
            waveform = F.pad(waveform, (0, self.n_fft - waveform.numel()))
        return torch.log10(10000.0 * self.mel(waveform).T + 1.0)


class FrontendBranch(nn.Module):
    """A convolution over (time, mel bands), ReLU, batch norm, then the max over frequency.

    Timbral branches span 7 frames and a range of bands (timbre-like patterns), temporal ones many frames of
    one band (rhythm-like patterns). Time is zero-padded like TF's ``"same"`` so every frame gets an output.
    """

    def __init__(self, filters: int, frames: int, bands: int, eps: float) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, filters, (frames, bands))
        self.norm = nn.BatchNorm2d(filters, eps=eps)
        self.time_padding = ((frames - 1) // 2, frames // 2)  # with an even kernel TF pads one more after

    def forward(self, spectrogram: torch.Tensor) -> torch.Tensor:
        """``(n, 1, frames, bands)`` -> ``(n, filters, frames)``."""
        response = self.conv(F.pad(spectrogram, (0, 0, *self.time_padding)))
        if self.training:
            return self.norm(F.relu(response)).amax(dim=3)
        # The same values, pooled first (saves ReLU and norm over the whole map, ~40% of the time): ReLU is monotone and the eval-mode norm a per-channel
        # affine map, so the max over frequency of norm(relu(x)) is norm(relu(max x)), or norm(relu(min x))
        # for channels whose scale is negative.
        low, high = torch.aminmax(response, dim=3)
        scale = self.norm.weight / torch.sqrt(self.norm.running_var + self.norm.eps)
        pooled = torch.where(scale[:, None] >= 0, high, low)
        norm = self.norm
        return F.batch_norm(
            F.relu(pooled), norm.running_mean, norm.running_var, norm.weight, norm.bias, False, 0.0, norm.eps
        )


class MidendLayer(nn.Module):
    """A 7-frame convolution over all channels (the original's conv2d spanning its whole width)."""

    def __init__(self, in_channels: int, filters: int, eps: float) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_channels, filters, 7, padding=3)
        self.norm = nn.BatchNorm1d(filters, eps=eps)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.norm(F.relu(self.conv(features)))


class MusicnnNet(nn.Module):
    """The MusiCNN network on log-mel patches ``(n, patch_frames, n_mels)``."""

    def __init__(self, arch: MusicnnArchitecture) -> None:
        super().__init__()
        eps = arch.batch_norm_eps
        self.input_norm = nn.BatchNorm2d(1, eps=eps)
        self.frontend = nn.ModuleList(
            [FrontendBranch(arch.timbral_filters, 7, int(bands), eps) for bands in arch.timbral_kernels]
            + [FrontendBranch(arch.temporal_filters, int(frames), 1, eps) for frames in arch.temporal_kernels]
        )
        self.midend = nn.ModuleList(
            [MidendLayer(arch.frontend_channels, arch.midend_filters, eps)]
            + [MidendLayer(arch.midend_filters, arch.midend_filters, eps) for _ in range(2)]
        )
        self.pool_norm = nn.BatchNorm1d(2 * arch.pooled_channels, eps=eps)
        self.penultimate = nn.Linear(2 * arch.pooled_channels, arch.backend_units)
        self.penultimate_norm = nn.BatchNorm1d(arch.backend_units, eps=eps)
        self.classifier = nn.Linear(arch.backend_units, len(arch.tags))

    def forward(self, patches: torch.Tensor) -> MusicnnOutput:
        spectrogram = self.input_norm(patches.unsqueeze(1))
        frontend = torch.cat([branch(spectrogram) for branch in self.frontend], dim=1)
        first = self.midend[0](frontend)
        second = self.midend[1](first) + first
        third = self.midend[2](second) + second
        features = torch.cat([frontend, first, second, third], dim=1)  # (n, 753, frames)
        max_pool, mean_pool = features.amax(dim=2), features.mean(dim=2)
        # The original flattens a (753, 2) [max, mean] array, so the two pools interleave channel by channel.
        pooled = torch.stack([max_pool, mean_pool], dim=2).flatten(1)
        penultimate = self.penultimate_norm(F.relu(self.penultimate(self.pool_norm(pooled))))
        return MusicnnOutput(self.classifier(penultimate), penultimate, mean_pool, max_pool)


class PooledFeature(NamedTuple):
    """One block of the embedding: its length for an architecture, and how to pool it over patches."""

    dim: Callable[[MusicnnArchitecture], int]
    pool: Callable[[MusicnnOutput], torch.Tensor]


POOLED_FEATURES: dict[str, PooledFeature] = {
    "penultimate": PooledFeature(lambda arch: arch.backend_units, lambda out: out.penultimate.mean(0)),
    "tags": PooledFeature(lambda arch: len(arch.tags), lambda out: torch.sigmoid(out.logits).mean(0)),
    "penultimate_std": PooledFeature(lambda arch: arch.backend_units, lambda out: out.penultimate.std(0, correction=0)),
    "mean_pool": PooledFeature(lambda arch: arch.pooled_channels, lambda out: out.mean_pool.mean(0)),
    "max_pool": PooledFeature(lambda arch: arch.pooled_channels, lambda out: out.max_pool.mean(0)),
}


@dataclass
class MusicnnConfig(TowerConfig):
    """Options of the MusiCNN music tower.

    Attributes:
        model: Pretrained checkpoint: ``MSD_musicnn`` (Million Song Dataset tags, the default) or
            ``MTT_musicnn`` (MagnaTagATune tags).
        hop_seconds: Step between 3 s patches; 3.0 means back to back (the original's default), 1.5 half
            overlapping. The last patch always ends at the end of the track.
        weights: A converted ``.safetensors`` file to load instead of the bundled one; its architecture
            JSON must sit beside it with the same stem.
        features: Pooled blocks concatenated into the embedding, names from :data:`POOLED_FEATURES`.
        batch_size: Patches per forward pass (memory is about 25 MB per patch).
        max_patches: At most this many patches per track go through the network, evenly spread
            (:func:`spread_evenly`); None sends every patch (the cost then grows with the track).
    """

    model: str = "MSD_musicnn"
    hop_seconds: float = 3.0
    weights: str | None = None
    features: Sequence[str] = field(default_factory=lambda: ("penultimate", "tags"))
    batch_size: int = 16
    max_patches: int | None = DEFAULT_MAX_PATCHES

    def __post_init__(self) -> None:
        if self.weights is None and self.model not in WEIGHT_FILES:
            raise ValueError(f"unknown MusiCNN model {self.model!r}; bundled: {sorted(WEIGHT_FILES)}")
        if not 0 < self.hop_seconds <= PATCH_SECONDS:
            raise ValueError(
                f"hop_seconds must be in (0, {PATCH_SECONDS}] so patches cover the track, got {self.hop_seconds}"
            )
        self.features = tuple(self.features)
        unknown = [name for name in self.features if name not in POOLED_FEATURES]
        if unknown or not self.features or len(set(self.features)) != len(self.features):
            raise ValueError(
                f"features must be distinct names from {sorted(POOLED_FEATURES)}, got {list(self.features)}"
            )
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.max_patches is not None and self.max_patches < 1:
            raise ValueError(f"max_patches must be at least 1 (or None for every patch), got {self.max_patches}")

    @property
    def weights_path(self) -> Path:
        return Path(self.weights) if self.weights is not None else WEIGHTS_DIR / WEIGHT_FILES[self.model]


@register_tower("music", "musicnn", MusicnnConfig)
class MusicnnTower(Tower[np.ndarray]):
    """Pretrained MusiCNN on whole tracks: 16 kHz mono waveform -> pooled features (see module docstring)."""

    sample_rate = SAMPLE_RATE

    def __init__(self, config: MusicnnConfig) -> None:
        super().__init__(config)
        self.config: MusicnnConfig = config
        weights_path = config.weights_path
        arch_path = weights_path.with_suffix(".json")
        if not weights_path.is_file() or not arch_path.is_file():
            raise FileNotFoundError(f"MusiCNN weights need {weights_path} and {arch_path}")
        self.arch = MusicnnArchitecture.from_json(arch_path)
        if self.arch.sample_rate != SAMPLE_RATE:
            raise ValueError(f"{arch_path} is for {self.arch.sample_rate} Hz audio; this tower takes {SAMPLE_RATE} Hz")
        self.log_mel = LogMelSpectrogram(self.arch).eval()
        self.network = MusicnnNet(self.arch)
        missing, unexpected = self.network.load_state_dict(load_file(weights_path), strict=False)
        missing = [name for name in missing if not name.endswith("num_batches_tracked")]
        if missing or unexpected:
            raise ValueError(f"{weights_path} does not fit MusiCNN: missing {missing}, unexpected {unexpected}")
        self.network.eval().requires_grad_(False)
        frames_per_second = self.arch.sample_rate / self.arch.hop_length
        self.hop_frames = min(self.arch.patch_frames, max(1, round(config.hop_seconds * frames_per_second)))
        self._features = [POOLED_FEATURES[name] for name in config.features]

    @property
    def dim(self) -> int:
        return sum(feature.dim(self.arch) for feature in self._features)

    @property
    def tag_names(self) -> tuple[str, ...]:
        return self.arch.tags

    def embed(self, item: np.ndarray) -> np.ndarray:
        """One waveform -> ``(dim,)`` float32: its patch outputs pooled as ``config.features`` says."""
        return self.embed_many([item])[0]

    def embed_many(self, items: Iterable[np.ndarray]) -> np.ndarray:
        """Several waveforms -> ``(n, dim)``; patches of all of them share forward passes."""
        outputs = self.patch_outputs_many(items)
        if not outputs:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([torch.cat([f.pool(out) for f in self._features]).numpy() for out in outputs])

    def tags(self, item: np.ndarray) -> dict[str, float]:
        """Tag name -> probability averaged over the track's patches."""
        probabilities = torch.sigmoid(self.patch_outputs(item).logits).mean(0)
        return dict(zip(self.arch.tags, probabilities.tolist()))

    def patch_outputs(self, item: np.ndarray) -> MusicnnOutput:
        """The network's outputs for each patch of one waveform (patches in time order)."""
        return self.patch_outputs_many([item])[0]

    @torch.inference_mode()
    def patch_outputs_many(self, items: Iterable[np.ndarray]) -> list[MusicnnOutput]:
        patch_sets = [self.patches(item) for item in items]
        if not patch_sets:
            return []
        all_patches = torch.cat(patch_sets)
        batches = [self.network(batch) for batch in torch.split(all_patches, self.config.batch_size)]
        merged = MusicnnOutput(*(torch.cat(parts) for parts in zip(*batches)))
        counts = [len(patches) for patches in patch_sets]
        return [MusicnnOutput(*parts) for parts in zip(*(torch.split(t, counts) for t in merged))]

    @torch.inference_mode()
    def patches(self, waveform: np.ndarray) -> torch.Tensor:
        """``(n, patch_frames, n_mels)`` log-mel patches over the waveform, in time order.

        Every patch of the cover when there are at most ``config.max_patches``, else that many of them
        (:func:`spread_evenly`). A clip shorter than one patch is repeated to fill it (how the models were
        trained, ``repeat-pad``).
        """
        log_mel = self.log_mel(_checked_waveform(waveform))
        frames = self.arch.patch_frames
        if log_mel.shape[0] < frames:
            log_mel = log_mel.repeat(-(-frames // log_mel.shape[0]), 1)[:frames]
        starts = spread_evenly(window_starts(log_mel.shape[0], frames, self.hop_frames), self.config.max_patches)
        return torch.stack([log_mel[start : start + frames] for start in starts])


def spread_evenly(starts: Sequence[int], count: int | None) -> list[int]:
    """At most ``count`` of ``starts``: the one in the middle of each of ``count`` equal runs of them.

    Taking the middle of each run (not the first and last start) gives each chosen window an equal share
    of the track, so an intro or a fade-out weighs no more than any other stretch.
    """
    if count is None or len(starts) <= count:
        return list(starts)
    return [starts[int((index + 0.5) * len(starts) / count)] for index in range(count)]


def _checked_waveform(waveform: np.ndarray) -> torch.Tensor:
    """A 1-D, non-empty, finite float32 tensor, or a typed :class:`~recommender.audio.AudioError`."""
    array = np.asarray(waveform)
    if array.ndim != 1:
        raise CorruptAudioError(f"expected a mono 1-D waveform, got shape {array.shape}")
    if array.size == 0:
        raise EmptyAudioError("contains no audio samples")
    if not np.issubdtype(array.dtype, np.floating):
        raise CorruptAudioError(f"expected float samples in [-1, 1], got dtype {array.dtype}")
    array = array.astype(np.float32, copy=False)
    if not np.isfinite(array).all():
        raise CorruptAudioError("contains NaN or infinite samples")
    return torch.from_numpy(np.ascontiguousarray(array))
