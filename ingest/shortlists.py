"""Shortlists: named lists of chosen tracks in the catalog database, exported as CSV or M3U.

A shortlist holds track ids in the order they were added, each with an optional note and a snapshot of
the track's payload at that moment. Exports read the catalog's current row (the file may have moved,
the manifest may have changed) and fall back to the snapshot for a track that has left the catalog.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select

from ingest.catalog import RETIRED, Catalog, Shortlist, ShortlistEntry, Track, as_utc, utcnow
from recommender.errors import UndertoneError, UnknownTrackError, UsageError

EXPORT_FORMATS = ("csv", "m3u")
LEADING_COLUMNS = ("position", "track_id", "title", "artist", "path", "licence")
TRAILING_COLUMNS = ("duration", "mood", "valence", "arousal", "note", "added_at", "in_catalog")
_COMPUTED = {"path", "content_hash", "duration", "valence", "arousal", "moods", "mood", "model", "ingested_at"}


class ShortlistNotFoundError(UndertoneError, LookupError):
    """No shortlist of that name."""


@dataclass(frozen=True)
class ShortlistSummary:
    name: str
    tracks: int
    updated_at: str


@dataclass(frozen=True)
class Entry:
    """One shortlisted track as exported: its current payload (or the snapshot) and the note.

    Attributes:
        position: 1-based, in the order added.
        track_id: Catalog id.
        payload: Metadata columns of the manifest plus the computed fields (``path``, ``duration`` ...).
        note: What the user wrote when adding it.
        added_at: ISO 8601, UTC.
        in_catalog: False when the track has left the catalog (the payload is then the snapshot).
    """

    position: int
    track_id: str
    payload: dict[str, Any]
    note: str | None
    added_at: str
    in_catalog: bool

    def row(self) -> dict[str, Any]:
        """A flat CSV row: the fixed columns and every metadata column of the manifest."""
        payload = self.payload
        row: dict[str, Any] = {
            "position": self.position, "track_id": self.track_id, "title": payload.get("title", ""),
            "artist": payload.get("artist", ""), "path": payload.get("path", ""), "licence": payload.get("licence", payload.get("license", "")),
        }
        row.update({key: value for key, value in payload.items() if key not in row and key not in _COMPUTED and key != "license"})
        row.update({
            "duration": payload.get("duration", ""), "mood": payload.get("mood", ""), "valence": payload.get("valence", ""),
            "arousal": payload.get("arousal", ""), "note": self.note or "", "added_at": self.added_at, "in_catalog": self.in_catalog,
        })
        return row


class Shortlists:
    """Shortlist operations on a :class:`~ingest.catalog.Catalog` (each one short transaction)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def add(self, name: str, tracks: Sequence[str], *, note: str | None = None) -> list[str]:
        """Add tracks (catalog ids or the paths of catalog files) to ``name``, creating it; returns the ids added.

        Tracks already on the list are left where they are.

        Raises:
            UnknownTrackError: A track that is not in the catalog.
            UsageError: An empty name or no tracks.
        """
        name = _check_name(name)
        if not tracks:
            raise UsageError("give at least one track id (from `undertone search --json` or `undertone catalog`) or file path")
        now = utcnow()
        with self.catalog.session() as session:
            found = [_find_track(session, track) for track in tracks]
            shortlist = session.scalars(select(Shortlist).where(Shortlist.name == name)).first()
            if shortlist is None:
                shortlist = Shortlist(name=name, created_at=now, updated_at=now)
                session.add(shortlist)
                session.flush()
            present = set(session.scalars(select(ShortlistEntry.track_id).where(ShortlistEntry.shortlist_id == shortlist.id)))
            added = []
            for track in found:
                if track.id in present:
                    continue
                present.add(track.id)
                session.add(ShortlistEntry(shortlist_id=shortlist.id, track_id=track.id, note=note, snapshot=track.payload(), added_at=now))
                added.append(track.id)
            shortlist.updated_at = now
        return added

    def remove(self, name: str, tracks: Sequence[str]) -> int:
        """Take tracks (ids or catalog paths) off ``name``; returns how many were on it."""
        with self.catalog.session() as session:
            shortlist = _get(session, name)
            ids = set()
            for track in tracks:
                try:
                    ids.add(_find_track(session, track, live_only=False).id)
                except UnknownTrackError:
                    ids.add(track)  # a track that has left the catalog is still on the list by its id
            removed = session.execute(
                delete(ShortlistEntry).where(ShortlistEntry.shortlist_id == shortlist.id, ShortlistEntry.track_id.in_(ids))
            ).rowcount
            shortlist.updated_at = utcnow()
        return int(removed or 0)

    def delete(self, name: str) -> None:
        """Delete the shortlist ``name`` and its entries."""
        with self.catalog.session() as session:
            shortlist = _get(session, name)
            session.execute(delete(ShortlistEntry).where(ShortlistEntry.shortlist_id == shortlist.id))
            session.delete(shortlist)

    def summaries(self) -> list[ShortlistSummary]:
        """Every shortlist with its size, most recently changed first."""
        with self.catalog.session() as session:
            rows = session.execute(
                select(Shortlist.name, func.count(ShortlistEntry.id), Shortlist.updated_at)
                .outerjoin(ShortlistEntry, ShortlistEntry.shortlist_id == Shortlist.id)
                .group_by(Shortlist.id)
                .order_by(Shortlist.updated_at.desc(), Shortlist.name)
            ).all()
        return [ShortlistSummary(name, int(count), _iso(updated)) for name, count, updated in rows]

    def entries(self, name: str) -> list[Entry]:
        """The tracks of ``name`` in the order added (raises :class:`ShortlistNotFoundError`)."""
        with self.catalog.session() as session:
            shortlist = _get(session, name)
            rows = session.execute(
                select(ShortlistEntry, Track)
                .outerjoin(Track, (Track.id == ShortlistEntry.track_id) & (Track.state != RETIRED))
                .where(ShortlistEntry.shortlist_id == shortlist.id)
                .order_by(ShortlistEntry.id)
            ).all()
            return [
                Entry(position, entry.track_id, track.payload() if track else dict(entry.snapshot), entry.note, _iso(entry.added_at), track is not None)
                for position, (entry, track) in enumerate(rows, start=1)
            ]


def to_csv(entries: Sequence[Entry]) -> str:
    """CSV with the fixed columns around every metadata column any entry has (in first-seen order)."""
    rows = [entry.row() for entry in entries]
    middle: list[str] = []
    for row in rows:
        middle.extend(key for key in row if key not in LEADING_COLUMNS and key not in TRAILING_COLUMNS and key not in middle)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[*LEADING_COLUMNS, *middle, *TRAILING_COLUMNS], restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def to_m3u(name: str, entries: Sequence[Entry]) -> str:
    """An extended M3U playlist (UTF-8, ``.m3u8`` style) of the entries' files."""
    lines = ["#EXTM3U", f"#PLAYLIST:{name}"]
    for entry in entries:
        payload = entry.payload
        title = payload.get("title") or Path(str(payload.get("path", entry.track_id))).stem
        shown = f"{payload['artist']} - {title}" if payload.get("artist") else str(title)
        seconds = payload.get("duration")
        lines.append(f"#EXTINF:{round(float(seconds)) if isinstance(seconds, (int, float)) else -1},{' '.join(shown.split())}")
        lines.append(str(payload.get("path", "")))
    return "\n".join(lines) + "\n"


def _check_name(name: str) -> str:
    name = " ".join(str(name).split())
    if not name:
        raise UsageError("a shortlist needs a name")
    if len(name) > 200:
        raise UsageError("shortlist names are at most 200 characters")
    return name


def _get(session: Any, name: str) -> Shortlist:
    shortlist = session.scalars(select(Shortlist).where(Shortlist.name == _check_name(name))).first()
    if shortlist is None:
        known = ", ".join(session.scalars(select(Shortlist.name).order_by(Shortlist.name)).all()[:10]) or "none yet"
        raise ShortlistNotFoundError(f"no shortlist named {name!r} (shortlists: {known})")
    return shortlist


def _find_track(session: Any, reference: str, *, live_only: bool = True) -> Track:
    """A catalog track by id, or by the path it was ingested from."""
    track = session.get(Track, reference)
    if track is None:
        path = str(Path(reference).expanduser().absolute())
        track = session.scalars(select(Track).where(Track.path == path).order_by((Track.state == RETIRED), Track.updated_at.desc()).limit(1)).first()
    if track is None or (live_only and track.state == RETIRED):
        raise UnknownTrackError(f"{reference}: not a track of the catalog (give an id from `undertone search --json` or a path that was ingested)")
    return track


def _iso(moment: Any) -> str:
    return as_utc(moment).isoformat(timespec="seconds")
