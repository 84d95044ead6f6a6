"""Ingestion: files in, analysed tracks out, in SQL and in the vector store.

:class:`Ingestor` is the task code. The embedded default (:func:`run_ingest`) calls it in-process;
Celery workers (``workers.tasks``) call the very same methods. Per item it:

1. skips the file when nothing changed (same path, size and mtime as an indexed track with this
   model and metadata -- no read at all -- or else the same content hash);
2. hashes the file (streaming SHA-256 -> stable UUID id);
3. reuses the stored embedding when only the path or metadata changed, else decodes the whole track
   (:func:`recommender.audio.load_audio`, ``Settings.max_track_seconds``) and runs
   ``EmotionModel.analyze_music``;
4. stages the track in SQL as ``pending`` (the embedding is kept in SQL too);
5. when this process may write vectors (it owns the embedded store, or the store is a server),
   flushes the outbox: upsert to the vector store, then mark ``indexed``.

A bad file becomes a ``failed`` item with a reason; it never stops the batch. Infrastructure errors
(database, vector store) propagate so a Celery task retries or an in-process run stops, and the
outbox protocol makes the re-run finish what was left half done.
"""

from __future__ import annotations

import functools
import logging
import os
import stat
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any

import numpy as np

from ingest.analysis import AnalysisPool, TrackAnalysis, analysers_for, analyze_file, model_for
from ingest.catalog import (
    DONE,
    FAILED,
    INDEXED,
    PENDING,
    RETIRED,
    SKIPPED,
    Catalog,
    Failure,
    IngestItem,
    JobStatus,
    Track,
    TrackRecord,
    open_catalog,
)
from ingest.identity import content_hash, metadata_signature, track_id
from ingest.sources import iter_source, metadata_problem
from recommender.errors import AudioError, StoreError, UnreadableAudioError
from recommender.settings import Settings

if TYPE_CHECKING:
    from recommender.client import Client
    from recommender.model import EmotionModel
    from recommender.store import VectorStore

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 8
# A single file is analysed in-process: starting analysis processes costs seconds.
MIN_FILES_FOR_ANALYSERS = 2
SKIP_CHUNK = 500  # items checked for "unchanged" per lookup while planning (one IN list)
Progress = Callable[[JobStatus], None]


@functools.lru_cache(maxsize=2)
def transient_errors(include_qdrant: bool | None = None) -> tuple[type[BaseException], ...]:
    """Errors of the catalog database or the vector store that are worth retrying.

    Args:
        include_qdrant: Add qdrant-client's connection error; by default only when qdrant-client is
            already imported (importing it just for this costs seconds).
    """
    from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError

    errors: list[type[BaseException]] = [OperationalError, InterfaceError, DisconnectionError, ConnectionError, TimeoutError]
    if include_qdrant or (include_qdrant is None and "qdrant_client" in sys.modules):
        from qdrant_client.http.exceptions import ResponseHandlingException

        errors.append(ResponseHandlingException)
    return tuple(errors)


@dataclass(frozen=True)
class _Pending:
    """An item that passed the cheap checks and waits for its analysis."""

    item: IngestItem
    info: os.stat_result
    sha256: str
    signature: str


class Ingestor:
    """Processes the items of ingestion jobs.

    Args:
        settings: Model, limits and where the catalog lives.
        catalog: The SQL catalog.
        store: The vector store when this process may write it; None for a worker of an embedded
            store, whose owner flushes the outbox.
        model: A loaded model (default: ``settings.model``, loaded on first use).
        analysers: Processes that decode and analyse files while this one hashes, stages and writes
            (:class:`AnalysisPool`); None analyses here, one file at a time.
    """

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        store: VectorStore | None = None,
        model: EmotionModel | None = None,
        analysers: AnalysisPool | None = None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.store = store
        self._model = model
        self.analysers = analysers

    @property
    def model(self) -> EmotionModel:
        """The emotion model (loaded on first use, once per process).

        A model that cannot load raises here, before any item is touched: that is a deployment
        error, not a per-file failure.
        """
        if self._model is None:
            self._model = model_for(self.settings)
        return self._model

    def process_batch(self, job_id: str, item_ids: Sequence[int]) -> None:
        """Process the still-queued items among ``item_ids`` (so a re-delivered batch changes nothing)."""
        fingerprint = self.model.fingerprint
        items = self._skip_unchanged(self.catalog.queued_items(item_ids), fingerprint)
        if self.analysers is None:
            for item in items:
                self.process_item(job_id, item, fingerprint)
        else:
            # Files go to the analysis processes as soon as they pass the cheap checks; results are
            # staged here, in order, so only this process touches the catalog and the store.
            submitted = []
            for item in items:
                pending = self._guarded(item, lambda item=item: self._prepare(job_id, item, fingerprint))
                if pending is not None:
                    submitted.append((pending, self.analysers.submit(pending.item.path, self.settings.max_track_seconds)))
            for pending, submission in submitted:
                analyse = functools.partial(self.analysers.result, submission)
                self._guarded(pending.item, functools.partial(self._finish, job_id, pending, analyse))
        if self.store is not None:
            self.flush()
        self.catalog.finish_job_if_complete(job_id)

    def skip_unchanged(self, item_ids: Sequence[int]) -> list[int]:
        """Finish the still-queued items among ``item_ids`` whose files are unchanged; returns the ids left to process.

        Planning calls this on big chunks (run_ingest, the Celery planner), so re-ingesting an
        unchanged library costs a ``stat`` per file and a few queries per chunk, never a file read.
        """
        items = self.catalog.queued_items(item_ids)
        return [item.id for item in self._skip_unchanged(items, self.model.fingerprint)]

    def _skip_unchanged(self, items: Sequence[IngestItem], fingerprint: str) -> list[IngestItem]:
        """Step 1 for many items at once: one lookup and one update for all of them; returns the others."""
        stats: dict[int, os.stat_result] = {}
        for item in items:
            if not item.problem:
                try:
                    stats[item.id] = _regular_file(item.path)
                except AudioError:
                    pass  # reported by the item's own processing
        known = self.catalog.live_files([item.path for item in items if item.id in stats])
        unchanged, rest = [], []
        for item in items:
            info, track = stats.get(item.id), known.get(item.path)
            if (
                info is not None
                and track is not None
                and (track.size, track.mtime_ns) == (info.st_size, info.st_mtime_ns)
                and (track.model, track.metadata_signature) == (fingerprint, metadata_signature(item.meta))
            ):
                unchanged.append((item.id, track.track_id, track.state == INDEXED))
            else:
                rest.append(item)
        self.catalog.finish_unchanged(unchanged)
        return rest

    def process_item(self, job_id: str, item: IngestItem, fingerprint: str) -> None:
        """Take one item to ``pending``, ``skipped`` or ``failed``; only infrastructure errors escape."""
        def process() -> None:
            pending = self._prepare(job_id, item, fingerprint)
            if pending is not None:
                self._finish(job_id, pending, lambda: analyze_file(self.model, item.path, self.settings.max_track_seconds))

        self._guarded(item, process)

    def _guarded(self, item: IngestItem, step: Callable[[], Any]) -> Any:
        """Run one step of an item; an error that is not the infrastructure's fails the item, not the batch."""
        transient = transient_errors()
        try:
            return step()
        except transient:
            raise
        except Exception as error:  # a bug or an odd input must not take the batch down with it
            logger.exception("item %s (%s) failed", item.id, item.path)
            self.catalog.finish_item(item.id, FAILED, reason="internal_error", message=f"{type(error).__name__}: {error}")
            return None

    def _prepare(self, job_id: str, item: IngestItem, fingerprint: str) -> _Pending | None:
        """Everything before the analysis: skip, fail, reuse, or return what the analysis needs."""
        if item.problem:
            self.catalog.finish_item(item.id, FAILED, reason="bad_entry", message=item.problem)
            return None
        signature = metadata_signature(item.meta)
        try:
            info = _regular_file(item.path)
            known = self.catalog.track_at(item.path)
            if (
                known is not None
                and (known.size, known.mtime_ns) == (info.st_size, info.st_mtime_ns)
                and (known.model, known.metadata_signature) == (fingerprint, signature)
            ):
                self._unchanged(item, known)
                return None
            sha256 = content_hash(item.path)
        except AudioError as error:
            self._fail(item, error)
            return None
        existing = self.catalog.track(track_id(sha256))
        if existing is not None and existing.model == fingerprint:
            if existing.state != RETIRED and existing.path == item.path and existing.metadata_signature == signature:
                self.catalog.touch_track(existing.id, info.st_size, info.st_mtime_ns)
                self._unchanged(item, existing)
            elif existing.state != RETIRED and existing.path != item.path and _unchanged_on_disk(existing):
                self.catalog.finish_item(
                    item.id, SKIPPED, track_id=existing.id, reason="duplicate", message=f"same audio as {existing.path}"
                )
            else:
                record = _reuse(existing, item, info, signature)
                self.catalog.stage_track(record, item.id, job_id, reason="updated", message="path or metadata changed; embedding reused")
            return None
        return _Pending(item, info, sha256, signature)

    def _finish(self, job_id: str, pending: _Pending, analyse: Callable[[], TrackAnalysis]) -> None:
        """Stage the analysed track, or fail the item with the analysis' reason."""
        item = pending.item
        try:
            analysis = analyse()
        except AudioError as error:
            self._fail(item, error)
            return
        record = TrackRecord(
            id=track_id(pending.sha256),
            content_hash=pending.sha256,
            path=item.path,
            size=pending.info.st_size,
            mtime_ns=pending.info.st_mtime_ns,
            model=self.model.fingerprint,
            duration=analysis.duration,
            valence=analysis.valence,
            arousal=analysis.arousal,
            mood=next(iter(analysis.moods), ""),
            moods=analysis.moods,
            metadata=dict(item.meta),
            metadata_signature=pending.signature,
            vector=analysis.vector,
        )
        self.catalog.stage_track(record, item.id, job_id)

    def _unchanged(self, item: IngestItem, track: Track) -> None:
        if track.state == INDEXED:
            self.catalog.finish_item(item.id, SKIPPED, track_id=track.id, reason="unchanged")
        else:  # staged but its vector write is outstanding (another worker, or an interrupted run)
            self.catalog.wait_for_track(item.id, track.id, reason="unchanged")

    def _fail(self, item: IngestItem, error: AudioError) -> None:
        message = str(error)
        prefix = f"{item.path}: "
        self.catalog.finish_item(item.id, FAILED, reason=error.reason, message=message[len(prefix):] if message.startswith(prefix) else message)

    def flush(self, batch: int = 256) -> int:
        """Write the outbox to the vector store (idempotent); returns the number of tracks written."""
        if self.store is None:
            raise RuntimeError("this ingestor has no vector store to flush to")
        return flush_outbox(self.catalog, self.store, batch)


def flush_outbox(catalog: Catalog, store: VectorStore, batch: int = 256) -> int:
    """Steps 2-3 of the outbox protocol: vector upserts/deletes, then SQL ``indexed`` (or row removed).

    A track the store refuses (a payload it cannot hold, a non-finite vector) is taken out of the
    outbox and its items fail with the store's reason, so one bad row never blocks the rest.
    """
    written = 0
    while rows := catalog.outbox(batch):
        upserts = [row for row in rows if row.state == PENDING]
        retired = [row.id for row in rows if row.state == RETIRED]
        rejected = _upsert(store, upserts) if upserts else {}
        if retired:
            store.delete(retired)
        if rejected:
            catalog.reject_tracks([(row, rejected[row.id]) for row in upserts if row.id in rejected])
        catalog.mark_written([row for row in rows if row.id not in rejected])
        written += len(rows) - len(rejected)
    return written


def _upsert(store: VectorStore, rows: Sequence[Track]) -> dict[str, str]:
    """Upsert ``rows``; returns the ids the store refused, with why (infrastructure errors propagate)."""
    from recommender.store import TrackPoint

    rejected: dict[str, str] = {}
    points = []
    for row in rows:
        payload, vector = row.payload(), row.embedding()
        problem = metadata_problem(payload) or (None if np.isfinite(vector).all() and vector.any() else "its embedding is zero or not finite")
        if problem:
            rejected[row.id] = problem
        else:
            points.append(TrackPoint(row.id, vector, payload))
    try:
        store.upsert(points)
        return rejected
    except StoreError:  # the store as a whole (dimensions, ownership ...), not one point
        raise
    except (ValueError, TypeError):
        pass  # some point was refused: find which, one at a time
    for point in points:
        try:
            store.upsert([point])
        except StoreError:
            raise
        except (ValueError, TypeError) as error:
            rejected[point.id] = f"the vector store refused it ({str(error).splitlines()[0]})"
    return rejected


def _regular_file(path: str) -> os.stat_result:
    """``stat`` of an ordinary file; anything else is an :class:`AudioError` (a FIFO would block a read)."""
    try:
        info = os.stat(path)
    except FileNotFoundError as error:
        from recommender.errors import AudioNotFoundError

        raise AudioNotFoundError("no such file", path) from error
    except OSError as error:
        raise UnreadableAudioError(f"cannot be read ({error.strerror or error})", path) from error
    if stat.S_ISDIR(info.st_mode):
        raise UnreadableAudioError("is a directory, not an audio file", path)
    if not stat.S_ISREG(info.st_mode):
        raise UnreadableAudioError("is not a regular file (a pipe, socket or device)", path)
    return info


def _unchanged_on_disk(track: Track) -> bool:
    """Whether the file a track was indexed from is still there, untouched (so a copy is a duplicate)."""
    try:
        info = os.stat(track.path)
    except OSError:
        return False
    return (info.st_size, info.st_mtime_ns) == (track.size, track.mtime_ns)


def _reuse(existing: Track, item: IngestItem, info: os.stat_result, signature: str) -> TrackRecord:
    return TrackRecord(
        id=existing.id,
        content_hash=existing.content_hash,
        path=item.path,
        size=info.st_size,
        mtime_ns=info.st_mtime_ns,
        model=existing.model,
        duration=existing.duration,
        valence=existing.valence,
        arousal=existing.arousal,
        mood=existing.mood,
        moods=dict(existing.moods),
        metadata=dict(item.meta),
        metadata_signature=signature,
        vector=existing.embedding(),
    )


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


@dataclass(frozen=True)
class JobSummary:
    """How an ingestion job ended: what ``undertone ingest`` prints and returns."""

    job_id: str
    state: str
    total: int
    ingested: int
    skipped: int
    failed: int
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None

    @classmethod
    def from_status(cls, status: JobStatus, seconds: float) -> JobSummary:
        counts = status.counts
        return cls(
            job_id=status.job_id,
            state=status.state,
            total=status.total or 0,
            ingested=counts.get("ingested", 0),
            skipped=counts.get("skipped", 0),
            failed=counts.get("failed", 0),
            failures=list(status.failures),
            seconds=seconds,
            error=status.error,
        )

    @property
    def tracks_per_second(self) -> float:
        return (self.ingested + self.skipped) / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "state": self.state,
            "total": self.total,
            "ingested": self.ingested,
            "skipped": self.skipped,
            "failed": self.failed,
            "seconds": round(self.seconds, 3),
            "error": self.error,
            "failures": [vars(failure) for failure in self.failures],
        }


def run_ingest(
    source: str | os.PathLike,
    settings: Settings,
    progress: Progress | None = None,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    catalog: Catalog | None = None,
    store: Any | None = None,
    model: Any | None = None,
) -> JobSummary:
    """Ingest ``source`` in this process (the embedded default; no broker needed).

    Args:
        source: A folder, a manifest (.csv/.tsv/.jsonl with a ``path`` column) or one audio file.
        settings: Store, model and limits.
        progress: Called with the job's status after planning and after every batch.
        batch_size: Items per batch (one outbox flush per batch).
        catalog: An open catalog to use (default: open ``settings.catalog_url``).
        store: An open vector store to use (default: ``open_vector_store(settings)``).
        model: A loaded ``EmotionModel`` to use (default: load ``settings.model`` once per process).

    New files are decoded and analysed by ``analysis_processes(settings)`` processes when that is more
    than one, the job has at least :data:`MIN_FILES_FOR_ANALYSERS` changed files and they would load the same
    model; this process keeps the catalog and the store (:class:`AnalysisPool`).

    Raises:
        SourceError: The source is missing or malformed.
        StoreBusyError: Another process owns the embedded store.
    """
    from recommender.store import open_vector_store

    started = time.perf_counter()
    items = iter_source(source)
    own_catalog, own_store = catalog is None, store is None
    catalog = open_catalog(settings) if catalog is None else catalog
    try:
        store = open_vector_store(settings) if store is None else store
        try:
            analysers = analysers_for(settings, model)
            ingestor = Ingestor(settings, catalog, store, model, analysers)
            ingestor.model.fingerprint  # noqa: B018 - fail before creating a job if the model cannot load
            ingestor.flush()  # finish whatever an interrupted run left in the outbox
            job_id = catalog.create_job(str(source), mode="local")
            try:
                item_ids = [item_id for chunk in batched(items, 500) for item_id in catalog.add_items(job_id, chunk)]
            except BaseException as error:  # an unreadable manifest, Ctrl-C: the job must not stay "planning"
                catalog.fail_job(job_id, f"planning stopped: {error or type(error).__name__}")
                raise
            catalog.finish_planning(job_id, len(item_ids))
            if progress:
                progress(catalog.job_status(job_id, failures=0))
            remaining, reported = [], time.monotonic()
            for chunk in batched(item_ids, SKIP_CHUNK):  # unchanged files first, in big chunks: no read, few queries
                remaining += ingestor.skip_unchanged(chunk)
                if progress and time.monotonic() - reported >= 1.0:  # a job status counts every item: not per chunk
                    progress(catalog.job_status(job_id, failures=0))
                    reported = time.monotonic()
            if len(remaining) < len(item_ids):
                catalog.finish_job_if_complete(job_id)  # every file may have been unchanged
                if progress:
                    progress(catalog.job_status(job_id, failures=0))
            if analysers is not None and len(remaining) < MIN_FILES_FOR_ANALYSERS:
                ingestor.analysers = None
            elif analysers is not None:
                # Keep every analysis process fed: each batch ends when its slowest file does.
                batch_size = max(batch_size, 4 * analysers.processes)
            for chunk in batched(remaining, batch_size):
                ingestor.process_batch(job_id, chunk)
                if progress:
                    progress(catalog.job_status(job_id, failures=0))
            status = catalog.job_status(job_id)
            if status.state != DONE:
                raise RuntimeError(f"job {job_id} ended in state {status.state!r} with counts {status.counts}")
            return JobSummary.from_status(status, time.perf_counter() - started)
        finally:
            if own_store:
                store.close()
    finally:
        if own_catalog:
            catalog.close()


def run_ingest_on_server(server: Client, source: str | os.PathLike, progress: Progress | None = None, *, poll: float = 0.5) -> JobSummary:
    """Hand the job to the ``undertone serve`` that owns the store (it reads ``source`` itself) and follow it.

    Raises:
        UndertoneError: The server refused the job (missing source, another job running ...).
    """
    started = time.perf_counter()
    first = server.ingest(source)
    report = (lambda status: progress(JobStatus.from_dict(status))) if progress else None
    final = server.wait_for_job(first["job_id"], progress=report, poll=poll)
    return JobSummary.from_status(JobStatus.from_dict(final), time.perf_counter() - started)
