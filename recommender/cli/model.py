"""``undertone train`` and ``undertone evaluate``.

Kept apart from :mod:`recommender.training` and :mod:`recommender.evaluation` so building the
``undertone`` parser does not import torch (about 2 s); the handlers import them when they run.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser(
        "train", help="train the emotion model's heads on labelled corpora",
        description="Train the heads on cached tower features and save config.json + heads.safetensors.",
    )
    train.add_argument("--config", required=True, help="training config JSON (or a name in recommender/model_configs/training/)")
    train.add_argument("--out", type=Path, default=Path("undertone-model"), help="output model directory (default: ./undertone-model)")
    train.add_argument("--data-dir", type=Path, help="labelled corpora (default: $UNDERTONE_DATA_DIR or ../shared/data)")
    train.add_argument("--seed", type=int, help="override the config's seed")
    train.set_defaults(handler=_run_train)

    evaluate = subparsers.add_parser(
        "evaluate", help="benchmark speech-to-music retrieval (MRR, P@5, nDCG@5) against baselines",
        description="Train baselines over several seeds and score them (and optionally a saved model) on a labelled "
        "speech set against a labelled music pool; writes results.json, results.md and plots.",
    )
    evaluate.add_argument("--config", default="default", help="training config for the baselines (JSON file or name; default: default)")
    evaluate.add_argument("--model", help="also evaluate this model: 'builtin' or a model directory")
    # The default list (recommender.evaluation.DEFAULT_VARIANTS) is applied by the handler: importing it here would import torch.
    evaluate.add_argument(
        "--variants", help="comma-separated: random, va_regression or a loss (default: random and every baseline; empty: none)"
    )
    evaluate.add_argument("--seeds", type=int, default=5, help="seeds per trained variant (default: 5)")
    evaluate.add_argument("--speech", default="ravdess", help="speech corpus name or CSV path,label[,valence,arousal] (default: ravdess)")
    evaluate.add_argument("--music", default="emotify", help="comma-separated music corpus names or CSVs (default: emotify)")
    evaluate.add_argument(
        "--music-folds", type=int, metavar="K",
        help="k-fold cross-validation over the whole (single) music corpus instead of its dev split: each fold is ranked by "
        "baselines trained without it (Emotify: genre-balanced folds, K=5)",
    )
    evaluate.add_argument("--split", default="dev", choices=("train", "dev"), help="split of named corpora to query and rank (default: dev)")
    evaluate.add_argument("--data-dir", type=Path, help="labelled corpora (default: $UNDERTONE_DATA_DIR or ../shared/data)")
    evaluate.add_argument("--out", type=Path, default=Path("undertone-eval"), help="output directory (default: ./undertone-eval)")
    evaluate.set_defaults(handler=_run_evaluate)


def _run_train(args: argparse.Namespace) -> int:
    from recommender.training import TrainConfig, train

    config = TrainConfig.from_file(args.config)
    if args.seed is not None:
        config = config.replace(seed=args.seed)
    model = train(config, data_dir=args.data_dir)
    model.save(args.out)
    final = model.config.training["final_loss"] or {}
    print(f"saved {args.out} (fingerprint {model.fingerprint}); final loss {final.get('loss', float('nan')):.4f}")
    return 0


def _run_evaluate(args: argparse.Namespace) -> int:
    from recommender.evaluation import DEFAULT_VARIANTS, cross_validate_music, markdown_table, run_benchmark, write_report
    from recommender.model import EmotionModel
    from recommender.training import TrainConfig

    config = TrainConfig.from_file(args.config)
    variants = list(DEFAULT_VARIANTS) if args.variants is None else [v.strip() for v in args.variants.split(",") if v.strip()]
    music = [m.strip() for m in args.music.split(",") if m.strip()]
    if args.music_folds is not None:
        if args.model or len(music) != 1 or args.music_folds < 2 or not variants:
            raise SystemExit(
                "undertone evaluate: --music-folds needs K >= 2, one music corpus and --variants; a saved model cannot be "
                "cross-validated (its heads have seen the other folds)"
            )
        benchmark = cross_validate_music(
            config, corpus=music[0], folds=args.music_folds, variants=variants, seeds=tuple(range(args.seeds)),
            speech=args.speech, data_dir=args.data_dir,
        )
    else:
        model = EmotionModel.load(args.model) if args.model else None
        if not variants and model is None:
            raise SystemExit("undertone evaluate: nothing to evaluate (give --variants or --model)")
        benchmark = run_benchmark(
            config, variants=variants, seeds=tuple(range(args.seeds)), speech=args.speech,
            music=music, split=args.split, model=model, data_dir=args.data_dir,
        )
    for path in write_report(benchmark, args.out):
        print(path)
    print()
    print(markdown_table(benchmark))
    return 0
