"""Where tracks come from: a folder, a single file, or a manifest listing files with metadata.

A folder is walked recursively (symlinks followed, loops and hidden entries skipped) for every
extension libsndfile decodes, plus common audio formats it does not (m4a, wma ...): those are listed
so they show up as failed items with a clear reason instead of silently missing from the catalog.

A manifest is a CSV/TSV file or JSON Lines with a ``path`` column (relative to the manifest's
folder, or absolute) and any metadata columns. Metadata becomes filterable payload; CSV cells that
are plainly numbers (``1999``, ``0.5``) are stored as numbers, everything else as text (so are
integers beyond 64 bits: catalogue numbers, not quantities).

One bad line never stops a manifest: a row that cannot be parsed, has no usable ``path``, or holds
metadata the vector store cannot keep (a non-finite number, an integer beyond 64 bits, values nested
deeper than :data:`MAX_METADATA_DEPTH`) becomes an item with a ``problem``, which ingestion reports as
a failed item. Lines are read as UTF-8 (with or without a BOM), UTF-16 with a BOM, and a line that is
not UTF-8 as Windows-1252 (Latin-1 for its five undefined bytes), which is what spreadsheet programs
write; a warning names those lines. A path listed on several rows is ingested once, with the last
row's metadata, and a warning.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import logging
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import soundfile as sf

from recommender.errors import UndertoneError

logger = logging.getLogger(__name__)

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

# Metadata the vector store can hold: JSON numbers that fit a 64-bit integer or a finite double, and
# shallow nesting (deep values crash parsers and serializers with a RecursionError further down).
MAX_METADATA_DEPTH = 8
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)?\.[0-9]+(?:[eE][-+]?[0-9]+)?|[-+]?(?:0|[1-9][0-9]*)[eE][-+]?[0-9]+")


# (line number, parsed row or why the line is unusable) of a manifest.
Rows = Iterator[tuple[int, dict[str, Any] | str]]


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
    if delimiter is None:
        return _items_from_rows(manifest, lambda quiet: _jsonl_rows(manifest, quiet))
    # The header is checked now, so a manifest without a path column fails before any work starts.
    columns = _csv_header(manifest, delimiter)
    return _items_from_rows(manifest, lambda quiet: _csv_rows(manifest, delimiter, columns, quiet))


def _items_from_rows(manifest: Path, read_rows: Callable[[bool], Rows]) -> Iterator[SourceItem]:
    """Items of a manifest; ``read_rows(quiet)`` reads it once more (a first pass finds each path's last row)."""
    last_row: dict[str, int] = {}
    for line, row in read_rows(True):
        if isinstance(row, dict) and isinstance(row.get(PATH_COLUMN), str) and row[PATH_COLUMN]:
            last_row[_resolve(manifest, row[PATH_COLUMN])] = line
    for line, row in read_rows(False):
        item = _row_item(manifest, line, row)
        later = last_row.get(item.path, line) if item.problem is None else line
        if later != line:
            logger.warning("%s:%d: %s is listed again on line %d; the last row wins", manifest, line, item.path, later)
            continue
        yield item


def _row_item(manifest: Path, line: int, row: dict[str, Any] | str) -> SourceItem:
    where = f"{manifest}:{line}"
    if isinstance(row, str):
        return SourceItem(where, problem=row)
    raw_path = row.pop(PATH_COLUMN, None)
    if raw_path in (None, ""):
        return SourceItem(where, problem=f"row has no '{PATH_COLUMN}'")
    if not isinstance(raw_path, str):
        return SourceItem(where, problem=f"'{PATH_COLUMN}' must be text, got {_shorten(json.dumps(raw_path))}")
    clashes = sorted(RESERVED_FIELDS & row.keys())
    if clashes:
        return SourceItem(where, problem=f"field(s) {clashes} clash with fields Undertone computes; rename them")
    problem = metadata_problem(row)
    if problem:
        return SourceItem(where, problem=problem)
    return SourceItem(_resolve(manifest, raw_path), row)


def _resolve(manifest: Path, raw_path: str) -> str:
    return str((manifest.parent / raw_path).expanduser().absolute())


def metadata_problem(metadata: dict[str, Any]) -> str | None:
    """Why the vector store could not hold ``metadata`` as a payload, or None when it can."""
    for key, value in metadata.items():
        problem = _value_problem(value, 1)
        if problem:
            return f"field '{_shorten(str(key))}' {problem}"
    return None


def _value_problem(value: Any, depth: int) -> str | None:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return None
    if isinstance(value, int):
        return None if INT64_MIN <= value <= INT64_MAX else "is an integer beyond 64 bits; quote it to keep it as text"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"is not a finite number ({value}); numbers must be finite"
    if depth >= MAX_METADATA_DEPTH and isinstance(value, (dict, list)):
        return f"is nested deeper than {MAX_METADATA_DEPTH} levels"
    if isinstance(value, dict):
        items: Iterable[Any] = value.values()
    elif isinstance(value, list):
        items = value
    else:
        return f"has a value of type {type(value).__name__}"
    return next((problem for item in items if (problem := _value_problem(item, depth + 1))), None)


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _decoded_lines(handle: io.BufferedReader, manifest: Path, quiet: bool = False) -> Iterator[str]:
    """Lines of text, each as UTF-8 or else Windows-1252 (see the module docstring); line ends kept."""
    head = handle.peek(4)[:4]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        yield from io.TextIOWrapper(handle, encoding="utf-16", errors="replace", newline="")  # an odd last byte: U+FFFD
        return
    fallback: list[int] = []
    for number, raw in enumerate(handle, start=1):
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8):]
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            fallback.append(number)
            try:
                yield raw.decode("cp1252")
            except UnicodeDecodeError:  # 0x81, 0x8D, 0x8F, 0x90, 0x9D: undefined in Windows-1252
                yield raw.decode("latin-1")
    if fallback and not quiet:
        shown = ", ".join(map(str, fallback[:10])) + (" ..." if len(fallback) > 10 else "")
        logger.warning("%s: line(s) %s are not UTF-8; read as Windows-1252 (save as UTF-8 to be sure)", manifest, shown)


def _csv_header(manifest: Path, delimiter: str) -> list[str]:
    with manifest.open("rb") as handle:
        try:
            first = next(csv.reader(_decoded_lines(handle, manifest, quiet=True), delimiter=delimiter), [])
        except csv.Error as error:
            raise SourceError(f"{manifest}: the header row cannot be read ({error})") from None
    columns = [name.strip() for name in first]
    if PATH_COLUMN not in columns:
        raise SourceError(f"{manifest}: manifest has no '{PATH_COLUMN}' column (columns: {_shorten(str(columns), 200)})")
    clashes = sorted(RESERVED_FIELDS & set(columns) - {PATH_COLUMN})
    if clashes:
        raise SourceError(f"{manifest}: column(s) {clashes} clash with fields Undertone computes; rename or drop them")
    return columns


def _csv_rows(manifest: Path, delimiter: str, columns: list[str], quiet: bool) -> Rows:
    with manifest.open("rb") as handle:
        reader = csv.reader(_decoded_lines(handle, manifest, quiet), delimiter=delimiter)
        next(reader, None)
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as error:  # a cell over the field size limit ...: this row only
                yield reader.line_num, f"not a valid {'TSV' if delimiter == chr(9) else 'CSV'} row ({error})"
                continue
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) > len(columns):
                yield reader.line_num, f"row has {len(cells)} cells but the header has {len(columns)} columns"
                continue
            yield reader.line_num, {
                name: _typed(cell) for name, cell in zip(columns, cells) if name and cell.strip() != ""
            }


def _jsonl_rows(manifest: Path, quiet: bool) -> Rows:
    with manifest.open("rb") as handle:
        for line_number, line in enumerate(_decoded_lines(handle, manifest, quiet), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                yield line_number, f"not valid JSON ({error.msg})"
                continue
            except RecursionError:
                yield line_number, "JSON nested too deeply"
                continue
            except ValueError as error:  # an integer of more than 4300 digits ...
                yield line_number, f"not usable JSON ({_shorten(str(error))})"
                continue
            if not isinstance(row, dict):
                yield line_number, "not a JSON object"
                continue
            yield line_number, {str(key): value for key, value in row.items() if value is not None}


def _typed(cell: str) -> Any:
    """A CSV cell as int, float or stripped text; '007', '1,5' and integers beyond 64 bits stay text."""
    text = cell.strip()
    if _INT.fullmatch(text):
        number = int(text) if len(text) < 40 else None
        return number if number is not None and INT64_MIN <= number <= INT64_MAX else text
    if _FLOAT.fullmatch(text):
        return float(text)
    return text
