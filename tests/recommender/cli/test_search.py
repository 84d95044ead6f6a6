"""``undertone search``: the JSON-lines contract, human output, filters and errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from recommender import cli
from recommender.cli.search import parse_where_arguments
from recommender.errors import UsageError
from recommender.model import EmotionModel
from recommender.store import EdgeVectorStore


@pytest.fixture
def counted_loads(model, monkeypatch):
    """EmotionModel.load returning the session's (real) model, counting calls."""
    calls = []

    def load(name_or_path="builtin", *, lexicon=None, music_max_windows=None):
        calls.append(str(name_or_path))
        return model

    monkeypatch.setattr(EmotionModel, "load", staticmethod(load))
    return calls


def run(argv, capsys):
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_json_lines_one_per_query_in_order_with_one_model_load(catalog, speech_clips, counted_loads, capsys):
    argv = [
        "search", str(speech_clips["sad"]), str(speech_clips["happy"]),
        "--emotion", "tender", "--va", "0.2,0.8", "--text", "what a lovely quiet evening",
        "--store", str(catalog["store"]), "-k", "3", "--json",
    ]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    lines = out.strip().splitlines()
    records = [json.loads(line) for line in lines]
    assert [(r["kind"], r["query"]) for r in records] == [
        ("speech", str(speech_clips["sad"])), ("speech", str(speech_clips["happy"])),
        ("emotion", "tender"), ("va", "0.2,0.8"), ("text", "what a lovely quiet evening"),
    ]
    assert counted_loads == ["builtin"]
    for record in records:
        assert list(record)[:6] == ["query", "kind", "emotion", "valence", "arousal", "results"]
        assert len(record["results"]) == 3
        assert sum(record["emotion"].values()) == pytest.approx(1.0, abs=1e-4)
        scores = [result["score"] for result in record["results"]]
        assert scores == sorted(scores, reverse=True)
        for result in record["results"]:
            assert {"track_id", "path", "score", "valence", "arousal", "title", "artist", "genre", "parts", "why"} <= set(result)
            assert set(result["parts"]) == {"cosine", "va_similarity", "alpha"}
    assert records[3]["valence"] == pytest.approx(0.2) and records[3]["arousal"] == pytest.approx(0.8)


def test_bad_queries_among_good_ones(catalog, speech_clips, silent_clip, not_audio, tmp_path, counted_loads, capsys):
    missing = tmp_path / "nope.wav"
    argv = [
        "search", str(speech_clips["calm"]), str(missing), str(silent_clip), str(not_audio),
        "--emotion", "blorp", "--va", "2,0.5", "--va", "half,half", "--emotion", "sad",
        "--store", str(catalog["store"]), "-k", "2", "--json",
    ]
    code, out, err = run(argv, capsys)
    assert code == 1
    records = [json.loads(line) for line in out.strip().splitlines()]
    assert [r["query"] for r in records] == [str(speech_clips["calm"]), str(missing), str(silent_clip), str(not_audio), "blorp", "2,0.5", "half,half", "sad"]
    assert "results" in records[0] and "results" in records[-1]
    reasons = [r.get("reason") for r in records[1:-1]]
    assert reasons == ["not_found", "silent", "corrupt", "unknown_emotion", "usage", "usage"]
    for record in records[1:-1]:
        assert set(record) == {"query", "kind", "error", "reason"} and record["error"]
    assert err.count("undertone search:") == 6
    assert "no such file" in err and "silent" in err and "unknown emotion word 'blorp'" in err


def test_human_output_and_where(catalog, counted_loads, capsys):
    argv = ["search", "--emotion", "calm", "--store", str(catalog["store"]), "--where", "genre=ambient,piano", "--where", "year>=2000"]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    assert out.startswith("emotion calm\n  heard: calm")
    ranked = [line for line in out.splitlines() if line.strip()[:2] in ("1.", "2.", "3.")]
    assert len(ranked) == 2  # Still Meadow (2015, ambient) and Snowfall (2003, ambient); Grey Harbour is 1998
    assert "Still Meadow - Ada [ambient]" in out and "Snowfall - Eli [ambient]" in out and "Grey Harbour" not in out
    assert "word -> track predicted" in out


def test_store_busy_gives_one_error_line_per_query(catalog, counted_loads, capsys):
    with EdgeVectorStore(catalog["settings"].vectors_path):
        code, out, err = run(["search", "--emotion", "sad", "--emotion", "happy", "--store", str(catalog["store"]), "--json"], capsys)
    assert code == 1
    records = [json.loads(line) for line in out.strip().splitlines()]
    assert [r["query"] for r in records] == ["sad", "happy"]
    assert all(r["reason"] == "store_busy" and "in use by process" in r["error"] for r in records)


def test_usage_errors(catalog, counted_loads, capsys):
    code, _, err = run(["search", "--store", str(catalog["store"])], capsys)
    assert code == 1 and "nothing to search for" in err
    code, _, err = run(["search", "--emotion", "sad", "--where", "year>>3", "--store", str(catalog["store"])], capsys)
    assert code == 1 and "--where" in err
    code, _, err = run(["search", "--emotion", "sad", "--where", "genre>rock", "--store", str(catalog["store"])], capsys)
    assert code == 1 and "needs a number" in err


def test_empty_store_reports_per_query(tmp_path, counted_loads, capsys):
    code, out, err = run(["search", "--emotion", "sad", "--store", str(tmp_path / "empty"), "--json"], capsys)
    assert code == 1
    (record,) = [json.loads(line) for line in out.strip().splitlines()]
    assert record["reason"] == "empty_catalog" and "undertone ingest" in record["error"]


def test_parse_where_arguments():
    assert parse_where_arguments(["genre=rock"]) == {"genre": "rock"}
    assert parse_where_arguments(["genre=rock,pop", "year=1999"]) == {"genre": ["rock", "pop"], "year": [1999, "1999"]}
    assert parse_where_arguments(["duration>=30", "duration<=300", "year>1990", "valence<0.5"]) == {
        "duration": {"gte": 30, "lte": 300}, "year": {"gt": 1990}, "valence": {"lt": 0.5},
    }
    assert parse_where_arguments(["moods.calmness>=0.4"]) == {"moods.calmness": {"gte": 0.4}}
    for bad in (["genre"], ["genre="], ["=rock"], ["genre=rock", "genre=pop"], ["year=2000", "year>=1990"], ["year>=soon"]):
        with pytest.raises(UsageError):
            parse_where_arguments(bad)


def test_where_reads_the_json_form_quotes_and_double_equals():
    assert parse_where_arguments(['{"genre": "jazz", "year": {"gte": 2000}}', "year<=2010"]) == {
        "genre": "jazz", "year": {"gte": 2000, "lte": 2010},
    }
    assert parse_where_arguments(['genre=="rock, pop"', "title='007'"]) == {"genre": "rock, pop", "title": "007"}
    assert parse_where_arguments(["genre == rock", "mood='calm',sad"]) == {"genre": "rock", "mood": ["calm", "sad"]}
    for bad, says in (
        (['genre="rock'], "unbalanced quotes"), (["year=>2000"], "starts with '>'"), (["genre!=rock"], "expected key=value"),
        (["{"], "not valid JSON"), (["[1, 2]"], "expected key=value"), (['{"a": 1}', "a=2"], "already filtered"),
        (["{" * 100_000], "JSON"),
    ):
        with pytest.raises(UsageError, match=re.escape(says)):
            parse_where_arguments(bad)


def test_a_number_in_where_also_matches_the_same_text(tmp_path):
    """``year=007`` finds a manifest's "007" (CSV keeps it as text) and the number 7; ``year=2001`` both 2001s."""
    import numpy as np

    from recommender.store import TrackPoint

    payloads = [{"year": "007"}, {"year": 7}, {"year": "7"}, {"year": 2001}, {"year": "2001"}, {"year": 2001.0}]
    with EdgeVectorStore(tmp_path / "vectors") as store:
        store.upsert([TrackPoint(f"00000000-0000-4000-8000-{i:012d}", np.ones(4, np.float32), p) for i, p in enumerate(payloads)])
        assert store.count(parse_where_arguments(["year=007"])) == 2
        assert store.count(parse_where_arguments(["year=2001"])) == 3
        assert store.count(parse_where_arguments(["year='2001'"])) == 1


def test_k_beyond_the_limit_and_the_filter_echo(catalog, counted_loads, capsys):
    for k, says in ((str(2**64), "at most 100000 results"), ("1e3", "expected a whole number")):
        with pytest.raises(SystemExit) as exited:
            cli.main(["search", "--emotion", "sad", "-k", k, "--store", str(catalog["store"])])
        assert exited.value.code == 2 and says in capsys.readouterr().err
    code, out, err = run(["search", "--emotion", "sad", "--where", "year=007", "--json", "--store", str(catalog["store"])], capsys)
    assert code == 0 and 'filter {"year": [7, "007"]}' in err and json.loads(out)["results"] == []


@pytest.mark.slow
def test_installed_command_runs_end_to_end(catalog, speech_clips):
    """The real entry point in a fresh process (loads the model itself)."""
    result = subprocess.run(
        [sys.executable, "-m", "recommender.cli", "search", str(speech_clips["angry"]), "--emotion", "sad",
         "--store", str(catalog["store"]), "-k", "2", "--json"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [r["kind"] for r in records] == ["speech", "emotion"] and all(len(r["results"]) == 2 for r in records)


def test_analyze_prints_what_was_heard_and_reports_bad_clips(catalog, speech_clips, not_audio, counted_loads, capsys):
    code, out, err = run(["analyze", str(speech_clips["sad"]), str(not_audio), "--store", str(catalog["store"]), "--json"], capsys)
    assert code == 1
    heard, failed = (json.loads(line) for line in out.strip().splitlines())
    assert heard["query"] == str(speech_clips["sad"]) and heard["duration"] == pytest.approx(3.0, abs=0.1)
    assert sum(heard["emotion"].values()) == pytest.approx(1.0, abs=1e-4) and 0 <= heard["valence"] <= 1
    assert failed["reason"] == "corrupt" and "undertone analyze" in err
    code, out, _ = run(["analyze", str(speech_clips["happy"]), "--store", str(catalog["store"])], capsys)
    assert code == 0 and "valence" in out and out.startswith(str(speech_clips["happy"]))
