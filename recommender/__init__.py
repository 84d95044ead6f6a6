"""Undertone core: emotion space, towers, training, evaluation and search.

``from recommender import Recommender`` is the public entry point (``Client`` the same calls against an
``undertone serve``); both are imported on first use so that
light modules (settings, audio, emotion) load without torch.
"""

from typing import Any

__all__ = ["Client", "Recommender", "EmotionModel", "Settings"]


def __getattr__(name: str) -> Any:
    if name == "Recommender":
        from recommender.search import Recommender

        return Recommender
    if name == "Client":
        from recommender.client import Client

        return Client
    if name == "EmotionModel":
        from recommender.model import EmotionModel

        return EmotionModel
    if name == "Settings":
        from recommender.settings import Settings

        return Settings
    raise AttributeError(f"module 'recommender' has no attribute {name!r}")
