"""Videos as queries: the sound track of mp4 / mov / mkv / webm decoded with PyAV, clear errors otherwise."""

from __future__ import annotations

import io
import json
import subprocess
from fractions import Fraction

import numpy as np
import pytest

from recommender import cli
from recommender.audio import audio_info, load_audio, stream_audio
from recommender.errors import AudioTooLongError, CorruptAudioError, NoAudioStreamError, NoVideoStreamError
from recommender.video import container_info, is_container, video_frames


def test_every_container_decodes_to_the_speech_it_carries(videos):
    reference = load_audio(videos.speech, 16000)
    # FLAC in Matroska is lossless: exactly the muxed samples.
    np.testing.assert_allclose(load_audio(videos.mkv, 16000), reference, atol=1e-4)
    for path in (videos.mp4, videos.mov, videos.webm):
        decoded = load_audio(path, 16000)
        # Lossy codecs pad and shift a little; the speech is there, at the right length and loudness.
        assert abs(decoded.size - reference.size) < 0.1 * 16000, path
        n = min(decoded.size, reference.size)
        lag = int(np.argmax(np.correlate(decoded[:n], reference[1000 : n - 1000], mode="valid")))
        assert np.corrcoef(decoded[lag : lag + n - 2000], reference[1000 : n - 1000])[0, 1] > 0.95, path


def test_bytes_and_open_files_are_recognised_by_their_first_bytes(videos):
    data = videos.mp4.read_bytes()
    assert is_container(data) and is_container(io.BytesIO(data)) and not is_container(videos.speech)
    from_bytes = load_audio(data, 16000)
    np.testing.assert_array_equal(from_bytes, load_audio(videos.mp4, 16000))
    with videos.webm.open("rb") as handle:
        assert load_audio(handle, 16000).size == pytest.approx(videos.duration * 16000, rel=0.02)


def test_info_and_streaming_of_a_video(videos):
    info = audio_info(videos.mp4)
    assert info.duration == pytest.approx(videos.duration, abs=0.1) and info.sample_rate > 0 and "mp4" in info.format
    blocks = list(stream_audio(videos.mkv, 16000, block_seconds=3.0))
    assert len(blocks) >= 3
    np.testing.assert_allclose(np.concatenate(blocks), load_audio(videos.speech, 16000), atol=2e-3)
    details = container_info(videos.ntsc)
    assert details.frame_rate == Fraction(30000, 1001) and (details.width, details.height) == (96, 64) and details.has_audio


def test_a_video_without_sound_is_a_clear_error(videos, recommender):
    with pytest.raises(NoAudioStreamError, match="silent_film.mp4: has a video stream only"):
        load_audio(videos.silent_film)
    with pytest.raises(NoAudioStreamError):
        audio_info(videos.silent_film)
    with pytest.raises(NoAudioStreamError) as caught:
        recommender.search(videos.silent_film.read_bytes())
    assert caught.value.reason == "no_audio_stream"


def test_broken_and_overlong_videos(videos, tmp_path):
    with pytest.raises(CorruptAudioError):
        load_audio(videos.truncated)
    fake = tmp_path / "notes.mp4"
    fake.write_text("not a video at all\n" * 40)
    with pytest.raises(CorruptAudioError, match="notes.mp4: not a readable audio or video file"):
        load_audio(fake)
    with pytest.raises(AudioTooLongError):
        load_audio(videos.mp4, max_seconds=2.0)
    with pytest.raises(NoVideoStreamError):
        next(video_frames(videos.speech))


def test_cover_art_is_not_a_video(videos, tmp_path):
    cover, song = tmp_path / "cover.png", tmp_path / "song.m4a"
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi", "-i", "color=c=red:s=64x64:d=1", "-frames:v", "1", str(cover)], check=True)
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-i", str(videos.speech), "-i", str(cover), "-map", "0:a", "-map", "1:v", "-c:a", "aac",
                    "-c:v", "png", "-disposition:v", "attached_pic", str(song)], check=True)
    assert container_info(song).frame_rate is None
    assert load_audio(song, 16000).size == pytest.approx(videos.duration * 16000, rel=0.02)
    with pytest.raises(NoVideoStreamError):
        next(video_frames(song))


def test_video_frames_are_small_rgb_pictures_in_order(videos):
    frames = list(video_frames(videos.mp4, width=16, height=12))
    assert len(frames) == pytest.approx(videos.duration * 25, abs=2)
    times = [t for t, _ in frames]
    assert times == sorted(times)
    first = frames[0][1]
    assert first.shape == (12, 16, 3) and first.dtype == np.uint8
    assert first[..., 0].mean() > 200 and first[..., 2].mean() < 60  # red


def test_search_with_a_video_matches_search_with_its_sound(videos, recommender):
    from_video = recommender.search(videos.mkv, k=3)
    from_audio = recommender.search(videos.speech, k=3)
    assert [r.track_id for r in from_video.results] == [r.track_id for r in from_audio.results]
    assert from_video.query.valence == pytest.approx(from_audio.query.valence, abs=1e-3)


def test_cli_search_takes_a_video_and_reports_a_silent_film(videos, catalog, model, monkeypatch, capsys):
    from recommender.model import EmotionModel

    monkeypatch.setattr(EmotionModel, "load", staticmethod(lambda *a, **k: model))
    code = cli.main(["search", str(videos.webm), str(videos.silent_film), "--store", str(catalog["store"]), "-k", "2", "--json"])
    out, err = capsys.readouterr()
    assert code == 1
    ok, failed = (json.loads(line) for line in out.strip().splitlines())
    assert len(ok["results"]) == 2 and failed["reason"] == "no_audio_stream"
    assert "has a video stream only" in err and "Traceback" not in err
