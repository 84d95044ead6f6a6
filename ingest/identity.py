"""Track identity: a track is its content, wherever the file lives.

The id of a track is a UUID derived from the SHA-256 of the file's bytes, so the same file gets the
same id in every catalog, after a move or a rename, and on every worker. Metadata has its own
signature so a changed manifest row is noticed without re-reading the audio.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from recommender.errors import AudioNotFoundError, UnreadableAudioError

TRACK_NAMESPACE = uuid.UUID("6f1d7c1e-3b7a-5d3e-9a55-756e646572ff")
_CHUNK_BYTES = 1 << 20


def content_hash(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks (constant memory for any size).

    Raises:
        AudioNotFoundError: The path does not exist.
        UnreadableAudioError: The path is a directory or cannot be read.
    """
    path = Path(path)
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK_BYTES):
                digest.update(chunk)
    except FileNotFoundError as error:
        raise AudioNotFoundError("no such file", path) from error
    except IsADirectoryError as error:
        raise UnreadableAudioError("is a directory, not an audio file", path) from error
    except PermissionError as error:
        raise UnreadableAudioError("permission denied", path) from error
    except OSError as error:
        raise UnreadableAudioError(f"cannot be read ({error.strerror or error})", path) from error
    return digest.hexdigest()


def track_id(sha256: str) -> str:
    """The stable track id (a UUID string) for a content hash."""
    return str(uuid.uuid5(TRACK_NAMESPACE, sha256.lower()))


def metadata_signature(metadata: Mapping[str, Any]) -> str:
    """A short digest of metadata that ignores key order."""
    canonical = json.dumps(metadata, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]
