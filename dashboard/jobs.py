"""Background jobs of the dashboard process (catalog ingestion) and their live progress.

The dashboard is the one process that owns the embedded store, so ingestion runs in a thread of that
process instead of a separate worker. A job only touches its own :class:`Job` record; pages read the
records on each (fragment) rerun to draw progress bars.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from recommender.errors import UndertoneError

logger = logging.getLogger(__name__)

ProgressFn = Callable[[int, int, str], None]
"""``progress(done, total, message)``; ``total`` may be 0 while it is still unknown."""


@dataclass
class Job:
    """One background job as the pages see it.

    Attributes:
        id: Random identifier.
        title: What the job does ("Ingest /music").
        state: ``running``, ``done`` or ``failed``.
        done: Items finished so far.
        total: Items in all (0 while unknown).
        message: Latest progress message (the file being processed ...).
        result: What the job returned, once done.
        error: Why it failed, once failed.
        started: ``time.time()`` at start.
        finished: ``time.time()`` at the end, or None.
    """

    id: str
    title: str
    state: str = "running"
    done: int = 0
    total: int = 0
    message: str = ""
    result: Any = None
    error: str | None = None
    started: float = field(default_factory=time.time)
    finished: float | None = None

    @property
    def fraction(self) -> float:
        """Progress in [0, 1] (1 once finished)."""
        if self.state != "running":
            return 1.0
        return min(1.0, self.done / self.total) if self.total else 0.0

    @property
    def elapsed(self) -> float:
        return (self.finished or time.time()) - self.started


class JobBoard:
    """Starts jobs in daemon threads and keeps their records, newest first.

    An :class:`~recommender.errors.UndertoneError` is shown with its own message; any other failure is
    logged with its traceback and reported as an unexpected error.
    """

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self.revision = 0  # bumped whenever a job finishes, so cached catalog views refresh

    def start(self, title: str, work: Callable[[ProgressFn], Any]) -> Job:
        """Run ``work(progress)`` in a background thread and return its live record."""
        job = Job(id=uuid.uuid4().hex[:12], title=title)
        with self._lock:
            self._jobs[job.id] = job
        threading.Thread(target=self._run, args=(job, work), name=f"undertone-job-{job.id}", daemon=True).start()
        return job

    def _run(self, job: Job, work: Callable[[ProgressFn], Any]) -> None:
        def progress(done: int, total: int, message: str = "") -> None:
            job.done, job.total, job.message = done, total, message

        try:
            job.result = work(progress)
            job.state = "done"
        except UndertoneError as error:
            job.error, job.state = str(error), "failed"
        except Exception as error:  # noqa: BLE001 -- a job thread must never die silently
            logger.exception("background job %r failed", job.title)
            job.error, job.state = f"unexpected error ({type(error).__name__}); details are in the server log", "failed"
        finally:
            job.finished = time.time()
            with self._lock:
                self.revision += 1

    def jobs(self) -> list[Job]:
        """All jobs, newest first."""
        with self._lock:
            return sorted(self._jobs.values(), key=lambda job: job.started, reverse=True)

    def running(self) -> list[Job]:
        return [job for job in self.jobs() if job.state == "running"]

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no job runs (``timeout`` seconds at most); True if all finished."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.running():
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True
