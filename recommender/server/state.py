"""What the endpoints share: the store, the model, the SQL catalog and the ingestion runner."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from ingest.catalog import Catalog, open_catalog
from recommender.model import EmotionModel
from recommender.search import Recommender
from recommender.server.jobs import IngestRunner
from recommender.settings import Settings

logger = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 30.0  # a running ingestion batch may finish; the outbox covers the rest


class JSON(JSONResponse):
    """JSON that also takes numpy scalars and arrays (payloads, emotion probabilities); NaN as ``search --json`` writes it."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, allow_nan=True, default=_plain, separators=(",", ":")).encode()


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


class ServerState:
    """Everything the endpoints share; opened when the server starts (:meth:`open`), closed when it stops."""

    recommender: Recommender
    catalog: Catalog
    ingest: IngestRunner

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def open(self, model: EmotionModel | None = None) -> None:
        """Load the model, open the store and the catalog (once; raises ``StoreBusyError`` ...)."""
        if hasattr(self, "ingest"):
            return
        self.recommender = Recommender.open(settings=self.settings, model=model)
        try:
            self.catalog = open_catalog(self.settings)
        except BaseException:
            self.recommender.close()
            raise
        self.ingest = IngestRunner(self.settings, self.catalog, self.recommender)

    def close(self) -> None:
        if hasattr(self, "ingest") and not self.ingest.wait(SHUTDOWN_GRACE_SECONDS):
            logger.warning("stopping while ingestion job %s runs; ingesting the same source again resumes it", self.ingest.current)
        if hasattr(self, "catalog"):
            self.catalog.close()
        if hasattr(self, "recommender"):
            self.recommender.close()


def server_state(request: Request) -> ServerState:
    """The state of the app serving ``request`` (a FastAPI dependency)."""
    return request.app.state.undertone
