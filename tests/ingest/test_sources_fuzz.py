"""Fuzzing the manifest readers: whatever the bytes, a manifest yields items or one clear SourceError.

Every item is either a problem (a failed row with a reason) or an absolute path with metadata the
vector store can hold; nothing else escapes, so one bad line can never abort a job.
"""

import json
import os

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ingest.sources import SourceError, iter_source, metadata_problem

FUZZ = settings(max_examples=250, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Fragments that reach the readers' awkward corners: quotes, delimiters, BOMs, non-UTF-8 bytes, numbers
# that are not finite or not 64-bit, deep nesting, NULs, lone carriage returns.
FRAGMENTS = st.sampled_from([
    b"path", b",", b"\t", b"\n", b"\r\n", b"\r", b'"', b"'", b"\x00", b"\xef\xbb\xbf", b"\xff\xfe", b"\x81", b"\xe9",
    b"a.wav", b"../b.flac", b"/abs/c.mp3", b"1e999", b"-1e400", b"NaN", b"Infinity", b"123456789012345678901234567890",
    b"007", b"0.5", b"{", b"}", b"[", b"]", b":", b"null", b"true", b'{"path": ', b'"x.wav"', b"[" * 50,
    b"duration", b"genre", b"\xe2\x82\xac",
])
CONTENT = st.one_of(st.binary(max_size=400), st.lists(FRAGMENTS, max_size=60).map(b"".join))


def check(manifest) -> None:
    try:
        items = list(iter_source(manifest))
    except SourceError as error:
        assert str(error).startswith(str(manifest))
        return
    for item in items:
        if item.problem is not None:
            assert isinstance(item.problem, str) and item.problem and ":" in item.path
            continue
        assert os.path.isabs(item.path) and isinstance(item.metadata, dict)
        assert metadata_problem(item.metadata) is None
        json.dumps(item.metadata, allow_nan=False)  # what the catalog and the store will have to write


@FUZZ
@given(content=CONTENT, suffix=st.sampled_from([".csv", ".tsv", ".jsonl"]))
@example(content=b"\xfe\xffp\x00a", suffix=".csv")  # UTF-16 with an odd byte count
@example(content=b"path\na.wav\x00\n\x80\n", suffix=".csv")
@example(content=b'{"path": "a.wav", "x": ' + b"[" * 5000 + b"\n", suffix=".jsonl")
def test_any_bytes_as_a_manifest(tmp_path, content, suffix):
    manifest = tmp_path / f"m{suffix}"
    manifest.write_bytes(content)
    check(manifest)


@FUZZ
@given(rows=st.lists(st.dictionaries(st.text(max_size=8), st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=12,
), max_size=4), max_size=8))
def test_any_json_objects_as_jsonl_rows(tmp_path, rows):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("\n".join(json.dumps(row) for row in rows) + "\n", encoding="utf-8")
    check(manifest)
