import csv
import json
import subprocess
import sys

import pytest

from recommender import cli
from recommender.settings import default_data_dir

DATA = default_data_dir()


def test_building_the_parser_does_not_import_torch():
    code = "import sys, recommender.cli as c; c.build_parser(); print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.skipif(not (DATA / "ravdess" / "labels.csv").exists(), reason="corpora not available (../shared/data)")
def test_evaluate_command_scores_the_builtin_model_on_csv_sets(tmp_path):
    with (DATA / "ravdess" / "labels.csv").open() as handle:
        rows = [r for r in csv.DictReader(handle) if r["actor"] == "10" and r["intensity"] == "strong" and r["repetition"] == "1"]
    speech = tmp_path / "speech.csv"
    speech.write_text("path,label\n" + "".join(f"{DATA / r['file']},{r['emotion']}\n" for r in rows[:8]))
    with (DATA / "emotify" / "labels.csv").open() as handle:
        tracks = list(csv.DictReader(handle))[:6]
    music = tmp_path / "music.csv"
    music.write_text("path,label\n" + "".join(f"{DATA / t['file']},{'sad' if i % 2 else 'happy'}\n" for i, t in enumerate(tracks)))

    out = tmp_path / "report"
    code = cli.main(["evaluate", "--model", "builtin", "--variants", "random", "--seeds", "2",
                     "--speech", str(speech), "--music", str(music), "--out", str(out)])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert results["setup"]["queries"] == 8 and results["setup"]["pool"] == 6
    assert set(results["variants"]) == {"model", "random"} and results["variants"]["random"]["seeds"] == 2
    assert "| model |" in (out / "results.md").read_text()
    assert (out / "va_plane.png").stat().st_size > 0


@pytest.mark.parametrize("extra", [["--model", "builtin"], ["--music", "emotify,moods4q"], ["--music-folds", "1"]])
def test_music_folds_refuses_what_it_cannot_cross_validate(extra):
    argv = ["evaluate", "--music-folds", "5", *extra]
    with pytest.raises(SystemExit, match="--music-folds needs"):
        cli.main(argv)
