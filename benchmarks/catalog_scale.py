"""The SQL catalog, ``undertone catalog``, the dashboard's Catalog page and re-ingest planning at 1M tracks.

Builds (once, reused between runs) a catalog of ``--tracks`` rows through the catalog's own schema:
realistic paths, manifest metadata (title, artist, album, genre, year, licence), moods, valence and
arousal, a 64-d embedding, one finished ingestion job with an item per track plus ~1 % failed files.
The first ``--files`` tracks point at real files on disk (hard links to one tiny WAV under the work
directory) whose size and mtime the rows hold, so re-ingesting that folder is the "unchanged library" case.

Then times (wall clock, median of ``--repeat`` runs, plus the first run):

* ``undertone catalog`` as a subprocess and ``Catalog.overview`` in process;
* the data the dashboard's Catalog page reads, and the page rendered by Streamlit's AppTest;
* typical SQL lookups: by id, by path, by content hash, listings (all and filtered by mood) with paging;
* re-ingest planning of the unchanged folder (``run_ingest``), counting files hashed.

    nice -n 5 python benchmarks/catalog_scale.py [--tracks 1000000] [--files 100000] [--work-dir /tmp/undertone-catalog-scale]
        [--database-url postgresql://127.0.0.1:5432/test]

Prints a Markdown table (docs/benchmarks.md, section "Catalog at 1M tracks") and the bytes per track.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from sqlalchemy import func, insert, select, text

import ingest.pipeline as pipeline
from ingest.catalog import DONE, FAILED, INDEXED, INGESTED, Catalog, IngestItem, IngestJob, Track
from ingest.identity import metadata_signature, track_id
from recommender.settings import Settings

GENRES = ("ambient", "piano", "folk", "synthpop", "chiptune", "electronic", "cinematic", "soul", "jazz", "rock",
          "metal", "classical", "hip-hop", "country", "reggae", "blues", "techno", "house", "soundtrack", "lo-fi")
MOODS = ("amazement", "solemnity", "tenderness", "nostalgia", "calmness", "power", "joyful_activation", "tension", "sadness")
LICENCES = ("CC0", "CC-BY", "CC-BY-SA", "commercial", "library")
FAIL_REASONS = (("corrupt", "the file is not audio libsndfile can read"), ("unsupported_format", "m4a files cannot be decoded here"))
CHUNK = 20_000
JOB_ID = "00000000-0000-4000-8000-00000000b00c"


def rows(start: int, stop: int, fingerprint: str, files: int, file_stats: list[os.stat_result], files_dir: Path, now: dt.datetime, seed: int) -> list[dict[str, Any]]:
    """Track rows ``start..stop``: the first ``files`` live on disk, the rest under /music."""
    rng = np.random.default_rng(seed + start)
    count = stop - start
    vectors = rng.standard_normal((count, 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    # Valence and arousal cluster the way music does (calm-sad and happy-energetic corners are crowded).
    centres = np.array([[0.3, 0.3], [0.7, 0.7], [0.65, 0.35], [0.3, 0.75], [0.5, 0.5]])
    va = np.clip(centres[rng.integers(0, len(centres), count)] + rng.normal(0, 0.12, (count, 2)), 0, 1)
    moods = rng.dirichlet(np.full(len(MOODS), 0.6), size=count)
    out = []
    for offset in range(count):
        i = start + offset
        artist, album = i // 120, i // 12
        meta = {"title": f"Song {i}", "artist": f"Artist {artist:06d}", "album": f"Album {album:07d}", "genre": GENRES[(artist * 7) % len(GENRES)],
                "year": 1950 + (album % 75), "licence": LICENCES[artist % len(LICENCES)]}
        ranked = sorted(zip(MOODS, moods[offset].round(4).tolist()), key=lambda pair: -pair[1])
        if i < files:
            stat = file_stats[i // LINKS_PER_SOURCE]
            path, size, mtime_ns = str(file_path(files_dir, i)), stat.st_size, stat.st_mtime_ns
        else:
            path, size, mtime_ns = f"/music/library/Artist {artist:06d}/Album {album:07d}/{i % 12 + 1:02d} Song {i}.flac", 30_000_000 + i, 1_700_000_000_000_000_000 + i
        sha = hashlib.sha256(i.to_bytes(8, "little")).hexdigest()
        out.append({
            "id": track_id(sha), "content_hash": sha, "path": path, "size": size, "mtime_ns": mtime_ns, "state": INDEXED, "revision": 1,
            "model": fingerprint, "duration": float(90 + (i * 37) % 360), "valence": float(va[offset, 0]), "arousal": float(va[offset, 1]),
            "mood": ranked[0][0], "moods": dict(ranked), "meta": meta, "genre": meta["genre"], "artist": meta["artist"], "metadata_signature": metadata_signature({} if i < files else meta),
            "vector": vectors[offset].tobytes(), "job_id": JOB_ID, "ingested_at": now, "updated_at": now,
        })
    return out


def file_path(files_dir: Path, i: int) -> Path:
    return files_dir / f"d{i // 1000:04d}" / f"t{i:07d}.wav"


LINKS_PER_SOURCE = 50_000  # ext4 allows 65,000 links to one inode


def make_files(files_dir: Path, count: int) -> list[os.stat_result]:
    """``count`` hard links to tiny valid WAVs (one inode per 50,000 files); the stat of each inode."""
    stats = []
    for group in range(max(1, -(-count // LINKS_PER_SOURCE))):
        source = files_dir / f"source{group}.wav"
        if not source.exists():
            files_dir.mkdir(parents=True, exist_ok=True)
            sf.write(source, np.full(800, group / 100, dtype=np.float32), 8000, subtype="PCM_16")
        stats.append(os.stat(source))
        for i in range(group * LINKS_PER_SOURCE, min(count, (group + 1) * LINKS_PER_SOURCE)):
            target = file_path(files_dir, i)
            if target.exists() and not os.path.samefile(source, target):
                target.unlink()  # left by an interrupted run
            if not target.exists():
                target.parent.mkdir(exist_ok=True)
                os.link(source, target)
    return stats


def build(catalog: Catalog, tracks: int, files: int, files_dir: Path, fingerprint: str) -> float:
    """Fill an empty catalog; returns the seconds it took."""
    started = time.perf_counter()
    file_stats = make_files(files_dir, files)
    now = dt.datetime.now(dt.UTC)
    failed = max(1, tracks // 100)
    with catalog.session() as session:
        session.add(IngestJob(id=JOB_ID, source="/music/library", mode="local", state=DONE, total=tracks + failed, created_at=now, finished_at=now))
    for start in range(0, tracks, CHUNK):
        batch = rows(start, min(tracks, start + CHUNK), fingerprint, files, file_stats, files_dir, now, seed=7)
        items = [{"job_id": JOB_ID, "path": row["path"], "meta": row["meta"], "status": INGESTED, "track_id": row["id"], "updated_at": now} for row in batch]
        with catalog.session() as session:
            session.execute(insert(Track), batch)
            session.execute(insert(IngestItem), items)
        print(f"  built {start + len(batch):,} tracks ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    broken = [
        {"job_id": JOB_ID, "path": f"/music/library/broken/{i:06d}.{'wav' if i % 2 else 'm4a'}", "meta": {}, "status": FAILED,
         "reason": FAIL_REASONS[i % 2][0], "message": FAIL_REASONS[i % 2][1], "updated_at": now}
        for i in range(failed)
    ]
    with catalog.session() as session:
        session.execute(insert(IngestItem), broken)
    if catalog.engine.dialect.name == "postgresql":
        with catalog.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    else:
        with catalog.engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
    return time.perf_counter() - started


def timed(action: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """(first, median) seconds of ``repeat`` calls, and the last result."""
    seconds, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = action()
        seconds.append(time.perf_counter() - started)
    return seconds[0], statistics.median(seconds), result


def bytes_per_track(catalog: Catalog, tracks: int, path: Path | None) -> float:
    if catalog.engine.dialect.name == "postgresql":
        with catalog.engine.connect() as connection:
            size = connection.scalar(text("SELECT pg_database_size(current_database())"))
    else:
        size = sum(f.stat().st_size for f in path.parent.glob(path.name + "*"))
    return size / tracks


def page_data_before(catalog: Catalog) -> Any:
    """What the old Catalog page loaded: every track's payload in a data frame (from SQL, so a lower bound of
    reading them from the vector store)."""
    import pandas as pd

    frames = []
    for batch in catalog.indexed_tracks(batch=20_000):
        frames.append(pd.DataFrame([{"id": row.id, **row.payload()} for row in batch]))
    frame = pd.concat(frames)
    return frame["duration"].sum(), frame["genre"].nunique(), frame["artist"].nunique(), frame["genre"].value_counts(), frame["mood"].value_counts()


def page_data_after(catalog: Catalog) -> Any:
    """What the Catalog page reads now (``dashboard.resources``): exact aggregates, a 5,000-track sample, one table page."""
    from dashboard.charts import MAX_POINTS
    from dashboard.resources import track_frame

    return catalog.stats(), track_frame(catalog.sample_tracks(MAX_POINTS)), catalog.track_page(limit=100)


def render_page(store: Path, database_url: str | None) -> float:
    """Seconds for Streamlit's AppTest to run the Catalog page against this store, caches empty."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ["UNDERTONE_STORE"] = str(store)
    os.environ["UNDERTONE_CONFIG"] = str(store / "no-config.toml")
    if database_url:
        os.environ["UNDERTONE_DATABASE_URL"] = database_url
    st.cache_data.clear()
    started = time.perf_counter()
    app = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "dashboard" / "views" / "catalog.py"), default_timeout=900).run()
    seconds = time.perf_counter() - started
    if app.exception:
        raise RuntimeError(f"the Catalog page failed: {app.exception}")
    print("  page metrics:", {m.label: m.value for m in app.metric}, file=sys.stderr)
    return seconds


def plan_unchanged(settings: Settings, source: Path, catalog: Catalog, fingerprint: str) -> tuple[float, dict[str, int]]:
    """Re-ingest the unchanged folder (or a manifest of part of it) with ``run_ingest``; returns seconds and what happened (files hashed too)."""
    from recommender.store import open_vector_store

    hashed = 0
    real_hash = pipeline.content_hash

    def counting_hash(path: Any) -> str:
        nonlocal hashed
        hashed += 1
        return real_hash(path)

    class Fingerprint:  # the model is never run for unchanged files; only its fingerprint is compared
        def __init__(self, value: str) -> None:
            self.fingerprint = value

    pipeline.content_hash = counting_hash
    try:
        with open_vector_store(settings) as store:
            started = time.perf_counter()
            summary = pipeline.run_ingest(
                source, settings, lambda status: None, catalog=catalog, store=store, model=Fingerprint(fingerprint), batch_size=8
            )  # a progress callback, as `undertone ingest` has
            seconds = time.perf_counter() - started
    finally:
        pipeline.content_hash = real_hash
    return seconds, {"total": summary.total, "skipped": summary.skipped, "ingested": summary.ingested, "failed": summary.failed, "hashed": hashed}


def planning_manifest(work_dir: Path, files_dir: Path, count: int) -> Path:
    """A manifest (``path`` column only, so no metadata) of the first ``count`` files."""
    manifest = work_dir / f"first-{count}.csv"
    manifest.write_text("path\n" + "".join(f"{file_path(files_dir, i)}\n" for i in range(count)))
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracks", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=100_000, help="tracks backed by real files (the re-ingest planning case)")
    parser.add_argument("--planning-files", type=int, default=None, help="re-ingest only the first N files' folders (default: all)")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/undertone-catalog-scale"))
    parser.add_argument("--database-url", help="PostgreSQL URL (default: the store's SQLite file)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--build-only", action="store_true", help="build (or check) the catalog, time nothing")
    parser.add_argument("--skip", nargs="*", default=[], choices=["cli", "lookups", "page-before", "render", "planning"])
    args = parser.parse_args()

    fingerprint = "bench-model-0001"
    store = args.work_dir / ("store-pg" if args.database_url else "store")
    files_dir = args.work_dir / "files"
    settings = Settings.load(store / "no-config.toml", store=store, database_url=args.database_url)
    url = settings.catalog_url
    started = time.perf_counter()
    catalog = Catalog(url)  # on a store built by older code this adds the new indexes and columns
    print(f"opened the catalog in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    with catalog.session() as session:
        present = session.scalar(select(func.count()).select_from(Track))
    if present == 0:
        print(f"building {args.tracks:,} tracks in {url} ...", file=sys.stderr)
        seconds = build(catalog, args.tracks, args.files, files_dir, fingerprint)
        print(f"built in {seconds:.0f} s", file=sys.stderr)
    elif present != args.tracks:
        raise SystemExit(f"{url} holds {present:,} tracks, not {args.tracks:,}: delete {store} (or the database) to rebuild")
    catalog.close()
    if args.build_only:
        return
    catalog = Catalog(url)  # the schema step (migrations) runs on the existing store, as for a user
    per_track = bytes_per_track(catalog, args.tracks, None if args.database_url else Path(url.split("///", 1)[1]))

    results: list[tuple[str, float, float, str]] = []

    def measure(name: str, action: Callable[[], Any], note: Callable[[Any], str] = lambda _: "", repeat: int | None = None) -> None:
        first, median, result = timed(action, repeat or args.repeat)
        results.append((name, first, median, note(result)))
        print(f"  {name}: first {first * 1000:.0f} ms, median {median * 1000:.0f} ms {note(result)}", file=sys.stderr, flush=True)

    sample = rows(args.tracks // 2, args.tracks // 2 + 1, fingerprint, 0, [], files_dir, dt.datetime.now(dt.UTC), seed=7)[0]
    if "cli" not in args.skip:
        env = {**os.environ, "UNDERTONE_STORE": str(store), "UNDERTONE_CONFIG": str(store / "no-config.toml"),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(pipeline.__file__).resolve().parents[1]), os.environ.get("PYTHONPATH")]))}
        if args.database_url:
            env["UNDERTONE_DATABASE_URL"] = args.database_url
        command = [sys.executable, "-m", "recommender.cli", "catalog"]
        measure("`undertone catalog` (process, incl. start-up)", lambda: subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout,
                lambda out: out.splitlines()[0])
        measure("`undertone catalog --jobs`", lambda: subprocess.run([*command, "--jobs"], env=env, check=True, capture_output=True, text=True).stdout)
    if "lookups" not in args.skip:
        lookups(catalog, measure, sample, args.tracks)
    if "page-before" not in args.skip and not hasattr(catalog, "stats"):
        measure("Catalog page data (old: every payload into pandas)", lambda: page_data_before(catalog), repeat=1)
    if hasattr(catalog, "stats"):
        measure("Catalog page data (aggregates, VA histogram, 5k sample)", lambda: page_data_after(catalog))
    if "render" not in args.skip and not args.database_url:
        measure("Catalog page rendered (AppTest, caches empty)", lambda: render_page(store, args.database_url), repeat=2)
    if "planning" not in args.skip:
        source = files_dir if args.planning_files is None else planning_manifest(args.work_dir, files_dir, args.planning_files)
        seconds, outcome = plan_unchanged(settings, source, catalog, fingerprint)
        results.append((f"re-ingest of {outcome['total']:,} unchanged files", seconds, seconds, str(outcome)))
        print(f"  re-ingest: {seconds:.1f} s {outcome}", file=sys.stderr)

    load = Path("/proc/loadavg").read_text().split()[:3]
    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(f"\n{backend}, {args.tracks:,} tracks, {per_track:.0f} bytes per track on disk; load average {' '.join(load)}\n")
    print("| operation | first | median | note |\n|---|---:|---:|---|")
    for name, first, median, note in results:
        print(f"| {name} | {first * 1000:,.0f} ms | {median * 1000:,.0f} ms | {note} |")


def lookups(catalog: Catalog, measure: Callable[..., None], sample: dict[str, Any], tracks: int) -> None:
    """The catalog's own reads and typical lookups."""
    measure("Catalog.overview(20) (in process)", lambda: catalog.overview(20), lambda o: f"{o['tracks']:,} tracks, {o['failed']:,} failed")
    measure("Catalog.counts()", catalog.counts)
    measure("Catalog.latest_failures(500)", lambda: catalog.latest_failures(500), lambda f: f"{len(f)} rows")
    measure("Catalog.jobs(20)", lambda: catalog.jobs(20))
    measure("Catalog.job_status (1M-item job)", lambda: catalog.job_status(JOB_ID, failures=100))
    measure("lookup by id", lambda: catalog.track(sample["id"]), lambda t: "found" if t else "MISSING")
    measure("lookup by path", lambda: catalog.track_at(sample["path"]), lambda t: "found" if t else "MISSING")

    def by_hash() -> Any:
        with catalog.session() as session:
            return session.scalars(select(Track.id).where(Track.content_hash == sample["content_hash"])).first()

    measure("lookup by content hash", by_hash, lambda t: "found" if t else "MISSING")
    measure("listing page 1 (50 by path)", lambda: catalog.tracks(limit=50, offset=0))
    measure("listing page 10,000 (offset 500k)", lambda: catalog.tracks(limit=50, offset=min(500_000, tracks - 50)))
    if hasattr(catalog, "track_page"):
        measure("dashboard table page 5,000 (offset 500k)", lambda: catalog.track_page(limit=100, offset=min(500_000, tracks - 100)))
        measure("filtered listing (mood, page 100)", lambda: catalog.track_page(limit=50, offset=5_000, mood="sadness"), lambda p: f"{p.total:,} match")
    else:
        def filtered() -> Any:
            with catalog.session() as session:
                return session.scalars(select(Track).where(Track.state == INDEXED, Track.mood == "sadness").order_by(Track.path).offset(5_000).limit(50)).all()

        measure("filtered listing (mood, page 100)", filtered)


if __name__ == "__main__":
    main()
