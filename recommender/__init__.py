"""Undertone core: emotion space, towers, training, evaluation and search.

``from recommender import Recommender`` is the public entry point; it is imported on first use so that
light modules (settings, audio, emotion) load without torch.
"""

from typing import Any

__all__ = ["Recommender", "EmotionModel", "Settings"]


def __getattr__(name: str) -> Any:
    if name == "Recommender":
        from recommender.search import Recommender

        return Recommender
    if name == "EmotionModel":
        from recommender.model import EmotionModel

        return EmotionModel
    if name == "Settings":
        from recommender.settings import Settings

        return Settings
    raise AttributeError(f"module 'recommender' has no attribute {name!r}")
