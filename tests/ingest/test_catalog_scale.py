"""The catalog at scale: exact aggregates computed in SQL on an index, paged listings, and re-ingest of an
unchanged library that reads no file and makes a bounded number of queries (benchmarks/catalog_scale.py times
the same things at 1M tracks)."""

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from sqlalchemy import event, text

import ingest.analysis as analysis
import ingest.pipeline as pipeline
from ingest.catalog import INDEXED, Catalog
from ingest.identity import content_hash, track_id
from ingest.pipeline import run_ingest
from tests.conftest import postgres_database
from tests.ingest.catalog_rows import GENRES, MOODS, fill_catalog

ROWS = 5000


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def big_catalog(request, tmp_path_factory):
    """One catalog per backend for the read-only tests of this module (filling it is the slow part)."""
    if request.param == "sqlite":
        databases = iter([f"sqlite:///{tmp_path_factory.mktemp('big') / 'catalog.sqlite'}"])
    else:
        databases = postgres_database()
    url = next(databases)
    with Catalog(url) as opened:
        made = fill_catalog(opened, ROWS)
        yield opened, made
    next(databases, None)  # drops the PostgreSQL database


def test_stats_are_exact_over_every_track(big_catalog):
    catalog, made = big_catalog
    stats = catalog.stats(bins=20)
    assert stats.tracks == ROWS and stats.seconds == pytest.approx(made["duration"].sum())
    assert stats.moods == {MOODS[m]: int(n) for m, n in zip(*np.unique(made["mood"], return_counts=True))}
    assert stats.genres == {GENRES[g]: int(n) for g, n in zip(*np.unique(made["genre"], return_counts=True))}
    assert stats.artists == len(np.unique(made["artist"]))
    expected, _, _ = np.histogram2d(made["valence"], made["arousal"], bins=20, range=[[0, 1], [0, 1]])
    np.testing.assert_array_equal(stats.va_counts, expected.astype(int))  # 1.0 lands in the last bin, as numpy puts it


def test_sample_is_capped_and_spread_over_the_plane(big_catalog):
    catalog, _ = big_catalog
    sample = catalog.sample_tracks(500)
    assert len(sample) == 500 and len({track.id for track in sample}) == 500
    valence = np.array([track.valence for track in sample])
    assert np.histogram(valence, bins=4, range=(0, 1))[0].min() > 80  # uniform draw: ~125 per quarter


def test_track_pages_cover_the_listing_once(big_catalog):
    catalog, made = big_catalog
    page = catalog.track_page(limit=100, offset=200, mood="sadness")
    assert page.total == int((made["mood"] == MOODS.index("sadness")).sum())
    assert len(page.tracks) == 100 and all(track.mood == "sadness" for track in page.tracks)
    assert [t.path for t in page.tracks] == sorted(t.path for t in page.tracks)
    assert catalog.track_page(limit=50, offset=ROWS - 10).total == ROWS and len(catalog.track_page(limit=50, offset=ROWS - 10).tracks) == 10


def query_plans(catalog: Catalog, action) -> list[tuple[str, str]]:
    """(statement, SQLite's plan) of every SELECT ``action`` runs on ``catalog``."""
    ran = []
    listener = lambda conn, cursor, statement, parameters, context, many: ran.append((statement, parameters))  # noqa: E731
    event.listen(catalog.engine, "before_cursor_execute", listener)
    try:
        action()
    finally:
        event.remove(catalog.engine, "before_cursor_execute", listener)
    plans = []
    with catalog.engine.connect() as connection:
        for statement, parameters in ran:
            if statement.lstrip().upper().startswith("SELECT"):
                rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
                plans.append((statement, " | ".join(row[-1] for row in rows)))
    return plans


@pytest.mark.parametrize("action", [
    lambda c: c.counts(), lambda c: c.latest_failures(500), lambda c: c.jobs(20), lambda c: c.overview(20),
    lambda c: c.track_page(limit=100, offset=4000), lambda c: c.track_page(limit=100, offset=500, mood="sadness"),
    lambda c: c.stats(), lambda c: c.sample_tracks(100), lambda c: c.track_at("/music/00001/0000001.flac"),
], ids=["counts", "failures", "jobs", "overview", "page", "mood-page", "stats", "sample", "track-at"])
def test_catalog_reads_never_scan_a_whole_table(big_catalog, action):
    catalog, _ = big_catalog
    if catalog.engine.dialect.name != "sqlite":
        pytest.skip("reads SQLite's query plans")
    for statement, plan in query_plans(catalog, lambda: action(catalog)):
        if "JSON_EXTRACT" in statement.upper():  # genre and artist live in the metadata JSON: one pass over the rows, cached by the page
            continue
        # A pass over a whole table, or over an index that sends it to every row, grows with the catalog; an
        # index walked in ORDER BY order under a LIMIT stops early.
        limited = "LIMIT" in statement and "USING INDEX" in plan
        scans = [step for step in plan.split(" | ") if step.startswith("SCAN") and "COVERING INDEX" not in step
                 and "CONSTANT ROW" not in step and not limited]
        assert not scans, (statement, plan)
        if "GROUP BY" in statement and "FROM tracks" in statement:  # aggregates read a narrow index, not the wide rows
            assert "USING COVERING INDEX" in plan, (statement, plan)


def test_a_catalog_from_before_the_aggregate_columns_and_indexes_gains_them(tmp_path):
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    with Catalog(url) as catalog:
        made = fill_catalog(catalog, 300)
        with catalog.engine.begin() as connection:
            for index in ("ix_tracks_state_mood_va", "ix_tracks_state_path", "ix_tracks_state_mood_path", "ix_tracks_state_genre_artist"):
                connection.execute(text(f"DROP INDEX {index}"))
            connection.execute(text("ALTER TABLE tracks DROP COLUMN genre"))
            connection.execute(text("ALTER TABLE tracks DROP COLUMN artist"))
    with Catalog(url) as catalog:
        with catalog.engine.connect() as connection:
            names = {row[0] for row in connection.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'"))}
        assert {"ix_tracks_state_mood_va", "ix_tracks_state_genre_artist"} <= names
        stats = catalog.stats()
        assert stats.genres == {GENRES[g]: int(n) for g, n in zip(*np.unique(made["genre"], return_counts=True))}
        assert stats.artists == len(np.unique(made["artist"]))


def test_staged_tracks_carry_genre_and_artist_into_the_aggregates(tmp_path):
    from ingest.catalog import TrackRecord
    from ingest.sources import SourceItem

    with Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite'}") as catalog:
        job = catalog.create_job("/music", "local")
        items = catalog.add_items(job, [SourceItem(f"/music/{i}.flac", {"genre": genre, "artist": "Ann"}) for i, genre in enumerate(("jazz", "jazz", 1999))])
        for i, item in enumerate(items):
            meta = {"genre": ("jazz", "jazz", 1999)[i], "artist": "Ann"}
            catalog.stage_track(TrackRecord(
                id=f"00000000-0000-4000-8000-{i:012d}", content_hash=f"{i:064x}", path=f"/music/{i}.flac", size=1, mtime_ns=1, model="m",
                duration=10.0, valence=0.5, arousal=0.5, mood="calmness", moods={"calmness": 1.0}, metadata=meta, metadata_signature="s",
                vector=np.ones(4, dtype=np.float32)), item, job)
        catalog.mark_written(catalog.outbox())
        stats = catalog.stats()
        assert (stats.genres, stats.artists, stats.tracks) == ({"jazz": 2, "1999": 1}, 1, 3)


@pytest.fixture
def unchanged_library(tmp_path, settings):
    """2,000 files (hard links to one WAV) that the catalog already holds, indexed with the settings' model."""
    from recommender.model import EmotionModel

    source = tmp_path / "one.wav"
    sf.write(source, np.zeros(800, dtype=np.float32), 8000, subtype="PCM_16")
    files = []
    for i in range(2000):
        target = tmp_path / "library" / f"d{i // 500}" / f"t{i:05d}.wav"
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(source, target)
        files.append(target)
    with Catalog(settings.catalog_url) as catalog:
        fill_catalog(catalog, len(files) + 1000, model=EmotionModel.load(settings.model).fingerprint, files=files)
    return tmp_path / "library"


def test_reingesting_an_unchanged_library_reads_no_file_and_batches_its_queries(unchanged_library: Path, settings, monkeypatch):
    def no_reading(path):
        raise AssertionError(f"{path} was hashed although its size and mtime are unchanged")

    monkeypatch.setattr(pipeline, "content_hash", no_reading)
    monkeypatch.setattr(analysis, "load_audio", no_reading)
    statements = []
    with Catalog(settings.catalog_url) as catalog:
        event.listen(catalog.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
        summary = run_ingest(unchanged_library, settings, catalog=catalog, progress=lambda status: None)
        assert (summary.total, summary.skipped, summary.ingested, summary.failed) == (2000, 2000, 0, 0)
        assert catalog.counts()["tracks"] == 3000
    # Per 500 files: recording the items, reading them back, one lookup, one update (plus a fixed few per job);
    # one query per file or more (the item-at-a-time path) would be 2,000+.
    from collections import Counter
    assert len(statements) < 2000 / 500 * 8 + 60, Counter(s[:60] for s in statements).most_common(5)


def test_a_changed_file_among_unchanged_ones_is_still_analysed(unchanged_library: Path, settings):
    changed = unchanged_library / "d0" / "t00007.wav"
    with Catalog(settings.catalog_url) as catalog:
        before = catalog.track_at(str(changed)).id
    changed.unlink()
    sf.write(changed, 0.3 * np.sin(np.linspace(0, 2000, 16000)).astype(np.float32), 16000)
    summary = run_ingest(unchanged_library, settings)
    assert (summary.skipped, summary.ingested, summary.failed) == (1999, 1, 0)
    with Catalog(settings.catalog_url) as catalog:
        now = catalog.track_at(str(changed))
        assert now.id == track_id(content_hash(changed)) != before and now.state == INDEXED
        assert catalog.counts()["tracks"] == 3000  # the old content's track was replaced, not kept beside it
