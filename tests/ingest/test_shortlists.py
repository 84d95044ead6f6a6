"""Shortlists in the catalog database (SQLite and PostgreSQL): add, list, remove, export as CSV and M3U."""

import csv
import io

import numpy as np
import pytest

from ingest.catalog import Catalog, TrackRecord
from ingest.shortlists import ShortlistNotFoundError, Shortlists, to_csv, to_m3u
from ingest.sources import SourceItem
from recommender.errors import UnknownTrackError, UsageError

IDS = [f"00000000-0000-5000-8000-00000000000{n}" for n in range(1, 4)]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def catalog(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    with Catalog(url) as opened:
        metadata = [
            {"title": "Harbour Lights", "artist": "Cleo", "licence": "CC-BY-4.0", "genre": "piano", "scene": "opening"},
            {"title": "Storm Front", "artist": "Bram", "licence": "CC0", "bpm": 128},
            {"title": "Snowfall", "licence": "CC0"},
        ]
        job = opened.create_job("manifest.csv", mode="local")
        items = opened.add_items(job, [SourceItem(f"/music/{n}.flac", meta) for n, meta in enumerate(metadata)])
        for n, (track_id, item, meta) in enumerate(zip(IDS, items, metadata)):
            opened.stage_track(TrackRecord(
                id=track_id, content_hash=str(n) * 64, path=f"/music/{n}.flac", size=10, mtime_ns=1, model="m", duration=180.4 + n,
                valence=0.2, arousal=0.7, mood="tension", moods={"tension": 1.0}, metadata=meta, metadata_signature="s",
                vector=np.ones(4, np.float32),
            ), item, job)
        yield opened


def test_add_list_remove_and_delete(catalog):
    shortlists = Shortlists(catalog)
    assert shortlists.add("Episode 3", [IDS[1], "/music/0.flac"], note="opening") == [IDS[1], IDS[0]]
    assert shortlists.add("  Episode   3 ", [IDS[0], IDS[2]]) == [IDS[2]]  # same name, duplicates kept once
    shortlists.add("Trailer", [IDS[2]])
    entries = shortlists.entries("Episode 3")
    assert [(e.position, e.track_id, e.note) for e in entries] == [(1, IDS[1], "opening"), (2, IDS[0], "opening"), (3, IDS[2], None)]
    assert {s.name: s.tracks for s in shortlists.summaries()} == {"Episode 3": 3, "Trailer": 1}
    assert shortlists.remove("Episode 3", [IDS[1], "/music/2.flac"]) == 2
    assert [e.track_id for e in shortlists.entries("Episode 3")] == [IDS[0]]
    shortlists.delete("Trailer")
    with pytest.raises(ShortlistNotFoundError, match="no shortlist named 'Trailer' \\(shortlists: Episode 3\\)"):
        shortlists.entries("Trailer")
    with pytest.raises(UnknownTrackError, match="nope.flac: not a track of the catalog"):
        shortlists.add("Episode 3", ["nope.flac"])
    with pytest.raises(UsageError):
        shortlists.add("   ", [IDS[0]])


def test_csv_has_title_artist_path_licence_and_every_manifest_column(catalog):
    shortlists = Shortlists(catalog)
    shortlists.add("Episode 3", IDS, note="maybe")
    rows = list(csv.DictReader(io.StringIO(to_csv(shortlists.entries("Episode 3")))))
    header = list(rows[0])
    assert header[:6] == ["position", "track_id", "title", "artist", "path", "licence"]
    assert {"genre", "scene", "bpm"} <= set(header) and header[-1] == "in_catalog"
    assert (rows[0]["title"], rows[0]["artist"], rows[0]["path"], rows[0]["licence"], rows[0]["scene"]) == (
        "Harbour Lights", "Cleo", "/music/0.flac", "CC-BY-4.0", "opening")
    assert rows[1]["bpm"] == "128" and rows[1]["scene"] == "" and rows[2]["note"] == "maybe"


def test_m3u_and_a_track_that_left_the_catalog(catalog):
    shortlists = Shortlists(catalog)
    shortlists.add("Mix", [IDS[0], IDS[2]])
    # The file at /music/0.flac is replaced by other content: the old track is retired.
    job = catalog.create_job("again", mode="local")
    (item,) = catalog.add_items(job, [SourceItem("/music/0.flac", {})])
    catalog.stage_track(TrackRecord(
        id="00000000-0000-5000-8000-000000000009", content_hash="9" * 64, path="/music/0.flac", size=1, mtime_ns=2, model="m",
        duration=1.0, valence=0.5, arousal=0.5, mood="calmness", moods={}, metadata={}, metadata_signature="t", vector=np.ones(4, np.float32),
    ), item, job)
    entries = shortlists.entries("Mix")
    assert [e.in_catalog for e in entries] == [False, True]
    assert entries[0].payload["title"] == "Harbour Lights"  # from the snapshot taken when it was added
    assert to_m3u("Mix", entries) == (
        "#EXTM3U\n#PLAYLIST:Mix\n#EXTINF:180,Cleo - Harbour Lights\n/music/0.flac\n#EXTINF:182,Snowfall\n/music/2.flac\n"
    )
