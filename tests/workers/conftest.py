"""Worker tests share the ingestion fixtures (model, synthesized tracks, PostgreSQL database)."""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location("_ingest_fixtures", Path(__file__).parents[1] / "ingest" / "conftest.py")
_ingest_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_ingest_fixtures)

model_dir = _ingest_fixtures.model_dir
settings = _ingest_fixtures.settings
music = _ingest_fixtures.music
pair = _ingest_fixtures.pair
tone = _ingest_fixtures.tone
postgres_url = _ingest_fixtures.postgres_url
