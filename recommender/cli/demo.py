"""``undertone demo``: the whole job on the embedded default, offline, in about a minute.

It builds a small catalog of music synthesized by :mod:`recommender.synth` (procedural, CC0, nothing
recorded or downloaded), writes it as FLAC and Ogg Vorbis files with a CSV manifest, ingests the
manifest with the real pipeline (:func:`ingest.pipeline.run_ingest`) and model, then searches it with
synthesized voices, a text and an emotion word, printing ranked, explained results and what to do next.

A demo store is an ordinary store (``catalog.sqlite``, ``vectors/``) plus ``music/``, ``queries/`` and a
``demo.json`` marker. Re-running on the same store with the same options reuses everything (files
are deterministic, ingestion skips unchanged tracks); other options rebuild it from scratch.
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from recommender.cli.progress import ProgressBar
from recommender.errors import UsageError
from recommender.settings import Settings

if TYPE_CHECKING:  # synthesis pulls in scipy: imported where used, so `undertone --help` stays quick
    from recommender.model import Analysis, EmotionModel
    from recommender.search import Result
    from recommender.store import VectorStore
    from recommender.synth import SynthesizedSpeech, VoiceProsody

MARKER_FILE = "demo.json"
MUSIC_DIR = "music"
QUERIES_DIR = "queries"
MANIFEST_FILE = "manifest.csv"
DISCLOSURE = (
    "Everything you hear in this demo - the music and the voices - is synthesized by Undertone's own code "
    "(recommender/synth/: procedural music, a formant voice synthesizer). Nothing is recorded or downloaded; "
    "the tracks are CC0."
)

Print = Callable[[str], None]


@dataclass(frozen=True)
class DemoConfig:
    """What the demo builds and asks.

    Attributes:
        tracks: Catalog size.
        seconds: Length of each track.
        seed: Seed of the catalog (metadata, moods, audio).
        voices: Emotions of the synthesized speech queries (words of the built-in emotion space).
        text: A free-text query.
        emotion_word: An emotion-word query.
        k: Results shown per query.
        processes: Parallel synthesis processes.
    """

    tracks: int = 48
    seconds: float = 15.0
    seed: int = 7
    voices: tuple[str, ...] = ("happy", "sad", "angry", "calm")
    text: str = "The lake was still and quiet as the sun went down."
    emotion_word: str = "nostalgia"
    k: int = 5
    processes: int = 2

    def catalog_key(self) -> dict[str, Any]:
        """The options that decide the catalog's content (a store built with others is rebuilt)."""
        return {"tracks": self.tracks, "seconds": self.seconds, "seed": self.seed}


@dataclass
class DemoReport:
    """What a run did, with wall-clock seconds per stage."""

    store: Path
    synthesized: int
    ingested: int
    skipped: int
    failed: int
    timings: dict[str, float] = field(default_factory=dict)
    model_check: dict[str, float] = field(default_factory=dict)
    voice_files: list[Path] = field(default_factory=list)
    queries: list[dict[str, Any]] = field(default_factory=list)


# -- building the catalog --------------------------------------------------------------------------


def prepare_store(store: Path, config: DemoConfig) -> None:
    """Make ``store`` ready for this demo, reusing an earlier demo built with the same options.

    Nothing is ever deleted: the store may since hold the user's own music too.

    Raises:
        UsageError: ``store`` holds something other than this demo.
    """
    marker = store / MARKER_FILE
    if marker.is_file():
        built = json.loads(marker.read_text(encoding="utf-8")).get("catalog", {})
        if built != config.catalog_key():
            options = " ".join(f"--{name} {value:g}" for name, value in built.items() if name != "seed")
            raise UsageError(f"{store} holds a demo built with {options}; run with those options or use another --store")
        return
    if store.exists() and (not store.is_dir() or any(store.iterdir())):
        raise UsageError(
            f"{store} is not empty and is not an Undertone demo store; the demo builds its own catalog, "
            "so give it a new or empty directory (--store DIR), or no --store for a temporary one"
        )
    store.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"about": DISCLOSURE, "catalog": config.catalog_key()}, indent=2) + "\n", encoding="utf-8")


def _render_track(entry_fields: dict[str, Any], path: str, seconds: float) -> None:
    """Worker: render one catalog entry to an audio file (top level so it pickles to subprocesses)."""
    from recommender.audio import write_audio
    from recommender.synth import CatalogEntry

    music = CatalogEntry(**entry_fields).render(seconds)
    final = Path(path)
    partial = final.with_name(f".{final.stem}.partial{final.suffix}")  # a file that exists is complete
    write_audio(partial, music.waveform, music.sample_rate)
    os.replace(partial, final)


@dataclass(frozen=True)
class BuiltCatalog:
    manifest: Path
    synthesized: int  # files rendered now (the others were already there)
    processes: int  # how many processes rendered them


def build_catalog(store: Path, config: DemoConfig, progress: Callable[[int], None] | None = None) -> BuiltCatalog:
    """Synthesize the catalog's audio files (those not there yet) and write its manifest."""
    from recommender.synth import demo_catalog

    music = store / MUSIC_DIR
    music.mkdir(parents=True, exist_ok=True)
    entries = demo_catalog(config.tracks, seed=config.seed)
    # Mostly FLAC, every fourth track Ogg Vorbis: a catalog is rarely one format.
    files = [music / f"{entry.file_stem}.{'ogg' if number % 4 == 3 else 'flac'}" for number, entry in enumerate(entries)]
    todo = [(entry, path) for entry, path in zip(entries, files) if not path.is_file()]
    workers = min(config.processes, os.cpu_count() or 1, len(todo) // 4)  # a pool pays off from a few tracks each
    if workers > 1:
        # Forking is cheap, but not once torch runs thread pools in this process (its children can hang
        # on them); then spawn fresh interpreters instead.
        context = multiprocessing.get_context("spawn" if "torch" in sys.modules else "fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = [pool.submit(_render_track, asdict(entry), str(path), config.seconds) for entry, path in todo]
            for done, future in enumerate(futures, start=1):
                future.result()
                if progress:
                    progress(done)
    else:
        for done, (entry, path) in enumerate(todo, start=1):
            _render_track(asdict(entry), str(path), config.seconds)
            if progress:
                progress(done)
    manifest = music / MANIFEST_FILE
    with manifest.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        # synth_valence/synth_arousal: what the synthesizer was asked for, kept apart from the model's
        # own valence/arousal predictions so the two can be compared.
        writer.writerow(["path", "title", "artist", "album", "genre", "year", "licence", "synth_valence", "synth_arousal"])
        for entry, path in zip(entries, files):
            writer.writerow([path.name, entry.title, entry.artist, entry.album, entry.genre, entry.year, entry.licence, entry.valence, entry.arousal])
    return BuiltCatalog(manifest, len(todo), max(workers, 1) if todo else 0)


@dataclass
class VoiceQuery:
    emotion: str
    path: Path
    clip: SynthesizedSpeech


def write_voice_queries(store: Path, config: DemoConfig) -> list[VoiceQuery]:
    """One synthesized speech clip per emotion in ``config.voices``, as WAV files a user can reuse."""
    from recommender.audio import write_audio
    from recommender.synth import synthesize_speech

    queries = []
    for number, emotion in enumerate(config.voices):
        clip = synthesize_speech(emotion, seconds=4.0, speaker="female" if number % 2 == 0 else "male", seed=config.seed + number)
        path = write_audio(store / QUERIES_DIR / f"{emotion}_voice.wav", clip.waveform, clip.sample_rate)
        queries.append(VoiceQuery(emotion, path, clip))
    return queries


def describe_prosody(prosody: VoiceProsody) -> str:
    """e.g. ``pitch 270 Hz, range 9 st, 5.3 syllables/s, -17 dBFS, pressed voice``."""
    quality = "pressed voice" if prosody.tension > 0.4 else "breathy voice" if prosody.breathiness > 0.3 else "modal voice"
    ending = "rising" if prosody.final_slope > 0.5 else "falling" if prosody.final_slope < -0.5 else "level"
    return (
        f"pitch {prosody.pitch_hz:.0f} Hz, range {prosody.pitch_range:.0f} st, {prosody.syllables_per_second:.1f} syllables/s, "
        f"{prosody.loudness_dbfs:.0f} dBFS, {quality}, {ending} phrase ends"
    )


# -- running it ------------------------------------------------------------------------------------


def run_demo(store: Path, config: DemoConfig, settings: Settings, out: Print = print) -> DemoReport:
    """Build, ingest and search the demo catalog in ``store``, printing as it goes.

    Args:
        store: Demo store directory (created; an earlier demo with the same options is reused).
        config: What to build and ask.
        settings: Settings whose ``model`` (and ``lexicon``) are used; the store is always embedded.
        out: Where the narrative goes.

    Raises:
        UsageError: ``store`` is not a demo store, or another process owns it.
    """
    from recommender.errors import StoreBusyError
    from recommender.store import open_vector_store

    started = time.perf_counter()
    settings = settings.replace(store=store, qdrant_url=None, database_url=None, redis_url=None)
    prepare_store(store, config)
    report = DemoReport(store, 0, 0, 0, 0)
    manifest, voices = _synthesize(store, config, report, out)
    try:
        vectors = open_vector_store(settings)
    except StoreBusyError as error:
        raise UsageError(str(error)) from error
    try:
        model = _ingest(manifest, settings, vectors, config, report, out)
        _search(model, vectors, settings, voices, config, report, out)
    finally:
        vectors.close()
    report.timings["total"] = time.perf_counter() - started
    return report


def _synthesize(store: Path, config: DemoConfig, report: DemoReport, out: Print) -> tuple[Path, list[VoiceQuery]]:
    from recommender.synth import GENRES

    out(f"[1/3] Synthesizing {config.tracks} tracks ({config.seconds:g} s each, {len(GENRES)} genres) and {len(config.voices)} voices")
    clock = time.perf_counter()
    with ProgressBar("      synthesize", leave=False) as bar:
        catalog = build_catalog(store, config, lambda done: bar.update(done, config.tracks))
    voices = write_voice_queries(store, config)
    report.synthesized, report.voice_files = catalog.synthesized, [voice.path for voice in voices]
    report.timings["synthesis"] = time.perf_counter() - clock
    if catalog.synthesized:
        how = f"{catalog.synthesized} tracks with {catalog.processes} process{'es' if catalog.processes > 1 else ''}"
    else:
        how = "no new tracks [reused an earlier demo]"
    out(f"      {how} in {report.timings['synthesis']:.1f} s -> {catalog.manifest.parent}/ (FLAC + Ogg Vorbis, {MANIFEST_FILE}); "
        f"voices -> {store / QUERIES_DIR}/")
    return catalog.manifest, voices


def _ingest(manifest: Path, settings: Settings, vectors: VectorStore, config: DemoConfig, report: DemoReport, out: Print) -> EmotionModel:
    """Ingest with the real pipeline; returns the loaded model."""
    from ingest.pipeline import model_for, run_ingest

    out(f"[2/3] Ingesting {manifest.name} with the real pipeline and model {settings.model!r}")
    clock = time.perf_counter()
    model = model_for(settings)  # loaded once per process (a re-run in the same process reuses it)
    for tower in ("music_tower", "speech_tower", "text_tower"):  # built on first use: time them here
        getattr(model, tower)
    report.timings["model load"] = time.perf_counter() - clock
    clock = time.perf_counter()
    with ProgressBar("      ingest", leave=False) as bar:
        summary = run_ingest(manifest, settings, progress=lambda status: bar.update(status.processed, config.tracks), store=vectors, model=model)
    report.timings["ingestion"] = time.perf_counter() - clock
    report.ingested, report.skipped, report.failed = summary.ingested, summary.skipped, summary.failed
    out(f"      model loaded in {report.timings['model load']:.1f} s; {summary.ingested} ingested, {summary.skipped} unchanged, "
        f"{summary.failed} failed in {report.timings['ingestion']:.1f} s")
    for failure in summary.failures:
        out(f"      failed: {failure.path}: {failure.message}")
    report.model_check = _model_check(vectors)
    if report.model_check:
        check = report.model_check
        out(f"      model check: predicted vs synthesized valence r = {check['valence_r']:.2f}, "
            f"arousal r = {check['arousal_r']:.2f} (Pearson, {check['tracks']:.0f} tracks)")
    return model


def _search(model: EmotionModel, vectors: VectorStore, settings: Settings, voices: list[VoiceQuery], config: DemoConfig, report: DemoReport, out: Print) -> None:
    from recommender.search import Recommender

    out("[3/3] Searching")
    clock = time.perf_counter()
    recommender = Recommender(model, vectors, settings)
    asks: list[tuple[str, dict[str, Any]]] = [
        (f'synthetic voice, "{voice.emotion}" prosody ({describe_prosody(voice.clip.prosody)}): {voice.path}', {"speech": voice.path})
        for voice in voices
    ]
    asks.append((f'text: "{config.text}"', {"text": config.text}))
    asks.append((f'emotion word: "{config.emotion_word}"', {"emotion": config.emotion_word}))
    misheard = []
    for number, (title, query) in enumerate(asks, start=1):
        response = recommender.search(**query, k=config.k)
        out("")
        out(f"Query {number}/{len(asks)}: {title}")
        out("  " + _describe_query(response.query))
        for rank, result in enumerate(response.results, start=1):
            out(_format_result(rank, result))
        report.queries.append(response.to_dict(title))
        if number <= len(voices) and next(iter(response.query.emotions), None) != voices[number - 1].emotion:
            misheard.append(f"{voices[number - 1].emotion} as {next(iter(response.query.emotions))}")
    report.timings["queries"] = time.perf_counter() - clock
    if misheard:
        out("")
        out(f"Note: {len(misheard)} of {len(voices)} synthetic voices were heard as another emotion ({', '.join(misheard)}). "
            "The speech model learned from recorded human speech; a formant synthesizer's babble is far from it. "
            "Your own recorded voice is the real test.")


def _describe_query(analysis: Analysis) -> str:
    from recommender.explain import describe_va

    heard = ", ".join(f"{label.replace('_', ' ')} {p:.2f}" for label, p in list(analysis.emotions.items())[:3])
    return f"heard: {heard} -> V {analysis.valence:.2f}, A {analysis.arousal:.2f} ({describe_va(analysis.valence, analysis.arousal)})"


def _format_result(rank: int, result: Result) -> str:
    meta = result.payload
    made = ""
    if "synth_valence" in meta and "synth_arousal" in meta:
        made = f"; synthesized as V {float(meta['synth_valence']):.2f}, A {float(meta['synth_arousal']):.2f}"
    return (
        f"  {rank}. {result.score:.3f}  \"{meta.get('title', Path(result.path or '').stem)}\" by {meta.get('artist', '?')}"
        f"  [{meta.get('genre', '?')}, {meta.get('year', '?')}]\n"
        f"       why: {result.why}{made}"
    )


def _model_check(vectors: VectorStore) -> dict[str, float]:
    """Pearson correlation between the model's predicted VA and the VA each track was synthesized for."""
    rows, offset = [], None
    while True:
        points, offset = vectors.scroll(limit=1000, offset=offset)
        for point in points:
            payload = point.payload
            if all(key in payload for key in ("valence", "arousal", "synth_valence", "synth_arousal")):
                rows.append([float(payload[key]) for key in ("valence", "arousal", "synth_valence", "synth_arousal")])
        if offset is None:
            break
    if len(rows) < 3:
        return {}
    values = np.asarray(rows)
    correlation = lambda a, b: float(np.corrcoef(a, b)[0, 1]) if np.std(a) > 0 and np.std(b) > 0 else float("nan")  # noqa: E731
    return {"tracks": float(len(rows)), "valence_r": correlation(values[:, 0], values[:, 2]), "arousal_r": correlation(values[:, 1], values[:, 3])}


# -- command line ----------------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="try Undertone end to end on a synthesized catalog (offline, about a minute)",
        description=(
            "Synthesize a small music catalog and a few voices, ingest the catalog with the real pipeline and "
            "model, and search it, printing ranked, explained results. " + DISCLOSURE
        ),
    )
    parser.add_argument("--store", help="build the demo store here and keep it (default: a temporary directory)")
    parser.add_argument("--tracks", type=int, default=DemoConfig.tracks, metavar="N", help=f"catalog size (default {DemoConfig.tracks})")
    parser.add_argument("--seconds", type=float, default=DemoConfig.seconds, metavar="S", help=f"length of each track (default {DemoConfig.seconds:g})")
    parser.add_argument("-k", type=int, default=DemoConfig.k, metavar="N", help=f"results per query (default {DemoConfig.k})")
    parser.add_argument("--keep", action="store_true", help="keep the temporary store (a --store is always kept)")
    parser.add_argument("--model", help="emotion model: 'builtin' or a model directory")
    parser.add_argument("--json", metavar="FILE", help="also write the run's report (timings, queries, results) to FILE")
    parser.set_defaults(handler=run_demo_command)


def run_demo_command(args: argparse.Namespace) -> int:
    if args.tracks < 1:
        raise UsageError("--tracks must be at least 1")
    if not 2.0 <= args.seconds <= 600.0:
        raise UsageError("--seconds must be between 2 and 600")
    if args.k < 1:
        raise UsageError("-k must be at least 1")
    config = DemoConfig(tracks=args.tracks, seconds=args.seconds, k=args.k)
    temporary = args.store is None
    store = Path(tempfile.mkdtemp(prefix="undertone-demo-")) if temporary else Path(args.store).expanduser().resolve()
    keep = args.keep or not temporary
    settings = Settings.load(model=args.model)

    print("Undertone demo")
    print(f"  {DISCLOSURE}")
    print(f"  Store: {store}" + ("" if keep else " (temporary, deleted at the end; --keep or --store DIR keeps it)"))
    try:
        report = run_demo(store, config, settings)
    finally:
        if not keep:
            shutil.rmtree(store, ignore_errors=True)
    timings = report.timings
    print("")
    print(
        f"Done in {timings['total']:.1f} s: synthesis {timings['synthesis']:.1f} s, model load {timings['model load']:.1f} s, "
        f"ingestion {timings['ingestion']:.1f} s, {len(report.queries)} queries {timings['queries']:.1f} s."
    )
    print("The music and voices above were synthesized by Undertone's code; with your own music and voice it works the same way.")
    if args.json:
        Path(args.json).write_text(json.dumps(_report_dict(report), indent=2, default=str) + "\n", encoding="utf-8")
    if keep:
        print("Go on with this store:")
        for command, what in _next_steps(store, report):
            print(f"  {command}\n      {what}")
    else:
        print("Run `undertone demo --store DIR` to keep the store and go on with `undertone dashboard --store DIR`.")
    return 0 if report.failed == 0 else 1


def _next_steps(store: Path, report: DemoReport) -> Sequence[tuple[str, str]]:
    voice = report.voice_files[-1] if report.voice_files else "my_voice.wav"
    return (
        (f"undertone dashboard --store {store}", "search, filter and listen in the browser"),
        (f"undertone search {voice} --store {store}", "search with a clip; record yourself and try my_voice.wav"),
        (f"undertone search --emotion tender --where genre=piano,ambient --store {store}", "an emotion word, filtered (--text \"...\" for free text)"),
        (f"undertone ingest ~/Music --store {store}", "add your own music (better: a store of its own, e.g. the default ~/.undertone)"),
    )


def _report_dict(report: DemoReport) -> dict[str, Any]:
    data = asdict(report)
    data["store"] = str(report.store)
    data["about"] = DISCLOSURE
    return data
