"""``undertone search`` and ``undertone analyze``.

Speech queries may be audio files or videos (their sound track).

``undertone search --json`` is a stable contract for scripts: exactly one JSON object per query, one
per line, in the order the queries appear on the command line (speech files, ``--text``, ``--emotion``,
``--va``; speech files form one run of positional arguments)::

    {"query": "clip.wav", "kind": "speech", "emotion": {"sad": 0.61, ...}, "valence": 0.24, "arousal": 0.31,
     "results": [{"track_id": ..., "path": ..., "score": ..., "valence": ..., "arousal": ..., <payload>,
                  "parts": {"cosine": ..., "va_similarity": ..., "alpha": ...}, "why": "..."}, ...]}

``--like`` examples (catalog track ids or music files) form one query of kind ``like``, at the place of
the first ``--like``, with the ``--unlike`` examples in an ``unlike`` list::

    {"query": "3f2c...", "kind": "like", "unlike": ["storm.flac"], "emotion": ..., "results": [... "parts":
     {"cosine": ..., "va_similarity": ..., "alpha": ..., "liked": [0.93], "unliked": [0.12]}, ...]}

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

from recommender.cli.options import (
    add_ranking_arguments,
    add_store_arguments,
    json_default,
    open_recommender,
    positive_int,
    settings_from_args,
    unit_float,
)
from recommender.errors import UndertoneError, UsageError, error_reason

_WHERE = re.compile(r"^\s*([A-Za-z_][\w.\-]*)\s*(<=|>=|==|<|>|=)\s*(.*?)\s*$")
_RANGE_OPERATORS = {"<=": "lte", ">=": "gte", "<": "lt", ">": "gt"}
MAX_RESULTS = 100_000


@dataclass(frozen=True)
class Query:
    """One query as given on the command line."""

    kind: str  # speech | text | emotion | va | like
    value: str
    examples: tuple[str, ...] = ()  # the --like values of a like query


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
    search.add_argument("speech", nargs="*", action=_AppendQuery, const="speech", metavar="QUERY", help="speech audio or video file(s)")
    search.add_argument("--text", action=_AppendQuery, const="text", help="free-text query (repeatable)")
    search.add_argument("--emotion", action=_AppendQuery, const="emotion", metavar="WORD", help="emotion-word query (repeatable)")
    search.add_argument("--va", action=_AppendQuery, const="va", metavar="V,A", help="valence,arousal query in 0-1 (repeatable)")
    search.add_argument(
        "--like", action=_AppendQuery, const="like", metavar="TRACK_ID_OR_FILE",
        help="more like this: a catalog track id or a music file (repeatable; all --like examples form one query)",
    )
    search.add_argument("--unlike", action="append", default=[], metavar="TRACK_ID_OR_FILE", help="... and not like this (with --like; repeatable)")
    add_ranking_arguments(search)
    search.add_argument("-k", type=result_count, default=10, help=f"results per query (default 10, at most {MAX_RESULTS})")
    search.add_argument("--json", action="store_true", help="one JSON object per query per line")
    search.add_argument(
        "--visual-weight", type=unit_float, metavar="W",
        help="video queries: also watch the picture (motion, cuts, brightness, colour) and fuse its emotion at weight W (0-1; 0 shows it only)",
    )
    search.add_argument("--shortlist", metavar="NAME", help="also save every result into this shortlist (see undertone shortlist)")
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


def result_count(text: str) -> int:
    value = positive_int(text)
    if value > MAX_RESULTS:
        raise argparse.ArgumentTypeError(f"at most {MAX_RESULTS} results per query, got {value}")
    return value


def parse_where_arguments(items: Sequence[str]) -> dict[str, Any]:
    """``["genre=rock,pop", "duration<=300", "year>=2000"]`` -> a :data:`~recommender.store.Where` filter.

    An item is ``key=value`` (``==`` works too; a comma makes an any-of list; ``"..."`` or ``'...'``
    quote a value, which is then always text), ``key<=N`` and the other ranges (ranges on the same key
    combine), or a JSON object in the API's form (``'{"year": {"gte": 2000}}'``). An unquoted value
    that reads as a number matches that number or the same text, so ``year=007`` finds a manifest's
    ``"007"`` as well as 7.

    Raises:
        UsageError: An item that cannot be read, or a key filtered twice in incompatible ways.
    """
    where: dict[str, Any] = {}
    for item in items:
        if item.lstrip().startswith("{"):
            for key, value in _json_filter(item).items():
                if key in where:
                    raise UsageError(f"--where {item!r}: {key} is already filtered")
                where[key] = value
            continue
        match = _WHERE.match(item)
        if not match or not match.group(3):
            raise UsageError(
                f"--where {item!r}: expected key=value, key=a,b, key<=N, key>=N, key<N, key>N or a JSON object"
            )
        key, operator, raw = match.groups()
        if raw[0] in "=<>!":
            raise UsageError(f"--where {item!r}: the value starts with {raw[0]!r}; operators are =, <=, >=, < and >")
        if operator in ("=", "=="):
            if key in where:
                raise UsageError(f"--where {item!r}: {key} is already filtered")
            values = [alternative for part in _split_values(item, raw) for alternative in _alternatives(part)]
            where[key] = values[0] if len(values) == 1 else values
            continue
        number = _scalar(raw)
        if not isinstance(number, (int, float)):
            raise UsageError(f"--where {item!r}: {operator} needs a number")
        bounds = where.setdefault(key, {})
        if not isinstance(bounds, dict) or set(bounds) - set(_RANGE_OPERATORS.values()):
            raise UsageError(f"--where {item!r}: {key} already has an equality filter")
        bounds[_RANGE_OPERATORS[operator]] = number
    return where


def checked_where(items: Sequence[str]) -> dict[str, Any]:
    """The ``--where`` filter, validated as the store will read it, and echoed on stderr (what was understood)."""
    from recommender.store import parse_where

    where = parse_where_arguments(items)
    try:
        parse_where(where)
    except UndertoneError as error:
        raise UsageError(f"--where: {error}") from error
    if where:
        print(f"undertone: filter {json.dumps(where, ensure_ascii=False)}", file=sys.stderr, flush=True)
    return where


def _json_filter(item: str) -> dict[str, Any]:
    try:
        value = json.loads(item)
    except RecursionError:
        raise UsageError("--where: the JSON filter is nested too deeply") from None
    except ValueError as error:
        raise UsageError(f"--where {item!r}: not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise UsageError(f"--where {item!r}: a JSON filter is an object, e.g. '{{\"genre\": \"jazz\"}}'")
    return value


_VALUE = re.compile(r"""\s*(?:"([^"]*)"|'([^']*)'|([^,"']*?))\s*(,|$)""")


def _split_values(item: str, raw: str) -> list[str | tuple[str]]:
    """The comma-separated values of ``key=...``; a quoted value comes back as a 1-tuple (always text)."""
    values: list[str | tuple[str]] = []
    position = 0
    while position < len(raw):
        match = _VALUE.match(raw, position)
        if match is None or match.end() == position:
            raise UsageError(f"--where {item!r}: unbalanced quotes or a quote inside a value")
        double, single, bare, _ = match.groups()
        quoted = double if double is not None else single
        if quoted is not None:
            values.append((quoted,))
        elif bare:
            values.append(bare)
        position = match.end()
    if not values:
        raise UsageError(f"--where {item!r}: no value")
    return values


def _alternatives(value: str | tuple[str]) -> list[Any]:
    """What one ``key=value`` value matches: quoted text as is; a number as the number or its text."""
    if isinstance(value, tuple):
        return [value[0]]
    number = _scalar(value)
    return [value] if isinstance(number, str) else [number, value]


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
    queries = merge_like_queries(args.queries)
    if args.unlike and not any(query.kind == "like" for query in queries):
        raise UsageError("--unlike needs at least one --like example")
    if not queries:
        raise UsageError("nothing to search for: give speech files and/or --text, --emotion, --va, --like")
    where = checked_where(args.where)
    try:
        recommender = open_recommender(args)
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
                if args.shortlist and response.results:
                    _save_to_shortlist(args, query, [result.track_id for result in response.results])
            except UndertoneError as error:
                failures += 1
                _report_failure(query, error, args.json)
                continue
            if args.json:
                record: dict[str, Any] = {"query": query.value, "kind": query.kind}
                if query.kind == "like":
                    record["unlike"] = list(args.unlike)
                record.update((key, value) for key, value in response.to_dict().items() if key != "query")
                print(json.dumps(record, ensure_ascii=False, default=json_default), flush=True)
            else:
                print(format_response(query, response), flush=True)
    return 1 if failures else 0


def _save_to_shortlist(args: argparse.Namespace, query: Query, track_ids: list[str]) -> None:
    from ingest.catalog import open_catalog
    from ingest.shortlists import Shortlists

    with open_catalog(settings_from_args(args)) as catalog:
        added = Shortlists(catalog).add(args.shortlist, track_ids, note=f"{query.kind} {query.value}")
    print(f"undertone search: {len(added)} new track(s) saved to shortlist {args.shortlist!r}", file=sys.stderr, flush=True)


def _run_query(recommender, query: Query, args: argparse.Namespace, where: dict[str, Any]):
    options = dict(k=args.k, where=where or None, rerank=args.rerank, per_artist=args.per_artist)
    if query.kind == "speech":
        return recommender.search(query.value, visual_weight=args.visual_weight, **options)
    if query.kind == "text":
        return recommender.search(text=query.value, **options)
    if query.kind == "emotion":
        return recommender.search(emotion=query.value, **options)
    if query.kind == "like":
        return recommender.similar(list(query.examples), list(args.unlike), **options)
    return recommender.search(va=parse_va(query.value), **options)


def merge_like_queries(queries: Sequence[Query]) -> list[Query]:
    """All ``--like`` examples as one query, where the first one was given."""
    examples = tuple(query.value for query in queries if query.kind == "like")
    merged: list[Query] = []
    for query in queries:
        if query.kind != "like":
            merged.append(query)
        elif not any(q.kind == "like" for q in merged):
            merged.append(Query("like", ", ".join(examples), examples))
    return merged


def _report_failure(query: Query, error: BaseException, as_json: bool, command: str = "search") -> None:
    print(f"undertone {command}: {query.kind} query {query.value!r}: {error}", file=sys.stderr, flush=True)
    if as_json:
        print(json.dumps({"query": query.value, "kind": query.kind, "error": str(error), "reason": error_reason(error)}, ensure_ascii=False), flush=True)


def format_response(query: Query, response) -> str:
    """Human-readable ranking: what was heard, then one row per track with its explanation."""
    from recommender.explain import describe_va
    from recommender.timeline import describe_track

    analysis = response.query
    heard = ", ".join(f"{label} {p:.2f}" for label, p in list(analysis.emotions.items())[:3])
    lines = [
        f"{query.kind} {query.value}",
        f"  {'examples' if query.kind == 'like' else 'heard'}: {heard} | valence {analysis.valence:.2f}, arousal {analysis.arousal:.2f} ({describe_va(analysis.valence, analysis.arousal)})",
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
    with open_recommender(args) as recommender:
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
                print(json.dumps(record, ensure_ascii=False, default=json_default), flush=True)
            else:
                heard = ", ".join(f"{label} {p:.2f}" for label, p in list(analysis.emotions.items())[:3])
                print(f"{clip}: {heard} | valence {analysis.valence:.2f}, arousal {analysis.arousal:.2f} "
                      f"({describe_va(analysis.valence, analysis.arousal)}), {analysis.duration or 0:.1f} s", flush=True)
    return 1 if failures else 0
