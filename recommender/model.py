"""The emotion model: frozen towers + trained heads -> one joint emotion space for speech, music and words.

Speech and music go through their frozen towers and projection heads (Doh et al., ICASSP 2023).
Emotion words and valence-arousal points go through the tag branch. Free text has no emotion-labelled
training data here, so it is placed zero-shot: the text tower compares the text with prompts for each
emotion label, the resulting label distribution gives a VA point, and the VA point goes through the tag
branch. A transcript given with speech is late-fused (see :meth:`EmotionModel.analyze_speech`).

A model is a directory with ``config.json`` (a :class:`ModelConfig`) and ``heads.safetensors``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save, save_file

from recommender.audio import prepare_waveform
from recommender.config_io import dataclass_from_dict
from recommender.emotion import BUILTIN_VA, LABEL_SETS, EmotionSpace
from recommender.errors import ConfigError, ModelNotFoundError, UsageError
from recommender.heads import EmotionHeads, HeadConfig
from recommender.towers.base import TOWERS, Tower, build_tower
from recommender.towers.tag import VATagTower

PACKAGE_DIR = Path(__file__).resolve().parent
BUILTIN_DIR = PACKAGE_DIR / "weights" / "default"
MODEL_CONFIGS_DIR = PACKAGE_DIR / "model_configs"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "heads.safetensors"
TOWER_MODALITIES = ("speech", "music", "text", "tag")
VA_AXES = ("valence", "arousal")
SPEECH_VA_SOURCES = ("head", "labels")


@dataclass
class TowerSpec:
    """Which registered tower to build, with what options.

    Attributes:
        name: Registry name (``recommender.towers.base.TOWERS``).
        options: Fields of the tower's config dataclass.
        dim: Output size, recorded so heads can be built without loading the tower.
    """

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    dim: int | None = None


@dataclass
class TextConfig:
    """Zero-shot placement of free text and late fusion with speech.

    Attributes:
        templates: Prompts with one ``{}`` for the emotion word; each label's prompt vector is their mean.
        label_words: How a label reads inside a prompt when it differs from the label (``disgust`` -> ``disgusted``).
        temperature: Softmax temperature over the text-to-prompt cosine similarities.
        fusion_weight: Weight of the transcript when fused with speech audio (audio gets ``1 - fusion_weight``).
    """

    templates: tuple[str, ...] = ("I feel {}.", "I am so {}.", "This makes me {}.")
    label_words: dict[str, str] = field(default_factory=lambda: {"disgust": "disgusted", "fearful": "afraid"})
    temperature: float = 0.05
    fusion_weight: float = 0.3


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model apart from the head weights.

    Attributes:
        towers: Modality (``speech``, ``music``, ``text``, ``tag``) -> tower spec.
        heads: Head sizes.
        speech_labels: Classes of the speech emotion head; also the labels reported for queries.
        mood_labels: Classes of the music mood head.
        text: Zero-shot text settings.
        label_temperature: Softmax temperature turning VA similarity into label probabilities for
            word and VA queries.
        speech_va: Where a speech query's valence and arousal come from, per axis: ``head`` (the speech
            VA head) or ``labels`` (the speech emotion distribution through the emotion lexicon).
            ``scripts/speech_va_cv.py`` compares them per axis under leave-actors-out cross-validation.
        training: Provenance written by training (data, losses, metrics); informational only.
    """

    towers: dict[str, TowerSpec]
    heads: HeadConfig = field(default_factory=HeadConfig)
    speech_labels: tuple[str, ...] = LABEL_SETS["ravdess"]
    mood_labels: tuple[str, ...] = LABEL_SETS["gems9"]
    text: TextConfig = field(default_factory=TextConfig)
    label_temperature: float = 0.1
    speech_va: dict[str, str] = field(default_factory=lambda: dict.fromkeys(VA_AXES, "head"))
    training: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = set(TOWER_MODALITIES) - set(self.towers)
        if missing:
            raise ValueError(f"model config names no tower for {sorted(missing)}")
        if set(self.speech_va) != set(VA_AXES) or not set(self.speech_va.values()) <= set(SPEECH_VA_SOURCES):
            raise ValueError(f"speech_va must map each of {VA_AXES} to one of {SPEECH_VA_SOURCES}, got {self.speech_va!r}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelConfig:
        return dataclass_from_dict(cls, data)

    @classmethod
    def from_file(cls, path: str | Path) -> ModelConfig:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    @classmethod
    def named(cls, name: str) -> ModelConfig:
        """One of the architectures shipped in ``recommender/model_configs/`` (e.g. ``default``)."""
        path = MODEL_CONFIGS_DIR / f"{name}.json"
        if not path.is_file():
            known = sorted(p.stem for p in MODEL_CONFIGS_DIR.glob("*.json"))
            raise ModelNotFoundError(f"no model config named {name!r}; known: {known}")
        return cls.from_file(path)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


@dataclass
class Analysis:
    """What analysing any query or track yields.

    Attributes:
        embedding: ``(joint_dim,)`` float32, L2-normalised point in the joint emotion space.
        valence: 0-1 (NRC-VAD scale).
        arousal: 0-1.
        emotions: Label -> probability, best first (speech labels for queries, moods for music).
        duration: Seconds of audio analysed (None for text, word and VA queries).
        visual: For a video query, what the picture showed and the weight it was fused at
            (:mod:`recommender.visual`); None otherwise.
    """

    embedding: np.ndarray
    valence: float
    arousal: float
    emotions: dict[str, float]
    duration: float | None = None
    visual: dict[str, Any] | None = None


class EmotionModel:
    """Frozen towers + trained heads. Build with :meth:`load` (trained) or :meth:`from_config` (untrained).

    Args:
        config: Architecture; every tower's ``dim`` must be known.
        heads: The heads, matching ``config``.
        space: Emotion words -> VA (built-in vocabulary, optionally an NRC-VAD lexicon).
        weights_digest: sha256 of the serialised head weights (part of :attr:`fingerprint`).
    """

    def __init__(self, config: ModelConfig, heads: EmotionHeads, space: EmotionSpace, weights_digest: str) -> None:
        self.config = config
        self.heads = heads.eval()
        self.space = space
        analysis = _music_analysis_signature(config)
        self.fingerprint = hashlib.sha256((config.to_json() + weights_digest + analysis).encode()).hexdigest()[:16]

    # -- construction -------------------------------------------------------------------------------

    @classmethod
    def from_config(
        cls, config: ModelConfig | str | Path = "default", *, lexicon: Path | None = None, seed: int = 0
    ) -> EmotionModel:
        """An untrained model (heads randomly initialised from ``seed``).

        Args:
            config: A :class:`ModelConfig`, a shipped config name, or a JSON file.
            lexicon: NRC-VAD lexicon for emotion words outside the built-in vocabulary.
            seed: Initialisation seed (the same seed gives the same heads and fingerprint).
        """
        config = _resolve_config(config)
        towers = {}
        for modality, spec in config.towers.items():
            if spec.dim is None:
                towers[modality] = build_tower(modality, spec.name, **spec.options)
                spec.dim = towers[modality].dim
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            heads = build_heads(config)
        model = cls(config, heads, EmotionSpace.default(lexicon), _digest(heads))
        model.__dict__.update({f"{modality}_tower": tower for modality, tower in towers.items()})
        return model

    @classmethod
    def load(
        cls, name_or_path: str | Path = "builtin", *, lexicon: Path | None = None, music_max_windows: int | None = None
    ) -> EmotionModel:
        """A trained model: ``builtin`` (shipped with Undertone) or a directory with config + weights.

        Args:
            name_or_path: ``builtin`` or a model directory.
            lexicon: NRC-VAD lexicon for emotion words outside the built-in vocabulary.
            music_max_windows: Override the music tower's bound on analysed windows per track
                (``Settings.music_max_windows``; 0: every window; None: the model's own). It changes
                the stored vectors of long tracks, hence the fingerprint.
        """
        directory = BUILTIN_DIR if str(name_or_path) == "builtin" else Path(name_or_path).expanduser()
        config_path, weights_path = directory / CONFIG_FILE, directory / WEIGHTS_FILE
        for path in (config_path, weights_path):
            if not path.is_file():
                raise ModelNotFoundError(f"{path} not found: a model directory holds {CONFIG_FILE} and {WEIGHTS_FILE}")
        config = ModelConfig.from_file(config_path)
        if music_max_windows is not None:
            _bound_music_windows(config, music_max_windows)
        heads = build_heads(config)
        state = load_file(weights_path)
        # Models saved before the music input scaler existed: keep its identity defaults.
        for name, default in heads.state_dict().items():
            if name.startswith("music_input.") and name not in state:
                state[name] = default
        heads.load_state_dict(state)
        return cls(config, heads, EmotionSpace.default(lexicon), _digest(heads))

    @classmethod
    def from_heads(cls, config: ModelConfig, heads: EmotionHeads, *, lexicon: Path | None = None) -> EmotionModel:
        """A model from freshly trained heads (``config`` must know every tower dim)."""
        return cls(config, heads, EmotionSpace.default(lexicon), _digest(heads))

    def save(self, directory: Path) -> None:
        """Write ``config.json`` and ``heads.safetensors`` into ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / CONFIG_FILE).write_text(self.config.to_json() + "\n", encoding="utf-8")
        save_file(_state(self.heads), str(directory / WEIGHTS_FILE))

    # -- towers (built on first use: a search process never needs the music tower) ------------------

    @functools.cached_property
    def speech_tower(self) -> Tower:
        return self._build_tower("speech")

    @functools.cached_property
    def music_tower(self) -> Tower:
        return self._build_tower("music")

    @functools.cached_property
    def text_tower(self) -> Tower:
        return self._build_tower("text")

    @functools.cached_property
    def tag_tower(self) -> Tower:
        return self._build_tower("tag")

    def _build_tower(self, modality: str) -> Tower:
        spec = self.config.towers[modality]
        tower = build_tower(modality, spec.name, **spec.options)
        if tower.dim != spec.dim:
            raise ValueError(f"{modality} tower {spec.name!r} gives {tower.dim}-d vectors; the heads expect {spec.dim}")
        return tower

    @property
    def speech_sample_rate(self) -> int:
        return int(self.speech_tower.sample_rate)

    @property
    def music_sample_rate(self) -> int:
        return int(self.music_tower.sample_rate)

    @property
    def joint_dim(self) -> int:
        return self.config.heads.joint_dim

    # -- analysis -----------------------------------------------------------------------------------

    def analyze_speech(self, waveform: np.ndarray, sample_rate: int, transcript: str | None = None) -> Analysis:
        """Analyse a speech clip (mono float32, any rate).

        With a ``transcript``, the result is a late fusion: embedding =
        normalise((1 - w) * speech + w * text) and VA = (1 - w) * speech + w * text, where
        ``w = config.text.fusion_weight``; the emotions stay those heard in the voice.

        The emotions come from the speech tower's own classifier when it has one over the model's speech
        labels (the builtin tower: chosen by leave-speakers-out cross-validation, it generalises to new
        speakers better than the head trained on its embeddings of the training speakers); otherwise
        from the speech head. Valence and arousal come from the speech VA head or from those emotions
        through the lexicon, per axis as ``config.speech_va`` says.
        """
        samples = prepare_waveform(waveform, sample_rate, self.speech_sample_rate)
        tower = self.speech_tower
        if tuple(getattr(tower, "labels", ())) == tuple(self.config.speech_labels) and hasattr(tower, "predict_many"):
            features, tower_probabilities = (values[0] for values in tower.predict_many([samples]))
        else:
            features, tower_probabilities = tower.embed(samples), None
        with torch.inference_mode():
            embedding, va, logits = self.heads.speech(_batch(features))
        probabilities = torch.softmax(logits[0], dim=-1) if tower_probabilities is None else torch.as_tensor(tower_probabilities)
        label_va = probabilities.double().numpy() @ self.space.va_matrix(self.config.speech_labels)
        valence, arousal = (
            float(label_va[k] if self.config.speech_va[axis] == "labels" else va[0, k]) for k, axis in enumerate(VA_AXES)
        )
        analysis = Analysis(
            embedding=_unbatch(embedding),
            valence=valence,
            arousal=arousal,
            emotions=_ranked(self.config.speech_labels, probabilities),
            duration=len(waveform) / sample_rate,
        )
        if transcript and transcript.strip():
            analysis = self._fuse(analysis, self.analyze_text(transcript))
        return analysis

    def analyze_music(self, waveform: np.ndarray, sample_rate: int) -> Analysis:
        """Analyse a whole track (the music tower averages over its windows)."""
        return self.analyze_music_many([(waveform, sample_rate)])[0]

    def analyze_music_many(self, waveforms: Sequence[tuple[np.ndarray, int]]) -> list[Analysis]:
        """Analyse several tracks, batching the heads."""
        if not waveforms:
            return []
        rate = self.music_sample_rate
        features = self.music_tower.embed_many([prepare_waveform(w, sr, rate) for w, sr in waveforms])
        with torch.inference_mode():
            embeddings, va, logits = self.heads.music(torch.as_tensor(np.asarray(features, np.float32)))
            moods = torch.softmax(logits, dim=-1)
        return [
            Analysis(
                embedding=embeddings[i].numpy().astype(np.float32),
                valence=float(va[i, 0]),
                arousal=float(va[i, 1]),
                emotions=_ranked(self.config.mood_labels, moods[i]),
                duration=len(waveform) / sample_rate,
            )
            for i, (waveform, sample_rate) in enumerate(waveforms)
        ]

    def analyze_text(self, text: str) -> Analysis:
        """Place free text zero-shot: prompt similarities -> label distribution -> VA -> tag branch."""
        if not text or not text.strip():
            raise UsageError("text query is empty")
        vector = np.asarray(self.text_tower.embed(text), np.float64)
        similarities = self._prompt_vectors @ (vector / np.linalg.norm(vector))
        probabilities = _softmax(similarities / self.config.text.temperature)
        distribution = dict(zip(self.config.speech_labels, probabilities))
        valence, arousal = self.space.soft_va(distribution)
        analysis = self.analyze_va(valence, arousal)
        return dataclasses.replace(analysis, emotions=_ranked(self.config.speech_labels, probabilities))

    def analyze_emotion(self, word: str) -> Analysis:
        """Place an emotion word (raises :class:`~recommender.emotion.UnknownEmotionError` for unknown words)."""
        valence, arousal = self.space.va(word)
        # The VA tag tower's vector is the VA point itself (resolved here with the model's lexicon);
        # other tag towers read the word.
        features = self.space.va(word) if isinstance(self.tag_tower, VATagTower) else self.tag_tower.embed(word)
        return self._tag_analysis(features, float(valence), float(arousal))

    def analyze_va(self, valence: float, arousal: float) -> Analysis:
        """Place a valence-arousal point (both in [0, 1])."""
        for name, value in (("valence", valence), ("arousal", arousal)):
            if not 0.0 <= float(value) <= 1.0:
                raise UsageError(f"{name} must be within [0, 1], got {value}")
        features = tag_features(self.tag_tower, np.array([[valence, arousal]]), self.space)[0]
        return self._tag_analysis(features, float(valence), float(arousal))

    # -- internals ----------------------------------------------------------------------------------

    def _tag_analysis(self, features: np.ndarray, valence: float, arousal: float) -> Analysis:
        with torch.inference_mode():
            embedding = self.heads.tag(_batch(features))
        return Analysis(_unbatch(embedding), valence, arousal, self._nearby_labels(valence, arousal))

    def _nearby_labels(self, valence: float, arousal: float) -> dict[str, float]:
        labels = self.config.speech_labels
        similarity = 1.0 - np.linalg.norm(self.space.va_matrix(labels) - np.array([valence, arousal]), axis=1)
        return _ranked(labels, _softmax(similarity / self.config.label_temperature))

    def _fuse(self, speech: Analysis, text: Analysis) -> Analysis:
        weight = self.config.text.fusion_weight
        embedding = (1.0 - weight) * speech.embedding + weight * text.embedding
        return Analysis(
            embedding=(embedding / np.linalg.norm(embedding)).astype(np.float32),
            valence=(1.0 - weight) * speech.valence + weight * text.valence,
            arousal=(1.0 - weight) * speech.arousal + weight * text.arousal,
            emotions=speech.emotions,
            duration=speech.duration,
        )

    @functools.cached_property
    def _prompt_vectors(self) -> np.ndarray:
        """``(labels, text_dim)`` unit vectors: each label's mean prompt embedding."""
        text = self.config.text
        rows = []
        for label in self.config.speech_labels:
            word = text.label_words.get(label, label)
            vectors = np.asarray(self.text_tower.embed_many([t.format(word) for t in text.templates]), np.float64)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            mean = vectors.mean(axis=0)
            rows.append(mean / np.linalg.norm(mean))
        return np.stack(rows)


def tag_features(tower: Tower, va_points: np.ndarray, space: EmotionSpace | None = None) -> np.ndarray:
    """Tag-tower vectors of VA points ``(n, 2)`` -> ``(n, tower.dim)``.

    The ``va`` tag tower's vector of a word is its VA point, so a point is its own vector. Any other tag
    tower embeds the built-in label nearest to each point.
    """
    va_points = np.asarray(va_points, dtype=np.float32).reshape(-1, 2)
    if isinstance(tower, VATagTower):
        return va_points
    space = space or EmotionSpace.default()
    vocabulary = list(BUILTIN_VA)
    return np.asarray(tower.embed_many([space.nearest_label(point, vocabulary) for point in va_points]), np.float32)


def build_heads(config: ModelConfig) -> EmotionHeads:
    """Randomly initialised heads for ``config`` (every tower ``dim`` must be set)."""
    dims = {modality: spec.dim for modality, spec in config.towers.items()}
    unknown = [modality for modality in ("speech", "music", "tag") if dims[modality] is None]
    if unknown:
        raise ValueError(f"tower dim unknown for {unknown}; build with EmotionModel.from_config")
    return EmotionHeads(
        speech_dim=dims["speech"], music_dim=dims["music"], tag_dim=dims["tag"],
        num_speech_labels=len(config.speech_labels), num_moods=len(config.mood_labels), config=config.heads,
    )


def _music_analysis_signature(config: ModelConfig) -> str:
    """The music tower's window bound as the fingerprint sees it ('' when every window is analysed).

    The bound is a tower default that a model's ``config.json`` need not spell out, yet it decides the
    vectors of long tracks: a model analysing them differently must not pass for the same model, or a
    re-ingest would keep vectors made the other way.
    """
    spec = config.towers.get("music")
    if spec is None:
        return ""
    fields = {f.name: f for f in dataclasses.fields(TOWERS.config_class("music", spec.name))}
    if "max_patches" not in fields:
        return ""
    bound = spec.options.get("max_patches", fields["max_patches"].default)
    return "" if bound is None else f"|music.max_patches={bound}"


def _bound_music_windows(config: ModelConfig, max_windows: int) -> None:
    """Set the music tower's ``max_patches`` (0: every window), if it analyses windows at all."""
    spec = config.towers["music"]
    fields = {f.name: f for f in dataclasses.fields(TOWERS.config_class("music", spec.name))}
    if "max_patches" not in fields:
        raise ConfigError(f"music_max_windows: the music tower {spec.name!r} has no bound on analysed windows")
    if max_windows < 0:
        raise ConfigError(f"music_max_windows must be 0 (every window) or more, got {max_windows}")
    if (max_windows or None) == fields["max_patches"].default:
        spec.options.pop("max_patches", None)  # the tower's own bound: the same model, the same fingerprint
    else:
        spec.options["max_patches"] = max_windows or None


def _resolve_config(config: ModelConfig | str | Path) -> ModelConfig:
    if isinstance(config, ModelConfig):
        return ModelConfig.from_dict(config.to_dict())  # a copy: dims get filled in
    path = Path(config)
    return ModelConfig.from_file(path) if path.suffix == ".json" or path.is_file() else ModelConfig.named(str(config))


def _state(heads: EmotionHeads) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().contiguous().cpu() for name, tensor in heads.state_dict().items()}


def _digest(heads: EmotionHeads) -> str:
    return hashlib.sha256(save(_state(heads))).hexdigest()


def _batch(vector: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.asarray(vector, np.float32)).reshape(1, -1)


def _unbatch(embedding: torch.Tensor) -> np.ndarray:
    return embedding[0].numpy().astype(np.float32)


def _softmax(values: np.ndarray) -> np.ndarray:
    shifted = np.exp(values - np.max(values))
    return shifted / shifted.sum()


def _ranked(labels: Sequence[str], probabilities: np.ndarray | torch.Tensor) -> dict[str, float]:
    pairs = sorted(zip(labels, np.asarray(probabilities, np.float64).tolist()), key=lambda pair: -pair[1])
    return {label: float(p) for label, p in pairs}
