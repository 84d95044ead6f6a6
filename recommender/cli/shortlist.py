"""``undertone shortlist``: named lists of chosen tracks, kept in the catalog database.

::

    undertone shortlist add "Episode 3" TRACK_ID_OR_PATH ... [--note "for the opening"]
    undertone shortlist list                      # every shortlist and its size
    undertone shortlist list "Episode 3"          # its tracks
    undertone shortlist remove "Episode 3" TRACK_ID_OR_PATH ...    (or --all: delete the shortlist)
    undertone shortlist export "Episode 3" --format csv|m3u [-o FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from recommender.cli.options import add_store_arguments, settings_from_args
from recommender.errors import UsageError


def register(subparsers: argparse._SubParsersAction) -> None:
    shortlist = subparsers.add_parser(
        "shortlist",
        help="save chosen tracks into named shortlists; list, remove, export as CSV or M3U",
        description="Named lists of chosen tracks, stored in the catalog database.",
    )
    actions = shortlist.add_subparsers(dest="action", metavar="ACTION", required=True)

    add = actions.add_parser("add", help="add tracks (catalog ids or ingested file paths) to a shortlist, creating it")
    add.add_argument("name", help="shortlist name")
    add.add_argument("tracks", nargs="+", metavar="TRACK_ID_OR_PATH")
    add.add_argument("--note", help="a note kept with these tracks")

    listing = actions.add_parser("list", help="every shortlist, or the tracks of one")
    listing.add_argument("name", nargs="?", help="shortlist name (omit to list the shortlists)")
    listing.add_argument("--json", action="store_true", help="machine-readable output")

    remove = actions.add_parser("remove", help="take tracks off a shortlist (--all deletes the shortlist)")
    remove.add_argument("name", help="shortlist name")
    remove.add_argument("tracks", nargs="*", metavar="TRACK_ID_OR_PATH")
    remove.add_argument("--all", action="store_true", help="delete the whole shortlist")

    export = actions.add_parser("export", help="write a shortlist as CSV (title, artist, path, licence, metadata) or M3U")
    export.add_argument("name", help="shortlist name")
    export.add_argument("--format", choices=("csv", "m3u"), default=None, help="default: from the -o suffix, else csv")
    export.add_argument("-o", "--output", metavar="FILE", help="write here instead of standard output")

    for parser in (add, listing, remove, export):
        add_store_arguments(parser)
        parser.set_defaults(handler=run_shortlist)


def run_shortlist(args: argparse.Namespace) -> int:
    from ingest.catalog import open_catalog
    from ingest.shortlists import Shortlists, to_csv, to_m3u

    with open_catalog(settings_from_args(args)) as catalog:
        shortlists = Shortlists(catalog)
        if args.action == "add":
            added = shortlists.add(args.name, args.tracks, note=args.note)
            skipped = len(args.tracks) - len(added)
            print(f"{args.name}: added {len(added)} track(s)" + (f", {skipped} already on it" if skipped else ""))
        elif args.action == "remove":
            if args.all == bool(args.tracks):
                raise UsageError("give the tracks to remove, or --all to delete the shortlist")
            if args.all:
                shortlists.delete(args.name)
                print(f"{args.name}: deleted")
            else:
                print(f"{args.name}: removed {shortlists.remove(args.name, args.tracks)} track(s)")
        elif args.action == "list":
            _print_listing(shortlists, args.name, as_json=args.json)
        else:
            entries = shortlists.entries(args.name)
            kind = args.format or ("m3u" if args.output and Path(args.output).suffix.lower() in (".m3u", ".m3u8") else "csv")
            text = to_m3u(args.name, entries) if kind == "m3u" else to_csv(entries)
            if args.output:
                Path(args.output).write_text(text, encoding="utf-8")
                print(f"{args.name}: {len(entries)} track(s) written to {args.output} ({kind})", file=sys.stderr)
            else:
                sys.stdout.write(text)
    return 0


def _print_listing(shortlists, name: str | None, *, as_json: bool) -> None:
    if name is None:
        summaries = shortlists.summaries()
        if as_json:
            print(json.dumps([vars(summary) for summary in summaries], ensure_ascii=False))
            return
        if not summaries:
            print("no shortlists yet: undertone shortlist add NAME TRACK_ID ...")
        for summary in summaries:
            print(f"{summary.name}  ({summary.tracks} tracks, changed {summary.updated_at})")
        return
    entries = shortlists.entries(name)
    if as_json:
        print(json.dumps([entry.row() for entry in entries], ensure_ascii=False, default=str))
        return
    print(f"{name}: {len(entries)} track(s)")
    for entry in entries:
        payload = entry.payload
        title = payload.get("title") or Path(str(payload.get("path", ""))).name
        artist = f" - {payload['artist']}" if payload.get("artist") else ""
        gone = "  (no longer in the catalog)" if not entry.in_catalog else ""
        note = f"  [{entry.note}]" if entry.note else ""
        print(f"  {entry.position:>3}. {title}{artist}  {payload.get('path', '')}  {entry.track_id}{note}{gone}")
