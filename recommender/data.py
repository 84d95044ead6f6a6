"""Labelled corpora for training and evaluation, read in place (never copied into the project).

Every corpus becomes a list of :class:`LabelledClip`: an audio file, its emotion label, its
valence-arousal point (0-1 NRC-VAD scale), a group key for independence (speaker or song) and its split.

Splits are fixed so every part of the project reports on the same held-out data:
- RAVDESS: actors 01-08 train, 09-10 dev (speaker-independent).
- Emotify: within each genre every 5th track (by track id) is dev (track-independent).
- EMOPIA: the official song-level train/val/test split (val+test -> dev).
- VGMIDI: every 5th piece (by name) is dev.
MIDI corpora are rendered to audio once with fluidsynth into a cache directory.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from recommender.emotion import LABEL_SETS, EmotionSpace
from recommender.errors import CorpusMissingError, UsageError
from recommender.settings import default_data_dir

logger = logging.getLogger(__name__)

Split = Literal["train", "dev"]
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
RAVDESS_DEV_ACTORS = frozenset({9, 10})


@dataclass(frozen=True)
class LabelledClip:
    """One labelled recording.

    Attributes:
        path: Audio file.
        label: Emotion word in the corpus' own vocabulary (see ``LABEL_SETS``).
        valence: Valence in [0, 1].
        arousal: Arousal in [0, 1].
        group: Independence key (speaker, song); never split across train and dev.
        split: ``train`` or ``dev``.
        corpus: Corpus name.
        soft_labels: Label distribution where the corpus has one (Emotify vote fractions).
        fold: Cross-validation fold (0-4) where the corpus defines folds (Emotify: position within its
            genre mod 5, so fold 4 is the dev split); see :func:`music_fold`.
    """

    path: Path
    label: str
    valence: float
    arousal: float
    group: str
    split: Split
    corpus: str
    soft_labels: dict[str, float] | None = None
    fold: int | None = None


def _require(path: Path) -> Path:
    if not path.exists():
        raise CorpusMissingError(f"{path} not found: point UNDERTONE_DATA_DIR at the corpora (see ../shared/data/README.md)")
    return path


def load_ravdess(data_dir: Path | None = None, space: EmotionSpace | None = None) -> list[LabelledClip]:
    """RAVDESS speech, 8 emotions; dev = actors 09-10."""
    root = _require(Path(data_dir or default_data_dir()))
    space = space or EmotionSpace.default()
    clips = []
    with _require(root / "ravdess" / "labels.csv").open() as handle:
        for row in csv.DictReader(handle):
            actor = int(row["actor"])
            valence, arousal = space.va(row["emotion"])
            clips.append(LabelledClip(
                path=root / row["file"], label=row["emotion"], valence=float(valence), arousal=float(arousal),
                group=f"actor{actor:02d}", split="dev" if actor in RAVDESS_DEV_ACTORS else "train", corpus="ravdess",
            ))
    return clips


def load_emotify(data_dir: Path | None = None, space: EmotionSpace | None = None) -> list[LabelledClip]:
    """Emotify music with GEMS-9 vote fractions; label = most voted, VA = vote-weighted VA."""
    root = _require(Path(data_dir or default_data_dir()))
    space = space or EmotionSpace.default()
    gems = LABEL_SETS["gems9"]
    clips = []
    with _require(root / "emotify" / "labels.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        votes = {label: float(row[label]) for label in gems}
        valence, arousal = space.soft_va(votes)
        track, fold = int(row["track_id"]), _genre_fold(rows, row)
        clips.append(LabelledClip(
            path=root / row["file"], label=max(votes, key=votes.get), valence=float(valence), arousal=float(arousal),
            group=f"{row['genre']}_{track:03d}", split="dev" if fold == 4 else "train",
            corpus="emotify", soft_labels=votes, fold=fold,
        ))
    return clips


def _genre_fold(rows: list[dict[str, str]], row: dict[str, str]) -> int:
    """Position of the track within its genre (by id) mod 5: genre-balanced folds."""
    same_genre = sorted(int(r["track_id"]) for r in rows if r["genre"] == row["genre"])
    return same_genre.index(int(row["track_id"])) % 5


def music_fold(clip: LabelledClip, folds: int = 5) -> int:
    """The clip's cross-validation fold: the corpus' own (Emotify) or a stable hash of its group (song)."""
    if clip.fold is not None and folds == 5:
        return clip.fold
    return int(hashlib.sha1(clip.group.encode()).hexdigest(), 16) % folds


def load_emopia(data_dir: Path | None = None, cache_dir: Path | None = None) -> list[LabelledClip]:
    """EMOPIA piano clips rendered to audio; label = quadrant Q1-Q4; dev = official val + test songs."""
    root = _require(Path(data_dir or default_data_dir())) / "emopia"
    space = EmotionSpace.default()
    splits: dict[str, Split] = {}
    for name, split in (("train.csv", "train"), ("val.csv", "dev"), ("test.csv", "dev")):
        with _require(root / name).open() as handle:
            splits.update({row["fname"]: split for row in csv.DictReader(handle)})
    rendered = render_midi_archive(root / "midis.zip", _cache(cache_dir) / "emopia")
    clips = []
    for stem, path in sorted(rendered.items()):
        if stem not in splits:
            continue
        quadrant = stem.split("_")[0]
        valence, arousal = space.va(quadrant)
        song = stem[3:].rsplit("_", 1)[0]
        clips.append(LabelledClip(path, quadrant, float(valence), float(arousal), song, splits[stem], "emopia"))
    return clips


def load_vgmidi(data_dir: Path | None = None, cache_dir: Path | None = None) -> list[LabelledClip]:
    """VGMIDI phrases rendered to audio; valence/arousal signs -> quadrant; dev = every 5th piece."""
    root = _require(Path(data_dir or default_data_dir())) / "vgmidi"
    space = EmotionSpace.default()
    rendered = render_midi_archive(root / "phrases.zip", _cache(cache_dir) / "vgmidi")
    with _require(root / "vgmidi_labelled.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    pieces = sorted({row["piece"] for row in rows})
    clips = []
    for row in rows:
        stem = Path(row["midi"]).stem
        if stem not in rendered:
            continue
        quadrant = {("1", "1"): "Q1", ("-1", "1"): "Q2", ("-1", "-1"): "Q3", ("1", "-1"): "Q4"}[(row["valence"], row["arousal"])]
        valence, arousal = space.va(quadrant)
        split: Split = "dev" if pieces.index(row["piece"]) % 5 == 4 else "train"
        clips.append(LabelledClip(rendered[stem], quadrant, float(valence), float(arousal), row["piece"], split, "vgmidi"))
    return clips


CORPORA: dict[str, Callable[..., list[LabelledClip]]] = {
    "ravdess": load_ravdess,
    "emotify": load_emotify,
    "emopia": load_emopia,
    "vgmidi": load_vgmidi,
}
SPEECH_CORPORA = ("ravdess",)
MUSIC_CORPORA = ("emotify", "emopia", "vgmidi")


def load_corpus(name: str, split: Split | None = None, data_dir: Path | None = None) -> list[LabelledClip]:
    """Load a corpus by name, optionally keeping one split."""
    try:
        loader = CORPORA[name]
    except KeyError:
        raise UsageError(f"unknown corpus {name!r}; known: {sorted(CORPORA)}") from None
    clips = loader(data_dir)
    return [clip for clip in clips if split is None or clip.split == split]


def _cache(cache_dir: Path | None) -> Path:
    return Path(cache_dir) if cache_dir else Path.home() / ".cache" / "undertone" / "renders"


def render_midi_archive(archive: Path, out_dir: Path, sample_rate: int = 22050) -> dict[str, Path]:
    """Render every MIDI file in a zip to FLAC with fluidsynth (once; later calls reuse the files)."""
    _require(archive)
    if shutil.which("fluidsynth") is None or not SOUNDFONT.exists():
        raise RuntimeError("rendering MIDI needs Debian's fluidsynth and fluid-soundfont-gm")
    out_dir.mkdir(parents=True, exist_ok=True)
    rendered: dict[str, Path] = {}
    with zipfile.ZipFile(archive) as bundle:
        for member in bundle.namelist():
            # macOS archives carry "__MACOSX/._name.mid" resource forks: not MIDI.
            if not member.lower().endswith((".mid", ".midi")) or "__MACOSX/" in member or Path(member).name.startswith("._"):
                continue
            stem = Path(member).stem
            target = out_dir / f"{hashlib.sha1(stem.encode()).hexdigest()[:16]}.flac"
            if not target.exists():
                # Private scratch files: two processes may render the same archive at once.
                with tempfile.TemporaryDirectory(dir=out_dir) as scratch:
                    midi, wav = Path(scratch) / "in.mid", Path(scratch) / "out.wav"
                    midi.write_bytes(bundle.read(member))
                    result = subprocess.run(
                        ["fluidsynth", "-ni", "-q", "-g", "0.6", "-F", str(wav), "-r", str(sample_rate), str(SOUNDFONT), str(midi)],
                        capture_output=True, text=True, timeout=120,
                    )
                    if result.returncode != 0 or not wav.exists() or not _wav_to_flac(wav, target):
                        logger.warning("%s: fluidsynth could not render %s (skipped) %s", archive, member, result.stderr.strip()[-200:])
                        continue
            rendered[stem] = target
    return rendered


def _wav_to_flac(wav: Path, target: Path) -> bool:
    """Mono FLAC of a render; False (nothing written) when the render is empty or silent."""
    import soundfile as sf

    audio, rate = sf.read(wav, dtype="float32")
    mono = audio.mean(axis=1) if audio.ndim == 2 else audio
    if mono.size == 0 or float(abs(mono).max()) < 1e-4:
        return False
    tmp = wav.with_suffix(".flac")
    sf.write(tmp, mono, rate)
    tmp.replace(target)
    return True
