"""Where tracks come from: a folder, a single file, or a manifest listing files with metadata.

A folder is walked recursively (symlinks followed, loops and hidden entries skipped) for every
extension libsndfile decodes, plus common audio formats it does not (m4a, wma ...): those are listed
so they show up as failed items with a clear reason instead of silently missing from the catalog.

A manifest is a CSV/TSV file or JSON Lines with a ``path`` column (relative to the manifest's
folder, or absolute) and any metadata columns. Metadata becomes filterable payload; CSV cells that
are plainly numbers (``1999``, ``0.5``) are stored as numbers, everything else as text.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import soundfile as sf

from recommender.errors import UndertoneError

# Extensions per libsndfile major format; only formats this libsndfile build reports are used.
_FORMAT_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "WAV": ("wav", "wave"),
    "WAVEX": ("wav",),
    "RF64": ("rf64",),
    "W64": ("w64",),
    "AIFF": ("aiff", "aif", "aifc"),
    "AU": ("au", "snd"),
    "CAF": ("caf",),
    "FLAC": ("flac",),
    "OGG": ("ogg", "oga", "opus"),
    "MP3": ("mp3", "mp2", "mpga"),
    "IRCAM": ("sf", "ircam"),
    "NIST": ("nist", "sph"),
    "VOC": ("voc",),
    "SVX": ("8svx", "svx"),
    "PAF": ("paf",),
    "SD2": ("sd2",),
    "AVR": ("avr",),
    "WVE": ("wve",),
}
DECODABLE_EXTENSIONS: frozenset[str] = frozenset(
    ext for fmt in sf.available_formats() for ext in _FORMAT_EXTENSIONS.get(fmt, ())
)
# Audio people keep in music folders that libsndfile cannot decode: listed, then reported as failed.
UNSUPPORTED_AUDIO_EXTENSIONS: frozenset[str] = frozenset(
    {"m4a", "m4b", "mp4", "aac", "alac", "wma", "ape", "wv", "mka", "webm", "dsf", "dff", "amr", "ra", "mid", "midi"}
    - DECODABLE_EXTENSIONS
)
AUDIO_EXTENSIONS = DECODABLE_EXTENSIONS | UNSUPPORTED_AUDIO_EXTENSIONS

MANIFEST_SUFFIXES = {".csv": ",", ".tsv": "\t", ".jsonl": None, ".ndjson": None}
PATH_COLUMN = "path"
# Payload fields Undertone computes itself; a manifest column may not overwrite them.
RESERVED_FIELDS = frozenset(
    {"path", "content_hash", "duration", "valence", "arousal", "moods", "mood", "model", "ingested_at"}
)

_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)?\.[0-9]+(?:[eE][-+]?[0-9]+)?|[-+]?(?:0|[1-9][0-9]*)[eE][-+]?[0-9]+")


class SourceError(UndertoneError, ValueError):
    """The source as a whole cannot be read (missing, not audio, a manifest without ``path`` ...)."""


@dataclass(frozen=True)
class SourceItem:
    """One track to ingest.

    Attributes:
        path: Absolute path of the audio file (for a bad manifest row: ``manifest:line``).
        metadata: Payload from the manifest row (empty for folders).
        problem: Why the entry itself is unusable (a bad manifest row, an unlistable folder ...), else None.
    """

    path: str
    metadata: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None


def iter_source(source: str | os.PathLike) -> Iterator[SourceItem]:
    """Yield the tracks of a folder, a manifest or a single audio file, streaming.

    Raises:
        SourceError: The source is missing, is a file of no known kind, or is a malformed manifest.
    """
    path = Path(source).expanduser().absolute()
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder")
    if path.is_dir():
        return _iter_folder(path)
    suffix = path.suffix.lower()
    if suffix in MANIFEST_SUFFIXES:
        return _iter_manifest(path, MANIFEST_SUFFIXES[suffix])
    if suffix.lstrip(".") in AUDIO_EXTENSIONS:
        return iter([SourceItem(str(path))])
    raise SourceError(
        f"{path}: not a folder, an audio file or a manifest (.csv, .tsv, .jsonl with a '{PATH_COLUMN}' column)"
    )


def is_audio_name(name: str) -> bool:
    """Whether a file name has an extension Undertone lists as audio (hidden files never do)."""
    stem, dot, extension = name.rpartition(".")
    return bool(dot and stem) and not name.startswith(".") and extension.lower() in AUDIO_EXTENSIONS


def _iter_folder(root: Path) -> Iterator[SourceItem]:
    unlisted: list[OSError] = []  # folders os.walk could not open; reported as items, not dropped silently
    seen_dirs: set[tuple[int, int]] = set()
    for directory, dirnames, filenames in os.walk(root, followlinks=True, onerror=unlisted.append):
        yield from _unlisted_items(unlisted)
        stat = os.stat(directory)
        if (stat.st_dev, stat.st_ino) in seen_dirs:  # a symlink loop or a second link to the same folder
            dirnames.clear()
            continue
        seen_dirs.add((stat.st_dev, stat.st_ino))
        dirnames[:] = sorted(name for name in dirnames if not name.startswith("."))
        for name in sorted(filenames):
            if is_audio_name(name):
                yield _folder_item(os.path.join(directory, name))
    yield from _unlisted_items(unlisted)


def _unlisted_items(errors: list[OSError]) -> Iterator[SourceItem]:
    while errors:
        error = errors.pop(0)
        yield SourceItem(str(error.filename), problem=f"cannot list this folder ({error.strerror or error})")


def _folder_item(path: str) -> SourceItem:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes in a file name: a catalog stores text
        shown = os.fsencode(path).decode("utf-8", "backslashreplace")
        return SourceItem(shown, problem="the file name is not valid UTF-8; rename the file")
    return SourceItem(path)


def _iter_manifest(manifest: Path, delimiter: str | None) -> Iterator[SourceItem]:
    # The header is checked now, so a manifest without a path column fails before any work starts.
    rows = _jsonl_rows(manifest) if delimiter is None else _csv_rows(manifest, delimiter, _csv_header(manifest, delimiter))
    return _items_from_rows(manifest, rows)


def _items_from_rows(manifest: Path, rows: Iterator[tuple[int, dict[str, Any] | str]]) -> Iterator[SourceItem]:
    for line, row in rows:
        where = f"{manifest}:{line}"
        if isinstance(row, str):
            yield SourceItem(where, problem=row)
            continue
        raw_path = row.pop(PATH_COLUMN, None)
        if raw_path in (None, ""):
            yield SourceItem(where, problem=f"row has no '{PATH_COLUMN}'")
            continue
        clashes = sorted(RESERVED_FIELDS & row.keys())
        if clashes:
            yield SourceItem(where, problem=f"field(s) {clashes} clash with fields Undertone computes; rename them")
            continue
        yield SourceItem(str((manifest.parent / str(raw_path)).expanduser().absolute()), row)


def _csv_header(manifest: Path, delimiter: str) -> list[str]:
    with manifest.open(newline="", encoding="utf-8-sig") as handle:
        columns = [name.strip() for name in next(csv.reader(handle, delimiter=delimiter), [])]
    if PATH_COLUMN not in columns:
        raise SourceError(f"{manifest}: manifest has no '{PATH_COLUMN}' column (columns: {columns})")
    clashes = sorted(RESERVED_FIELDS & set(columns) - {PATH_COLUMN})
    if clashes:
        raise SourceError(f"{manifest}: column(s) {clashes} clash with fields Undertone computes; rename or drop them")
    return columns


def _csv_rows(manifest: Path, delimiter: str, columns: list[str]) -> Iterator[tuple[int, dict[str, Any] | str]]:
    with manifest.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        next(reader, None)
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) > len(columns):
                yield reader.line_num, f"row has {len(cells)} cells but the header has {len(columns)} columns"
                continue
            yield reader.line_num, {
                name: _typed(cell) for name, cell in zip(columns, cells) if name and cell.strip() != ""
            }


def _jsonl_rows(manifest: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    with manifest.open(encoding="utf-8-sig") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                yield line_number, f"not valid JSON ({error.msg})"
                continue
            if not isinstance(row, dict):
                yield line_number, "not a JSON object"
                continue
            yield line_number, {str(key): value for key, value in row.items() if value is not None}


def _typed(cell: str) -> Any:
    """A CSV cell as int, float or stripped text; '007' and '1,5' stay text."""
    text = cell.strip()
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    return text
