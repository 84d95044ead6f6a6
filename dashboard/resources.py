"""What the dashboard process opens once and shares between pages and sessions.

An embedded store has exactly one owning process, so the :class:`~recommender.search.Recommender`
(which holds the store and the emotion model) is opened once per process with ``st.cache_resource``
and its store and model are reused by ingestion jobs. The SQL catalog and the job board are shared the same way.
When an ``undertone serve`` owns the store (or ``UNDERTONE_URL`` is set), :func:`recommender` is a
:class:`~recommender.client.Client` of it instead (same calls) and ingestion is handed to the server.
Settings come from the environment (``undertone dashboard --store DIR`` exports ``UNDERTONE_STORE``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard.charts import MAX_POINTS
from dashboard.filters import Facet
from dashboard.filters import catalog_facets as facets_from_payloads
from dashboard.jobs import JobBoard
from ingest.catalog import Catalog, CatalogStats, Track, open_catalog
from ingest.pipeline import JobSummary, Progress, run_ingest, run_ingest_on_server
from recommender.client import Client
from recommender.model import EmotionModel
from recommender.search import Recommender
from recommender.service import find_server
from recommender.settings import Settings

FACET_SAMPLE = 20_000  # payloads read to offer search filters
# Payload fields shown in the catalog table, in this order (others are left out).
TRACK_COLUMNS = ("title", "artist", "album", "genre", "year", "licence", "duration", "mood", "valence", "arousal", "path")


def current_settings() -> Settings:
    """Settings of this process: config file and ``UNDERTONE_*`` environment variables."""
    return Settings.load()


def _key(settings: Settings) -> str:
    """What identifies the catalog and model: one open recommender per distinct key.

    Limits and the data directory are left out, so changing them never tries to open the same
    embedded store a second time (which its lock forbids).
    """
    return repr((settings.store, settings.qdrant_url, settings.collection, settings.database_url, settings.model, settings.lexicon))


@st.cache_resource(show_spinner="Opening the catalog and loading the emotion model…", on_release=lambda rec: rec.close())
def _open_recommender(key: str, _settings: Settings) -> Recommender:
    return Recommender.open(settings=_settings)


@st.cache_resource(on_release=lambda catalog: catalog.close())
def _open_catalog(key: str, _settings: Settings) -> Catalog:
    return open_catalog(_settings)


@st.cache_resource
def _job_board(key: str) -> JobBoard:
    return JobBoard()


@st.cache_resource(on_release=lambda client: client.close())
def _connect(url: str, _token: str | None) -> Client:
    return Client(url, token=_token)


def recommender(settings: Settings | None = None) -> Recommender | Client:
    """The server's client when an ``undertone serve`` owns the store, else the process-wide recommender."""
    settings = settings or current_settings()
    server = find_server(settings)
    if server is not None:
        return _connect(server.url, server.token)
    return _open_recommender(_key(settings), settings)


@st.cache_resource(show_spinner="Loading the emotion model…")
def _load_model(name: str, lexicon: Path | None) -> EmotionModel:
    return EmotionModel.load(name, lexicon=lexicon)


def emotion_model(settings: Settings | None = None) -> EmotionModel:
    """The recommender's model, or (when a server owns the store) one loaded in this process."""
    settings = settings or current_settings()
    opened = recommender(settings)
    return _load_model(settings.model, settings.lexicon) if isinstance(opened, Client) else opened.model


def ingest(source: str, settings: Settings, progress: Progress, opened: Recommender | Client) -> JobSummary:
    """Ingest ``source`` with the search path's store and model, or on the server that owns the store.

    ``opened`` is :func:`recommender`'s answer, taken in the page's thread (jobs run in their own).
    """
    if isinstance(opened, Client):
        return run_ingest_on_server(opened, source, progress)
    # One owner for the store, one copy of the model in memory.
    return run_ingest(source, settings, progress=progress, store=opened.store, model=opened.model)


def catalog(settings: Settings | None = None) -> Catalog:
    """The process-wide SQL catalog (jobs, failures)."""
    settings = settings or current_settings()
    return _open_catalog(_key(settings), settings)


def job_board(settings: Settings | None = None) -> JobBoard:
    """The process-wide board of background ingestion jobs."""
    return _job_board(_key(settings or current_settings()))


def catalog_stats(settings: Settings | None = None) -> CatalogStats:
    """Exact numbers of the whole catalog (SQL aggregates), cached until the catalog changes."""
    settings = settings or current_settings()
    return _catalog_stats(_key(settings), _version(settings), catalog(settings))


def catalog_sample(settings: Settings | None = None) -> pd.DataFrame:
    """Up to ``charts.MAX_POINTS`` tracks (all of a small catalog, a uniform sample of a big one) as a data frame."""
    settings = settings or current_settings()
    return _catalog_sample(_key(settings), _version(settings), catalog(settings))


def _version(settings: Settings) -> tuple[object, ...]:
    """Changes whenever tracks are added, removed or restaged (cheap: counts per state on an index)."""
    return (tuple(sorted(catalog(settings).counts().items())), job_board(settings).revision)


@st.cache_data(show_spinner="Counting the catalog…", max_entries=4, ttl=600)
def _catalog_stats(key: str, version: tuple[object, ...], _catalog: Catalog) -> CatalogStats:
    return _catalog.stats()


@st.cache_data(max_entries=4, ttl=600)
def _catalog_sample(key: str, version: tuple[object, ...], _catalog: Catalog) -> pd.DataFrame:
    return track_frame(_catalog.sample_tracks(MAX_POINTS))


def track_frame(tracks: list[Track]) -> pd.DataFrame:
    """Tracks as rows of their payload fields (manifest metadata, duration, mood, valence, arousal, path) plus ``id``."""
    frame = pd.DataFrame([{"id": track.id, **track.payload()} for track in tracks])
    if frame.empty:
        return pd.DataFrame(columns=["id", *TRACK_COLUMNS])
    for column in ("duration", "valence", "arousal"):
        if column in frame:
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame


def catalog_facets(settings: Settings | None = None) -> list[Facet]:
    """Filters worth offering for the current catalog (see :func:`dashboard.filters.catalog_facets`).

    Read from the SQL catalog's payloads: all of them up to :data:`FACET_SAMPLE` tracks, a uniform sample
    of that many beyond (a value on fewer than ~1 in 5,000 tracks may then be missing from the choices).
    """
    settings = settings or current_settings()
    return _catalog_facets(_key(settings), _version(settings), catalog(settings))


@st.cache_data(max_entries=4, ttl=600)
def _catalog_facets(key: str, version: tuple[object, ...], _catalog: Catalog) -> list[Facet]:
    return facets_from_payloads(track.payload() for track in _catalog.sample_tracks(FACET_SAMPLE))
