"""Ingestion inside the server: one job at a time in a background thread, on the server's store and model.

The job's progress lives in the SQL catalog (``Catalog.job_status``), so clients follow it with
``GET /jobs/{id}`` like ``undertone catalog --job`` does, and it survives a restart of the server.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from ingest.catalog import Catalog, JobStatus
from ingest.pipeline import run_ingest
from recommender.errors import ServiceError, UndertoneError
from recommender.search import Recommender
from recommender.server.errors import IngestBusyError
from recommender.settings import Settings

logger = logging.getLogger(__name__)


class IngestRunner:
    """Starts ingestion jobs in a thread of the server process, one at a time.

    Args:
        settings: Store, model and limits.
        catalog: The server's SQL catalog.
        recommender: The server's store and model (one copy of each, shared with the queries).
    """

    def __init__(self, settings: Settings, catalog: Catalog, recommender: Recommender) -> None:
        self.settings, self.catalog, self.recommender = settings, catalog, recommender
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.current: str | None = None

    def start(self, source: str) -> JobStatus:
        """Plan the job (list the source) and run it in the background; returns its status once planned.

        Raises:
            IngestBusyError: A job is already running.
            SourceError: The source is missing or malformed (nothing started).
        """
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                raise IngestBusyError(f"an ingestion is already running (job {self.current}); start the next one when it has finished")
            planned = threading.Event()
            outcome: dict[str, Any] = {}

            def progress(status: JobStatus) -> None:
                if "job_id" not in outcome:
                    outcome["job_id"] = self.current = status.job_id
                    planned.set()

            def work() -> None:
                try:
                    run_ingest(source, self.settings, progress, catalog=self.catalog, store=self.recommender.store, model=self.recommender.model)
                except UndertoneError as error:
                    outcome["error"] = error
                    self._record_failure(outcome.get("job_id"), str(error))
                except Exception as error:  # noqa: BLE001 -- a job thread must never die silently
                    logger.exception("ingestion of %s failed", source)
                    outcome["error"] = ServiceError(f"ingestion failed unexpectedly ({type(error).__name__}); details are in the server log")
                    self._record_failure(outcome.get("job_id"), str(outcome["error"]))
                finally:
                    planned.set()

            self._thread = threading.Thread(target=work, name="undertone-ingest", daemon=True)
            self._thread.start()
            planned.wait()
            if "job_id" not in outcome:
                raise outcome["error"]
            return self.catalog.job_status(outcome["job_id"], failures=0)

    def running(self) -> str | None:
        """Id of the job running now, if any."""
        return self.current if self._thread is not None and self._thread.is_alive() else None

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the running job (at most ``timeout`` s); True when none runs any more."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _record_failure(self, job_id: str | None, message: str) -> None:
        if job_id is not None and not self.catalog.job_status(job_id, failures=0).done:
            self.catalog.fail_job(job_id, message)
