"""``undertone timeline``: emotion over time of a long recording or a video, and a music cue sheet for it.

On a video, cues start on its shot boundaries, and ``--export`` writes the cue sheet as CSV, JSON or a
CMX3600 EDL (by suffix) with timecodes at the video's frame rate (``--fps`` for audio, default 25).
"""

from __future__ import annotations

import argparse
import json
import sys
from fractions import Fraction

from recommender.cli.options import (
    add_ranking_arguments,
    add_store_arguments,
    json_default,
    open_recommender,
    positive_float,
    unit_float,
)
from recommender.cli.progress import ProgressBar
from recommender.cli.search import checked_where
from recommender.errors import UsageError


def register(subparsers: argparse._SubParsersAction) -> None:
    timeline = subparsers.add_parser(
        "timeline",
        help="emotion over time of long speech or a video and a music cue sheet for it",
        description="Cut long speech (audiobook chapter, podcast, a video's sound track) at pauses, follow its emotion, "
        "group stable passages into cues (starting on the video's cuts) and propose a track for each, without repeats.",
    )
    timeline.add_argument("source", metavar="LONG_SPEECH", help="speech recording or video (any length)")
    timeline.add_argument("--segment-seconds", type=positive_float, default=10.0, help="target analysis segment length (default 10)")
    timeline.add_argument("--min-cue-seconds", type=positive_float, default=60.0, help="shortest cue (default 60)")
    timeline.add_argument("--smoothing-seconds", type=float, default=20.0, help="emotion smoothing over time (default 20)")
    timeline.add_argument("--change-threshold", type=positive_float, default=0.15, help="VA change that opens a new cue (default 0.15)")
    timeline.add_argument("--alternatives", type=int, default=2, help="runner-up tracks per cue (default 2)")
    timeline.add_argument(
        "--visual-weight", type=unit_float, default=0.0, metavar="W", help="weight of the picture's emotion in each cue of a video (default 0: audio only)"
    )
    timeline.add_argument("--snap-seconds", type=float, default=10.0, help="how far a cue may move to start on a video cut (default 10)")
    timeline.add_argument(
        "--export", action="append", default=[], metavar="FILE", help="write the cue sheet: .csv, .json or .edl (CMX3600), repeatable"
    )
    timeline.add_argument("--fps", type=frame_rate, metavar="RATE", help="timecode frame rate: 25, 24000/1001 ... (default: the video's, else 25)")
    add_ranking_arguments(timeline)
    timeline.add_argument("--json", action="store_true", help="the timeline and cue sheet as one JSON object")
    add_store_arguments(timeline)
    timeline.set_defaults(handler=run_timeline)


def frame_rate(text: str) -> Fraction:
    try:
        rate = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"expected a frame rate like 25, 29.97 or 30000/1001, got {text!r}") from None
    if rate <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return rate


def run_timeline(args: argparse.Namespace) -> int:
    from recommender.client import Client
    from recommender.cuesheet import CUE_SHEET_FORMATS, Timecode, write_cue_sheet
    from recommender.timeline import TimelineConfig, build_timeline

    for path in args.export:
        if not path.lower().endswith(CUE_SHEET_FORMATS):
            raise UsageError(f"--export {path}: cue sheets are written as {', '.join(CUE_SHEET_FORMATS)} (by the file's suffix)")
    options = dict(
        segment_seconds=args.segment_seconds, min_cue_seconds=args.min_cue_seconds, smoothing_seconds=args.smoothing_seconds,
        change_threshold=args.change_threshold, alternatives=args.alternatives, snap_seconds=args.snap_seconds,
        visual_weight=args.visual_weight,
    )
    config = TimelineConfig.from_options(**options)
    where = checked_where(args.where) or None
    recommender = open_recommender(args)
    with recommender:
        if isinstance(recommender, Client):
            timeline = recommender.timeline(args.source, where=where, rerank=args.rerank, per_artist=args.per_artist, **options)
        else:
            with ProgressBar("analyse", unit="s", disable=args.json) as bar:
                timeline = build_timeline(
                    recommender, args.source, config, where=where, rerank=args.rerank, per_artist=args.per_artist, progress=bar.update
                )
    timecode = Timecode(args.fps or timeline.frame_rate or 25)
    for path in args.export:
        written = write_cue_sheet(timeline, path, timecode)
        print(f"cue sheet written: {written} ({timecode.rate} fps{', drop-frame' if timecode.drop_frame else ''})", file=sys.stderr)
    if args.json:
        print(json.dumps(timeline.to_dict(), ensure_ascii=False, default=json_default))
    else:
        print(timeline.to_text())
    return 0
