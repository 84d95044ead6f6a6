import json
import os
from pathlib import Path

import pytest

from ingest.sources import (
    DECODABLE_EXTENSIONS,
    UNSUPPORTED_AUDIO_EXTENSIONS,
    SourceError,
    is_audio_name,
    iter_source,
)


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_folder_is_walked_recursively_in_order_skipping_hidden_and_non_audio(tmp_path):
    for name in ("b.flac", "a.WAV", "sub/deep/c.mp3", "sub/d.opus", "notes.txt", "cover.jpg", ".hidden.wav", ".git/x.wav", "._a.wav", "e.m4a"):
        touch(tmp_path / name)
    paths = [Path(item.path).relative_to(tmp_path).as_posix() for item in iter_source(tmp_path)]
    assert paths == ["a.WAV", "b.flac", "e.m4a", "sub/d.opus", "sub/deep/c.mp3"]


def test_folder_items_are_absolute_with_empty_metadata(tmp_path, monkeypatch):
    touch(tmp_path / "a.wav")
    monkeypatch.chdir(tmp_path)
    (item,) = iter_source(".")
    assert Path(item.path).is_absolute() and item.metadata == {} and item.problem is None


def test_symlink_loop_is_walked_once(tmp_path):
    touch(tmp_path / "music" / "a.wav")
    os.symlink(tmp_path / "music", tmp_path / "music" / "loop")
    assert [Path(item.path).name for item in iter_source(tmp_path / "music")] == ["a.wav"]


def test_a_folder_named_like_an_audio_file_is_walked_into(tmp_path):
    touch(tmp_path / "live.wav" / "track.flac")
    assert [Path(item.path).name for item in iter_source(tmp_path)] == ["track.flac"]


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can list any folder")
def test_unlistable_folder_is_reported_not_dropped(tmp_path):
    touch(tmp_path / "a.wav")
    locked = tmp_path / "locked"
    touch(locked / "b.wav")
    locked.chmod(0)
    try:
        items = list(iter_source(tmp_path))
    finally:
        locked.chmod(0o755)
    problems = [item for item in items if item.problem]
    assert len(problems) == 1 and "cannot list" in problems[0].problem


def test_extension_sets():
    assert {"wav", "flac", "ogg", "oga", "opus", "mp3", "aiff", "au"} <= DECODABLE_EXTENSIONS
    assert "m4a" in UNSUPPORTED_AUDIO_EXTENSIONS and not DECODABLE_EXTENSIONS & UNSUPPORTED_AUDIO_EXTENSIONS
    assert is_audio_name("x.FLAC") and not is_audio_name(".wav") and not is_audio_name("wav") and not is_audio_name("a.txt")


def test_csv_manifest_paths_are_relative_to_it_and_numbers_are_typed(tmp_path):
    (tmp_path / "m").mkdir()
    manifest = tmp_path / "m" / "library.csv"
    manifest.write_text(
        "path,title,artist,year,bpm,catalog_no,rating\n"
        "songs/one.wav,One,Someone,1999,120.5,007,\n"
        "/abs/two.flac,\"Two, Too\",Other,2001,1e2,42x,-3\n"
        ",no path,,,,,\n",
        encoding="utf-8",
    )
    one, two, bad = iter_source(manifest)
    assert one.path == str(tmp_path / "m" / "songs" / "one.wav")
    assert one.metadata == {"title": "One", "artist": "Someone", "year": 1999, "bpm": 120.5, "catalog_no": "007"}
    assert type(one.metadata["year"]) is int
    assert two.path == "/abs/two.flac"
    assert two.metadata == {"title": "Two, Too", "artist": "Other", "year": 2001, "bpm": 100.0, "catalog_no": "42x", "rating": -3}
    assert bad.problem == "row has no 'path'" and bad.path.endswith("library.csv:4")


def test_tsv_manifest(tmp_path):
    manifest = tmp_path / "l.tsv"
    manifest.write_text("path\tgenre\na.wav\tjazz\n", encoding="utf-8")
    (item,) = iter_source(manifest)
    assert item.metadata == {"genre": "jazz"}


def test_manifest_without_path_column_fails_before_any_item(tmp_path):
    manifest = tmp_path / "l.csv"
    manifest.write_text("file,title\na.wav,A\n", encoding="utf-8")
    with pytest.raises(SourceError, match="no 'path' column"):
        iter_source(manifest)


def test_manifest_column_clashing_with_computed_fields_is_refused(tmp_path):
    manifest = tmp_path / "l.csv"
    manifest.write_text("path,duration\na.wav,3\n", encoding="utf-8")
    with pytest.raises(SourceError, match="duration"):
        iter_source(manifest)


def test_jsonl_manifest_keeps_json_types_and_reports_bad_lines(tmp_path):
    manifest = tmp_path / "l.jsonl"
    lines = [
        json.dumps({"path": "a.wav", "year": 1999, "tags": ["x", "y"], "live": True, "note": None}),
        "{not json",
        "[1, 2]",
        json.dumps({"path": "b.wav", "mood": "sad"}),
        "",
    ]
    manifest.write_text("\n".join(lines), encoding="utf-8")
    good, broken, not_object, clash = iter_source(manifest)
    assert good.metadata == {"year": 1999, "tags": ["x", "y"], "live": True}
    assert "not valid JSON" in broken.problem and broken.path.endswith(":2")
    assert not_object.problem == "not a JSON object"
    assert "mood" in clash.problem


def test_single_audio_file_and_bad_sources(tmp_path):
    song = touch(tmp_path / "song.ogg")
    assert [item.path for item in iter_source(song)] == [str(song)]
    with pytest.raises(SourceError, match="no such file"):
        iter_source(tmp_path / "missing")
    with pytest.raises(SourceError, match="not a folder"):
        iter_source(touch(tmp_path / "notes.txt"))
