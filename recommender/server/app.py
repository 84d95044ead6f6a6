"""The FastAPI app factory: middleware, error handlers, routes, and the store opened for the app's lifetime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request

from recommender.model import EmotionModel
from recommender.server.errors import BodyLimitMiddleware, TokenMiddleware, install_error_handlers
from recommender.server.routes import catalog, query
from recommender.server.state import JSON, ServerState, server_state
from recommender.service import forget_server, record_server
from recommender.settings import Settings


def create_app(
    settings: Settings,
    *,
    token: str | None = None,
    model: EmotionModel | None = None,
    advertise_url: str | None = None,
    state: ServerState | None = None,
) -> FastAPI:
    """The HTTP API over the store ``settings`` describe.

    Args:
        settings: Store, model, limits (``max_upload_mb``).
        token: When set, every request must carry ``Authorization: Bearer <token>``.
        model: An already loaded model (else ``settings.model`` is loaded at startup).
        advertise_url: Recorded in the embedded store while the server runs, so other processes find it.
        state: Already opened state (``undertone serve`` opens it first, so a busy store is a one-line error);
            closed when the app stops.
    """
    state = state or ServerState(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.open(model)
        recorded = advertise_url is not None and not settings.qdrant_url
        if recorded:
            record_server(settings, advertise_url, token)
        try:
            yield
        finally:
            if recorded:
                forget_server(settings)
            state.close()

    app = FastAPI(
        title="Undertone",
        summary="Music whose emotion matches a piece of speech, from your own catalog.",
        version="0.1.0",
        lifespan=lifespan,
        default_response_class=JSON,
    )
    app.state.undertone = state
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=int(settings.max_upload_mb * 1e6))
    if token:
        app.add_middleware(TokenMiddleware, token=token)  # added last = runs first: no body is read without a token
    app.include_router(query.router)
    app.include_router(catalog.router)

    @app.get("/health", tags=["service"])
    def health(request: Request) -> dict[str, Any]:
        """Liveness and what is served: model, store, tracks, running ingestion."""
        served = server_state(request)
        recommender = served.recommender
        where = settings.qdrant_url or str(settings.store)
        return {
            "status": "ok", "model": recommender.model.fingerprint, "dim": recommender.store.dim,
            "store": where, "tracks": recommender.store.count(), "ingesting": served.ingest.running(),
        }

    return app
