"""Cross-validated music valence-arousal: the shipped music VA setup against the previous one, and ablations.

Every clip of Emotify (260) and 4Q (240) is predicted by a head fitted on the other four folds of both
corpora (Emotify folds by genre position, 4Q folds by artist; see ``recommender/data.py``). Features come
from the feature cache (computed on first use).

Usage::

    python scripts/music_va_cv.py [--out music-va-cv.md]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from recommender.evaluation.music_va import MusicVAResult, cross_validate_music_va, va_table
from recommender.ridge import RidgeConfig
from recommender.towers.base import build_tower
from recommender.towers.music_descriptors import DESCRIPTOR_NAMES
from recommender.training import load_features

CORPORA = ["emotify", "moods4q"]


def ablation() -> dict[str, MusicVAResult]:
    """Setups in the order of the table (the last one is what ``affine`` + ``musicnn+descriptors`` ships)."""
    plain = load_features(build_tower("music", "musicnn"), CORPORA, None)
    full = load_features(build_tower("music", "musicnn+descriptors"), CORPORA, None)
    if [c.path for c in plain.clips] != [c.path for c in full.clips]:
        raise RuntimeError("the two towers kept different clips")
    clips, descriptors = full.clips, full.features[:, -len(DESCRIPTOR_NAMES) :]
    return {
        "before: MusiCNN, logit ridge, fitted on Emotify only": cross_validate_music_va("ridge", plain.features, clips, train_corpora=["emotify"]),
        "MusiCNN, logit ridge, Emotify + 4Q pooled": cross_validate_music_va("ridge", plain.features, clips),
        "MusiCNN, affine": cross_validate_music_va("affine", plain.features, clips),
        "descriptors only, affine": cross_validate_music_va("affine", descriptors, clips),
        "MusiCNN + descriptors, affine, no spread floor": cross_validate_music_va(
            "affine", full.features, clips, RidgeConfig(spread_floor=0.0)
        ),
        "MusiCNN + descriptors, affine (shipped)": cross_validate_music_va("affine", full.features, clips),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, help="also write the markdown table here")
    args = parser.parse_args()
    table = va_table(ablation())
    print(table)
    if args.out:
        args.out.write_text(table + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
