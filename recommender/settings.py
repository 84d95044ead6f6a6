"""One place for configuration: defaults < TOML file < environment variables < explicit arguments.

The TOML file is ``$UNDERTONE_CONFIG`` or ``~/.config/undertone/config.toml``; keys are the field names
below (e.g. ``store = "/data/undertone"``, ``qdrant_url = "http://qdrant:6333"``). Every field also
reads ``UNDERTONE_<FIELD>`` from the environment (``UNDERTONE_QDRANT_URL`` ...). Every process reads the
same object: the command line, the dashboard and the ingestion workers.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from recommender.errors import ConfigError

ENV_PREFIX = "UNDERTONE_"

# The TOML file of the ``Settings.load`` call in progress (pydantic builds sources in a classmethod).
_config_file: ContextVar[Path | None] = ContextVar("undertone_config_file", default=None)


def _default_store() -> Path:
    return Path.home() / ".undertone"


def _user_config() -> Path:
    return Path.home() / ".config" / "undertone" / "config.toml"


class Settings(BaseSettings):
    """Where Undertone keeps things and which services it talks to.

    Attributes:
        store: Directory of the embedded default (Qdrant engine + SQLite catalog live under it).
        qdrant_url: Qdrant server URL; when set, vectors go to the server instead of the store.
        database_url: SQLAlchemy URL of the catalog database; defaults to SQLite under ``store``.
        redis_url: Celery broker; when unset, ingestion runs in-process.
        queue: Celery queue the ingestion tasks go through (one per deployment, or per test run).
        visibility_timeout: Seconds before a task taken by a vanished worker is handed to another
            (longer than any batch takes, or batches run twice).
        worker_threads: Torch threads per worker process.
        collection: Qdrant collection name.
        model: Emotion model to load: ``builtin`` or a directory holding ``config.json``.
        data_dir: Labelled corpora for training/evaluation (``../shared/data`` layout).
        lexicon: NRC-VAD lexicon file used to place emotion words outside the built-in vocabulary.
        max_track_seconds: Longer music files are refused at ingestion.
        max_query_seconds: Longer speech queries are refused by ``search`` (``timeline`` has its own).
        url: Base URL of an ``undertone serve`` API to use instead of opening the store in this process.
        token: Bearer token of that API (required by a server bound beyond localhost).
        max_upload_mb: Largest request body ``undertone serve`` accepts (speech uploads).
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_ignore_empty=True, extra="forbid", frozen=True)

    store: Path = Field(default_factory=_default_store)
    qdrant_url: str | None = None
    database_url: str | None = None
    redis_url: str | None = None
    queue: str = "undertone"
    visibility_timeout: float = 3600.0
    worker_threads: int = 1
    collection: str = "tracks"
    model: str = "builtin"
    data_dir: Path | None = None
    lexicon: Path | None = None
    max_track_seconds: float = 1200.0
    max_query_seconds: float = 600.0
    url: str | None = None
    token: str | None = None
    max_upload_mb: float = Field(default=200.0, gt=0)

    @field_validator("store", "data_dir", "lexicon", mode="after")
    @classmethod
    def _expand_user(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config_file = _config_file.get() or Path(os.environ.get(ENV_PREFIX + "CONFIG") or _user_config())
        if not _readable(config_file):
            return init_settings, env_settings
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=config_file)

    @classmethod
    def load(cls, config_file: str | Path | None = None, **overrides: Any) -> Settings:
        """Build settings from the TOML file, the environment and ``overrides`` (None values ignored).

        Raises:
            ConfigError: An unknown key or a value of the wrong type, naming where it came from.
        """
        token = _config_file.set(Path(config_file) if config_file else None)
        try:
            return cls(**{key: value for key, value in overrides.items() if value is not None})
        except ValidationError as error:
            raise ConfigError(f"invalid settings: {_describe(error)}") from None
        finally:
            _config_file.reset(token)

    @property
    def catalog_url(self) -> str:
        """SQLAlchemy URL of the catalog: the configured database or SQLite inside the store."""
        return self.database_url or f"sqlite:///{self.store / 'catalog.sqlite'}"

    @property
    def vectors_path(self) -> Path:
        """Directory of the embedded Qdrant engine."""
        return self.store / "vectors"

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied and validated (the environment is not read again)."""
        try:
            return type(self).model_validate({**self.model_dump(), **changes})
        except ValidationError as error:
            raise ConfigError(f"invalid settings: {_describe(error)}") from None


def _readable(path: Path) -> bool:
    """A config file we may read; an unreadable home (a process that dropped privileges) counts as none."""
    try:
        return path.is_file() and os.access(path, os.R_OK)
    except OSError:
        return False


def _describe(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in item['loc'])}: {'unknown setting' if item['type'] == 'extra_forbidden' else item['msg']}"
        for item in error.errors()
    )


def default_data_dir() -> Path:
    """The labelled corpora: ``UNDERTONE_DATA_DIR`` or ``../shared/data`` beside the repository."""
    configured = Settings.load().data_dir
    if configured:
        return configured
    return Path(__file__).resolve().parents[2] / "shared" / "data"
