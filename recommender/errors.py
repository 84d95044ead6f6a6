"""The one error hierarchy every layer raises and catches.

Every :class:`UndertoneError` carries a message that is the whole story for the user: the command line
prints it without a traceback, the dashboard shows it on the page, ``search --json`` writes it as an
error line, and ingestion records it as the reason a file failed. Anything that is not an
``UndertoneError`` is a bug and keeps its traceback. Each class also derives from the builtin exception
that describes it (``ValueError``, ``FileNotFoundError`` ...) so plain ``except`` clauses keep working.

    UndertoneError
    ├── UsageError (ValueError)      bad options or arguments
    ├── ConfigError (ValueError)     a settings file, environment variable or lexicon that cannot be used
    ├── AudioError (ValueError)      a file or buffer that cannot be used as audio; ``reason`` code
    │   ├── AudioNotFoundError, UnreadableAudioError, EmptyAudioError, SilentAudioError, AudioTooLongError
    │   ├── CorruptAudioError
    │   │   └── TruncatedAudioError
    │   └── NoAudioStreamError, NoVideoStreamError (a video without sound, a file without pictures)
    ├── UnknownEmotionError (KeyError)
    ├── CorpusMissingError, ModelNotFoundError (FileNotFoundError)
    ├── ModelMismatchError (ValueError), EmptyCatalogError, UnknownTrackError (LookupError)
    ├── InvalidFilterError (ValueError)
    ├── NotFoundError (LookupError)      a track or job id the catalog does not know
    ├── ServiceUnavailableError (ConnectionError)   the database, Redis or a Qdrant server cannot be reached
    ├── StoreError (RuntimeError)
    │   ├── StoreBusyError, StoreCorruptError
    │   └── DimensionMismatchError (also ValueError)
    └── ServiceError (ConnectionError)   the ``undertone serve`` API cannot be reached or refused the call
        ├── AuthenticationError          a missing or wrong token
        └── UploadTooLargeError          a request body over the server's upload limit

Outer layers derive their own from these (``ingest.sources.SourceError``, ``ingest.analysis.AnalysisError``).
"""

from __future__ import annotations

import os
import re


def _describe(source: object) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, (bytes, bytearray)):
        return f"<{len(source)} bytes>"
    return getattr(source, "name", None) or "<audio buffer>"


def error_reason(error: BaseException) -> str:
    """The short machine-readable code of an error (``search --json`` and the HTTP API): an
    ``AudioError``'s ``reason``, else the class name in snake case without ``Error``."""
    reason = getattr(error, "reason", None)
    return reason or re.sub(r"(?<!^)(?=[A-Z])", "_", type(error).__name__.removesuffix("Error")).lower() or "error"


class UndertoneError(Exception):
    """An error whose message is the whole story for the user (no traceback)."""

    def __str__(self) -> str:
        # KeyError's str() quotes its argument; a user-facing message must not be quoted.
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


class UsageError(UndertoneError, ValueError):
    """Options or arguments that cannot work together (``--tracks 0``, nothing to search for ...)."""


class ConfigError(UndertoneError, ValueError):
    """A settings file, environment variable or lexicon that cannot be used."""


class AudioError(UndertoneError, ValueError):
    """A file or buffer that cannot be used as audio. ``reason`` is a short machine-readable code."""

    reason = "audio_error"

    def __init__(self, message: str, source: object = None) -> None:
        self.source = source
        super().__init__(f"{_describe(source)}: {message}" if source is not None else message)


class AudioNotFoundError(AudioError):
    reason = "not_found"


class UnreadableAudioError(AudioError):
    """Exists but cannot be opened (permissions, a directory, an I/O error)."""

    reason = "unreadable"


class EmptyAudioError(AudioError):
    reason = "empty"


class CorruptAudioError(AudioError):
    """Not audio at all, truncated, or decodes to invalid samples."""

    reason = "corrupt"


class TruncatedAudioError(CorruptAudioError):
    """Shorter than its container says: an interrupted copy or download."""

    reason = "truncated"


class SilentAudioError(AudioError):
    reason = "silent"


class AudioTooLongError(AudioError):
    reason = "too_long"


class NoAudioStreamError(AudioError):
    """A video (or other container) without a sound track."""

    reason = "no_audio_stream"


class NoVideoStreamError(AudioError):
    """A media file without pictures where a video is needed (shot boundaries, visual cues)."""

    reason = "no_video_stream"


class UnknownEmotionError(UndertoneError, KeyError):
    """An emotion word that neither the built-in vocabulary nor the lexicon knows."""


class CorpusMissingError(UndertoneError, FileNotFoundError):
    """A labelled corpus is not where the settings say (``UNDERTONE_DATA_DIR``)."""


class ModelNotFoundError(UndertoneError, FileNotFoundError):
    """A model that is neither a local directory nor loadable from the hub (or its offline cache)."""


class ModelMismatchError(UndertoneError, ValueError):
    """The store's vectors come from a model with another joint space."""


class EmptyCatalogError(UndertoneError, LookupError):
    """The store holds no tracks to recommend."""


class UnknownTrackError(UndertoneError, LookupError):
    """A track id that is not in the catalog."""


class InvalidFilterError(UndertoneError, ValueError):
    """A search filter that cannot be understood."""


class ServiceUnavailableError(UndertoneError, ConnectionError):
    """The catalog database, the Redis broker or a Qdrant server cannot be reached (worth retrying later)."""


class StoreError(UndertoneError, RuntimeError):
    """A vector store cannot do what was asked."""


class StoreBusyError(StoreError):
    """Another process owns the embedded store."""


class StoreCorruptError(StoreError):
    """The embedded store's files cannot be read; ``undertone catalog --repair`` rebuilds them from the catalog."""


class DimensionMismatchError(StoreError, ValueError):
    """A vector's size differs from the collection's."""


class NotFoundError(UndertoneError, LookupError):
    """A track or ingestion job id that the catalog does not know."""


class ServiceError(UndertoneError, ConnectionError):
    """The ``undertone serve`` API cannot be reached, or answered with something other than a result."""


class AuthenticationError(ServiceError):
    """The server wants a token (``--token`` / ``UNDERTONE_TOKEN``) and got none or a wrong one."""


class UploadTooLargeError(ServiceError):
    """A request body larger than the server accepts (``Settings.max_upload_mb``)."""
