"""Cross-validated speech-to-music retrieval of model setups: RAVDESS unseen actors x Emotify and x 4Q CV pools.

Each model directory's ``config.json`` records its towers, heads and the training config it was trained
with; that setup is retrained in 5-fold cross-validation over each music corpus: fold ``k`` of Emotify
(genre position) or 4Q (artist)
is the pool, ranked for the RAVDESS dev actors' queries (fold 4: actors 09, 10, 19, 20, which no speech
tower here was trained on) by heads trained on the other folds (:func:`recommender.evaluation.cross_validate_pools`:
fold ``k`` of both corpora is held out at once, so heads train once per fold; a setup that does not train on a
corpus never sees it). Per-query scores of the five folds are pooled; mean +- std over seeds.

The shipped heads themselves are also scored as they are on the dev fold's pools (fold 4; a model's heads
trained on folds 0-3 only), which is what ``undertone evaluate --model DIR`` reports.

Usage::

    python scripts/retrieval_cv.py recommender/weights/default OLD_MODEL_DIR [--names shipped,before] [--seeds 3] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from recommender.emotion import EmotionSpace
from recommender.evaluation import RETRIEVAL_METRICS, build_dev_set, cross_validate_pools, random_result, score_heads
from recommender.features import FeatureCache
from recommender.model import CONFIG_FILE, EmotionModel
from recommender.training import Towers, TrainConfig

POOLS = ("emotify", "moods4q")


def training_setup(directory: Path) -> TrainConfig:
    """The training config a saved model was trained with, its own towers and heads as the architecture."""
    raw = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
    training = raw.pop("training", None)
    if not training or "config" not in training:
        raise SystemExit(f"{directory / CONFIG_FILE} records no training config")
    return TrainConfig.from_dict({**training["config"], "model": raw})


def cv_rows(config: TrainConfig, seeds: tuple[int, ...], with_random: bool) -> dict[str, dict[str, dict[str, tuple[float, float]]]]:
    """Variant (the setup's own loss, and ``random`` if asked) -> pool -> metric -> (mean, std over seeds),
    cross-validated over the pool's folds (on Emotify also the mood head's GEMS-9 top-1 against the most-voted emotion)."""
    variants = (config.loss, "random") if with_random else (config.loss,)
    rows: dict[str, dict[str, dict[str, tuple[float, float]]]] = {}
    benchmarks = cross_validate_pools(config, corpora=POOLS, variants=variants, seeds=seeds, progress=False, check_speech_tower=False)
    for corpus, benchmark in zip(POOLS, benchmarks):
        for variant in benchmark.variants:
            summary = variant.summary()
            kept = {m: (summary[m]["mean"], summary[m]["std"]) for m in (*RETRIEVAL_METRICS, "mood_top1") if m in summary}
            rows.setdefault("random" if variant.name == "random" else "setup", {})[corpus] = kept
            logging.info("%s on %s: %s", variant.name, corpus, kept)
    return rows


def _cells(row: dict[str, dict], spread: bool) -> str:
    def cell(value):
        return f"{value[0]:.3f} +- {value[1]:.3f}" if spread else f"{value:.3f}"

    cells = [cell(row[p][m]) for p in POOLS for m in RETRIEVAL_METRICS]
    mood = row["emotify"].get("mood_top1")
    return " | ".join([*cells, "-" if mood is None else cell(mood)])


def dev_row(directory: Path, seeds: tuple[int, ...]) -> tuple[dict, dict]:
    """Pool -> metric -> value of the saved heads on the dev fold's pools, and of a random ranking (mean over seeds)."""
    model = EmotionModel.load(directory)
    towers, space, cache = Towers(model.config), EmotionSpace.default(), FeatureCache()
    shipped, chance = {}, {}
    for corpus in POOLS:
        dev = build_dev_set(towers, "ravdess", (corpus,), "dev", space, None, cache)
        result = score_heads(model.heads, dev, model.config.speech_labels, mood_labels=model.config.mood_labels)
        shipped[corpus] = {**result.retrieval.mean(), **result.extra}
        randoms = [random_result(dev, seed).retrieval.mean() for seed in seeds]
        chance[corpus] = {m: sum(r[m] for r in randoms) / len(randoms) for m in RETRIEVAL_METRICS}
    return shipped, chance


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="+", type=Path, help="model directories (config.json + heads.safetensors)")
    parser.add_argument("--names", help="comma-separated row names, one per directory (default: the directories)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, help="also write the markdown tables here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    names = args.names.split(",") if args.names else [str(d) for d in args.models]
    if len(names) != len(args.models):
        parser.error("--names needs one name per model directory")
    seeds = tuple(range(args.seeds))
    header = "| setup | " + " | ".join(f"{pool} {m}" for pool in POOLS for m in RETRIEVAL_METRICS) + " | Emotify GEMS-9 top-1 (mood head) |"
    rule = "| --- |" + " --- |" * (len(POOLS) * len(RETRIEVAL_METRICS) + 1)
    cv_lines, dev_lines, chance, random_cv = [header, rule], [header, rule], {}, {}
    for index, (name, directory) in enumerate(zip(names, args.models)):
        shipped, chance = dev_row(directory, seeds)
        dev_lines.append(f"| {name} | {_cells(shipped, spread=False)} |")
        rows = cv_rows(training_setup(directory), seeds, with_random=index == 0)
        cv_lines.append(f"| {name} | {_cells(rows['setup'], spread=True)} |")
        random_cv = rows.get("random", random_cv)
    cv_lines.append(f"| random | {_cells(random_cv, spread=True)} |")
    dev_lines.append(f"| random | {_cells(chance, spread=False)} |")
    text = (
        f"Cross-validated (5 folds per pool, setups retrained per fold, seeds {list(seeds)}):\n\n" + "\n".join(cv_lines)
        + "\n\nShipped heads as they are, dev fold pools (fold 4):\n\n" + "\n".join(dev_lines) + "\n"
    )
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
