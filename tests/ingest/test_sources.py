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


def manifest_items(path: Path, text: str | bytes) -> list:
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    return list(iter_source(path))


def test_a_cell_over_the_csv_field_limit_fails_its_row_only(tmp_path):
    items = manifest_items(tmp_path / "m.csv", "path,notes\na.wav," + "x" * 131_073 + "\nb.wav,short\n")
    assert "field larger than field limit" in items[0].problem and items[0].path.endswith("m.csv:2")
    assert items[1].problem is None and items[1].metadata == {"notes": "short"}


def test_manifest_encodings_are_detected(tmp_path, caplog):
    text = "path,title\na.wav,Café €5\n"
    assert manifest_items(tmp_path / "bom.csv", b"\xef\xbb\xbf" + text.encode())[0].metadata == {"title": "Café €5"}
    assert manifest_items(tmp_path / "utf16.csv", text.encode("utf-16"))[0].metadata == {"title": "Café €5"}
    with caplog.at_level("WARNING", logger="ingest.sources"):
        (item,) = manifest_items(tmp_path / "excel.csv", text.encode("cp1252"))
    assert item.metadata == {"title": "Café €5"} and "line(s) 2 are not UTF-8" in caplog.text
    # The five bytes Windows-1252 leaves undefined still decode (as Latin-1), a mixed file line by line.
    mixed = b"path,title\n" + "a.wav,\x81Ü\n".encode("latin-1") + "b.wav,Ü\n".encode()
    assert [item.metadata["title"] for item in manifest_items(tmp_path / "mixed.csv", mixed)] == ["\x81Ü", "Ü"]


def test_jsonl_lines_nested_too_deep_or_with_a_non_text_path_fail_their_row(tmp_path):
    deep = '{"path": "a.wav", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    lines = [deep, '{"path": 3}', '{"path": ["a.wav"]}', '{"path": "b.wav", "t": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": 1}}}}}}}}}', '{"path": "c.wav"}']
    items = manifest_items(tmp_path / "m.jsonl", "\n".join(lines) + "\n")
    problems = [item.problem for item in items]
    assert "nested too deeply" in problems[0]
    assert "'path' must be text, got 3" in problems[1] and "must be text" in problems[2]
    assert "nested deeper than" in problems[3] and problems[4] is None


def test_a_path_listed_twice_is_ingested_once_with_the_last_rows_metadata(tmp_path, caplog):
    with caplog.at_level("WARNING", logger="ingest.sources"):
        items = manifest_items(tmp_path / "m.csv", "path,genre\na.wav,rock\nb.wav,pop\n./a.wav,jazz\n")
    assert [(Path(item.path).name, item.metadata) for item in items] == [("b.wav", {"genre": "pop"}), ("a.wav", {"genre": "jazz"})]
    assert "listed again on line 4" in caplog.text


def test_csv_integers_beyond_64_bits_stay_text(tmp_path):
    (item,) = manifest_items(tmp_path / "m.csv", "path,isrc,n\na.wav,123456789012345678901234567890,9223372036854775807\n")
    assert item.metadata == {"isrc": "123456789012345678901234567890", "n": 2**63 - 1}
