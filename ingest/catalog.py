"""The SQL catalog: what is in the library, what every ingestion job did to each file, and shortlists.

Three tables (SQLAlchemy 2.x, SQLite by default, PostgreSQL in server mode):

* ``tracks`` -- one row per distinct audio content (id = :func:`ingest.identity.track_id`), holding
  the analysis *and the embedding*. SQL is the source of truth; the vector store is an index rebuilt
  from it. ``state`` drives the outbox protocol (docs/ingestion.md): a row is written ``pending``,
  the vector upsert follows, and only then is the row marked ``indexed``; ``retired`` rows wait for
  their vector to be deleted.
* ``ingest_jobs`` -- one row per ``undertone ingest`` run.
* ``ingest_items`` -- one row per file of a job, with its status and, when it failed, a short
  machine-readable ``reason`` and a human ``message``.

Plus ``shortlists`` and ``shortlist_entries``: named lists of chosen tracks (operations in
:mod:`ingest.shortlists`). ``create_all`` adds them to an older catalog on first use.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    cast,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DatabaseError, InterfaceError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from ingest.sources import SourceItem
from recommender.errors import ServiceUnavailableError, UndertoneError
from recommender.settings import without_secrets

if TYPE_CHECKING:
    from recommender.settings import Settings

# Track states (the outbox protocol) and item statuses.
PENDING, INDEXED, RETIRED = "pending", "indexed", "retired"
QUEUED, INGESTED, SKIPPED, FAILED = "queued", "ingested", "skipped", "failed"
ITEM_STATUSES = (QUEUED, PENDING, INGESTED, SKIPPED, FAILED)
FINAL_ITEM_STATUSES = (INGESTED, SKIPPED, FAILED)
# Ids or paths per IN (...) list: well below every SQLite build's limit of bound parameters.
_IN_CHUNK = 500
# Job states. STALE is never stored: it is how an open job whose items have not moved for longer than
# the visibility timeout is shown (its process or worker was killed); any new activity revives it.
PLANNING, RUNNING, DONE, JOB_FAILED, STALE = "planning", "running", "done", "failed", "stale"
_STALE_MESSAGE = (
    "no progress for longer than the visibility timeout: the process or worker running it was probably killed; "
    "run the same `undertone ingest` again to finish the work"
)


class CatalogError(UndertoneError, RuntimeError):
    """The catalog database cannot be used at all (a store path that is a file, a file that is no database)."""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def as_utc(moment: dt.datetime) -> dt.datetime:
    """SQLite hands timestamps back without a zone; they were written in UTC."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, dt.datetime: DateTime(timezone=True)}


class Track(Base):
    """One distinct audio content in the library."""

    __tablename__ = "tracks"
    __table_args__ = (
        # The dashboard's aggregates (count, hours, moods, the valence-arousal histogram) read this narrow
        # index, never the wide rows (embeddings, JSON).
        Index("ix_tracks_state_mood_va", "state", "mood", "valence", "arousal", "duration"),
        # Listings by path, all or of one mood: a deep page skips index entries, not table rows.
        Index("ix_tracks_state_path", "state", "path"),
        Index("ix_tracks_state_mood_path", "state", "mood", "path"),
        # Genre and artist counts in one ordered pass over a narrow index (not the metadata JSON of every row).
        Index("ix_tracks_state_genre_artist", "state", "genre", "artist"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    path: Mapped[str] = mapped_column(Text, index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16), index=True)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    model: Mapped[str] = mapped_column(String(128))
    duration: Mapped[float] = mapped_column(Float)
    valence: Mapped[float] = mapped_column(Float)
    arousal: Mapped[float] = mapped_column(Float)
    mood: Mapped[str] = mapped_column(String(64))
    moods: Mapped[dict[str, Any]]
    meta: Mapped[dict[str, Any]] = mapped_column("metadata")
    # The manifest's genre and artist as text, copied out of ``meta`` for the catalog's aggregates.
    genre: Mapped[str | None] = mapped_column(Text)
    artist: Mapped[str | None] = mapped_column(Text)
    metadata_signature: Mapped[str] = mapped_column(String(32))
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    job_id: Mapped[str | None] = mapped_column(String(36))
    ingested_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]

    def embedding(self) -> np.ndarray:
        return np.frombuffer(self.vector, dtype=np.float32).copy()

    def payload(self) -> dict[str, Any]:
        """The vector-store payload (docs/contracts.md): metadata first, computed fields win."""
        return {
            **self.meta,
            "path": self.path,
            "content_hash": self.content_hash,
            "duration": self.duration,
            "valence": self.valence,
            "arousal": self.arousal,
            "moods": dict(self.moods),
            "mood": self.mood,
            "model": self.model,
            "ingested_at": as_utc(self.ingested_at).isoformat(),
        }


class IngestJob(Base):
    __tablename__ = "ingest_jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    mode: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    total: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(index=True)  # the latest jobs first
    finished_at: Mapped[dt.datetime | None]
    # Until when one worker holds the right to plan the job (a re-delivered task must not plan it twice).
    planner_until: Mapped[dt.datetime | None]
    # Items per status, kept once the job is done (its items never change again): listing jobs then
    # reads one row per job instead of counting a million items each.
    final_counts: Mapped[dict[str, Any] | None]


class IngestItem(Base):
    __tablename__ = "ingest_items"
    __table_args__ = (
        Index("ix_ingest_items_job_status", "job_id", "status"),
        # Failed files in path order (counts, ``latest_failures``) without walking every item of every job.
        Index("ix_ingest_items_status_path", "status", "path"),
        # The last activity of a job (is it stale?), read with every progress report.
        Index("ix_ingest_items_job_updated", "job_id", "updated_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("ingest_jobs.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(Text, index=True)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata")
    problem: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    track_id: Mapped[str | None] = mapped_column(String(36), index=True)
    reason: Mapped[str | None] = mapped_column(String(32))
    message: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime]


class Shortlist(Base):
    """A named list of chosen tracks."""

    __tablename__ = "shortlists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class ShortlistEntry(Base):
    """A track on a shortlist, in the order added; ``snapshot`` is its payload then (exported if the track leaves)."""

    __tablename__ = "shortlist_entries"
    __table_args__ = (UniqueConstraint("shortlist_id", "track_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    shortlist_id: Mapped[int] = mapped_column(ForeignKey("shortlists.id", ondelete="CASCADE"), index=True)
    track_id: Mapped[str] = mapped_column(String(36))
    note: Mapped[str | None] = mapped_column(Text)
    snapshot: Mapped[dict[str, Any]]
    added_at: Mapped[dt.datetime]


@dataclass(frozen=True)
class TrackRecord:
    """Everything ingestion learned about one file, ready to be staged."""

    id: str
    content_hash: str
    path: str
    size: int
    mtime_ns: int
    model: str
    duration: float
    valence: float
    arousal: float
    mood: str
    moods: dict[str, float]
    metadata: dict[str, Any]
    metadata_signature: str
    vector: np.ndarray


@dataclass(frozen=True)
class KnownFile:
    """The file stats and analysis identity of a live track (enough to skip an unchanged file without reading it)."""

    track_id: str
    size: int
    mtime_ns: int
    model: str
    metadata_signature: str
    state: str


@dataclass(frozen=True)
class CatalogStats:
    """What the dashboard's Catalog page summarises, over every indexed track (exact counts, no sampling).

    Attributes:
        tracks: Indexed tracks.
        seconds: Their total duration.
        moods: Strongest mood -> tracks.
        genres: Manifest ``genre`` -> tracks (tracks without one are left out).
        artists: Distinct manifest ``artist`` values.
        va_counts: ``bins x bins`` track counts; ``va_counts[i, j]`` holds valence bin ``i``, arousal bin ``j``.
    """

    tracks: int
    seconds: float
    moods: dict[str, int]
    genres: dict[str, int]
    artists: int
    va_counts: np.ndarray


@dataclass(frozen=True)
class TrackPage:
    """One page of a listing and how many tracks the whole listing holds."""

    total: int
    tracks: list[Track]


@dataclass(frozen=True)
class Failure:
    path: str
    reason: str
    message: str


@dataclass(frozen=True)
class JobStatus:
    """Progress of one job; what ``undertone ingest`` and the dashboard display."""

    job_id: str
    source: str
    mode: str
    state: str
    total: int | None
    counts: dict[str, int]
    created_at: dt.datetime
    finished_at: dt.datetime | None
    error: str | None = None
    failures: list[Failure] = field(default_factory=list)
    stale: bool = False

    @property
    def shown_state(self) -> str:
        """``state``, or ``stale`` for an open job nothing has touched for longer than the visibility timeout."""
        return STALE if self.stale else self.state

    @property
    def done(self) -> bool:
        return self.state in (DONE, JOB_FAILED)

    @property
    def processed(self) -> int:
        """Items that reached a final status."""
        return sum(self.counts.get(status, 0) for status in FINAL_ITEM_STATUSES)

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "source": self.source,
            "mode": self.mode,
            "state": self.shown_state,
            "total": self.total,
            **{status: self.counts.get(status, 0) for status in ITEM_STATUSES},
            "created_at": self.created_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "error": self.error or (_STALE_MESSAGE if self.stale else None),
            "failures": [vars(failure) for failure in self.failures],
        }

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> JobStatus:
        """The status back from its :meth:`to_dict` form (what the HTTP API sends)."""
        return cls(
            job_id=record["job_id"], source=record["source"], mode=record["mode"], state=record["state"], total=record["total"],
            counts={status: int(record.get(status) or 0) for status in ITEM_STATUSES},
            created_at=dt.datetime.fromisoformat(record["created_at"]),
            finished_at=dt.datetime.fromisoformat(record["finished_at"]) if record.get("finished_at") else None,
            error=record.get("error"), failures=[Failure(**failure) for failure in record.get("failures") or []],
        )


class Catalog:
    """Typed access to the catalog database; every method is one short transaction.

    Args:
        url: SQLAlchemy URL (``sqlite:///...`` or ``postgresql://...``). The schema is created on first use.
        stale_after: Seconds without activity after which an open job is shown as stale (None: never).
    """

    def __init__(self, url: str, stale_after: float | None = None) -> None:
        self.url = url
        self.stale_after = stale_after
        self.engine = _create_engine(url)
        try:
            with self.engine.begin() as connection:
                _create_schema(connection)
        except DatabaseError as error:
            self.engine.dispose()
            cause = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
            if isinstance(error, (OperationalError, InterfaceError)) and (not url.startswith("sqlite") or "locked" in cause):
                # A database server that is away, a long write lock: transient (workers retry it).
                hint = "" if url.startswith("sqlite") else " (is the server running? check --database-url / UNDERTONE_DATABASE_URL)"
                raise ServiceUnavailableError(f"cannot open the catalog database {without_secrets(url)}: {cause}{hint}") from None
            raise CatalogError(
                f"the catalog {without_secrets(url)} cannot be used ({cause}); if the file is damaged, "
                "move it away and ingest again to rebuild it (the vector store is an index of it)"
            ) from None

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session inside one transaction (committed on success, rolled back on error)."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    # Jobs -----------------------------------------------------------------------------------

    def create_job(self, source: str, mode: str) -> str:
        job_id = str(uuid.uuid4())
        with self.session() as session:
            session.add(IngestJob(id=job_id, source=source, mode=mode, state=PLANNING, created_at=utcnow()))
        return job_id

    def add_items(self, job_id: str, items: Sequence[SourceItem]) -> list[int]:
        """Record a chunk of a job's files as queued; returns their item ids in order."""
        now = utcnow()
        rows = [
            {"job_id": job_id, "path": item.path, "meta": item.metadata, "problem": item.problem, "status": QUEUED, "updated_at": now}
            for item in items
        ]
        # One executemany, then the new ids in one query: an INSERT ... RETURNING per row (what the ORM does
        # on SQLite) costs a statement per file. Ids grow in insertion order, and one planner records a job.
        with self.session() as session:
            before = session.scalar(select(func.max(IngestItem.id))) or 0
            session.execute(insert(IngestItem), rows)
            return list(
                session.scalars(select(IngestItem.id).where(IngestItem.id > before, IngestItem.job_id == job_id).order_by(IngestItem.id))
            )

    def claim_planning(self, job_id: str, seconds: float) -> float:
        """Take or renew the planning lease of a job for ``seconds``; 0 when taken, else seconds until it frees up.

        Celery re-delivers a task that runs longer than the broker's visibility timeout while the first
        copy still runs; the lease lets the second copy wait instead of recording every item again.
        """
        now = utcnow()
        with self.session() as session:
            claimed = session.execute(
                update(IngestJob)
                .where(IngestJob.id == job_id, or_(IngestJob.planner_until.is_(None), IngestJob.planner_until <= now))
                .values(planner_until=now + dt.timedelta(seconds=seconds))
            ).rowcount
            if claimed:
                return 0.0
            until = session.scalar(select(IngestJob.planner_until).where(IngestJob.id == job_id))
        return max(1.0, (as_utc(until) - now).total_seconds()) if until else 1.0

    def renew_planning(self, job_id: str, seconds: float) -> None:
        """Extend the lease of the planner that holds it (see :meth:`claim_planning`)."""
        with self.session() as session:
            session.execute(
                update(IngestJob).where(IngestJob.id == job_id).values(planner_until=utcnow() + dt.timedelta(seconds=seconds))
            )

    def finish_planning(self, job_id: str, total: int) -> None:
        with self.session() as session:
            session.execute(
                update(IngestJob).where(IngestJob.id == job_id, IngestJob.state == PLANNING).values(state=RUNNING, total=total)
            )
        self.finish_job_if_complete(job_id)

    def fail_job(self, job_id: str, message: str) -> None:
        with self.session() as session:
            session.execute(
                update(IngestJob).where(IngestJob.id == job_id).values(state=JOB_FAILED, error=message, finished_at=utcnow())
            )

    def finish_job_if_complete(self, job_id: str) -> bool:
        """Mark a running job done once every item is final; True when the job is (now) done."""
        with self.session() as session:
            job = session.get(IngestJob, job_id)
            if job is None or job.state in (DONE, JOB_FAILED):
                return job is not None
            if job.state != RUNNING:
                return False
            # EXISTS stops at the first open item; a COUNT would walk every queued item of a big job per batch.
            open_items = session.scalar(
                select(select(IngestItem.id).where(IngestItem.job_id == job_id, IngestItem.status.in_((QUEUED, PENDING))).exists())
            )
            if open_items:
                return False
            job.state, job.finished_at = DONE, utcnow()
            job.final_counts = dict(
                session.execute(select(IngestItem.status, func.count()).where(IngestItem.job_id == job_id).group_by(IngestItem.status)).all()
            )
            return True

    def job_status(self, job_id: str, *, failures: int = 100) -> JobStatus:
        """Counts per item status (and the first ``failures`` failures) of one job.

        Raises:
            KeyError: No such job.
        """
        with self.session() as session:
            job = session.get(IngestJob, job_id)
            if job is None:
                raise KeyError(f"no ingest job {job_id!r}")
            counts = job.final_counts
            if counts is None:
                counts = dict(
                    session.execute(
                        select(IngestItem.status, func.count()).where(IngestItem.job_id == job_id).group_by(IngestItem.status)
                    ).all()
                )
                if job.state == DONE:  # a job done before final counts were kept
                    job.final_counts = counts
            failed = session.execute(
                select(IngestItem.path, IngestItem.reason, IngestItem.message)
                .where(IngestItem.job_id == job_id, IngestItem.status == FAILED)
                .order_by(IngestItem.id)
                .limit(failures)
            ).all()
            stale = False
            if self.stale_after is not None and job.state in (PLANNING, RUNNING):
                touched = session.scalar(select(func.max(IngestItem.updated_at)).where(IngestItem.job_id == job_id))
                last = max(as_utc(job.created_at), as_utc(touched)) if touched else as_utc(job.created_at)
                stale = (utcnow() - last).total_seconds() > self.stale_after
            return JobStatus(
                job_id=job.id,
                source=job.source,
                mode=job.mode,
                state=job.state,
                total=job.total,
                counts={status: counts.get(status, 0) for status in ITEM_STATUSES},
                created_at=job.created_at,
                finished_at=job.finished_at,
                error=job.error,
                failures=[Failure(path, reason or "error", message or "") for path, reason, message in failed],
                stale=stale,
            )

    def jobs(self, limit: int = 20) -> list[JobStatus]:
        """The most recent jobs, newest first."""
        with self.session() as session:
            ids = session.scalars(select(IngestJob.id).order_by(IngestJob.created_at.desc()).limit(limit)).all()
        return [self.job_status(job_id, failures=0) for job_id in ids]

    # Items ----------------------------------------------------------------------------------

    def queued_items(self, item_ids: Sequence[int]) -> list[IngestItem]:
        """The items among ``item_ids`` still waiting to be processed (a re-delivered batch gets [])."""
        with self.session() as session:
            return list(
                session.scalars(select(IngestItem).where(IngestItem.id.in_(item_ids), IngestItem.status == QUEUED).order_by(IngestItem.id))
            )

    def queued_item_ids(self, job_id: str) -> list[int]:
        with self.session() as session:
            return list(session.scalars(select(IngestItem.id).where(IngestItem.job_id == job_id, IngestItem.status == QUEUED).order_by(IngestItem.id)))

    def finish_item(self, item_id: int, status: str, *, track_id: str | None = None, reason: str | None = None, message: str | None = None) -> None:
        """Record the outcome of an item that needs no vector write (skipped, failed)."""
        with self.session() as session:
            session.execute(
                update(IngestItem)
                .where(IngestItem.id == item_id)
                .values(status=status, track_id=track_id, reason=reason, message=message, updated_at=utcnow())
            )

    # Tracks ---------------------------------------------------------------------------------

    def track(self, track_id: str) -> Track | None:
        with self.session() as session:
            return session.get(Track, track_id)

    def track_at(self, path: str) -> Track | None:
        """The live track most recently staged from ``path``."""
        with self.session() as session:
            return session.scalars(
                select(Track).where(Track.path == path, Track.state != RETIRED).order_by(Track.updated_at.desc()).limit(1)
            ).first()

    def live_files(self, paths: Sequence[str]) -> dict[str, KnownFile]:
        """What the catalog knows of each path's live track (the one :meth:`track_at` returns), in one query per 500 paths."""
        known: dict[str, KnownFile] = {}
        columns = (Track.path, Track.id, Track.size, Track.mtime_ns, Track.model, Track.metadata_signature, Track.state, Track.updated_at)
        with self.session() as session:
            for start in range(0, len(paths), _IN_CHUNK):
                chunk = list(paths[start:start + _IN_CHUNK])
                found = session.execute(select(*columns).where(Track.path.in_(chunk), Track.state != RETIRED).order_by(Track.updated_at))
                for row in found:  # oldest first: the most recently staged track of a path wins
                    known[row.path] = KnownFile(*row[1:7])
        return known

    def finish_unchanged(self, outcomes: Sequence[tuple[int, str, bool]]) -> None:
        """Finish items of unchanged files in one transaction: ``(item id, track id, indexed)`` each.

        An item whose track is indexed is ``skipped``; one whose track still waits for its vector write
        waits with it (``pending``), as :meth:`finish_item` and :meth:`wait_for_track` do one at a time.
        """
        if not outcomes:
            return
        now = utcnow()
        values = [
            {"id": item_id, "status": SKIPPED if indexed else PENDING, "track_id": track, "reason": "unchanged", "message": None, "updated_at": now}
            for item_id, track, indexed in outcomes
        ]
        with self.session() as session:
            session.execute(update(IngestItem), values)

    def touch_track(self, track_id: str, size: int, mtime_ns: int) -> None:
        """Remember new file stats of unchanged content (so the next run skips it without hashing)."""
        with self.session() as session:
            session.execute(update(Track).where(Track.id == track_id).values(size=size, mtime_ns=mtime_ns))

    def stage_track(self, record: TrackRecord, item_id: int, job_id: str, *, reason: str | None = None, message: str | None = None) -> None:
        """Step 1 of the outbox protocol, in one transaction: the track row becomes ``pending`` (new
        revision), tracks that used to live at the same path are ``retired``, and the item waits for
        the vector write."""
        now = utcnow()
        values = dict(
            content_hash=record.content_hash,
            path=record.path,
            size=record.size,
            mtime_ns=record.mtime_ns,
            state=PENDING,
            model=record.model,
            duration=float(record.duration),
            valence=float(record.valence),
            arousal=float(record.arousal),
            mood=record.mood,
            moods={label: float(p) for label, p in record.moods.items()},
            meta=record.metadata,
            genre=label_of(record.metadata, "genre"),
            artist=label_of(record.metadata, "artist"),
            metadata_signature=record.metadata_signature,
            vector=np.ascontiguousarray(record.vector, dtype=np.float32).tobytes(),
            job_id=job_id,
            ingested_at=now,
            updated_at=now,
        )
        with self.session() as session:
            _upsert_track(session, record.id, values)
            session.execute(
                update(Track)
                .where(Track.path == record.path, Track.id != record.id, Track.state != RETIRED)
                .values(state=RETIRED, revision=Track.revision + 1, updated_at=now)
            )
            session.execute(
                update(IngestItem)
                .where(IngestItem.id == item_id)
                .values(status=PENDING, track_id=record.id, reason=reason, message=message, updated_at=now)
            )

    def wait_for_track(self, item_id: int, track_id: str, *, reason: str | None = None, message: str | None = None) -> None:
        """An item whose content is already staged (pending) by someone else: it completes with that track."""
        with self.session() as session:
            session.execute(
                update(IngestItem)
                .where(IngestItem.id == item_id)
                .values(status=PENDING, track_id=track_id, reason=reason, message=message, updated_at=utcnow())
            )

    def outbox(self, limit: int = 256) -> list[Track]:
        """Tracks whose vector write (upsert for ``pending``, delete for ``retired``) is outstanding."""
        with self.session() as session:
            return list(session.scalars(select(Track).where(Track.state.in_((PENDING, RETIRED))).order_by(Track.updated_at).limit(limit)))

    def mark_written(self, tracks: Sequence[Track]) -> None:
        """Step 3 of the protocol: the vector writes for these track revisions happened.

        A revision check makes this safe against a concurrent re-stage: a row staged again since it
        was read stays in the outbox.
        """
        now = utcnow()
        with self.session() as session:
            for track in tracks:
                if track.state == PENDING:
                    marked = session.execute(
                        update(Track).where(Track.id == track.id, Track.revision == track.revision).values(state=INDEXED)
                    )
                    if marked.rowcount:
                        session.execute(
                            update(IngestItem)
                            .where(IngestItem.track_id == track.id, IngestItem.status == PENDING)
                            .values(status=INGESTED, updated_at=now)
                        )
                else:
                    removed = session.execute(delete(Track).where(Track.id == track.id, Track.revision == track.revision))
                    if removed.rowcount:  # items still waiting on it were overtaken by newer content at its path
                        session.execute(
                            update(IngestItem)
                            .where(IngestItem.track_id == track.id, IngestItem.status == PENDING)
                            .values(status=SKIPPED, reason="superseded", message="newer content replaced it at the same path", updated_at=now)
                        )

    def reject_tracks(self, rejected: Sequence[tuple[Track, str]]) -> None:
        """Take staged revisions the vector store refused out of the outbox: the row goes, its items fail.

        SQL keeps no track the index cannot hold; a stale point of an earlier revision becomes an
        orphan that ``catalog --repair`` deletes.
        """
        now = utcnow()
        jobs: set[str] = set()
        with self.session() as session:
            for track, why in rejected:
                removed = session.execute(delete(Track).where(Track.id == track.id, Track.revision == track.revision))
                if removed.rowcount:
                    failed = session.execute(
                        update(IngestItem)
                        .where(IngestItem.track_id == track.id, IngestItem.status == PENDING)
                        .values(status=FAILED, reason="store_rejected", message=why, updated_at=now)
                        .returning(IngestItem.job_id)
                    )
                    jobs.update(failed.scalars())
        for job_id in jobs:  # their last open item may have been this one
            self.finish_job_if_complete(job_id)

    def indexed_tracks(self, batch: int = 1000) -> Iterator[list[Track]]:
        """Every ``indexed`` track, in batches (ordered by id)."""
        last = ""
        while True:
            with self.session() as session:
                rows = list(session.scalars(select(Track).where(Track.state == INDEXED, Track.id > last).order_by(Track.id).limit(batch)))
            if not rows:
                return
            yield rows
            last = rows[-1].id

    def requeue(self, track_ids: Sequence[str]) -> int:
        """Put indexed tracks back in the outbox (their vectors are missing from the store)."""
        with self.session() as session:
            result = session.execute(
                update(Track)
                .where(Track.id.in_(track_ids), Track.state == INDEXED)
                .values(state=PENDING, revision=Track.revision + 1, updated_at=utcnow())
            )
            return result.rowcount

    def known_ids(self, track_ids: Sequence[str]) -> set[str]:
        with self.session() as session:
            return set(session.scalars(select(Track.id).where(Track.id.in_(track_ids))))

    def tracks(self, limit: int = 50, offset: int = 0) -> list[Track]:
        """Live tracks ordered by path."""
        with self.session() as session:
            return list(session.scalars(select(Track).where(Track.state != RETIRED).order_by(Track.path).offset(offset).limit(limit)))

    def track_page(self, limit: int = 50, offset: int = 0, mood: str | None = None) -> TrackPage:
        """Indexed tracks ordered by path (optionally only those whose strongest mood is ``mood``), one page of them."""
        condition = [Track.state == INDEXED] + ([Track.mood == mood] if mood else [])
        with self.session() as session:
            total = session.scalar(select(func.count()).select_from(Track).where(*condition)) or 0
            rows = list(session.scalars(select(Track).where(*condition).order_by(Track.path).offset(offset).limit(limit)))
        return TrackPage(total, rows)

    def stats(self, bins: int = 40) -> CatalogStats:
        """Exact library-wide numbers for the dashboard, aggregated in SQL (nothing per track reaches Python).

        Args:
            bins: Bins per axis of the valence-arousal histogram (both axes span 0-1).
        """
        indexed = Track.state == INDEXED
        with self.session() as session:
            tracks, seconds = session.execute(select(func.count(), func.coalesce(func.sum(Track.duration), 0.0)).where(indexed)).one()
            moods = dict(session.execute(select(Track.mood, func.count()).where(indexed).group_by(Track.mood)).all())
            valence_bin, arousal_bin = _bin(session, Track.valence, bins), _bin(session, Track.arousal, bins)
            cells = session.execute(
                select(valence_bin, arousal_bin, func.count())
                .where(indexed, Track.valence.is_not(None), Track.arousal.is_not(None))
                .group_by(valence_bin, arousal_bin)
            ).all()
            pairs = session.execute(select(Track.genre, Track.artist, func.count()).where(indexed).group_by(Track.genre, Track.artist)).all()
        genres: dict[str, int] = {}
        for genre, _, count in pairs:
            if genre is not None:
                genres[genre] = genres.get(genre, 0) + count
        artists = len({artist for _, artist, _ in pairs if artist is not None})
        va_counts = np.zeros((bins, bins), dtype=np.int64)
        for valence_bin, arousal_bin, count in cells:  # a value of exactly 1.0 belongs to the last bin
            va_counts[min(max(int(valence_bin), 0), bins - 1), min(max(int(arousal_bin), 0), bins - 1)] += count
        return CatalogStats(int(tracks), float(seconds), moods, genres, artists, va_counts)

    def sample_tracks(self, limit: int = 5000) -> list[Track]:
        """``limit`` indexed tracks, a uniform sample: ids are content hashes, so the first ids in order are a random draw."""
        with self.session() as session:
            return list(session.scalars(select(Track).where(Track.state == INDEXED).order_by(Track.id).limit(limit)))

    def counts(self) -> dict[str, int]:
        """Library-wide numbers: indexed tracks, outbox size, files whose latest attempt failed, jobs."""
        with self.session() as session:
            states = dict(session.execute(select(Track.state, func.count()).group_by(Track.state)).all())
            later = IngestItem.__table__.alias("later")
            failed = session.scalar(
                select(func.count(func.distinct(IngestItem.path))).where(
                    IngestItem.status == FAILED,
                    ~select(later.c.id)
                    .where(later.c.path == IngestItem.path, later.c.id > IngestItem.id, later.c.status != FAILED)
                    .exists(),
                )
            )
            jobs = session.scalar(select(func.count()).select_from(IngestJob))
        return {
            "tracks": states.get(INDEXED, 0),
            "pending": states.get(PENDING, 0),
            "retired": states.get(RETIRED, 0),
            "failed": failed or 0,
            "jobs": jobs or 0,
        }

    def overview(self, limit: int = 20) -> dict[str, Any]:
        """``undertone catalog --json``: the :meth:`counts`, the first ``limit`` tracks and latest failures."""
        listing = [
            {
                "id": track.id,
                "path": track.path,
                "duration": round(track.duration, 2),
                "mood": track.mood,
                "valence": round(track.valence, 3),
                "arousal": round(track.arousal, 3),
                "state": track.state,
                "ingested_at": as_utc(track.ingested_at).isoformat(),
                **{key: track.meta[key] for key in ("title", "artist") if key in track.meta},
            }
            for track in self.tracks(limit=limit)
        ]
        failures = [vars(failure) for failure in self.latest_failures(limit)]
        return {**self.counts(), "listing": listing, "failures": failures}

    def latest_failures(self, limit: int = 50) -> list[Failure]:
        """Files whose most recent attempt failed, with why."""
        later = IngestItem.__table__.alias("later")
        with self.session() as session:
            rows = session.execute(
                select(IngestItem.path, IngestItem.reason, IngestItem.message)
                .where(
                    IngestItem.status == FAILED,
                    ~select(later.c.id).where(later.c.path == IngestItem.path, later.c.id > IngestItem.id).exists(),
                )
                .order_by(IngestItem.path)
                .limit(limit)
            ).all()
        return [Failure(path, reason or "error", message or "") for path, reason, message in rows]


def open_catalog(settings: Settings) -> Catalog:
    """The catalog of ``settings`` (``Settings.catalog_url``); jobs go stale after its visibility timeout."""
    return Catalog(settings.catalog_url, stale_after=settings.visibility_timeout)


def _create_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        database = url.split("///", 1)[-1]
        if database and database != ":memory:":
            folder = Path(database).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except (FileExistsError, NotADirectoryError):
                raise CatalogError(f"{folder} is a file, not a store folder: pass a directory as --store") from None
        engine = create_engine(url, connect_args={"timeout": 60})
        event.listen(engine, "connect", _sqlite_on_connect)
        # Take the write lock when a transaction starts: two processes that both read, then try to
        # upgrade to a write, would otherwise deadlock and one fail at once with "database is locked".
        event.listen(engine, "begin", lambda connection: connection.exec_driver_sql("BEGIN IMMEDIATE"))
        return engine
    return create_engine(_with_installed_driver(url), pool_pre_ping=True, pool_size=2, max_overflow=4)


def _with_installed_driver(url: str) -> Any:
    """``postgresql://`` means psycopg 3 to SQLAlchemy 2.1; fall back to psycopg2 when that is what is installed."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql" and importlib.util.find_spec("psycopg") is None:
        return parsed.set(drivername="postgresql+psycopg2")
    return parsed


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event emits BEGIN itself
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers (search, dashboard) never block the writer
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _create_schema(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # Several workers start at once; serialise CREATE TABLE so they do not race on the catalog.
        connection.execute(text("SELECT pg_advisory_xact_lock(7461736)"))
    Base.metadata.create_all(connection)
    # Catalogs created before a column or an index existed get it here (create_all adds tables, never
    # columns, and a table's indexes only with the table). One reflection query each on PostgreSQL.
    inspector = inspect(connection)
    columns = {table: {column["name"] for column in found} for (_, table), found in inspector.get_multi_columns().items()}
    indexes = {index["name"] for found in inspector.get_multi_indexes().values() for index in found}
    for table, added in ((IngestJob.__table__, ("planner_until", "final_counts")), (Track.__table__, ("genre", "artist"))):
        for name in added:
            if name not in columns[table.name]:
                kind = table.c[name].type.compile(connection.dialect)
                connection.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {name} {kind}"))
                if table is Track.__table__:  # copy the value out of the metadata of the tracks already there (one pass)
                    connection.execute(update(Track).values({name: Track.meta[name].as_string()}))
    for table in Base.metadata.sorted_tables:
        for index in table.indexes:
            if index.name not in indexes:
                index.create(connection)


def label_of(metadata: dict[str, Any], key: str) -> str | None:
    """A metadata value as the text the catalog groups by (None when absent or not a plain value)."""
    value = metadata.get(key)
    if value is None or isinstance(value, (dict, list)):
        return None
    return str(value).lower() if isinstance(value, bool) else str(value)


def _bin(session: Session, column: Any, bins: int) -> Any:
    """SQL for the histogram bin of a 0-1 ``column`` (SQLite's CAST truncates; PostgreSQL's rounds, so floor first)."""
    scaled = column * bins
    if session.get_bind().dialect.name == "postgresql":
        return func.floor(scaled)
    return cast(scaled, Integer)


def _upsert_track(session: Session, track_id: str, values: dict[str, Any]) -> None:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise ValueError(f"unsupported catalog database {dialect!r}: use SQLite or PostgreSQL")
    table = Track.__table__
    columns = {Track.__mapper__.attrs[key].columns[0].name: value for key, value in values.items()}
    statement = insert(table).values(id=track_id, revision=1, **columns)
    updates = {name: statement.excluded[name] for name in columns if name != "ingested_at"}
    updates["revision"] = table.c.revision + 1
    session.execute(statement.on_conflict_do_update(index_elements=[table.c.id], set_=updates))
