#!/usr/bin/env python
"""Convert the pretrained MusiCNN checkpoints of the ``musicnn`` 0.1.0 wheel to safetensors and check the port.

TensorFlow is never a dependency of Undertone, so this runs in two steps and two environments:

1. ``export`` -- with a throw-away Python that has the original stack::

       python3 -m venv /tmp/tfvenv
       /tmp/tfvenv/bin/pip install tensorflow-cpu tf_keras librosa safetensors soundfile
       pip download musicnn==0.1.0 --no-deps -d /tmp/musicnn_wheel && unzip the wheel to /tmp/musicnn_wheel/x
       /tmp/tfvenv/bin/python scripts/convert_musicnn.py export --musicnn-dir /tmp/musicnn_wheel/x/musicnn

   reads the TF1 checkpoints, writes ``recommender/weights/musicnn_{msd,mtt}.safetensors`` (+ a JSON of
   architecture and tag names next to each), runs the ORIGINAL musicnn TF graph (``musicnn/models.py``)
   on librosa log-mels of synthetic signals and a few Emotify excerpts, and saves its outputs: all of them
   to a comparison ``.npz`` (outside the repo), those of the seeded reference signal to
   ``tests/data/musicnn_reference.json``.

2. ``verify`` -- with the project venv::

       .venv/bin/python scripts/convert_musicnn.py verify

   runs the PyTorch port on the same waveforms and prints the max abs differences of the mel (torchaudio vs
   librosa), the tag probabilities and the penultimate features, end-to-end and with the network alone.

The mel is librosa's ``melspectrogram`` defaults of the librosa the wheel required (>=0.7: slaney mel,
power 2, centred frames with *reflect* padding -- librosa 0.10 changed the default to constant, so it is
passed explicitly), kept in float32 instead of the original's float16 cast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
WEIGHTS_DIR = REPO / "recommender" / "weights"
REFERENCE_JSON = REPO / "tests" / "data" / "musicnn_reference.json"
DEFAULT_COMPARISON = Path("/tmp/musicnn_comparison.npz")

SAMPLE_RATE = 16000
N_FFT = 512
HOP_LENGTH = 256
N_MELS = 96
PATCH_FRAMES = 187
BN_EPS = 1e-3  # tf.compat.v1.layers.batch_normalization default

MODELS = {"MSD_musicnn": "musicnn_msd", "MTT_musicnn": "musicnn_mtt"}
REFERENCE_SEED = 20190801
REFERENCE_SAMPLES = (2 * PATCH_FRAMES - 1) * HOP_LENGTH  # centred frames: exactly two patches, no tail
EMOTIFY_FILES = ("classical_001.opus", "electronic_201.opus", "pop_301.opus", "rock_101.opus")

# TF1 auto-named variable scopes, in the order musicnn's build_musicnn creates them, -> PyTorch module names.
# Kinds: "norm" = batch norm, "conv2d" = (h, w, in, out) kernel, "conv1d" = a midend conv whose kernel spans
# all channels, (7, C, 1, out), "dense" = (in, out) kernel.
LAYERS = (
    ("batch_normalization", "input_norm", "norm"),
    ("conv2d", "frontend.0.conv", "conv2d"),
    ("batch_normalization_1", "frontend.0.norm", "norm"),
    ("conv2d_1", "frontend.1.conv", "conv2d"),
    ("batch_normalization_2", "frontend.1.norm", "norm"),
    ("conv2d_2", "frontend.2.conv", "conv2d"),
    ("batch_normalization_3", "frontend.2.norm", "norm"),
    ("conv2d_3", "frontend.3.conv", "conv2d"),
    ("batch_normalization_4", "frontend.3.norm", "norm"),
    ("conv2d_4", "frontend.4.conv", "conv2d"),
    ("batch_normalization_5", "frontend.4.norm", "norm"),
    ("conv2d_5", "midend.0.conv", "conv1d"),
    ("batch_normalization_6", "midend.0.norm", "norm"),
    ("conv2d_6", "midend.1.conv", "conv1d"),
    ("batch_normalization_7", "midend.1.norm", "norm"),
    ("conv2d_7", "midend.2.conv", "conv1d"),
    ("batch_normalization_8", "midend.2.norm", "norm"),
    ("batch_normalization_9", "pool_norm", "norm"),
    ("dense", "penultimate", "dense"),
    ("batch_normalization_10", "penultimate_norm", "norm"),
    ("dense_1", "classifier", "dense"),
)
NORM_PARAMS = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}


def reference_signal(num_samples: int = REFERENCE_SAMPLES, seed: int = REFERENCE_SEED) -> np.ndarray:
    """A deterministic music-like test signal at 16 kHz: an A-minor chord with harmonics, a melody, noise bursts."""
    rng = np.random.default_rng(seed)
    t = np.arange(num_samples) / SAMPLE_RATE
    seconds = num_samples / SAMPLE_RATE
    chord = sum(
        (0.5**harmonic) * np.sin(2 * np.pi * f0 * (harmonic + 1) * t + rng.uniform(0, 2 * np.pi))
        for f0 in (220.0, 261.63, 329.63)
        for harmonic in range(4)
    )
    melody_notes = np.array([440.0, 523.25, 659.25, 587.33, 493.88, 440.0])
    melody_f0 = melody_notes[np.minimum((t / seconds * melody_notes.size).astype(int), melody_notes.size - 1)]
    melody = 0.3 * np.sin(2 * np.pi * np.cumsum(melody_f0) / SAMPLE_RATE)
    beat_envelope = np.exp(-30.0 * np.mod(t, 0.5))  # a noise "drum" hit every half second
    drums = 0.4 * beat_envelope * rng.standard_normal(t.size)
    signal = 0.15 * chord + melody + drums + 0.01 * rng.standard_normal(t.size)
    return (0.5 * signal / np.abs(signal).max()).astype(np.float32)


def comparison_signals(data_dir: Path | None) -> dict[str, np.ndarray]:
    """The waveforms both implementations are run on: synthetic ones, plus Emotify excerpts when present."""
    t = np.arange(8 * SAMPLE_RATE) / SAMPLE_RATE
    rng = np.random.default_rng(7)
    signals = {
        "reference": reference_signal(),
        "sweep": (0.5 * np.sin(2 * np.pi * (50 * t + (7950 / 16) * t**2))).astype(np.float32),
        "white_noise_loud": np.clip(rng.standard_normal(t.size) * 0.5, -1, 1).astype(np.float32),
        "quiet_tone": (1e-3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32),
    }
    if data_dir is not None and (data_dir / "emotify").is_dir():
        import librosa
        import soundfile as sf

        for name in EMOTIFY_FILES:
            audio, rate = sf.read(data_dir / "emotify" / name, dtype="float32", always_2d=True)
            signals[f"emotify/{name}"] = librosa.resample(audio.mean(axis=1), orig_sr=rate, target_sr=SAMPLE_RATE)
    return signals


def librosa_log_mel(waveform: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(mel power, log10(10000 * mel + 1))``, both ``(frames, 96)`` float32, as musicnn's ``batch_data``."""
    import librosa

    mel = librosa.feature.melspectrogram(
        y=waveform, sr=SAMPLE_RATE, hop_length=HOP_LENGTH, n_fft=N_FFT, n_mels=N_MELS, pad_mode="reflect"
    ).T.astype(np.float32)
    return mel, np.log10(10000 * mel + 1)


def original_patch_starts(num_frames: int) -> list[int]:
    """Patch starts of musicnn's own ``batch_data`` with its default (no) overlap: the tail is dropped."""
    return list(range(0, num_frames - PATCH_FRAMES + 1, PATCH_FRAMES))


def convert_checkpoint(checkpoint_prefix: str) -> dict[str, np.ndarray]:
    """Read one TF1 checkpoint into PyTorch-layout arrays named like ``recommender.towers.musicnn``'s modules."""
    import tensorflow as tf

    reader = tf.compat.v1.train.NewCheckpointReader(checkpoint_prefix)
    tensors: dict[str, np.ndarray] = {}
    for tf_name, torch_name, kind in LAYERS:
        if kind == "norm":
            for tf_param, torch_param in NORM_PARAMS.items():
                tensors[f"{torch_name}.{torch_param}"] = reader.get_tensor(f"{tf_name}/{tf_param}")
            continue
        kernel = reader.get_tensor(f"{tf_name}/kernel")
        tensors[f"{torch_name}.bias"] = reader.get_tensor(f"{tf_name}/bias")
        if kind == "conv2d":
            tensors[f"{torch_name}.weight"] = kernel.transpose(3, 2, 0, 1)
        elif kind == "conv1d":
            tensors[f"{torch_name}.weight"] = kernel[:, :, 0, :].transpose(2, 1, 0)
        else:
            tensors[f"{torch_name}.weight"] = kernel.T
    used = {
        f"{tf_name}/{param}"
        for tf_name, _, kind in LAYERS
        for param in (NORM_PARAMS if kind == "norm" else ("kernel", "bias"))
    }
    left_over = {
        name for name in reader.get_variable_to_shape_map() if "Adam" not in name and "_power" not in name
    } - used
    if left_over:
        raise RuntimeError(f"checkpoint variables not converted: {sorted(left_over)}")
    return {name: np.ascontiguousarray(array, dtype=np.float32) for name, array in tensors.items()}


def architecture(tensors: dict[str, np.ndarray], model: str, tags: list[str], result: str) -> dict:
    """The JSON stored next to the weights: what ``MusicnnNet`` needs to rebuild the network."""
    return {
        "model": model,
        "source": "musicnn 0.1.0 (PyPI), Jordi Pons & Xavier Serra, ISC licence; converted by scripts/convert_musicnn.py",
        "checkpoint_result": result.strip(),
        "sample_rate": SAMPLE_RATE,
        "n_fft": N_FFT,
        "hop_length": HOP_LENGTH,
        "n_mels": N_MELS,
        "patch_frames": PATCH_FRAMES,
        "timbral_kernels": [int(tensors[f"frontend.{i}.conv.weight"].shape[3]) for i in (0, 1)],
        "timbral_filters": int(tensors["frontend.0.conv.weight"].shape[0]),
        "temporal_kernels": [int(tensors[f"frontend.{i}.conv.weight"].shape[2]) for i in (2, 3, 4)],
        "temporal_filters": int(tensors["frontend.2.conv.weight"].shape[0]),
        "midend_filters": int(tensors["midend.0.conv.weight"].shape[0]),
        "backend_units": int(tensors["penultimate.weight"].shape[0]),
        "batch_norm_eps": BN_EPS,
        "tags": tags,
    }


def run_original(musicnn_dir: Path, model: str, patches: np.ndarray) -> dict[str, np.ndarray]:
    """Run musicnn's own TF graph (``models.define_model``) on log-mel patches ``(n, 187, 96)``."""
    import tensorflow as tf
    from musicnn import models  # the wheel's module, on sys.path via --musicnn-dir

    tf.compat.v1.reset_default_graph()
    with tf.name_scope("model"):
        x = tf.compat.v1.placeholder(tf.float32, [None, PATCH_FRAMES, N_MELS])
        is_training = tf.compat.v1.placeholder(tf.bool)
        logits, *_, mean_pool, max_pool, penultimate = models.define_model(x, is_training, model, 50)
        tags = tf.nn.sigmoid(logits)
    with tf.compat.v1.Session() as session:
        tf.compat.v1.train.Saver().restore(session, f"{musicnn_dir / model}/")
        values = session.run([tags, logits, penultimate, mean_pool, max_pool], {x: patches, is_training: False})
    return dict(zip(("tags", "logits", "penultimate", "mean_pool", "max_pool"), values))


def export(args: argparse.Namespace) -> None:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # musicnn uses tf.compat.v1.layers, gone with Keras 3
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", message=r".*is deprecated and will be removed", category=UserWarning)
    import tensorflow as tf
    from safetensors.numpy import save_file

    tf.compat.v1.disable_eager_execution()
    musicnn_dir = args.musicnn_dir.resolve()
    sys.path.insert(0, str(musicnn_dir.parent))
    from musicnn import configuration

    tag_lists = {"MSD_musicnn": configuration.MSD_LABELS, "MTT_musicnn": configuration.MTT_LABELS}
    WEIGHTS_DIR.mkdir(parents=True, exist_ok=True)
    for model, stem in MODELS.items():
        tensors = convert_checkpoint(f"{musicnn_dir / model}/")
        save_file(tensors, str(WEIGHTS_DIR / f"{stem}.safetensors"), metadata={"model": model, "format": "pt"})
        (WEIGHTS_DIR / f"{stem}.safetensors").chmod(0o644)
        result = (musicnn_dir / model / "experiment.result").read_text()
        config = architecture(tensors, model, list(tag_lists[model]), result)
        (WEIGHTS_DIR / f"{stem}.json").write_text(json.dumps(config, indent=1) + "\n")
        print(f"{model}: {sum(a.size for a in tensors.values())} parameters -> {WEIGHTS_DIR / stem}.safetensors")

    comparison: dict[str, np.ndarray] = {}
    reference: dict = {}
    for name, waveform in comparison_signals(args.data_dir).items():
        mel, log_mel = librosa_log_mel(waveform)
        starts = original_patch_starts(log_mel.shape[0])
        patches = np.stack([log_mel[start : start + PATCH_FRAMES] for start in starts])
        comparison.update({f"{name}|waveform": waveform, f"{name}|mel": mel, f"{name}|starts": np.array(starts)})
        for model in MODELS:
            outputs = run_original(musicnn_dir, model, patches)
            comparison.update({f"{name}|{model}|{key}": value for key, value in outputs.items()})
            if name == "reference":
                reference.setdefault("models", {})[model] = {
                    key: np.round(outputs[key].astype(np.float64), 7).tolist() for key in ("tags", "penultimate")
                }
        if name == "reference":
            reference["patch_starts"] = starts
            reference["num_frames"] = int(log_mel.shape[0])
            reference["log_mel_band_means"] = np.round(log_mel.mean(axis=0).astype(np.float64), 7).tolist()
        print(f"{name}: {log_mel.shape[0]} frames, {len(starts)} patches")
    np.savez_compressed(args.comparison, **comparison)

    reference = {
        "about": (
            "Outputs of the original musicnn 0.1.0 TensorFlow graph on scripts/convert_musicnn.py:reference_signal() "
            f"(seed {REFERENCE_SEED}, {REFERENCE_SAMPLES} samples at 16 kHz), per 187-frame patch of its librosa log-mel "
            "(float32, reflect padding); written by `convert_musicnn.py export`."
        ),
        **reference,
    }
    REFERENCE_JSON.parent.mkdir(parents=True, exist_ok=True)
    REFERENCE_JSON.write_text(json.dumps(reference) + "\n")
    print(f"wrote {REFERENCE_JSON} and {args.comparison}")


def verify(args: argparse.Namespace) -> None:
    import torch

    sys.path.insert(0, str(REPO))
    from recommender.towers.musicnn import MusicnnConfig, MusicnnTower

    data = np.load(args.comparison)
    names = sorted({key.split("|")[0] for key in data.files})
    towers = {model: MusicnnTower(MusicnnConfig(model=model)) for model in MODELS}
    worst: dict[str, float] = {}
    print(
        f"{'signal':32s} {'model':12s} {'mel rel':>9s} {'logmel':>9s} {'tags e2e':>9s} {'pen e2e':>9s} {'tags net':>9s} {'pen net':>9s} {'pools rel':>9s}"
    )
    with torch.inference_mode():
        for name in names:
            waveform, librosa_mel, starts = (data[f"{name}|{key}"] for key in ("waveform", "mel", "starts"))
            tower = towers["MSD_musicnn"]
            torch_log_mel = tower.log_mel(torch.from_numpy(waveform))
            torch_mel = tower.log_mel.mel(torch.from_numpy(waveform)).T.numpy()
            mel_rel = float(np.abs(torch_mel - librosa_mel).max() / librosa_mel.max())
            log_mel_diff = float((torch_log_mel - torch.from_numpy(np.log10(10000 * librosa_mel + 1))).abs().max())
            for model, tower in towers.items():
                ported = {
                    "e2e": tower.network(torch.stack([torch_log_mel[s : s + PATCH_FRAMES] for s in starts])),
                    "net": tower.network(
                        torch.from_numpy(
                            np.stack([np.log10(10000 * librosa_mel[s : s + PATCH_FRAMES] + 1) for s in starts])
                        )
                    ),
                }
                diffs = {}
                for route, out in ported.items():
                    diffs[f"tags {route}"] = np.abs(
                        torch.sigmoid(out.logits).numpy() - data[f"{name}|{model}|tags"]
                    ).max()
                    diffs[f"pen {route}"] = np.abs(out.penultimate.numpy() - data[f"{name}|{model}|penultimate"]).max()
                net = ported["net"]
                diffs["pools rel"] = max(  # relative to the largest activation: pools reach tens
                    np.abs(ours.numpy() - data[f"{name}|{model}|{key}"]).max()
                    / np.abs(data[f"{name}|{model}|{key}"]).max()
                    for key, ours in (("mean_pool", net.mean_pool), ("max_pool", net.max_pool))
                )
                for key, value in diffs.items():
                    worst[key] = max(worst.get(key, 0.0), float(value))
                print(
                    f"{name:32s} {model:12s} {mel_rel:9.2e} {log_mel_diff:9.2e} "
                    + " ".join(f"{diffs[k]:9.2e}" for k in ("tags e2e", "pen e2e", "tags net", "pen net", "pools rel"))
                )
    print("worst:", {key: f"{value:.2e}" for key, value in worst.items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    export_parser = commands.add_parser(
        "export", help="TF checkpoints -> safetensors + reference outputs (TensorFlow venv)"
    )
    export_parser.add_argument("--musicnn-dir", type=Path, required=True, help="the wheel's musicnn/ package directory")
    export_parser.add_argument(
        "--data-dir", type=Path, default=REPO.parent / "shared" / "data", help="labelled corpora (for Emotify excerpts)"
    )
    export_parser.add_argument("--comparison", type=Path, default=DEFAULT_COMPARISON)
    export_parser.set_defaults(run=export)
    verify_parser = commands.add_parser(
        "verify", help="compare the PyTorch port with the saved TF outputs (project venv)"
    )
    verify_parser.add_argument("--comparison", type=Path, default=DEFAULT_COMPARISON)
    verify_parser.set_defaults(run=verify)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
