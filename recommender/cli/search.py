"""``undertone search``, ``undertone analyze`` and ``undertone timeline``.

``undertone search --json`` is a stable contract for scripts: exactly one JSON object per query, one
per line, in the order the queries appear on the command line (speech files, ``--text``, ``--emotion``,
``--va``; speech files form one run of positional arguments)::

    {"query": "clip.wav", "kind": "speech", "emotion": {"sad": 0.61, ...}, "valence": 0.24, "arousal": 0.31,
     "results": [{"track_id": ..., "path": ..., "score": ..., "valence": ..., "arousal": ..., <payload>,
                  "parts": {"cosine": ..., "va_similarity": ..., "alpha": ...}, "why": "..."}, ...]}

A query that fails yields ``{"query": ..., "kind": ..., "error": "...", "reason": "..."}`` instead (and a
message on stderr); the exit code is then 1. The model and store are opened once for all queries.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from recommender.cli.options import add_store_arguments, settings_from_args
from recommender.cli.progress import ProgressBar
from recommender.errors import UndertoneError, UsageError, error_reason

_WHERE = re.compile(r"^\s*([A-Za-z_][\w.\-]*)\s*(<=|>=|<|>|=)\s*(.*?)\s*$")
_RANGE_OPERATORS = {"<=": "lte", ">=": "gte", "<": "lt", ">": "gt"}


@dataclass(frozen=True)
class Query:
    """One query as given on the command line."""

    kind: str  # speech | text | emotion | va
    value: str


class _AppendQuery(argparse.Action):
    """Collects queries of every kind into one list, in command-line order."""

    def __call__(self, parser, namespace, values, option_string=None):
        queries = list(getattr(namespace, "queries", None) or [])
        for value in values if isinstance(values, list) else [values]:
            queries.append(Query(self.const, value))
        namespace.queries = queries


def register(subparsers: argparse._SubParsersAction) -> None:
    search = subparsers.add_parser(
        "search",
        help="recommend tracks for speech clips, text, emotion words or valence-arousal points",
        description="Recommend tracks whose emotion matches each query. Many queries load the model once.",
    )
    search.add_argument("speech", nargs="*", action=_AppendQuery, const="speech", metavar="QUERY", help="speech audio file(s)")
    search.add_argument("--text", action=_AppendQuery, const="text", help="free-text query (repeatable)")
    search.add_argument("--emotion", action=_AppendQuery, const="emotion", metavar="WORD", help="emotion-word query (repeatable)")
    search.add_argument("--va", action=_AppendQuery, const="va", metavar="V,A", help="valence,arousal query in 0-1 (repeatable)")
    _add_ranking_arguments(search)
    search.add_argument("-k", type=_positive_int, default=10, help="results per query (default 10)")
    search.add_argument("--json", action="store_true", help="one JSON object per query per line")
    add_store_arguments(search)
    search.set_defaults(handler=run_search, queries=[])

    analyze = subparsers.add_parser(
        "analyze",
        help="the emotion heard in speech clips (no catalog search)",
        description="Print the emotions, valence and arousal the model hears in each speech clip.",
    )
    analyze.add_argument("speech", nargs="+", metavar="CLIP", help="speech audio file(s)")
    analyze.add_argument("--transcript", help="what is said (blended with the voice); applies to every clip")
    analyze.add_argument("--json", action="store_true", help="one JSON object per clip per line")
    add_store_arguments(analyze)
    analyze.set_defaults(handler=run_analyze)

    timeline = subparsers.add_parser(
        "timeline",
        help="emotion over time of long speech and a music cue sheet for it",
        description="Cut long speech (audiobook chapter, podcast) at pauses, follow its emotion, group stable "
        "passages into cues and propose a track for each, without repeats.",
    )
    timeline.add_argument("source", metavar="LONG_SPEECH", help="speech recording (any length)")
    timeline.add_argument("--segment-seconds", type=_positive_float, default=10.0, help="target analysis segment length (default 10)")
    timeline.add_argument("--min-cue-seconds", type=_positive_float, default=60.0, help="shortest cue (default 60)")
    timeline.add_argument("--smoothing-seconds", type=float, default=20.0, help="emotion smoothing over time (default 20)")
    timeline.add_argument("--change-threshold", type=_positive_float, default=0.15, help="VA change that opens a new cue (default 0.15)")
    timeline.add_argument("--alternatives", type=int, default=2, help="runner-up tracks per cue (default 2)")
    _add_ranking_arguments(timeline)
    timeline.add_argument("--json", action="store_true", help="the timeline and cue sheet as one JSON object")
    add_store_arguments(timeline)
    timeline.set_defaults(handler=run_timeline)


def _add_ranking_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--where", action="append", default=[], metavar="FILTER",
        help="payload filter, repeatable: genre=rock, genre=rock,pop (any of), duration<=300, year>=2000",
    )
    parser.add_argument("--rerank", type=float, metavar="ALPHA", help="weight of valence-arousal similarity in the score (0-1)")
    parser.add_argument("--per-artist", type=_positive_int, metavar="N", help="at most N tracks per artist")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def parse_where_arguments(items: Sequence[str]) -> dict[str, Any]:
    """``["genre=rock,pop", "duration<=300", "year>=2000"]`` -> a :data:`~recommender.store.Where` filter.

    Equality values are numbers when they parse as numbers; a comma makes an any-of list. Ranges on
    the same key combine (``duration>=30 duration<=300``).
    """
    where: dict[str, Any] = {}
    for item in items:
        match = _WHERE.match(item)
        if not match or not match.group(3):
            raise UsageError(f"--where {item!r}: expected key=value, key=a,b, key<=N, key>=N, key<N or key>N")
        key, operator, raw = match.groups()
        if operator == "=":
            if key in where:
                raise UsageError(f"--where {item!r}: {key} is already filtered")
            values = [_scalar(part.strip()) for part in raw.split(",") if part.strip()]
            where[key] = values[0] if len(values) == 1 else values
            continue
        number = _scalar(raw)
        if not isinstance(number, (int, float)):
            raise UsageError(f"--where {item!r}: {operator} needs a number")
        bounds = where.setdefault(key, {})
        if not isinstance(bounds, dict):
            raise UsageError(f"--where {item!r}: {key} already has an equality filter")
        bounds[_RANGE_OPERATORS[operator]] = number
    return where


def _scalar(text: str) -> Any:
    for kind in (int, float):
        try:
            value = kind(text)
        except ValueError:
            continue
        if isinstance(value, float) and not math.isfinite(value):
            break
        return value
    return text


def parse_va(text: str) -> tuple[float, float]:
    try:
        valence, arousal = (float(part) for part in text.split(","))
    except ValueError:
        raise UsageError(f"--va {text!r}: expected VALENCE,AROUSAL, e.g. 0.2,0.8") from None
    return valence, arousal


# -- search -----------------------------------------------------------------------------------------


def run_search(args: argparse.Namespace) -> int:
    queries: list[Query] = args.queries
    if not queries:
        raise UsageError("nothing to search for: give speech files and/or --text, --emotion, --va")
    where = parse_where_arguments(args.where)
    from recommender.store import parse_where

    try:
        parse_where(where)
    except UndertoneError as error:
        raise UsageError(f"--where: {error}") from error
    try:
        recommender = _open_recommender(args)
    except UndertoneError as error:
        # Every query still gets its line, so scripts can rely on one object per query.
        for query in queries:
            _report_failure(query, error, args.json)
        return 1
    failures = 0
    with recommender:
        for query in queries:
            try:
                response = _run_query(recommender, query, args, where)
            except UndertoneError as error:
                failures += 1
                _report_failure(query, error, args.json)
                continue
            if args.json:
                record = {"query": query.value, "kind": query.kind}
                record.update((key, value) for key, value in response.to_dict().items() if key != "query")
                print(json.dumps(record, ensure_ascii=False, default=_json_default), flush=True)
            else:
                print(format_response(query, response), flush=True)
    return 1 if failures else 0


def _run_query(recommender, query: Query, args: argparse.Namespace, where: dict[str, Any]):
    options = dict(k=args.k, where=where or None, rerank=args.rerank, per_artist=args.per_artist)
    if query.kind == "speech":
        return recommender.search(query.value, **options)
    if query.kind == "text":
        return recommender.search(text=query.value, **options)
    if query.kind == "emotion":
        return recommender.search(emotion=query.value, **options)
    return recommender.search(va=parse_va(query.value), **options)


def _open_recommender(args: argparse.Namespace):
    """The ``undertone serve`` owning the store (or at ``UNDERTONE_URL``) when one runs, else the store opened here."""
    from recommender.client import Client
    from recommender.search import Recommender

    settings = settings_from_args(args)
    return Client.discover(settings) or Recommender.open(settings=settings)


def _report_failure(query: Query, error: BaseException, as_json: bool, command: str = "search") -> None:
    print(f"undertone {command}: {query.kind} query {query.value!r}: {error}", file=sys.stderr, flush=True)
    if as_json:
        print(json.dumps({"query": query.value, "kind": query.kind, "error": str(error), "reason": error_reason(error)}, ensure_ascii=False), flush=True)


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def format_response(query: Query, response) -> str:
    """Human-readable ranking: what was heard, then one row per track with its explanation."""
    from recommender.explain import describe_va
    from recommender.timeline import describe_track

    analysis = response.query
    heard = ", ".join(f"{label} {p:.2f}" for label, p in list(analysis.emotions.items())[:3])
    lines = [
        f"{query.kind} {query.value}",
        f"  heard: {heard} | valence {analysis.valence:.2f}, arousal {analysis.arousal:.2f} ({describe_va(analysis.valence, analysis.arousal)})",
    ]
    if not response.results:
        lines.append("  no tracks match (check --where)")
    for rank, result in enumerate(response.results, start=1):
        genre = f" [{result.payload['genre']}]" if result.payload.get("genre") else ""
        lines.append(f"  {rank:>3}. {result.score:6.3f}  {describe_track(result)}{genre}  {result.path or ''}")
        lines.append(f"        {result.why}")
    return "\n".join(lines) + "\n"


# -- analyze ------------------------------------------------------------------------------------------


def run_analyze(args: argparse.Namespace) -> int:
    """One line (or JSON object) per clip: what was heard; failures are reported like ``search``'s."""
    from recommender.explain import describe_va

    failures = 0
    with _open_recommender(args) as recommender:
        for clip in args.speech:
            query = Query("speech", clip)
            try:
                analysis = recommender.analyze(clip, transcript=args.transcript)
            except UndertoneError as error:
                failures += 1
                _report_failure(query, error, args.json, "analyze")
                continue
            record = {"query": clip, "emotion": dict(analysis.emotions), "valence": analysis.valence, "arousal": analysis.arousal,
                      "duration": analysis.duration}
            if args.json:
                print(json.dumps(record, ensure_ascii=False, default=_json_default), flush=True)
            else:
                heard = ", ".join(f"{label} {p:.2f}" for label, p in list(analysis.emotions.items())[:3])
                print(f"{clip}: {heard} | valence {analysis.valence:.2f}, arousal {analysis.arousal:.2f} "
                      f"({describe_va(analysis.valence, analysis.arousal)}), {analysis.duration or 0:.1f} s", flush=True)
    return 1 if failures else 0


# -- timeline -----------------------------------------------------------------------------------------


def run_timeline(args: argparse.Namespace) -> int:
    from recommender.client import Client
    from recommender.timeline import TimelineConfig, build_timeline

    config = TimelineConfig.from_options(
        args.segment_seconds, args.min_cue_seconds, args.smoothing_seconds, args.change_threshold, args.alternatives
    )
    where = parse_where_arguments(args.where) or None
    recommender = _open_recommender(args)
    with recommender:
        if isinstance(recommender, Client):
            options = dict(
                segment_seconds=args.segment_seconds, min_cue_seconds=args.min_cue_seconds, smoothing_seconds=args.smoothing_seconds,
                change_threshold=args.change_threshold, alternatives=args.alternatives,
            )
            timeline = recommender.timeline(args.source, where=where, rerank=args.rerank, per_artist=args.per_artist, **options)
        else:
            with ProgressBar("analyse", unit="s", disable=args.json) as bar:
                timeline = build_timeline(
                    recommender, args.source, config, where=where, rerank=args.rerank, per_artist=args.per_artist, progress=bar.update
                )
    if args.json:
        print(json.dumps(timeline.to_dict(), ensure_ascii=False, default=_json_default))
    else:
        print(timeline.to_text())
    return 0
