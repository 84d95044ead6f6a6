"""Cross-validated music valence-arousal and GEMS-9: the shipped music VA setup against the previous one, ablations,
GEMS-9 top-1 accuracy on Emotify and learning curves.

Every clip of Emotify (260) and 4Q (240) is predicted by a head fitted on the other four folds of both
corpora (Emotify folds by genre position, 4Q folds by artist; see ``recommender/data.py``); the ridge
strength of every head is chosen inside its training folds (nested). Features come from the feature cache
(computed on first use: each MusiCNN variant is a pass over the 500 clips).

Usage::

    python scripts/music_va_cv.py [--out music-va-cv.md] [--skip-curves]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from recommender.data import LabelledClip
from recommender.evaluation.music_va import (
    MusicVAResult,
    cross_validate_gems,
    cross_validate_music_va,
    learning_curve,
    va_table,
)
from recommender.ridge import RidgeConfig
from recommender.towers.base import build_tower
from recommender.towers.music_descriptors import DESCRIPTOR_NAMES
from recommender.training import load_features

CORPORA = ["emotify", "moods4q"]
PATCH_STATISTICS = ("penultimate", "tags", "penultimate_std")
EMOTIFY_TRACKS = (140, 200, 260)
ARTIST_FRACTIONS = (0.5, 0.75, 1.0)


def feature_blocks() -> tuple[list[LabelledClip], dict[str, np.ndarray]]:
    """The clips and every feature block the ablation combines, row-aligned."""
    towers = {
        "msd": build_tower("music", "musicnn"),
        "msd+descriptors": build_tower("music", "musicnn+descriptors"),
        "mtt": build_tower("music", "musicnn", model="MTT_musicnn"),
        "msd_stats": build_tower("music", "musicnn", features=PATCH_STATISTICS),
        "mtt_stats": build_tower("music", "musicnn", model="MTT_musicnn", features=PATCH_STATISTICS),
    }
    sets = {name: load_features(tower, CORPORA, None) for name, tower in towers.items()}
    clips = sets["msd"].clips
    if any([c.path for c in s.clips] != [c.path for c in clips] for s in sets.values()):
        raise RuntimeError("the towers kept different clips")
    blocks = {name: s.features.astype(np.float64) for name, s in sets.items()}
    blocks["descriptors"] = blocks.pop("msd+descriptors")[:, -len(DESCRIPTOR_NAMES) :]
    return clips, blocks


class Ensemble(MusicVAResult):
    """The mean of several setups' held-out predictions (each head fitted on the same folds)."""

    def __init__(self, members: list[MusicVAResult]) -> None:
        calibrated = [m.calibrated if m.calibrated is not None else m.predicted for m in members]
        super().__init__(np.mean([m.predicted for m in members], 0), members[0].clips, np.mean(calibrated, 0))


def ablation(clips: list[LabelledClip], blocks: dict[str, np.ndarray]) -> dict[str, MusicVAResult]:
    """Setups in the order of the table."""

    def features(*names: str) -> np.ndarray:
        return np.concatenate([blocks[name] for name in names], axis=1)

    msd_descriptors = features("msd", "descriptors")
    rows = {
        "before: MusiCNN, logit ridge, fitted on Emotify only": cross_validate_music_va("ridge", blocks["msd"], clips, train_corpora=["emotify"]),
        "MusiCNN, logit ridge, Emotify + 4Q pooled": cross_validate_music_va("ridge", blocks["msd"], clips),
        "MusiCNN, affine": cross_validate_music_va("affine", blocks["msd"], clips),
        "descriptors only, affine": cross_validate_music_va("affine", blocks["descriptors"], clips),
        "MusiCNN + descriptors, affine, no spread floor": cross_validate_music_va("affine", msd_descriptors, clips, RidgeConfig(spread_floor=0.0)),
        "MusiCNN + descriptors, affine (shipped)": cross_validate_music_va("affine", msd_descriptors, clips),
        "MusiCNN-MTT, affine": cross_validate_music_va("affine", blocks["mtt"], clips),
        "MusiCNN-MTT + descriptors, affine": cross_validate_music_va("affine", features("mtt", "descriptors"), clips),
        "MSD + MTT, affine": cross_validate_music_va("affine", features("msd", "mtt"), clips),
        "MSD + MTT + descriptors, affine": cross_validate_music_va("affine", features("msd", "mtt", "descriptors"), clips),
        "MSD patch mean + std + descriptors, affine": cross_validate_music_va("affine", features("msd_stats", "descriptors"), clips),
        "MSD + MTT patch mean + std + descriptors, affine": cross_validate_music_va("affine", features("msd_stats", "mtt_stats", "descriptors"), clips),
    }
    rows["ensemble: MSD + descriptors, MTT + descriptors"] = Ensemble(
        [rows["MusiCNN + descriptors, affine (shipped)"], rows["MusiCNN-MTT + descriptors, affine"]]
    )
    rows["ensemble: MSD, MTT, descriptors (three heads)"] = Ensemble(
        [rows["MusiCNN, affine"], rows["MusiCNN-MTT, affine"], rows["descriptors only, affine"]]
    )
    return rows


def gems_table(clips: list[LabelledClip], blocks: dict[str, np.ndarray]) -> str:
    """GEMS-9 top-1 accuracy against the most-voted emotion on Emotify, 5-fold CV, with chance."""
    lines = ["| features | GEMS-9 top-1 | majority class | uniform |", "| --- | --- | --- | --- |"]
    for name, names in (("MusiCNN + descriptors (shipped tower)", ("msd", "descriptors")), ("MSD + MTT + descriptors", ("msd", "mtt", "descriptors"))):
        scores = cross_validate_gems(np.concatenate([blocks[n] for n in names], axis=1), clips).scores()
        lines.append(f"| {name} | {scores['top1']:.3f} | {scores['majority']:.3f} | {scores['uniform']:.3f} |")
    return "\n".join(lines)


def curves_table(clips: list[LabelledClip], blocks: dict[str, np.ndarray]) -> str:
    """Learning curves of the shipped setup: Emotify tracks, 4Q artists (mean over 3 subsets)."""
    features = np.concatenate([blocks["msd"], blocks["descriptors"]], axis=1)
    emotify = sum(clip.corpus == "emotify" for clip in clips)
    lines = [
        "| training data (per fold: 4/5 of it) | 4Q quadrant acc. | 4Q valence R^2 | 4Q arousal R^2 | Emotify valence R^2 (own scale) | Emotify arousal R^2 |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for corpus, fractions, label in (
        ("emotify", [tracks / emotify for tracks in EMOTIFY_TRACKS], lambda f: f"Emotify {round(f * emotify)} tracks, 4Q all"),
        ("moods4q", ARTIST_FRACTIONS, lambda f: f"4Q {f:.0%} of the artists, Emotify all"),
    ):
        for fraction, tables in learning_curve("affine", features, clips, corpus, fractions).items():
            q = [t["predicted"]["moods4q"] for t in tables]
            e = [t["predicted"]["emotify"] for t in tables]
            own = [t["own_scale"]["emotify"] for t in tables]
            lines.append(
                f"| {label(fraction)} | {np.mean([x['quadrant_accuracy'] for x in q]):.3f} | {np.mean([x['valence_R2'] for x in q]):.3f} "
                f"| {np.mean([x['arousal_R2'] for x in q]):.3f} | {np.mean([x['valence_R2'] for x in own]):.3f} | {np.mean([x['arousal_R2'] for x in e]):.3f} |"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, help="also write the markdown tables here")
    parser.add_argument("--skip-curves", action="store_true", help="leave out the learning curves (the slowest part)")
    args = parser.parse_args()
    clips, blocks = feature_blocks()
    text = va_table(ablation(clips, blocks)) + "\n\nGEMS-9 on Emotify (5-fold CV):\n\n" + gems_table(clips, blocks) + "\n"
    if not args.skip_curves:
        text += "\nLearning curves (same test folds; mean over 3 random subsets):\n\n" + curves_table(clips, blocks) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
