"""Frozen encoders (towers); importing this package registers every built-in tower."""

from recommender.towers import huggingface  # noqa: F401
from recommender.towers import musicnn  # noqa: F401
from recommender.towers import speech_builtin  # noqa: F401
from recommender.towers import tag  # noqa: F401
from recommender.towers import text  # noqa: F401
