"""Training the heads on cached tower features (CLI: ``undertone train --config FILE [--out DIR]``).

Data: speech = RAVDESS (train split, see :mod:`recommender.data`); music = Emotify (VA from the GEMS
votes, vote fractions as soft mood targets) and, optionally, 4Q popular music (VA of each clip's mood
words). Sampling follows Doh et al. (ICASSP 2023): speech anchors are drawn class-balanced; each
anchor's positive is music of the most similar emotion (same-label music for corpora with one VA per
label, one of the ``positive_pool`` nearest tracks on the VA plane for Emotify and 4Q);
negatives are other music of the batch, distance-weighted (:mod:`recommender.losses`). The VA
regressors, speech emotion classifier and mood head train alongside on every step.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import trange

from recommender.config_io import dataclass_from_dict
from recommender.data import LabelledClip, load_corpus
from recommender.emotion import LABEL_SETS, EmotionSpace
from recommender.errors import UsageError
from recommender.features import FeatureCache
from recommender.heads import EmotionHeads, LinearVAHead
from recommender.losses import JointBatch, LossConfig, retrieval_loss
from recommender.model import EmotionModel, ModelConfig, _resolve_config, build_heads, tag_features
from recommender.ridge import RidgeConfig, fit_linear_music_va
from recommender.towers.base import Tower, build_tower, torch_threads

logger = logging.getLogger(__name__)

TRAINING_CONFIGS_DIR = Path(__file__).resolve().parent / "model_configs" / "training"


@dataclass
class TrainConfig:
    """One training run.

    Attributes:
        model: Architecture: a shipped config name, a JSON file, or the config itself as a dict.
        loss: Retrieval loss variant (:data:`recommender.losses.LOSSES`).
        losses: Margins and weights of the retrieval losses.
        ridge: Fitting of a ``ridge`` music VA head.
        speech_corpora: Speech corpora (train split).
        music_corpora: Music corpora (train split).
        music_corpus_weights: How often each music corpus supplies a positive or an auxiliary example.
        steps: Optimisation steps.
        batch_size: Speech anchors per step (and as many positives, and as many extra music examples).
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        positive_pool: Continuous-VA music: a positive is one of this many nearest tracks.
        va_weight: Weight of the VA regression losses (MSE on the 0-1 scale).
        emotion_weight: Weight of the speech emotion cross-entropy.
        mood_weight: Weight of the music mood soft cross-entropy.
        feature_noise: Gaussian noise added to tower features while training, as a fraction of each
            feature's standard deviation (the speech tower has seen the training speakers, so their
            features are cleaner than a new speaker's).
        seed: Seed of initialisation and sampling.
    """

    model: str | dict[str, Any] = "default"
    loss: str = "triplet_emosim"
    losses: LossConfig = field(default_factory=LossConfig)
    ridge: RidgeConfig = field(default_factory=RidgeConfig)
    speech_corpora: tuple[str, ...] = ("ravdess",)
    music_corpora: tuple[str, ...] = ("emotify",)
    music_corpus_weights: dict[str, float] = field(default_factory=dict)
    steps: int = 1500
    batch_size: int = 64
    lr: float = 1e-4
    weight_decay: float = 1e-2
    positive_pool: int = 8
    va_weight: float = 1.0
    emotion_weight: float = 0.5
    mood_weight: float = 0.5
    feature_noise: float = 0.0
    seed: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        return dataclass_from_dict(cls, data)

    @classmethod
    def from_file(cls, path: str | Path) -> TrainConfig:
        """A JSON file, or the name of one in ``recommender/model_configs/training/``."""
        path = Path(path)
        if not path.is_file() and (TRAINING_CONFIGS_DIR / f"{path}.json").is_file():
            path = TRAINING_CONFIGS_DIR / f"{path}.json"
        if not path.is_file():
            raise UsageError(f"training config {path} not found")
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def model_config(self) -> ModelConfig:
        return ModelConfig.from_dict(self.model) if isinstance(self.model, dict) else _resolve_config(self.model)


@dataclass
class FeatureSet:
    """Tower features of labelled clips, row-aligned with ``clips``."""

    features: np.ndarray
    clips: list[LabelledClip]

    @property
    def labels(self) -> list[str]:
        return [clip.label for clip in self.clips]

    @property
    def va(self) -> np.ndarray:
        return np.array([(clip.valence, clip.arousal) for clip in self.clips], dtype=np.float32)

    @property
    def corpora(self) -> list[str]:
        return [clip.corpus for clip in self.clips]

    def soft_targets(self, labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(n, len(labels))`` normalised label distributions and a mask of rows that have one."""
        targets = np.zeros((len(self.clips), len(labels)), np.float32)
        mask = np.zeros(len(self.clips), bool)
        for row, clip in enumerate(self.clips):
            if clip.soft_labels:
                votes = np.array([clip.soft_labels.get(label, 0.0) for label in labels], np.float32)
                if votes.sum() > 0:
                    targets[row], mask[row] = votes / votes.sum(), True
        return targets, mask

    def subset(self, rows: Sequence[int]) -> FeatureSet:
        return FeatureSet(self.features[list(rows)], [self.clips[row] for row in rows])

    @staticmethod
    def concat(sets: Sequence[FeatureSet]) -> FeatureSet:
        return FeatureSet(np.concatenate([s.features for s in sets]), [clip for s in sets for clip in s.clips])


class Towers:
    """The towers of a model config, built once, with dims written back into the config."""

    def __init__(self, config: ModelConfig) -> None:
        self.config = config
        self._built: dict[str, Tower] = {}

    def __getitem__(self, modality: str) -> Tower:
        if modality not in self._built:
            spec = self.config.towers[modality]
            self._built[modality] = build_tower(modality, spec.name, **spec.options)
            spec.dim = self._built[modality].dim
        return self._built[modality]


def load_features(
    tower: Tower, corpora: Sequence[str], split: str | None, *, data_dir: Path | None = None, cache: FeatureCache | None = None
) -> FeatureSet:
    """Tower features of the named corpora's clips (cached)."""
    cache = cache or FeatureCache()
    sets = []
    for corpus in corpora:
        clips = load_corpus(corpus, split, data_dir)  # type: ignore[arg-type]
        features, kept = cache.embed_files(tower, [clip.path for clip in clips], description=f"{corpus} {split or 'all'}")
        sets.append(FeatureSet(features, [clips[i] for i in kept]))
    return FeatureSet.concat(sets)


class PairSampler:
    """Class-balanced speech anchors and their positive music (see the module docstring)."""

    def __init__(self, speech: FeatureSet, music: FeatureSet, config: TrainConfig, space: EmotionSpace, rng: np.random.Generator) -> None:
        self.rng = rng
        self.batch_size = config.batch_size
        labels = np.array(speech.labels)
        self.classes = sorted(set(labels.tolist()))
        self.by_class = {label: np.flatnonzero(labels == label) for label in self.classes}
        corpora = np.array(music.corpora)
        weights = {corpus: config.music_corpus_weights.get(corpus, 1.0) for corpus in dict.fromkeys(corpora.tolist())}
        self.corpora = [corpus for corpus, weight in weights.items() if weight > 0]
        corpus_p = np.array([weights[c] for c in self.corpora])
        self.corpus_p = corpus_p / corpus_p.sum()
        self.music_by_corpus = {corpus: np.flatnonzero(corpora == corpus) for corpus in self.corpora}
        self.positives = {label: self._positive_sets(label, music, corpora, config.positive_pool, space) for label in self.classes}

    def _positive_sets(self, label: str, music: FeatureSet, corpora: np.ndarray, pool: int, space: EmotionSpace) -> dict[str, np.ndarray]:
        anchor = space.va(label)
        music_labels = np.array(music.labels)
        sets = {}
        for corpus in self.corpora:
            rows = self.music_by_corpus[corpus]
            corpus_labels = corpus_vocabulary(corpus, music_labels[rows].tolist())
            if _continuous(corpus):
                distance = np.linalg.norm(music.va[rows] - anchor, axis=1)
                sets[corpus] = rows[np.argsort(distance, kind="stable")[:pool]]
            else:
                target = space.most_similar(label, corpus_labels)
                sets[corpus] = rows[music_labels[rows] == target]
        return sets

    def anchors(self) -> np.ndarray:
        classes = self.rng.choice(len(self.classes), size=self.batch_size)
        return np.array([self.rng.choice(self.by_class[self.classes[c]]) for c in classes])

    def positives_for(self, speech_labels: Sequence[str]) -> np.ndarray:
        rows = []
        for label in speech_labels:
            sets = self.positives[label]
            available = [c for c in self.corpora if sets[c].size]
            p = np.array([self.corpus_p[self.corpora.index(c)] for c in available])
            corpus = available[self.rng.choice(len(available), p=p / p.sum())]
            rows.append(self.rng.choice(sets[corpus]))
        return np.array(rows)

    def music(self) -> np.ndarray:
        corpora = self.rng.choice(len(self.corpora), size=self.batch_size, p=self.corpus_p)
        return np.array([self.rng.choice(self.music_by_corpus[self.corpora[c]]) for c in corpora])


def _continuous(corpus: str) -> bool:
    # Corpora whose clips carry their own VA (votes, mood words) rather than one per label.
    return corpus in {"emotify", "moods4q"}


# The label vocabulary each corpus annotates with (its LABEL_SETS entry).
CORPUS_VOCABULARIES: dict[str, str] = {"ravdess": "ravdess", "nemo": "nemo", "emotify": "gems9", "moods4q": "quadrants"}


def corpus_vocabulary(corpus: str, present: Sequence[str] = ()) -> list[str]:
    """The labels a corpus can carry; for an unknown corpus (a CSV pool), the labels present in it."""
    if corpus in CORPUS_VOCABULARIES:
        return list(LABEL_SETS[CORPUS_VOCABULARIES[corpus]])
    return list(dict.fromkeys(present))


@dataclass
class TrainResult:
    heads: EmotionHeads
    history: list[dict[str, float]]


def train_heads(
    config: TrainConfig,
    model_config: ModelConfig,
    speech: FeatureSet,
    music: FeatureSet,
    tag_tower: Tower,
    *,
    space: EmotionSpace | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train fresh heads on features. ``model_config`` must know every tower dim."""
    # The heads are tiny: on a busy 2-core machine a second intra-op thread made training 10x slower.
    with torch_threads(1):
        return _train_heads(config, model_config, speech, music, tag_tower, space or EmotionSpace.default(), progress)


def _train_heads(
    config: TrainConfig, model_config: ModelConfig, speech: FeatureSet, music: FeatureSet, tag_tower: Tower,
    space: EmotionSpace, progress: bool,
) -> TrainResult:
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    heads = build_heads(model_config).train()
    optimiser = torch.optim.AdamW(heads.parameters(), lr=config.lr, weight_decay=config.weight_decay)

    speech_x, music_x = torch.as_tensor(speech.features), torch.as_tensor(music.features)
    heads.music_input.fit(music_x)
    speech_va, music_va = torch.as_tensor(speech.va), torch.as_tensor(music.va)
    speech_tag_x = torch.as_tensor(tag_features(tag_tower, speech.va))
    music_tag_x = torch.as_tensor(tag_features(tag_tower, music.va))
    label_index = {label: i for i, label in enumerate(model_config.speech_labels)}
    speech_y = torch.as_tensor([label_index[label] for label in speech.labels])
    mood_targets, mood_mask = (torch.as_tensor(a) for a in music.soft_targets(model_config.mood_labels))

    sampler = PairSampler(speech, music, config, space, rng)
    ridge_va = isinstance(heads.music_va, LinearVAHead)
    speech_noise = config.feature_noise * speech_x.std(dim=0)
    music_noise = config.feature_noise * music_x.std(dim=0)
    history = []
    for step in trange(config.steps, desc=f"train {config.loss} seed {config.seed}", disable=not progress, leave=False):
        anchors = sampler.anchors()
        positives = sampler.positives_for([speech.labels[i] for i in anchors])
        extra = sampler.music()
        music_rows = np.concatenate([positives, extra])

        s_emb, s_va, s_logits = heads.speech(_noisy(speech_x[anchors], speech_noise, generator))
        m_emb, m_va, m_logits = heads.music(_noisy(music_x[music_rows], music_noise, generator))
        tag_emb = heads.tag(torch.cat([speech_tag_x[anchors], music_tag_x[positives]]))
        n = len(anchors)
        batch = JointBatch(
            speech=s_emb, music=m_emb[:n], speech_tag=tag_emb[:n], music_tag=tag_emb[n:],
            speech_va=speech_va[anchors], music_va=music_va[positives],
        )
        terms = retrieval_loss(config.loss, batch, config.losses, generator)
        terms["speech_va"] = F.mse_loss(s_va, speech_va[anchors])
        if not ridge_va:
            terms["music_va"] = F.mse_loss(m_va, music_va[music_rows])
        terms["speech_emotion"] = F.cross_entropy(s_logits, speech_y[anchors])
        mask = mood_mask[music_rows]
        terms["music_mood"] = (
            -(mood_targets[music_rows][mask] * F.log_softmax(m_logits[mask], dim=-1)).sum(-1).mean()
            if mask.any() else m_logits.new_zeros(())
        )
        loss = (
            terms["total"]
            + config.va_weight * (terms["speech_va"] + terms.get("music_va", 0.0))
            + config.emotion_weight * terms["speech_emotion"]
            + config.mood_weight * terms["music_mood"]
        )
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        history.append({"step": step, "loss": loss.item(), **{k: v.item() for k, v in terms.items()}})
    if ridge_va:
        groups = [clip.group for clip in music.clips]
        with torch.no_grad():
            scaled = heads.music_input(music_x).numpy()  # what the head sees at inference
        fit_linear_music_va(heads.music_va, model_config.heads.music_va, scaled, music.va, music.corpora, groups, config.ridge, config.seed)
    return TrainResult(heads.eval(), history)


def _noisy(features: torch.Tensor, scale: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    if not bool(scale.any()):
        return features
    return features + scale * torch.randn(features.shape, generator=generator)


@dataclass
class TrainingData:
    """Everything a training run needs, loaded once (evaluation reuses it across variants and seeds)."""

    model_config: ModelConfig
    speech: FeatureSet
    music: FeatureSet
    tag_tower: Tower
    towers: Towers


def load_training_data(config: TrainConfig, *, data_dir: Path | None = None, cache: FeatureCache | None = None) -> TrainingData:
    model_config = config.model_config()
    towers = Towers(model_config)
    cache = cache or FeatureCache()
    speech = load_features(towers["speech"], config.speech_corpora, "train", data_dir=data_dir, cache=cache)
    music = load_features(towers["music"], config.music_corpora, "train", data_dir=data_dir, cache=cache)
    tag_tower = towers["tag"]
    towers["text"]  # records the text tower's dim in the config
    return TrainingData(model_config, speech, music, tag_tower, towers)


def train(config: TrainConfig, *, data: TrainingData | None = None, data_dir: Path | None = None, progress: bool = True) -> EmotionModel:
    """A trained model (its config records the training config under ``training``)."""
    data = data or load_training_data(config, data_dir=data_dir)
    result = train_heads(config, data.model_config, data.speech, data.music, data.tag_tower, progress=progress)
    model_config = ModelConfig.from_dict(data.model_config.to_dict())
    model_config.training = {"config": config.to_dict(), "final_loss": result.history[-1] if result.history else None}
    model = EmotionModel.from_heads(model_config, result.heads)
    model.__dict__.update({f"{m}_tower": t for m, t in data.towers._built.items()})
    return model
