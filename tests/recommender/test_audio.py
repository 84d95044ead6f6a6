import os

import numpy as np
import pytest
import soundfile as sf

from recommender.audio import (
    AudioNotFoundError,
    AudioTooLongError,
    CorruptAudioError,
    EmptyAudioError,
    SilentAudioError,
    TruncatedAudioError,
    UnreadableAudioError,
    audio_info,
    load_audio,
    prepare_waveform,
    rms_dbfs,
)


def tone(seconds: float, rate: int, freq: float = 440.0, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    mono = 0.3 * np.sin(2 * np.pi * freq * t).astype(np.float32)
    return np.stack([mono] * channels, axis=1) if channels > 1 else mono


@pytest.mark.parametrize("suffix,subtype", [(".wav", "PCM_16"), (".flac", "PCM_16"), (".ogg", "VORBIS"), (".opus", "OPUS"), (".mp3", "MPEG_LAYER_III")])
def test_formats_decode_to_mono_float32_at_requested_rate(tmp_path, suffix, subtype):
    rate = 48000 if suffix == ".opus" else 44100
    path = tmp_path / f"tone{suffix}"
    sf.write(path, tone(1.0, rate), rate, subtype=subtype, format="OGG" if suffix == ".opus" else None)
    audio = load_audio(path, 16000)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(audio.size - 16000) < 1200  # lossy codecs add priming samples
    spectrum = np.abs(np.fft.rfft(audio))
    assert abs(np.argmax(spectrum) * 16000 / audio.size - 440) < 10


def test_multichannel_is_downmixed(tmp_path):
    path = tmp_path / "surround.wav"
    data = np.zeros((16000, 8), np.float32)
    data[:, 3] = tone(1.0, 16000)
    sf.write(path, data, 16000)
    audio = load_audio(path, 16000)
    assert audio.shape == (16000,)
    np.testing.assert_allclose(audio, tone(1.0, 16000) / 8, atol=1e-4)


def test_resampling_preserves_frequency():
    audio = prepare_waveform(tone(2.0, 22050, 1000.0), 22050, 8000)
    assert audio.size == 16000
    assert abs(np.argmax(np.abs(np.fft.rfft(audio))) * 8000 / audio.size - 1000) < 2


def test_missing_file(tmp_path):
    with pytest.raises(AudioNotFoundError, match="no such file"):
        load_audio(tmp_path / "nope.wav")


def test_directory_named_like_a_file(tmp_path):
    (tmp_path / "song.mp3").mkdir()
    with pytest.raises(UnreadableAudioError, match="directory"):
        load_audio(tmp_path / "song.mp3")


def test_empty_file(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(EmptyAudioError):
        load_audio(tmp_path / "empty.wav")


def test_text_renamed_mp3(tmp_path):
    (tmp_path / "notes.mp3").write_text("these are my notes, not music\n" * 50)
    with pytest.raises(CorruptAudioError, match="not a readable audio file") as caught:
        load_audio(tmp_path / "notes.mp3")
    assert "pipe" not in str(caught.value) and "no audio format" in str(caught.value)


@pytest.mark.parametrize("make", ["fifo", "device"])
def test_pipes_and_devices_are_not_files(tmp_path, make):
    path = tmp_path / "pipe.wav"
    if make == "fifo":
        os.mkfifo(path)
    else:
        path = "/dev/zero"
    with pytest.raises(UnreadableAudioError, match="not a regular file"):
        load_audio(path)


@pytest.mark.parametrize("suffix,fmt,subtype", [(".opus", "OGG", "OPUS"), (".ogg", "OGG", "VORBIS"), (".wav", "WAV", "PCM_16"), (".mp3", "MP3", "MPEG_LAYER_III")])
def test_a_file_shorter_than_its_container_says_is_refused_as_truncated(tmp_path, suffix, fmt, subtype):
    full = tmp_path / f"full{suffix}"
    sf.write(full, tone(10.0, 48000), 48000, format=fmt, subtype=subtype)
    assert load_audio(full).size == 10 * 16000  # the whole file is fine
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 5])
    with pytest.raises(TruncatedAudioError, match="is truncated") as caught:
        load_audio(cut)
    assert caught.value.reason == "truncated" and "download it again" in str(caught.value)


def test_truncated_file(tmp_path):
    path = tmp_path / "full.flac"
    sf.write(path, tone(3.0, 16000), 16000)
    (tmp_path / "cut.flac").write_bytes(path.read_bytes()[:60])
    with pytest.raises((CorruptAudioError, EmptyAudioError)):
        load_audio(tmp_path / "cut.flac")


def test_silence(tmp_path):
    sf.write(tmp_path / "quiet.wav", np.zeros(16000, np.float32), 16000)
    with pytest.raises(SilentAudioError):
        load_audio(tmp_path / "quiet.wav")
    assert load_audio(tmp_path / "quiet.wav", allow_silence=True).size == 16000


def test_nan_samples(tmp_path):
    data = tone(1.0, 16000)
    data[100:200] = np.nan
    sf.write(tmp_path / "nan.wav", data, 16000, subtype="FLOAT")
    with pytest.raises(CorruptAudioError, match="NaN"):
        load_audio(tmp_path / "nan.wav")


def test_too_long_is_refused_before_decoding(tmp_path):
    path = tmp_path / "hour.wav"
    with sf.SoundFile(path, "w", samplerate=1000, channels=1, subtype="PCM_U8") as handle:
        for _ in range(60):
            handle.write(np.full(60_000, 0.1, np.float32))
    assert audio_info(path).duration == pytest.approx(3600)
    with pytest.raises(AudioTooLongError, match="60.0 min"):
        load_audio(path, max_seconds=1200)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_permissions(tmp_path):
    path = tmp_path / "locked.wav"
    sf.write(path, tone(1.0, 16000), 16000)
    path.chmod(0)
    with pytest.raises(UnreadableAudioError, match="permission"):
        load_audio(path)


def test_bytes_and_file_objects(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, tone(0.5, 16000), 16000)
    from_bytes = load_audio(path.read_bytes(), 16000)
    with path.open("rb") as handle:
        from_handle = load_audio(handle, 16000)
    np.testing.assert_array_equal(from_bytes, from_handle)
    with pytest.raises(EmptyAudioError):
        load_audio(b"")


def test_rms_dbfs():
    assert rms_dbfs(np.ones(10, np.float32)) == pytest.approx(0.0)
    assert rms_dbfs(np.full(10, 0.1, np.float32)) == pytest.approx(-20.0)
    assert rms_dbfs(np.zeros(10, np.float32)) == -np.inf


def test_quiet_speech_with_pauses_is_not_silence():
    rate = 16000
    rng = np.random.default_rng(0)
    waveform = np.zeros(3 * rate, np.float32)
    waveform[rate : rate + rate // 2] = 0.01 * np.sin(2 * np.pi * 150 * np.arange(rate // 2) / rate)  # -43 dBFS burst
    assert rms_dbfs(waveform) < -50  # the whole file averages very low ...
    assert prepare_waveform(waveform, rate, rate).size == waveform.size  # ... yet it is sound
    hiss = (1e-4 * rng.standard_normal(3 * rate)).astype(np.float32)  # -80 dBFS noise floor
    with pytest.raises(SilentAudioError):
        prepare_waveform(hiss, rate, rate)
