"""Tag towers: an emotion word ("happy", "tension", "Q3", "wistful") -> a vector.

``va`` places the word on the valence-arousal plane (:class:`recommender.emotion.EmotionSpace`), exact
but limited to known words. ``text`` runs the word through a text tower, so a word no corpus uses
still lands near its synonyms.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recommender.emotion import EmotionSpace
from recommender.towers.base import Tower, TowerConfig, build_tower, register_tower


@dataclass
class VATagConfig(TowerConfig):
    """``lexicon``: an NRC-VAD file placing words beyond the built-in labels (see ``load_lexicon``)."""

    lexicon: str | None = None


@register_tower("tag", "va", VATagConfig)
class VATagTower(Tower[str]):
    """An emotion word -> its (valence, arousal); unknown words raise ``UnknownEmotionError``."""

    def __init__(self, config: VATagConfig) -> None:
        super().__init__(config)
        self.space = EmotionSpace.default(config.lexicon)

    @property
    def dim(self) -> int:
        return 2

    def embed(self, item: str) -> np.ndarray:
        return self.space.va(_checked_word(item)).astype(np.float32)

    def embed_many(self, items: Iterable[str]) -> np.ndarray:
        words = [_checked_word(item) for item in items]
        return self.space.va_matrix(words).astype(np.float32) if words else np.zeros((0, 2), np.float32)


def _checked_word(word: Any) -> str:
    if not isinstance(word, str) or not word.strip():
        raise ValueError(f"an emotion tag must be a non-empty string, got {word!r}")
    return word.strip()


# Labels that are codes rather than words: EMOPIA's quadrants of the valence-arousal plane.
TAG_DESCRIPTIONS: dict[str, str] = {
    "Q1": "happy, excited",  # high valence, high arousal
    "Q2": "angry, tense",  # low valence, high arousal
    "Q3": "sad, depressed",  # low valence, low arousal
    "Q4": "calm, relaxed",  # high valence, low arousal
}


@dataclass
class TextTagConfig(TowerConfig):
    """An emotion word through a text tower.

    Attributes:
        text_tower: Name of the text tower (``minilm``, ``distilbert`` ...).
        text_options: Config fields of that tower.
        template: Wraps the word before encoding, e.g. ``"music that sounds {}"``.
    """

    text_tower: str = "minilm"
    text_options: dict[str, Any] = field(default_factory=dict)
    template: str = "{}"

    def __post_init__(self) -> None:
        if "{}" not in self.template:
            raise ValueError(f"template must contain '{{}}' where the word goes, got {self.template!r}")


@register_tower("tag", "text", TextTagConfig)
class TextTagTower(Tower[str]):
    """An emotion word -> a text tower's vector of it (label codes spelled out, underscores as spaces)."""

    def __init__(self, config: TextTagConfig) -> None:
        super().__init__(config)
        self.text = build_tower("text", config.text_tower, **config.text_options)

    @property
    def dim(self) -> int:
        return self.text.dim

    def phrase(self, word: str) -> str:
        """The text actually encoded for ``word``."""
        word = _checked_word(word)
        return self.config.template.replace("{}", TAG_DESCRIPTIONS.get(word, word.replace("_", " ")))

    def embed(self, item: str) -> np.ndarray:
        return self.text.embed(self.phrase(item))

    def embed_many(self, items: Iterable[str]) -> np.ndarray:
        return self.text.embed_many([self.phrase(item) for item in items])
