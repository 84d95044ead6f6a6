import logging
import shutil
import struct
import zipfile

import pytest
import soundfile as sf

from recommender.data import SOUNDFONT, render_midi_archive

pytestmark = pytest.mark.skipif(shutil.which("fluidsynth") is None or not SOUNDFONT.exists(), reason="needs fluidsynth + fluid-soundfont-gm")


def midi_bytes(note: int = 60, ticks: int = 480) -> bytes:
    """A one-track MIDI file: piano, one note held for a beat."""
    events = bytes([0x00, 0xC0, 0x00, 0x00, 0x90, note, 100]) + _varlen(ticks) + bytes([0x80, note, 0, 0x00, 0xFF, 0x2F, 0x00])
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480) + b"MTrk" + struct.pack(">I", len(events)) + events


def _varlen(value: int) -> bytes:
    out = [value & 0x7F]
    while value > 0x7F:
        value >>= 7
        out.insert(0, (value & 0x7F) | 0x80)
    return bytes(out)


def test_render_skips_resource_forks_and_unrenderable_files(tmp_path, caplog):
    archive = tmp_path / "phrases.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("phrases/good.mid", midi_bytes())
        bundle.writestr("__MACOSX/phrases/._good.mid", b"\x00\x05\x16\x07 not midi")
        bundle.writestr("phrases/broken.mid", b"MThd garbage")
        bundle.writestr("phrases/readme.txt", b"hello")
    with caplog.at_level(logging.WARNING, logger="recommender.data"):
        rendered = render_midi_archive(archive, tmp_path / "out")
    assert list(rendered) == ["good"]
    audio, rate = sf.read(rendered["good"])
    assert rate == 22050 and audio.ndim == 1 and abs(audio).max() > 0.01
    assert "broken.mid" in caplog.text
    # A second call reuses the render and leaves no scratch files behind.
    assert render_midi_archive(archive, tmp_path / "out") == rendered
    assert sorted(p.suffix for p in (tmp_path / "out").iterdir()) == [".flac"]
