"""``undertone shortlist``: from search results to an exported CSV and M3U, through the real entry point."""

import csv
import io
import json

import pytest

from recommender.cli import main

pytestmark = pytest.mark.slow


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_search_results_into_a_shortlist_and_out_as_csv_and_m3u(tmp_path, settings, tone, capsys):
    music = tmp_path / "music"
    manifest = tmp_path / "catalog.csv"
    rows = [("low.wav", 220, "Low Tide", "Cleo", "CC-BY-4.0", "opening"), ("high.wav", 440, "High Noon", "Bram", "CC0", "chase")]
    for name, freq, *_ in rows:
        tone(music / name, freq=freq)
    manifest.write_text("path,title,artist,licence,scene\n" + "".join(f"music/{n},{t},{a},{lic},{s}\n" for n, _, t, a, lic, s in rows))
    store = ["--store", str(settings.store), "--model", settings.model]
    assert run(capsys, "ingest", str(manifest), *store, "--quiet")[0] == 0

    code, out, _ = run(capsys, "search", "--va", "0.5,0.5", *store, "-k", "2", "--json")
    ids = [result["track_id"] for result in json.loads(out)["results"]]
    assert code == 0 and len(ids) == 2

    code, out, _ = run(capsys, "shortlist", "add", "Episode 3", *ids, *store, "--note", "first pass")
    assert code == 0 and out.strip() == "Episode 3: added 2 track(s)"
    code, out, _ = run(capsys, "shortlist", "add", "Episode 3", str(music / "low.wav"), *store)
    assert code == 0 and "added 0 track(s), 1 already on it" in out

    code, out, _ = run(capsys, "shortlist", "list", *store)
    assert code == 0 and out.startswith("Episode 3  (2 tracks")
    code, out, _ = run(capsys, "shortlist", "list", "Episode 3", *store)
    assert code == 0 and "Low Tide - Cleo" in out and "[first pass]" in out

    code, out, _ = run(capsys, "shortlist", "export", "Episode 3", *store)
    exported = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and [row["track_id"] for row in exported] == ids
    by_title = {row["title"]: row for row in exported}
    assert by_title["Low Tide"]["artist"] == "Cleo" and by_title["Low Tide"]["licence"] == "CC-BY-4.0"
    assert by_title["Low Tide"]["scene"] == "opening" and by_title["Low Tide"]["path"] == str(music / "low.wav")

    playlist = tmp_path / "episode3.m3u8"
    code, _, err = run(capsys, "shortlist", "export", "Episode 3", *store, "-o", str(playlist))
    lines = playlist.read_text().splitlines()
    assert code == 0 and "(m3u)" in err and lines[:2] == ["#EXTM3U", "#PLAYLIST:Episode 3"]
    assert sorted(lines[3::2]) == [str(music / "high.wav"), str(music / "low.wav")]

    code, _, err = run(capsys, "search", "--emotion", "calm", *store, "-k", "1", "--shortlist", "Trailer")
    assert code == 0 and "1 new track(s) saved to shortlist 'Trailer'" in err
    code, out, _ = run(capsys, "shortlist", "list", "Trailer", *store)
    assert code == 0 and out.startswith("Trailer: 1 track(s)") and "[emotion calm]" in out

    code, out, _ = run(capsys, "shortlist", "remove", "Episode 3", ids[0], *store)
    assert code == 0 and "removed 1 track(s)" in out
    code, out, _ = run(capsys, "shortlist", "remove", "Episode 3", "--all", *store)
    assert code == 0 and "deleted" in out
    code, out, err = run(capsys, "shortlist", "export", "Episode 3", *store)
    assert code == 1 and err.strip() == "undertone: error: no shortlist named 'Episode 3' (shortlists: Trailer)"
    code, out, err = run(capsys, "shortlist", "add", "X", "not-a-track", *store)
    assert code == 1 and "not-a-track: not a track of the catalog" in err and "Traceback" not in err
