"""How close a bounded number of MusiCNN windows stays to analysing every window, with the shipped model.

Two checks, both printing markdown (pasted into the "Bounded analysis" section of docs/benchmarks.md):

1. **Clips** (Emotify 260 + 4Q 240, 10 s each, so 4 windows of 3 s): the music VA head cross-validated
   over the corpora's 5 folds (``cross_validate_music_va``, as ``scripts/music_va_cv.py``) on features
   from every window and from 1-2 of them. A bound of 4 or more windows changes nothing on these clips.
2. **Long tracks**: real clips of one corpus and one genre (Emotify) or quadrant (4Q), dev fold only,
   concatenated in a random order into ``--seconds`` long tracks (``--per-group`` per genre/quadrant).
   For each bound N, the shipped model's 64-d embedding (cosine with every-window analysis), valence
   and arousal (absolute difference), top mood (agreement), and retrieval of these tracks for the RAVDESS
   dev-actor speech queries (MRR, P@5, nDCG@5, as ``undertone evaluate`` scores them). The noise floor:
   every-window analysis of the same track started 1.5 s later (another grid of windows over the same
   music, as a different rip or lead-in would give).

Concatenated clips change every 10 s, harder for a sample of windows than most real songs.

    python benchmarks/bounded_analysis.py --seconds 240 --per-group 4
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace

import numpy as np
import torch

from recommender.audio import load_audio
from recommender.data import load_corpus
from recommender.emotion import EmotionSpace
from recommender.evaluation.dataset import relevance
from recommender.evaluation.music_va import cross_validate_music_va
from recommender.metrics import retrieval_scores
from recommender.model import EmotionModel
from recommender.towers.music_descriptors import music_descriptors
from recommender.towers.musicnn import MusicnnOutput, spread_evenly

BOUNDS = (4, 8, 12, 16, 24, 32, 48)
SHIFT_SECONDS = 1.5


def patch_outputs(model: EmotionModel, waveform: np.ndarray) -> MusicnnOutput:
    """Outputs of every window (the tower's bound lifted)."""
    tower = model.music_tower
    bound, tower.config.max_patches = tower.config.max_patches, None
    try:
        return tower.patch_outputs(waveform)
    finally:
        tower.config.max_patches = bound


def features(model: EmotionModel, outputs: MusicnnOutput, descriptors: np.ndarray, bound: int | None) -> np.ndarray:
    """The tower's vector from the windows a bound keeps (same pooling as ``MusicnnTower.embed_many``)."""
    tower = model.music_tower
    keep = spread_evenly(list(range(outputs.logits.shape[0])), bound)
    subset = MusicnnOutput(*(part[keep] for part in outputs))
    network = torch.cat([feature.pool(subset) for feature in tower._features]).numpy()
    return np.concatenate([network, descriptors]).astype(np.float32)


@torch.inference_mode()
def heads(model: EmotionModel, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    embeddings, va, logits = model.heads.music(torch.as_tensor(vectors))
    return embeddings.numpy(), va.numpy(), logits.argmax(1).numpy()


def clip_check(model: EmotionModel) -> str:
    clips = load_corpus("emotify") + load_corpus("moods4q")
    tower = model.music_tower
    per_bound: dict[int | None, list[np.ndarray]] = {None: [], 2: [], 1: []}
    windows = set()
    for clip in clips:
        waveform = load_audio(clip.path, 16000)
        outputs = patch_outputs(model, waveform)
        windows.add(int(outputs.logits.shape[0]))
        descriptors = music_descriptors(waveform, tower.config.segments, tower.config.segment_seconds)
        for bound in per_bound:
            per_bound[bound].append(features(model, outputs, descriptors, bound))
    lines = [
        f"Clips: {len(clips)} (windows per clip: {sorted(windows)}); music VA head cross-validated over 5 folds.",
        "",
        "| windows analysed | Emotify V R2 | Emotify A R2 | 4Q V R2 | 4Q A R2 | 4Q quadrant acc | max abs VA change vs all |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    reference = None
    for bound, vectors in per_bound.items():
        result = cross_validate_music_va("affine", np.stack(vectors), clips)
        scores = result.scores()
        if reference is None:
            reference = result.predicted
        change = float(np.abs(result.predicted - reference).max())
        emotify, moods = scores["emotify"], scores["moods4q"]
        lines.append(
            f"| {'all' if bound is None else bound} | {emotify['valence_R2']:.3f} | {emotify['arousal_R2']:.3f} | "
            f"{moods['valence_R2']:.3f} | {moods['arousal_R2']:.3f} | {moods.get('quadrant_accuracy', float('nan')):.3f} | {change:.3f} |"
        )
    return "\n".join(lines)


def long_tracks(seconds: float, per_group: int, seed: int) -> list[tuple[np.ndarray, object]]:
    """Dev-fold clips of one genre/quadrant concatenated (random order, cycled) into ``seconds``-long tracks."""
    rng = np.random.default_rng(seed)
    tracks = []
    for corpus, key in (("emotify", lambda c: c.group.split("_")[0]), ("moods4q", lambda c: c.label)):
        clips = load_corpus(corpus, split="dev")
        groups: dict[str, list] = {}
        for clip in clips:
            groups.setdefault(key(clip), []).append(clip)
        for name, members in sorted(groups.items()):
            audio = {clip.path: load_audio(clip.path, 16000) for clip in members}
            for index in range(per_group):
                order = rng.permutation(len(members))
                parts, used, total = [], [], 0
                while total < seconds * 16000:
                    clip = members[order[len(used) % len(order)]]
                    parts.append(audio[clip.path])
                    used.append(clip)
                    total += parts[-1].size
                waveform = np.concatenate(parts)[: int(seconds * 16000)]
                valence = float(np.mean([c.valence for c in used]))
                arousal = float(np.mean([c.arousal for c in used]))
                labels = [c.label for c in used]
                label = max(set(labels), key=labels.count)
                tracks.append((waveform, replace(used[0], label=label, valence=valence, arousal=arousal, group=f"{corpus}-{name}-{index}")))
    return tracks


def long_track_check(model: EmotionModel, seconds: float, per_group: int, seed: int) -> str:
    tower = model.music_tower
    tracks = long_tracks(seconds, per_group, seed)
    vectors: dict[object, list[np.ndarray]] = {bound: [] for bound in (None, *BOUNDS)}
    shifted = []
    windows = set()
    started = time.perf_counter()
    for waveform, _ in tracks:
        descriptors = music_descriptors(waveform, tower.config.segments, tower.config.segment_seconds)
        outputs = patch_outputs(model, waveform)
        windows.add(int(outputs.logits.shape[0]))
        for bound in vectors:
            vectors[bound].append(features(model, outputs, descriptors, bound))
        later = waveform[int(SHIFT_SECONDS * 16000) :]
        shifted.append(features(model, patch_outputs(model, later), music_descriptors(later, tower.config.segments, tower.config.segment_seconds), None))
    print(f"long tracks analysed in {time.perf_counter() - started:.0f} s", file=sys.stderr)

    space = EmotionSpace.default()
    speech = load_corpus("ravdess", split="dev")
    queries = []
    for clip in speech:
        queries.append(model.analyze_speech(load_audio(clip.path, 16000), 16000).embedding)
    queries = np.stack(queries)
    relevant, gains = relevance(speech, [meta for _, meta in tracks], space)

    full_embedding, full_va, full_mood = heads(model, np.stack(vectors[None]))
    rows = []

    def row(name: str, vecs: list[np.ndarray]) -> None:
        embedding, va, mood = heads(model, np.stack(vecs))
        cosine = (embedding * full_embedding).sum(1) / (np.linalg.norm(embedding, axis=1) * np.linalg.norm(full_embedding, axis=1))
        va_diff = np.abs(va - full_va)
        scores = retrieval_scores(queries @ embedding.T, relevant, gains).mean()
        rows.append(
            f"| {name} | {cosine.mean():.4f} / {cosine.min():.4f} | {va_diff[:, 0].mean():.4f} / {va_diff[:, 0].max():.4f} | "
            f"{va_diff[:, 1].mean():.4f} / {va_diff[:, 1].max():.4f} | {(mood == full_mood).mean():.2f} | "
            f"{scores['MRR']:.4f} | {scores['P@5']:.4f} | {scores['nDCG@5']:.4f} |"
        )

    row("every window", vectors[None])
    row(f"every window, started {SHIFT_SECONDS} s later (noise floor)", shifted)
    for bound in BOUNDS:
        row(f"{bound} windows", vectors[bound])
    header = (
        f"Long tracks: {len(tracks)} of {seconds:.0f} s ({sorted(windows)} windows of 3 s each), {per_group} per Emotify genre "
        f"and 4Q quadrant, dev-fold clips; {len(speech)} RAVDESS dev-actor speech queries.\n\n"
        "| analysis | cosine to every window (mean / min) | valence abs diff (mean / max) | arousal abs diff (mean / max) "
        "| same top mood | MRR | P@5 | nDCG@5 |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    return header + "\n" + "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=240.0)
    parser.add_argument("--per-group", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip-clips", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = EmotionModel.load("builtin", music_max_windows=0)
    load_before = os.getloadavg()[0]
    parts = [f"Shipped model (every window: `{model.fingerprint}`)."]
    if not args.skip_clips:
        parts.append(clip_check(model))
    parts.append(long_track_check(model, args.seconds, args.per_group, args.seed))
    parts.append(f"Load average {load_before:.1f} before / {os.getloadavg()[0]:.1f} after.")
    print("\n\n".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
