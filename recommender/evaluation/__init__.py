"""Speech-to-music retrieval benchmark (CLI: ``undertone evaluate``; the dashboard's Evaluation page).

- :mod:`.dataset` -- labelled queries and pools, their features and relevance (:class:`EvalSet`).
- :mod:`.scoring` -- rankers scored on an :class:`EvalSet` (trained heads, random).
- :mod:`.benchmark` -- variants trained over seeds, :func:`run_benchmarks`, :func:`cross_validate_music`,
  :func:`cross_validate_pools`.
- :mod:`.report` -- ``results.json``, the markdown table and plots.
"""

from recommender.evaluation.benchmark import (
    DEFAULT_VARIANTS,
    TRAINED_VARIANTS,
    Benchmark,
    cross_validate_music,
    cross_validate_pools,
    run_benchmark,
    run_benchmarks,
    run_variant,
    train_variant,
)
from recommender.evaluation.dataset import EvalSet, Progress, build_dev_set, load_csv_pool, relevance
from recommender.evaluation.report import markdown_table, music_labels, write_plots, write_report
from recommender.evaluation.scoring import RETRIEVAL_METRICS, HeadOutputs, RunResult, VariantResult, random_result, score_heads

__all__ = [
    "DEFAULT_VARIANTS",
    "RETRIEVAL_METRICS",
    "TRAINED_VARIANTS",
    "Benchmark",
    "EvalSet",
    "HeadOutputs",
    "Progress",
    "RunResult",
    "VariantResult",
    "build_dev_set",
    "cross_validate_music",
    "cross_validate_pools",
    "load_csv_pool",
    "markdown_table",
    "music_labels",
    "random_result",
    "relevance",
    "run_benchmark",
    "run_benchmarks",
    "run_variant",
    "score_heads",
    "train_variant",
    "write_plots",
    "write_report",
]
