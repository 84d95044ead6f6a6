"""Train the shipped default model and write its model card.

1. Every candidate training setup (loss variant x music training data) trains on the train split with
   several seeds and is scored on the dev split (RAVDESS actors 09-10 queries x Emotify dev tracks).
2. The candidate with the best mean dev nDCG@5 (ties: MRR) is the shipped one, declared before looking:
   graded nDCG@5 is defined for every query class, while the binary metrics cannot credit classes whose
   mapped music label is missing from the small dev pool. Its seed-0 heads are written to
   ``recommender/weights/default/``.
3. The full benchmark (random, VA regression, triplet, triplet+SP, triplet+EmoSim over the same seeds, plus
   the shipped model) runs on every dev pool; tables and plots go to ``--report-dir`` and the model card
   to ``recommender/weights/MODEL_CARD.md``.

Usage::

    python scripts/train_default_model.py [--seeds 5] [--report-dir undertone-eval/default]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from recommender.emotion import EmotionSpace  # noqa: E402
from recommender.evaluation import (  # noqa: E402
    DEFAULT_VARIANTS, Benchmark, build_dev_set, markdown_table, run_benchmark, run_variant, write_report,
)
from recommender.features import FeatureCache  # noqa: E402
from recommender.model import BUILTIN_DIR, EmotionModel, ModelConfig  # noqa: E402
from recommender.training import TrainConfig, load_training_data, train  # noqa: E402

PIANO = {"music_corpora": ["emotify", "emopia", "vgmidi"], "music_corpus_weights": {"emotify": 0.6, "emopia": 0.25, "vgmidi": 0.15}}
CANDIDATES: dict[str, dict] = {
    "triplet": {"loss": "triplet"},
    "triplet_sp": {"loss": "triplet_sp"},
    "triplet_emosim": {"loss": "triplet_emosim"},
    "triplet_sp_emosim": {"loss": "triplet_sp_emosim"},
    "triplet_emosim+piano": {"loss": "triplet_emosim", **PIANO},
    "triplet_sp_emosim+piano": {"loss": "triplet_sp_emosim", **PIANO},
}
SELECTION = ("nDCG@5", "MRR")
DEV_POOLS = (("emotify",), ("emopia",))


def candidate_config(base: TrainConfig, overrides: dict) -> TrainConfig:
    return TrainConfig.from_dict({**base.to_dict(), **overrides})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", default="default", help="base training config (name or JSON)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--candidates", help="comma-separated subset of: " + ", ".join(CANDIDATES))
    parser.add_argument("--out", type=Path, default=BUILTIN_DIR)
    parser.add_argument("--card", type=Path, default=REPO / "recommender" / "weights" / "MODEL_CARD.md")
    parser.add_argument("--report-dir", type=Path, default=Path("undertone-eval") / "default")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    started = time.time()
    seeds = tuple(range(args.seeds))
    base = TrainConfig.from_file(args.base)
    names = args.candidates.split(",") if args.candidates else list(CANDIDATES)
    space, cache = EmotionSpace.default(), FeatureCache()

    # 1. Candidates on the primary dev pool.
    selection: dict[str, dict] = {}
    loaded: dict[str, object] = {}
    for name in names:
        config = candidate_config(base, CANDIDATES[name])
        key = json.dumps([config.music_corpora, config.speech_corpora])
        if key not in loaded:
            loaded[key] = load_training_data(config, cache=cache)
        data = loaded[key]
        dev = build_dev_set(data.towers, "ravdess", DEV_POOLS[0], "dev", space, None, cache)
        result = run_variant(config.loss, config, data, dev, seeds)
        summary = result.summary()
        selection[name] = {metric: summary[metric] for metric in ("MRR", "P@5", "nDCG@5")}
        logging.info("%s: %s", name, {k: round(v["mean"], 4) for k, v in selection[name].items()})
    chosen = max(selection, key=lambda n: tuple(selection[n][m]["mean"] for m in SELECTION))
    logging.info("chosen: %s", chosen)

    # 2. The shipped heads: the chosen setup, seed 0, trained on the train split only.
    config = candidate_config(base, CANDIDATES[chosen]).replace(seed=0)
    data = loaded[json.dumps([config.music_corpora, config.speech_corpora])]
    model = train(config, data=data)
    model.config.training["selection"] = {"chosen": chosen, "criterion": list(SELECTION), "dev_candidates": selection}
    model.save(args.out)
    shipped = EmotionModel.load(args.out)
    logging.info("saved %s (fingerprint %s)", args.out, shipped.fingerprint)

    # 3. The benchmark on every dev pool, baselines trained with the chosen data setup.
    benchmarks: list[tuple[tuple[str, ...], Benchmark]] = []
    for pool in DEV_POOLS:
        benchmark = run_benchmark(config, variants=DEFAULT_VARIANTS, seeds=seeds, music=pool, model=shipped, train_data=data)
        write_report(benchmark, args.report_dir / "+".join(pool))
        benchmarks.append((pool, benchmark))
    args.card.write_text(model_card(shipped, config, chosen, selection, benchmarks, seeds, time.time() - started), encoding="utf-8")
    logging.info("wrote %s and %s", args.card, args.report_dir)
    return 0


def model_card(
    model: EmotionModel, config: TrainConfig, chosen: str, selection: dict, benchmarks: list, seeds: tuple, seconds: float
) -> str:
    towers = model.config.towers
    primary = benchmarks[0][1]
    shipped = next(v for v in primary.variants if v.name == "model").summary()
    va_rows = [
        f"| {corpus} | {shipped[f'{corpus}_valence_MAE']['mean']:.3f} | {shipped[f'{corpus}_valence_R2']['mean']:.3f} "
        f"| {shipped[f'{corpus}_arousal_MAE']['mean']:.3f} | {shipped[f'{corpus}_arousal_R2']['mean']:.3f} |"
        for corpus in dict.fromkeys(primary.dev.music.corpora)
    ]
    for pool, benchmark in benchmarks[1:]:
        summary = next(v for v in benchmark.variants if v.name == "model").summary()
        for corpus in dict.fromkeys(benchmark.dev.music.corpora):
            va_rows.append(
                f"| {corpus} | {summary[f'{corpus}_valence_MAE']['mean']:.3f} | {summary[f'{corpus}_valence_R2']['mean']:.3f} "
                f"| {summary[f'{corpus}_arousal_MAE']['mean']:.3f} | {summary[f'{corpus}_arousal_R2']['mean']:.3f} |"
            )
    candidate_rows = [
        f"| {name}{' (shipped)' if name == chosen else ''} | "
        + " | ".join(f"{row[m]['mean']:.3f} +- {row[m]['std']:.3f}" for m in ("MRR", "P@5", "nDCG@5"))
        + " |"
        for name, row in selection.items()
    ]
    tables = "\n".join(f"### Dev pool: {' + '.join(pool)}\n\n{markdown_table(benchmark)}" for pool, benchmark in benchmarks)
    tower_accuracy = primary.speech_tower_accuracy
    return f"""# Model card: Undertone default emotion model

Fingerprint `{model.fingerprint}`. Files: `recommender/weights/default/config.json` (architecture, towers,
training provenance) and `heads.safetensors` (the trained heads). Produced by
`python scripts/train_default_model.py --seeds {len(seeds)}` in {seconds / 60:.0f} min on a 2-core CPU.

## What it is

A joint 64-d emotion space for speech, music, emotion words, valence-arousal points and text, after
Doh et al., "Textless Speech-to-Music Retrieval Using Emotion Similarity" (ICASSP 2023). Frozen towers
feed small trained heads:

| modality | tower | options | vector |
| --- | --- | --- | --- |
""" + "\n".join(f"| {m} | `{s.name}` | `{json.dumps(s.options)}` | {s.dim}-d |" for m, s in towers.items()) + f"""

Heads: per-modality projection MLPs (Linear-BN-ReLU-Dropout-Linear-BN, L2-normalised, hidden
{model.config.heads.hidden_dim}, dropout {model.config.heads.dropout}); valence/arousal regressors (sigmoid,
0-1 NRC-VAD scale) for speech and music; a RAVDESS emotion classifier on speech; a GEMS-9 mood head on
music (Emotify vote fractions as soft targets); the tag branch places a valence-arousal point (an emotion
word through the NRC-VAD lexicon) in the same space. Text is placed zero-shot (text-tower similarity to
emotion prompts -> label distribution -> VA -> tag branch); a transcript with speech is late-fused with
weight {model.config.text.fusion_weight}.

## Training data and licences

| corpus | used for | licence |
| --- | --- | --- |
| RAVDESS speech, actors 01-08 (train), 09-10 (dev) | speech anchors, emotion classifier | CC BY-NC-SA 4.0 (Livingstone & Russo 2018) |
| Emotify, 140 excerpts (every 5th track per genre = dev) | music positives, VA and GEMS-9 mood targets | research use (Aljanaki et al. 2016; Magnatune tracks, CC BY-NC-SA) |
| EMOPIA piano MIDI rendered with FluidR3_GM (official song split; val+test = dev) | {"music positives (quadrant VA)" if "emopia" in config.music_corpora else "evaluation only"} | CC BY-NC-SA 4.0 (Hung et al. 2021) |
| VGMIDI piano MIDI rendered with FluidR3_GM (every 5th piece = dev) | {"music positives (quadrant VA)" if "vgmidi" in config.music_corpora else "not used"} | no licence file in the VGMIDI repository: research use with citation (Ferreira & Whitehead 2019) |
| NRC-VAD lexicon v1 | label coordinates | research/non-commercial (Mohammad 2018) |

The weights inherit the non-commercial terms of RAVDESS, EMOPIA and Emotify: research and personal use.
Splits are speaker-independent for speech and track-/song-independent for music, fixed in
`recommender/data.py`. No dev-split item was used to fit any weight; the dev split did choose the
training setup (below), so the shipped row is mildly optimistic relative to the baselines.

## Choosing the setup

Candidates trained on the train split with seeds {list(seeds)}, scored on RAVDESS dev x Emotify dev; the
declared criterion is mean {SELECTION[0]} (ties: {SELECTION[1]}). Training: AdamW lr {config.lr}, batch
{config.batch_size}, {config.steps} steps, class-balanced speech anchors, positives of the most similar emotion,
distance-weighted in-batch negatives, margin {config.losses.margin}.

| candidate | MRR | P@5 | nDCG@5 |
| --- | --- | --- | --- |
{chr(10).join(candidate_rows)}

## Results on the dev split

Speech emotion accuracy on RAVDESS actors 09-10 (8 classes, chance 0.125): speech tower's own classifier
{'n/a' if tower_accuracy is None else f'{tower_accuracy:.3f}'}; the model's speech emotion head {shipped['speech_accuracy']['mean']:.3f}.

Music valence/arousal regression of the shipped model (MAE on the 0-1 scale; R^2 below 0 = worse than
predicting the dev mean). Emotify VA is the vote-weighted GEMS position, EMOPIA VA the quadrant centre.

| dev music | valence MAE | valence R^2 | arousal MAE | arousal R^2 |
| --- | --- | --- | --- | --- |
{chr(10).join(va_rows)}

Retrieval (whole-pool ranking by cosine; MRR and P@5 with binary relevance = music label is the
speech label's most similar label in that corpus; nDCG@5 with graded relevance = VA similarity). The
`model` row is the shipped model (one run); the others are mean +- std over seeds.

{tables}
Reproduce: `python scripts/train_default_model.py --seeds {len(seeds)}`; or the benchmark alone:
`undertone evaluate --model builtin --music emotify` (and `--music emopia`).

## Limits

- Speech: acted English speech from 10 actors; the speech tower was trained on actors 01-08, the same
  speakers the heads train on. Expect lower accuracy on spontaneous speech, other languages and noisy rooms.
- Music valence is barely predictable from these features on Emotify (R^2 near or below 0); arousal is
  the reliable axis. Rankings lean on arousal, mood tags and the speech label's arousal.
- Text is zero-shot (no emotion-labelled text was used); it is a coarse placement on the VA plane.
"""


if __name__ == "__main__":
    sys.exit(main())
