"""Frozen encoders (towers); importing this package registers every built-in tower."""

from recommender.towers import (
    huggingface,  # noqa: F401
    music_descriptors,  # noqa: F401
    musicnn,  # noqa: F401
    speech_builtin,  # noqa: F401
    tag,  # noqa: F401
    text,  # noqa: F401
)
