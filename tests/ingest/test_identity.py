import hashlib
import uuid

import pytest

from ingest.identity import content_hash, metadata_signature, track_id
from recommender.errors import AudioNotFoundError, UnreadableAudioError


def test_content_hash_streams_large_files_and_matches_hashlib(tmp_path):
    data = bytes(range(256)) * (3 * 4096 + 17)  # > 3 MiB, not a multiple of the chunk size
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    assert content_hash(path) == hashlib.sha256(data).hexdigest()


def test_same_content_same_id_wherever_it_lives(tmp_path):
    (tmp_path / "a").mkdir()
    first, second, other = tmp_path / "a" / "x.wav", tmp_path / "y.flac", tmp_path / "z.wav"
    first.write_bytes(b"same bytes")
    second.write_bytes(b"same bytes")
    other.write_bytes(b"other bytes")
    assert track_id(content_hash(first)) == track_id(content_hash(second)) != track_id(content_hash(other))
    assert uuid.UUID(track_id(content_hash(first))).version == 5
    assert track_id("AB" * 32) == track_id("ab" * 32)


def test_hash_errors_are_typed(tmp_path):
    with pytest.raises(AudioNotFoundError):
        content_hash(tmp_path / "missing.wav")
    (tmp_path / "dir.wav").mkdir()
    with pytest.raises(UnreadableAudioError, match="directory"):
        content_hash(tmp_path / "dir.wav")


def test_metadata_signature_ignores_key_order_but_not_values():
    assert metadata_signature({"a": 1, "b": "x"}) == metadata_signature({"b": "x", "a": 1})
    assert metadata_signature({"a": 1}) != metadata_signature({"a": 2}) != metadata_signature({})
