"""One place for configuration: defaults < TOML file < environment variables < explicit arguments.

The TOML file is ``$UNDERTONE_CONFIG`` or ``~/.config/undertone/config.toml``; keys are the field names
below (e.g. ``store = "/data/undertone"``, ``qdrant_url = "http://qdrant:6333"``). Every field also
reads ``UNDERTONE_<FIELD>`` from the environment (``UNDERTONE_QDRANT_URL`` ...).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

ENV_PREFIX = "UNDERTONE_"


def _default_store() -> Path:
    return Path.home() / ".undertone"


@dataclass(frozen=True)
class Settings:
    """Where Undertone keeps things and which services it talks to.

    Attributes:
        store: Directory of the embedded default (Qdrant engine + SQLite catalog live under it).
        qdrant_url: Qdrant server URL; when set, vectors go to the server instead of the store.
        database_url: SQLAlchemy URL of the catalog database; defaults to SQLite under ``store``.
        redis_url: Celery broker/result backend; when unset, ingestion runs in-process.
        collection: Qdrant collection name.
        model: Emotion model to load: ``builtin`` or a directory holding ``config.json``.
        data_dir: Labelled corpora for training/evaluation (``../shared/data`` layout).
        lexicon: NRC-VAD lexicon file used to place emotion words outside the built-in vocabulary.
        max_track_seconds: Longer music files are refused at ingestion.
        max_query_seconds: Longer speech queries are refused by ``search`` (``timeline`` has its own).
    """

    store: Path = field(default_factory=_default_store)
    qdrant_url: str | None = None
    database_url: str | None = None
    redis_url: str | None = None
    collection: str = "tracks"
    model: str = "builtin"
    data_dir: Path | None = None
    lexicon: Path | None = None
    max_track_seconds: float = 1200.0
    max_query_seconds: float = 600.0

    @classmethod
    def load(cls, config_file: str | Path | None = None, **overrides: Any) -> "Settings":
        """Build settings from the TOML file, the environment and ``overrides`` (None values ignored)."""
        values: dict[str, Any] = {}
        path = Path(config_file or os.environ.get(ENV_PREFIX + "CONFIG") or _user_config())
        if path.is_file():
            with path.open("rb") as handle:
                values.update(tomllib.load(handle))
        for spec in fields(cls):
            env = os.environ.get(ENV_PREFIX + spec.name.upper())
            if env not in (None, ""):
                values[spec.name] = env
        values.update({k: v for k, v in overrides.items() if v is not None})
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown setting(s) {sorted(unknown)} in {path if path.is_file() else 'arguments'}")
        return cls(**{name: _coerce(name, value) for name, value in values.items()})

    @property
    def catalog_url(self) -> str:
        """SQLAlchemy URL of the catalog: the configured database or SQLite inside the store."""
        return self.database_url or f"sqlite:///{self.store / 'catalog.sqlite'}"

    @property
    def vectors_path(self) -> Path:
        """Directory of the embedded Qdrant engine."""
        return self.store / "vectors"

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **{k: _coerce(k, v) for k, v in changes.items()})


def _user_config() -> Path:
    return Path.home() / ".config" / "undertone" / "config.toml"


_PATH_FIELDS = {"store", "data_dir", "lexicon"}
_FLOAT_FIELDS = {"max_track_seconds", "max_query_seconds"}


def _coerce(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in _PATH_FIELDS:
        return Path(value).expanduser()
    if name in _FLOAT_FIELDS:
        return float(value)
    return value


def default_data_dir() -> Path:
    """The labelled corpora: ``UNDERTONE_DATA_DIR`` or ``../shared/data`` beside the repository."""
    configured = Settings.load().data_dir
    if configured:
        return configured
    return Path(__file__).resolve().parents[2] / "shared" / "data"
