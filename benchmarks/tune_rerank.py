"""Choose the re-ranking weight ``alpha`` of ``Recommender.search`` on the dev split.

Search ranks by ``(1 - alpha) * cosine + alpha * va_similarity`` (see :mod:`recommender.search`). This
script analyses the dev speech queries (the RAVDESS dev fold) and a dev music pool with the model,
ranks the pool for each query at every ``alpha`` of a grid and reports MRR, P@5 and nDCG@5 with the
relevance of Doh et al. (binary: most similar music label; graded: VA similarity of the labels), the
same definitions as ``undertone evaluate`` (:mod:`recommender.evaluation`).

    python benchmarks/tune_rerank.py [--music emotify moods4q] [--model builtin] [--steps 11]

Prints a Markdown table and the best ``alpha`` by nDCG@5 (ties: the smaller alpha).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from recommender.audio import load_audio
from recommender.data import LabelledClip, load_corpus
from recommender.emotion import pairwise_va_similarity
from recommender.errors import AudioError
from recommender.evaluation import relevance
from recommender.metrics import retrieval_scores
from recommender.model import Analysis, EmotionModel


def analyse(model: EmotionModel, clips: list[LabelledClip], modality: str) -> tuple[list[LabelledClip], list[Analysis]]:
    rate = model.speech_sample_rate if modality == "speech" else model.music_sample_rate
    analyse_one = model.analyze_speech if modality == "speech" else model.analyze_music
    kept, analyses = [], []
    for clip in clips:
        try:
            waveform = load_audio(clip.path, rate, max_seconds=None)
        except AudioError as error:
            print(f"skipped {error}")
            continue
        kept.append(clip)
        analyses.append(analyse_one(waveform, rate))
    return kept, analyses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--speech", default="ravdess")
    parser.add_argument("--music", nargs="+", default=["emotify"])
    parser.add_argument("--model", default="builtin")
    parser.add_argument("--steps", type=int, default=11, help="grid points from 0 to 1")
    args = parser.parse_args()

    model = EmotionModel.load(args.model)
    started = time.perf_counter()
    speech, speech_out = analyse(model, load_corpus(args.speech, "dev"), "speech")
    music_clips = [clip for corpus in args.music for clip in load_corpus(corpus, "dev")]
    music, music_out = analyse(model, music_clips, "music")
    print(f"model {model.fingerprint}: {len(speech)} dev speech queries ({args.speech}) x {len(music)} dev tracks "
          f"({', '.join(args.music)}), analysed in {time.perf_counter() - started:.0f} s\n")

    relevant, gains = relevance(speech, music, model.space)
    cosine = np.stack([a.embedding for a in speech_out]) @ np.stack([a.embedding for a in music_out]).T
    va_match = pairwise_va_similarity(
        np.array([(a.valence, a.arousal) for a in speech_out]), np.array([(a.valence, a.arousal) for a in music_out])
    )
    print("| alpha | MRR | P@5 | nDCG@5 |")
    print("|---:|---:|---:|---:|")
    best_alpha, best_ndcg = 0.0, -np.inf
    for alpha in np.linspace(0.0, 1.0, args.steps):
        means = retrieval_scores((1 - alpha) * cosine + alpha * va_match, relevant, gains, k=5).mean()
        print(f"| {alpha:.1f} | {means['MRR']:.3f} | {means['P@5']:.3f} | {means['nDCG@5']:.3f} |")
        if means["nDCG@5"] > best_ndcg + 1e-9:
            best_alpha, best_ndcg = float(alpha), means["nDCG@5"]
    print(f"\nbest alpha by nDCG@5: {best_alpha:.1f} ({best_ndcg:.3f})")


if __name__ == "__main__":
    main()
