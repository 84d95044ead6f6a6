"""One place for configuration: defaults < TOML file < environment variables < explicit arguments.

The TOML file is ``$UNDERTONE_CONFIG`` or ``~/.config/undertone/config.toml``; keys are the field names
below (e.g. ``store = "/data/undertone"``, ``qdrant_url = "http://qdrant:6333"``). Every field also
reads ``UNDERTONE_<FIELD>`` from the environment (``UNDERTONE_QDRANT_URL`` ...). Every process reads the
same object: the command line, the dashboard and the ingestion workers.

Secrets (:data:`SECRET_FIELDS`) can also come from a file named by ``UNDERTONE_<FIELD>_FILE`` (a Docker
or Kubernetes secret), so no password has to appear on a command line or in ``docker inspect``.
"""

from __future__ import annotations

import os
import re
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from recommender.errors import ConfigError

ENV_PREFIX = "UNDERTONE_"
# Fields that may hold a password: also read from ``UNDERTONE_<FIELD>_FILE``, never sent to workers as is.
SECRET_FIELDS = ("database_url", "database_password", "redis_url", "dashboard_token", "token")

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
        vector_index: ``auto`` (exact scan for small catalogs, HNSW graph from ``hnsw_from`` tracks),
            ``exact`` (never a graph) or ``hnsw`` (always); see :class:`recommender.store.base.VectorIndex`.
        hnsw_from: Tracks from which ``auto`` builds the HNSW graph (None: ``VectorIndex``'s measured default).
        hnsw_ef: Candidates HNSW keeps while searching, recall against latency (None: ``VectorIndex``'s default).
        qdrant_shards: Shards of a collection created on the Qdrant server (None: the server's default);
            see :class:`recommender.store.base.ServerLayout` and docs/scaling.md.
        qdrant_replicas: Copies of every shard on different server nodes (None: the server's default).
        qdrant_on_disk: Keep payloads and float32 vectors on the server's disk, searching an int8 copy
            in RAM with rescoring (a fraction of the RAM, more disk reads).
            The three ``qdrant_*`` layout settings apply only when Undertone creates the collection
            (an existing one keeps its layout); the embedded store ignores them.
        model: Emotion model to load: ``builtin`` or a directory holding ``config.json``.
        data_dir: Labelled corpora for training/evaluation (``../shared/data`` layout).
        lexicon: NRC-VAD lexicon file used to place emotion words outside the built-in vocabulary.
        max_track_seconds: Longer music files are refused at ingestion.
        music_max_windows: At most this many 3 s windows of a track go through the music network,
            evenly spread (0: every window, so long tracks cost in proportion; unset: the model's own
            bound, 32). It changes the model fingerprint, so tracks analysed another way are re-analysed.
        ingest_processes: Analysis processes of an in-process ``undertone ingest`` (one torch thread
            each; the calling process keeps the store and the catalog). Unset: one per core, at most 4;
            1 analyses in the calling process.
        max_query_seconds: Longer speech queries are refused by ``search`` (``timeline`` has its own).
        database_password: Password of the catalog database when ``database_url`` names none
            (``UNDERTONE_DATABASE_PASSWORD_FILE`` reads it from a secret file).
        library_roots: Folders the dashboard may ingest from and play (``UNDERTONE_LIBRARY_ROOTS``,
            separated by ``:``); none means the dashboard ingests nothing from the server's disk.
        dashboard_token: Password of the dashboard; required when it listens beyond localhost.
        url: Base URL of an ``undertone serve`` API to use instead of opening the store in this process.
        token: Bearer token of that API (required by a server bound beyond localhost; ``UNDERTONE_TOKEN_FILE``
            reads it from a secret file).
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
    vector_index: Literal["auto", "exact", "hnsw"] = "auto"
    hnsw_from: int | None = Field(default=None, ge=1)
    hnsw_ef: int | None = Field(default=None, ge=1)
    qdrant_shards: int | None = Field(default=None, ge=1)
    qdrant_replicas: int | None = Field(default=None, ge=1)
    qdrant_on_disk: bool = False
    model: str = "builtin"
    data_dir: Path | None = None
    lexicon: Path | None = None
    max_track_seconds: float = 1200.0
    music_max_windows: int | None = Field(default=None, ge=0)
    ingest_processes: int | None = Field(default=None, ge=1)
    max_query_seconds: float = 600.0
    database_password: SecretStr | None = None
    library_roots: Annotated[tuple[Path, ...], NoDecode] = ()
    dashboard_token: SecretStr | None = None
    url: str | None = None
    token: SecretStr | None = None
    max_upload_mb: float = Field(default=200.0, gt=0)

    @field_validator("store", "data_dir", "lexicon", mode="after")
    @classmethod
    def _expand_user(cls, value: Path | None) -> Path | None:
        # Absolute at once: settings travel to workers, whose working directory is another.
        return value.expanduser().absolute() if value is not None else None

    @field_validator("model", mode="after")
    @classmethod
    def _absolute_model_directory(cls, value: str) -> str:
        directory = Path(value).expanduser()
        return os.path.abspath(directory) if value != "builtin" and directory.is_dir() else value

    @field_validator("library_roots", mode="before")
    @classmethod
    def _split_roots(cls, value: Any) -> Any:
        # The environment gives one string, PATH style; TOML gives a list.
        if isinstance(value, (str, os.PathLike)):
            return tuple(part for part in str(value).split(os.pathsep) if part.strip())
        return value

    @field_validator("library_roots", mode="after")
    @classmethod
    def _absolute_roots(cls, value: tuple[Path, ...]) -> tuple[Path, ...]:
        # Resolved once, symlinks included, so a path is checked against where the root really is.
        return tuple(Path(root).expanduser().resolve() for root in value)

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
        secrets = SecretFileSource(settings_cls)
        if not _readable(config_file):
            return init_settings, env_settings, secrets
        return init_settings, env_settings, secrets, TomlConfigSettingsSource(settings_cls, toml_file=config_file)

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
        """SQLAlchemy URL of the catalog: the configured database (with ``database_password``) or SQLite in the store."""
        if not self.database_url:
            return f"sqlite:///{self.store / 'catalog.sqlite'}"
        if self.database_password is None:
            return self.database_url
        url = _parse_url(self.database_url)
        if url.password:
            return self.database_url
        return url.set(password=self.database_password.get_secret_value()).render_as_string(hide_password=False)

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


class SecretFileSource(PydanticBaseSettingsSource):
    """``UNDERTONE_<FIELD>_FILE`` for each of :data:`SECRET_FIELDS`: the field's value is the file's content."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        variable = f"{ENV_PREFIX}{field_name.upper()}_FILE"
        path = os.environ.get(variable) if field_name in SECRET_FIELDS else None
        if not path:
            return None, field_name, False
        try:
            return Path(path).expanduser().read_text(encoding="utf-8").strip(), field_name, False
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"{variable}: cannot read {path}: {getattr(error, 'strerror', None) or error}") from None

    def __call__(self) -> dict[str, Any]:
        values = {}
        for name, field in self.settings_cls.model_fields.items():
            value, _, _ = self.get_field_value(field, name)
            if value:
                values[name] = value
        return values


def without_password(url: str) -> str:
    """``url`` with its password removed (what may be logged or sent to a worker)."""
    parsed = _parse_url(url)
    return parsed._replace(password=None).render_as_string(hide_password=False) if parsed.password else url


def _parse_url(url: str) -> Any:
    try:
        return make_url(url)
    except ArgumentError:
        raise ConfigError(f"not a database URL: {without_secrets(url)!r}") from None


def without_secrets(text: str) -> str:
    """``text`` with the password of any ``scheme://user:password@host`` in it masked."""
    return re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", text)


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
