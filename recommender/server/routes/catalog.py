"""Catalog endpoints: tracks in the store, catalog stats, ingestion jobs and their progress, reconciliation."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from ingest.reconcile import reconcile
from recommender.errors import NotFoundError
from recommender.server.routes import where_from_json
from recommender.server.state import ServerState, server_state

router = APIRouter(tags=["catalog"])
State = Annotated[ServerState, Depends(server_state)]
WhereParam = Annotated[str | None, Query(description='payload filter as JSON, e.g. {"genre": "rock"}')]


@router.get("/tracks")
def tracks(
    state: State,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
    offset: Annotated[str | None, Query(description="the `next` of the previous page")] = None,
    where: WhereParam = None,
) -> dict[str, Any]:
    """One page of stored tracks (id and payload) in id order; ``next`` is the offset of the following page."""
    points, following = state.recommender.store.scroll(where_from_json(where), limit=limit, offset=offset)
    return {"tracks": [{"id": point.id, "payload": point.payload} for point in points], "next": following}


@router.get("/tracks/count")
def count(state: State, where: WhereParam = None) -> dict[str, int]:
    """How many stored tracks pass ``where``."""
    return {"count": state.recommender.store.count(where_from_json(where))}


@router.get("/tracks/{track_id}")
def track(state: State, track_id: str, vector: bool = False) -> dict[str, Any]:
    """One stored track (with its embedding when ``vector=true``)."""
    try:
        found = state.recommender.store.retrieve([track_id])
    except ValueError:  # not a UUID: no track can have that id
        found = []
    if not found:
        raise NotFoundError(f"no track {track_id} in the store")
    point = found[0]
    return {"id": point.id, "payload": point.payload, **({"vector": point.vector.tolist()} if vector else {})}


@router.get("/catalog")
def catalog(state: State, limit: Annotated[int, Query(ge=0, le=10000)] = 20) -> dict[str, Any]:
    """``undertone catalog --json``: counts, the first ``limit`` tracks, the latest failures (plus ``store_points``)."""
    return {**state.catalog.overview(limit), "store_points": state.recommender.store.count()}


class IngestRequest(BaseModel):
    """A folder, manifest (.csv/.tsv/.jsonl) or audio file, as a path on the server's machine."""

    source: str


@router.post("/jobs", status_code=202)
def start_job(state: State, request: IngestRequest) -> dict[str, Any]:
    """Start ingesting ``source`` in the background; returns the job's status once its files are listed.
    Follow it with ``GET /jobs/{job_id}``. One job runs at a time (409 while one runs)."""
    return state.ingest.start(request.source).to_dict()


@router.get("/jobs")
def jobs(state: State, limit: Annotated[int, Query(ge=1, le=1000)] = 20) -> list[dict[str, Any]]:
    """Recent ingestion jobs, newest first."""
    return [job.to_dict() for job in state.catalog.jobs(limit)]


@router.get("/jobs/{job_id}")
def job(state: State, job_id: str, failures: Annotated[int, Query(ge=0, le=10000)] = 100) -> dict[str, Any]:
    """Progress of one job: counts by item status, state, failures so far."""
    try:
        return state.catalog.job_status(job_id, failures=failures).to_dict()
    except KeyError as error:
        raise NotFoundError(str(error.args[0])) from None


class ReconcileRequest(BaseModel):
    repair: bool = False


@router.post("/catalog/reconcile")
def reconcile_store(state: State, request: ReconcileRequest) -> dict[str, Any]:
    """Compare the vector store with the SQL catalog (``undertone catalog --verify``); ``repair`` fixes it."""
    return reconcile(state.catalog, state.recommender.store, repair=request.repair).to_dict()
