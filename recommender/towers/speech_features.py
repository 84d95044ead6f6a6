"""Speech front end of the builtin speech tower: silence trimming and prosodic/spectral features.

Everything runs in torch (no librosa) on a 16 kHz mono waveform:

- :class:`SilenceTrimmer` cuts leading and trailing non-speech with Silero VAD (:class:`SileroVAD`,
  batched over the clip), falling back to an energy gate when the VAD hears no speech (humming, a
  shout in noise ...).
- :class:`SpeechFeatureExtractor` turns the trimmed clip into frame-level low-level descriptors
  (10 ms hop): log-mel, MFCC and deltas, YIN pitch and periodicity, energy, spectral shape. Every
  descriptor that depends on the speaker or the microphone rather than on the emotion is normalised
  per utterance (F0 in semitones from the utterance median, energy relative to the utterance peak,
  log-mel with its utterance mean removed) so a model trained on a handful of actors transfers.
  :meth:`SpeechFeatureExtractor.statistics` summarises descriptors over the utterance.

One module (past 450 lines) on purpose: the shipped speech weights are tied to exactly this front end
(trimming with :class:`TrimConfig`, then the descriptors of :class:`FeatureConfig`), and keeping it in
one place keeps what the weights were trained on readable in one file.
"""

from __future__ import annotations

import math
import threading
import warnings
from dataclasses import dataclass

import torch
import torchaudio.functional as AF
from torch import nn

SAMPLE_RATE = 16000
_PITCH_RATE = 8000


@dataclass(frozen=True)
class TrimConfig:
    """Silence trimming.

    Attributes:
        use_vad: Use Silero VAD; False trims with the energy gate only.
        threshold: VAD speech probability above which a 32 ms chunk counts as speech.
        min_speech_seconds: Less detected speech than this counts as "no speech" (energy fallback).
        pad_seconds: Kept before the first and after the last VAD speech chunk.
        energy_floor_db: The energy gate keeps 10 ms frames within this many dB of the loudest one.
        energy_pad_seconds: Kept around the energy gate's first and last loud frame.
        vad_level_dbfs: The VAD hears the waveform scaled so its loudest 10 ms frames (95th percentile)
            sit at this level: Silero's speech probability depends on the recording level, so a quiet
            take lost speech to the trim and the same voice got another emotion at another gain.
            None: the VAD hears the waveform as recorded.
    """

    use_vad: bool = True
    threshold: float = 0.5
    min_speech_seconds: float = 0.2
    pad_seconds: float = 0.1
    energy_floor_db: float = 35.0
    energy_pad_seconds: float = 0.02
    vad_level_dbfs: float | None = -20.0


class SileroVAD(nn.Module):
    """Silero VAD v6 (MIT, the ``silero-vad`` package's weights) run over a whole clip at once.

    The packaged model is streaming: a Python loop feeds it one 32 ms chunk at a time, which costs
    ~50 ms for 5 s of audio. Its per-chunk front end (STFT conv + 4 convs) only needs the chunk and
    the 64 samples before it, so here it runs on all chunks as one batch and only the LSTM steps
    through time (inside ``nn.LSTM``); the probabilities equal the streaming model's.
    """

    CHUNK = 512  # samples per probability at 16 kHz
    CONTEXT = 64  # samples of the previous chunk each chunk sees

    def __init__(self) -> None:
        super().__init__()
        self.stft = nn.Conv1d(1, 258, 256, stride=128, bias=False)
        self.encoder = nn.ModuleList([
            nn.Conv1d(129, 128, 3, padding=1), nn.Conv1d(128, 64, 3, stride=2, padding=1),
            nn.Conv1d(64, 64, 3, stride=2, padding=1), nn.Conv1d(64, 128, 3, padding=1),
        ])
        self.lstm = nn.LSTM(128, 128, batch_first=True)
        self.head = nn.Conv1d(128, 1, 1)

    @classmethod
    def from_package(cls) -> SileroVAD:
        """Load the weights of the installed ``silero-vad`` package's 16 kHz model."""
        # Importing silero_vad calls torch.set_num_threads(1) for the whole process; undo that.
        threads = torch.get_num_threads()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # its importlib/torch.jit loading is dated
            import silero_vad

            packaged = silero_vad.load_silero_vad()
        torch.set_num_threads(threads)
        weights = packaged._model.state_dict()
        mapping = {"stft.weight": "stft.forward_basis_buffer", "head.weight": "decoder.decoder.2.weight", "head.bias": "decoder.decoder.2.bias"}
        for index in range(4):
            for kind in ("weight", "bias"):
                mapping[f"encoder.{index}.{kind}"] = f"encoder.{index}.reparam_conv.{kind}"
        for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            mapping[f"lstm.{kind}_l0"] = f"decoder.rnn.{kind}"
        missing = sorted(set(mapping.values()) - set(weights))
        if missing:
            raise RuntimeError(f"silero-vad {getattr(silero_vad, '__version__', '?')} has an unexpected layout (no {missing}); install silero-vad==6.2.3")
        vad = cls()
        vad.load_state_dict({ours: weights[theirs] for ours, theirs in mapping.items()})
        return vad.eval()

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """Speech probability of every 32 ms chunk of a 1-D 16 kHz waveform (the last chunk zero-padded)."""
        n_chunks = -(-waveform.numel() // self.CHUNK)
        padded = torch.nn.functional.pad(waveform, (self.CONTEXT, n_chunks * self.CHUNK - waveform.numel()))
        chunks = padded.unfold(0, self.CONTEXT + self.CHUNK, self.CHUNK).unsqueeze(1)
        spectrum = self.stft(torch.nn.functional.pad(chunks, (0, self.CONTEXT), mode="reflect"))
        hidden = (spectrum[:, :129].square() + spectrum[:, 129:].square()).sqrt()
        for conv in self.encoder:
            hidden = conv(hidden).relu()
        states, _ = self.lstm(hidden.squeeze(-1).unsqueeze(0))
        return self.head(states[0].relu().unsqueeze(-1)).sigmoid().reshape(-1)


class SilenceTrimmer:
    """Cut leading and trailing non-speech from a 16 kHz waveform."""

    _vad: SileroVAD | None = None
    _vad_lock = threading.Lock()

    def __init__(self, config: TrimConfig | None = None) -> None:
        self.config = config or TrimConfig()

    def __call__(self, waveform: torch.Tensor) -> torch.Tensor:
        """Return the span from the first to the last speech (never empty)."""
        start, end = self.speech_span(waveform)
        return waveform[start:end]

    def speech_span(self, waveform: torch.Tensor) -> tuple[int, int]:
        """``(start, end)`` sample indices of the speech.

        The VAD's span (32 ms grid, padded) is tightened by the energy gate (10 ms grid), so clean
        silence never reaches the features however it lines up with the VAD grid; in noise the gate
        keeps everything and the VAD decides. Without VAD speech the energy gate alone decides.
        """
        energy = self._energy_span(waveform)
        vad = self._vad_span(waveform) if self.config.use_vad else None
        if vad is None:
            return energy
        start, end = max(vad[0], energy[0]), min(vad[1], energy[1])
        return (start, end) if end > start else vad

    def speech_probabilities(self, waveform: torch.Tensor) -> torch.Tensor:
        """Silero VAD speech probability of every 32 ms chunk (of the level-normalised waveform)."""
        if self.config.vad_level_dbfs is not None:
            waveform = normalise_level(waveform, self.config.vad_level_dbfs)
        with torch.inference_mode():
            return self.vad()(waveform)

    def _vad_span(self, waveform: torch.Tensor) -> tuple[int, int] | None:
        cfg, chunk = self.config, SileroVAD.CHUNK
        speech = torch.nonzero(self.speech_probabilities(waveform) >= cfg.threshold).flatten()
        if speech.numel() * chunk < cfg.min_speech_seconds * SAMPLE_RATE:
            return None
        pad = int(cfg.pad_seconds * SAMPLE_RATE)
        start = max(0, int(speech[0]) * chunk - pad)
        end = min(waveform.numel(), (int(speech[-1]) + 1) * chunk + pad)
        return start, end

    def _energy_span(self, waveform: torch.Tensor) -> tuple[int, int]:
        hop = SAMPLE_RATE // 100
        if waveform.numel() < 2 * hop:
            return 0, waveform.numel()
        frames = waveform[: waveform.numel() // hop * hop].reshape(-1, hop)
        level = 10 * torch.log10(frames.square().mean(dim=1) + 1e-12)
        loud = torch.nonzero(level >= level.max() - self.config.energy_floor_db).flatten()
        pad = int(self.config.energy_pad_seconds * SAMPLE_RATE)
        return max(0, int(loud[0]) * hop - pad), min(waveform.numel(), (int(loud[-1]) + 1) * hop + pad)

    @classmethod
    def vad(cls) -> SileroVAD:
        """The shared VAD model (loaded on first use)."""
        with cls._vad_lock:
            if cls._vad is None:
                cls._vad = SileroVAD.from_package()
        return cls._vad


def normalise_level(waveform: torch.Tensor, target_dbfs: float, percentile: float = 95.0) -> torch.Tensor:
    """Scale ``waveform`` so the ``percentile`` of its 10 ms frame RMS sits at ``target_dbfs`` (clipped to +-1)."""
    hop = SAMPLE_RATE // 100
    frames = waveform[: max(hop, waveform.numel() // hop * hop)]
    if frames.numel() < hop:
        return waveform
    rms = frames.reshape(-1, hop).square().mean(dim=1).sqrt()
    level = torch.quantile(rms, percentile / 100)
    if level <= 1e-6:  # digital silence: nothing to scale
        return waveform
    return (waveform * (10 ** (target_dbfs / 20) / level)).clamp(-1.0, 1.0)


@dataclass(frozen=True)
class FeatureConfig:
    """Frame-level descriptor extraction (defaults: 25 ms windows every 10 ms).

    Attributes:
        n_fft: FFT size.
        win_length: Analysis window in samples.
        hop_length: Frame step in samples.
        n_mels: Mel bands of the log-mel spectrogram.
        n_mfcc: Cepstral coefficients kept (c0 dropped: it is loudness, covered by energy).
        f0_min: Lowest pitch searched, Hz.
        f0_max: Highest pitch searched, Hz.
        yin_threshold: YIN aperiodicity threshold for the first-dip pitch pick.
        voicing_threshold: Periodicity (1 - aperiodicity) above which a frame is voiced.
        silence_db: Frames this far below the utterance's loudest frame are never voiced.
    """

    n_fft: int = 512
    win_length: int = 400
    hop_length: int = 160
    n_mels: int = 40
    n_mfcc: int = 20
    f0_min: float = 60.0
    f0_max: float = 500.0
    yin_threshold: float = 0.2
    voicing_threshold: float = 0.6
    silence_db: float = 40.0


_SPECTRAL = ("centroid", "rolloff", "flatness", "flux", "slope", "alpha_ratio", "hammarberg")
# Spectral descriptors whose level says more about the speaker and microphone than about the emotion.
_TIMBRE = tuple(name for name in _SPECTRAL if name != "flux")


class SpeechFeatureExtractor:
    """Waveform -> frame descriptors ``(T, C)`` and utterance statistics ``(D,)``.

    Frame channels (see :attr:`channel_names`): CMN'd log-mel, MFCC 1..n-1 (raw), their deltas,
    F0 in semitones from the utterance median (0 when unvoiced), periodicity, voiced flag, energy in
    dB from the utterance peak (/10), and spectral shape descriptors.
    """

    def __init__(self, config: FeatureConfig | None = None) -> None:
        self.config = cfg = config or FeatureConfig()
        self._window = torch.hann_window(cfg.win_length)
        self._mel = AF.melscale_fbanks(cfg.n_fft // 2 + 1, 50.0, SAMPLE_RATE / 2, cfg.n_mels, SAMPLE_RATE, norm="slaney", mel_scale="slaney")
        self._dct = AF.create_dct(cfg.n_mfcc, cfg.n_mels, norm="ortho")
        self._freqs = torch.linspace(0, SAMPLE_RATE / 2, cfg.n_fft // 2 + 1)
        mfcc = [f"mfcc{i}" for i in range(1, cfg.n_mfcc)]
        self.channel_names: tuple[str, ...] = (
            *(f"mel{i}" for i in range(cfg.n_mels)), *mfcc, *(f"d_{name}" for name in mfcc),
            "f0_st", "periodicity", "voiced", "energy_db", *_SPECTRAL,
        )
        self._statistic_names: list[str] | None = None

    @property
    def num_channels(self) -> int:
        return len(self.channel_names)

    def channels(self, *prefixes: str) -> list[int]:
        """Indices of the channels whose name starts with one of ``prefixes``."""
        return [i for i, name in enumerate(self.channel_names) if name.startswith(prefixes)]

    def frames(self, waveform: torch.Tensor) -> torch.Tensor:
        """Frame descriptors ``(T, C)`` of a 1-D float32 waveform at 16 kHz (T >= 1)."""
        cfg = self.config
        waveform = waveform.to(torch.float32)
        if waveform.numel() < cfg.win_length:
            waveform = torch.nn.functional.pad(waveform, (0, cfg.win_length - waveform.numel()))
        spectrum = torch.stft(
            waveform, cfg.n_fft, cfg.hop_length, cfg.win_length, self._window, center=True, return_complex=True
        ).abs().square().T  # (T, F)
        n_frames = spectrum.shape[0]
        # A power floor 60 dB under the clip's average keeps every log finite and makes digital
        # silence look like faint hiss, whatever the recording level.
        spectrum = spectrum + (spectrum.mean() * 1e-6 + 1e-30)

        log_mel = torch.log(spectrum @ self._mel)
        mfcc = (log_mel @ self._dct)[:, 1:]
        delta_mfcc = AF.compute_deltas(mfcc.T.contiguous()).T

        energy_db = 10 * torch.log10(spectrum.sum(dim=1))
        energy_db = energy_db - energy_db.max()

        f0, periodicity = self.pitch(waveform, n_frames)
        voiced = (periodicity >= cfg.voicing_threshold) & (energy_db > -cfg.silence_db)
        semitones = torch.zeros_like(f0)
        if voiced.any():
            # Relative to the utterance median: absolute pitch mostly tells the speaker's sex and
            # did not help leave-actors-out accuracy.
            log_f0 = 12 * torch.log2(f0[voiced])
            semitones[voiced] = log_f0 - log_f0.median()

        return torch.cat([
            log_mel - log_mel.mean(dim=0),
            mfcc,
            delta_mfcc,
            torch.stack([semitones, periodicity, voiced.float(), energy_db / 10], dim=1),
            self._spectral_shape(spectrum),
        ], dim=1)

    def statistics(self, frames: torch.Tensor) -> torch.Tensor:
        """Utterance statistics of frame descriptors: a fixed-size vector (see :meth:`statistic_names`)."""
        return torch.cat([values for _, values in self._statistic_groups(frames)])

    def statistic_names(self) -> list[str]:
        """Names of the :meth:`statistics` entries, in order."""
        if self._statistic_names is None:
            probe = torch.zeros(4, self.num_channels)
            self._statistic_names = [name for names, _ in self._statistic_groups(probe) for name in names]
        return list(self._statistic_names)

    def _statistic_groups(self, frames: torch.Tensor) -> list[tuple[list[str], torch.Tensor]]:
        """eGeMAPS-like functionals: whole-utterance, voiced-only, pitch, voice quality and rhythm."""
        names = self.channel_names
        voiced = frames[:, names.index("voiced")] > 0.5
        # Voiced-only functionals need a few voiced frames; an unvoiced clip falls back to all frames.
        voiced_frames = frames[voiced] if int(voiced.sum()) >= 2 else frames

        def pick(rows: torch.Tensor, *prefixes: str) -> tuple[list[str], torch.Tensor]:
            columns = self.channels(*prefixes)
            return [names[i] for i in columns], rows[:, columns]

        groups: list[tuple[list[str], torch.Tensor]] = []
        # No absolute timbre levels (cepstral means and percentiles, mean centroid, tilt ...): with a
        # handful of training actors they mostly encode the speaker and the microphone. Dropping them
        # cost nothing in leave-actors-out accuracy; only their dynamics are kept.
        mfcc_names, mfcc = pick(frames, "mfcc", "d_mfcc")
        groups.append(([f"{n}_std" for n in mfcc_names], mfcc.std(dim=0, correction=0)))
        delta_names, delta = pick(frames, "d_mfcc")
        groups.append(([f"{n}_mean" for n in delta_names], delta.mean(dim=0)))
        mel_names, mel = pick(frames, "mel")
        groups.append(_functionals(mel_names, mel, ("std", "range")))
        level_names, level = pick(frames, "energy_db", "periodicity", "flux")
        groups.append(_functionals(level_names, level, _SUMMARY_NAMES))
        shape_names, shape = pick(frames, *_TIMBRE)
        groups.append(_functionals(shape_names, shape, ("std", "range", "slope", "delta")))
        voiced_shape_names, voiced_shape = pick(voiced_frames, *_SPECTRAL)
        groups.append(([f"voiced_{n}_std" for n in voiced_shape_names], voiced_shape.std(dim=0, correction=0)))
        groups.append((["voiced_flux_mean"], voiced_frames[:, names.index("flux")].mean(dim=0, keepdim=True)))

        pitch = voiced_frames[:, names.index("f0_st")]
        voiced_level = voiced_frames[:, names.index("energy_db")]
        periodicity = voiced_frames[:, names.index("periodicity")].clamp(1e-3, 1 - 1e-3)
        hnr = 10 * torch.log10(periodicity / (1 - periodicity))
        groups.append(_functionals(["f0_st"], pitch[:, None], _SUMMARY_NAMES))
        groups.append(_functionals(["hnr_db"], hnr[:, None], _SUMMARY_NAMES))
        groups.append(_slopes("f0_st", pitch))
        groups.append(_slopes("energy_db", frames[:, names.index("energy_db")]))
        # Frame-level stand-ins for jitter and shimmer: typical step of pitch and level between voiced frames.
        groups.append((["f0_step_median", "level_step_median"], torch.stack([_median_step(pitch), _median_step(voiced_level)])))
        groups.append((list(_RHYTHM_NAMES), _rhythm(voiced, self.config.hop_length)))
        return groups

    def pitch(self, waveform: torch.Tensor, n_frames: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """YIN F0 in Hz and periodicity (1 - aperiodicity) of every frame (de Cheveigne & Kawahara, 2002).

        Runs at 8 kHz: speech F0 sits far below 4 kHz and half the rate quarters the autocorrelation cost.
        """
        cfg = self.config
        n_frames = n_frames or waveform.numel() // cfg.hop_length + 1
        rate = _PITCH_RATE
        signal = AF.resample(waveform, SAMPLE_RATE, rate)
        hop, window = cfg.hop_length * rate // SAMPLE_RATE, cfg.win_length * rate // SAMPLE_RATE
        lag_min, lag_max = int(rate / cfg.f0_max), int(math.ceil(rate / cfg.f0_min))
        # Frame t starts half a window before the centre of STFT frame t.
        left, length = window // 2, window + lag_max
        needed = (n_frames - 1) * hop + length
        padded = torch.nn.functional.pad(signal, (left, max(0, needed - left - signal.numel())))
        frames = padded.unfold(0, length, hop)[:n_frames]
        frames = frames - frames.mean(dim=1, keepdim=True)
        size = 1 << (window + lag_max - 1).bit_length()  # lags <= lag_max never wrap around
        correlation = torch.fft.irfft(
            torch.fft.rfft(frames, size) * torch.fft.rfft(frames[:, :window], size).conj(), size
        )[:, : lag_max + 1]
        power = torch.nn.functional.pad(frames.square().cumsum(dim=1), (1, 0))
        energy_at_lag = power[:, window : window + lag_max + 1] - power[:, : lag_max + 1]
        difference = (energy_at_lag[:, :1] + energy_at_lag - 2 * correlation).clamp_min(0)
        lags = torch.arange(lag_max + 1, dtype=torch.float32)
        # Floors relative to the loudest frame keep the result independent of the recording level.
        frame_energy = power[:, window]
        loudest = frame_energy.max().clamp_min(1e-30)
        cumulative = difference[:, 1:].cumsum(dim=1).clamp_min(1e-10 * loudest)
        normalised = torch.ones_like(difference)
        normalised[:, 1:] = difference[:, 1:] * lags[1:] / cumulative

        search = normalised[:, lag_min:]
        below = search < cfg.yin_threshold
        first = torch.where(below.any(dim=1), below.float().argmax(dim=1), search.argmin(dim=1))
        # The first dip under the threshold is the period; step to the bottom of that dip.
        offsets = torch.arange(search.shape[1])
        in_dip = (offsets >= first[:, None]) & (offsets <= first[:, None] + (first[:, None] + lag_min) // 4)
        lag = torch.where(in_dip, search, torch.full_like(search, math.inf)).argmin(dim=1) + lag_min
        row = torch.arange(n_frames)
        left, centre, right = (normalised[row, (lag + k).clamp(0, lag_max)] for k in (-1, 0, 1))
        curvature = left - 2 * centre + right
        inner = (lag > lag_min) & (lag < lag_max) & (curvature > 1e-6)
        shift = torch.where(inner, 0.5 * (left - right) / curvature.clamp_min(1e-6), torch.zeros_like(centre))
        f0 = _median_filter(rate / (lag.float() + shift.clamp(-1, 1)), 5)
        audible = frame_energy > 1e-6 * loudest  # digital silence is perfectly "periodic"; it is not voice
        return f0, (1 - centre).clamp(0, 1) * audible

    def _spectral_shape(self, spectrum: torch.Tensor) -> torch.Tensor:
        """Per-frame shape of a (floored, strictly positive) power spectrum."""
        freqs = self._freqs
        total = spectrum.sum(dim=1)
        centroid = (spectrum @ freqs) / total
        cumulative = spectrum.cumsum(dim=1)
        rolloff = freqs[(cumulative < 0.85 * total[:, None]).sum(dim=1).clamp(max=freqs.numel() - 1)]
        flatness = torch.log(spectrum).mean(dim=1) - torch.log(spectrum.mean(dim=1))
        normalised = spectrum.sqrt() / spectrum.sqrt().sum(dim=1, keepdim=True)
        flux = torch.nn.functional.pad((normalised[1:] - normalised[:-1]).norm(dim=1), (1, 0))
        band = freqs <= 5000
        x = freqs[band] / 1000 - (freqs[band] / 1000).mean()
        slope = (10 * torch.log10(spectrum[:, band]) @ x) / x.square().sum()
        low = spectrum[:, (freqs >= 50) & (freqs < 1000)].sum(dim=1)
        high = spectrum[:, (freqs >= 1000) & (freqs < 5000)].sum(dim=1)
        alpha_ratio = 10 * torch.log10(low / high)
        peak_low = spectrum[:, freqs < 2000].max(dim=1).values
        peak_high = spectrum[:, (freqs >= 2000) & (freqs < 5000)].max(dim=1).values
        hammarberg = 10 * torch.log10(peak_low / peak_high)
        # Scaled to unit-ish ranges so no descriptor dominates before global standardisation.
        return torch.stack([centroid / 1000, rolloff / 1000, flatness, flux, slope, alpha_ratio / 10, hammarberg / 10], dim=1)


_SUMMARY_NAMES = ("mean", "std", "p10", "p50", "p90", "range", "slope", "delta")
_RHYTHM_NAMES = ("voiced_fraction", "voiced_runs_per_second", "voiced_run_seconds", "unvoiced_run_seconds")


def _functionals(names: list[str], values: torch.Tensor, which: tuple[str, ...]) -> tuple[list[str], torch.Tensor]:
    """Per column of ``(T, C)``: the requested functionals (``range`` is p90 - p10, ``slope`` a linear fit
    over the utterance, ``delta`` the mean absolute frame-to-frame change), grouped by functional."""
    quantiles = _quantiles(values, (0.1, 0.5, 0.9))
    centred = values - values.mean(dim=0)
    t = torch.linspace(-0.5, 0.5, values.shape[0])
    computed = {
        "mean": lambda: values.mean(dim=0),
        "std": lambda: values.std(dim=0, correction=0),
        "p10": lambda: quantiles[0],
        "p50": lambda: quantiles[1],
        "p90": lambda: quantiles[2],
        "range": lambda: quantiles[2] - quantiles[0],
        "slope": lambda: (t @ centred) / t.square().sum().clamp_min(1e-10),
        "delta": lambda: (values[1:] - values[:-1]).abs().mean(dim=0) if values.shape[0] > 1 else torch.zeros(values.shape[1]),
    }
    return [f"{name}_{stat}" for stat in which for name in names], torch.cat([computed[stat]() for stat in which])


def _quantiles(values: torch.Tensor, levels: tuple[float, ...]) -> torch.Tensor:
    """Column quantiles with linear interpolation (``torch.quantile``'s default), from one sort."""
    ordered = values.sort(dim=0).values
    position = torch.tensor(levels) * (values.shape[0] - 1)
    low = position.floor().long()
    high = position.ceil().long()
    weight = (position - low).unsqueeze(1)
    return ordered[low] * (1 - weight) + ordered[high] * weight


def _slopes(name: str, contour: torch.Tensor) -> tuple[list[str], torch.Tensor]:
    """Mean and spread of the rising and of the falling frame-to-frame steps of a contour."""
    steps = contour[1:] - contour[:-1]
    values = []
    for part in (steps[steps > 0], steps[steps < 0]):
        values += [part.mean(), part.std(correction=0)] if part.numel() else [torch.tensor(0.0)] * 2
    return [f"{name}_{kind}" for kind in ("rise_mean", "rise_std", "fall_mean", "fall_std")], torch.stack(values)


def _median_step(contour: torch.Tensor) -> torch.Tensor:
    return (contour[1:] - contour[:-1]).abs().median() if contour.numel() > 1 else torch.tensor(0.0)


def _rhythm(voiced: torch.Tensor, hop: int) -> torch.Tensor:
    """Voicing rhythm: voiced share, voiced runs per second, mean voiced and unvoiced run lengths."""
    seconds = voiced.numel() * hop / SAMPLE_RATE
    flags = voiced.to(torch.int8)
    changes = torch.nonzero(flags[1:] != flags[:-1]).flatten() + 1
    bounds = torch.cat([torch.tensor([0]), changes, torch.tensor([voiced.numel()])])
    lengths = (bounds[1:] - bounds[:-1]).float() * hop / SAMPLE_RATE
    run_voiced = voiced[bounds[:-1]]
    voiced_runs, unvoiced_runs = lengths[run_voiced], lengths[~run_voiced]
    return torch.tensor([
        float(voiced.float().mean()),
        voiced_runs.numel() / seconds,
        float(voiced_runs.mean()) if voiced_runs.numel() else 0.0,
        float(unvoiced_runs.mean()) if unvoiced_runs.numel() else 0.0,
    ])


def _median_filter(values: torch.Tensor, width: int) -> torch.Tensor:
    half = width // 2
    padded = torch.nn.functional.pad(values[None, None], (half, half), mode="replicate")[0, 0]
    return padded.unfold(0, width, 1).median(dim=1).values
