"""Evaluation page: how well does the model retrieve emotionally matching music for labelled speech?"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import charts, resources
from dashboard.access import library_path
from dashboard.guard import guard
from dashboard.text import plain
from recommender.data import CORPORA, MUSIC_CORPORA, SPEECH_CORPORA
from recommender.emotion import EmotionSpace
from recommender.errors import UsageError
from recommender.evaluation import RETRIEVAL_METRICS, TRAINED_VARIANTS, Benchmark, music_labels, run_benchmarks
from recommender.settings import default_data_dir
from recommender.training import TrainConfig

OWN_CSV = "a CSV file…"
VARIANT_NAMES = {
    "model": "this model", "random": "random ranking", "va_regression": "VA regression",
    "triplet": "triplet", "triplet_sp": "triplet + structure", "triplet_emosim": "triplet + EmoSim",
}

st.title("Evaluation")
st.caption(
    "Query a labelled music pool with labelled speech and measure how often the emotionally matching tracks come "
    "first (MRR, precision@5, nDCG@5, as in Doh et al., ICASSP 2023). A track is relevant when its label is the "
    "closest, on the valence-arousal plane, to the speech's emotion."
)


def choose_options() -> dict[str, Any] | None:
    """The form; returns the :func:`~recommender.evaluation.run_benchmarks` options when the user presses Run."""
    with st.form("benchmark_form"):
        left, right = st.columns(2)
        speech = left.selectbox("Speech queries", [*SPEECH_CORPORA, OWN_CSV], help="Labelled emotional speech.")
        music = right.multiselect("Music pool", [*MUSIC_CORPORA, OWN_CSV], default=[MUSIC_CORPORA[0]], help="Labelled music to rank.")
        with st.expander("Your own labelled sets (for “a CSV file…”)"):
            left, right = st.columns(2)
            speech_csv = left.text_input("Speech CSV", placeholder="/data/my_speech.csv", help="Columns path,label[,valence,arousal]; paths relative to the CSV.")
            music_csv = right.text_input("Music CSV", placeholder="/data/my_music.csv", help="Columns path,label[,valence,arousal]; paths relative to the CSV.")
        left, middle, right = st.columns(3)
        split = left.radio("Split", ("dev", "train"), horizontal=True, help="dev is held out from training; use it to compare.")
        baselines = middle.multiselect(
            "Compare with", ["random", *TRAINED_VARIANTS], default=["random"], format_func=VARIANT_NAMES.get,
            help="Trained baselines are first trained on the train split (the first run takes minutes on a CPU).",
        )
        seeds = right.slider("Seeds per baseline", 1, 5, 3)
        if not st.form_submit_button("Run the benchmark", type="primary"):
            return None
    speech_spec = speech_csv.strip() if speech == OWN_CSV else speech
    music_specs = [m for m in music if m != OWN_CSV] + ([music_csv.strip()] if OWN_CSV in music else [])
    if not music_specs:
        raise UsageError("choose at least one music pool")
    if not speech_spec or not all(music_specs):
        raise UsageError("Give the path of your CSV file (columns path,label[,valence,arousal]).")
    # Own CSVs are files of the server: only those inside the library roots (and the files they list).
    settings = resources.current_settings()
    speech_spec = speech_spec if speech_spec in CORPORA else str(library_path(speech_spec, settings))
    music_specs = [spec if spec in CORPORA else str(library_path(spec, settings)) for spec in music_specs]
    named = [spec for spec in (speech_spec, *music_specs) if spec in CORPORA]
    if named and not default_data_dir().is_dir():
        raise UsageError(
            f"The labelled corpora ({', '.join(named)}) are not at {default_data_dir()}. Point UNDERTONE_DATA_DIR at "
            "them and restart the dashboard, or evaluate on your own CSV files."
        )
    return {"speech": speech_spec, "pools": [tuple(music_specs)], "split": split, "variants": tuple(baselines), "seeds": tuple(range(seeds))}


def run(options: dict[str, Any]) -> Benchmark:
    """The dashboard's model and the chosen baselines (trained with the default training config) on the chosen data."""
    bar = st.progress(0.0, text="Starting…")
    (benchmark,) = run_benchmarks(
        TrainConfig.from_file("default"), model=resources.emotion_model(), data_dir=default_data_dir(), progress=False,
        report=lambda fraction, message: bar.progress(fraction, text=message), **options,
    )
    bar.empty()
    benchmark.variants.sort(key=lambda variant: variant.name != "model")  # the page leads with the model, then its baselines
    return benchmark


def metrics_table(benchmark: Benchmark) -> pd.DataFrame:
    rows = []
    for variant in benchmark.variants:
        summary = variant.summary()
        row = {"ranker": VARIANT_NAMES.get(variant.name, variant.name), "runs": len(variant.runs)}
        for metric in RETRIEVAL_METRICS:
            row[metric] = summary[metric]["mean"]
            row[f"{metric} ±"] = summary[metric]["std"]
        if "speech_accuracy" in summary:
            row["speech accuracy"] = summary["speech_accuracy"]["mean"]
        rows.append(row)
    return pd.DataFrame(rows)


def per_class_table(benchmark: Benchmark, metric: str) -> tuple[np.ndarray, list[str], list[str]]:
    labels = list(dict.fromkeys(benchmark.dev.speech.labels))
    names = [VARIANT_NAMES.get(v.name, v.name) for v in benchmark.variants]
    matrix = np.array([[v.per_class(benchmark.dev.speech.labels)[label][metric] for label in labels] for v in benchmark.variants])
    return matrix, names, labels


def joint_space_points(benchmark: Benchmark) -> pd.DataFrame:
    """The model's speech and music embeddings projected to 2-D, music coloured by its nearest speech label."""
    outputs = benchmark.variants[0].runs[0].outputs
    dev = benchmark.dev
    speech_labels = list(dict.fromkeys(dev.speech.labels))
    space = EmotionSpace.default()
    projected = charts.project_2d(np.concatenate([outputs.speech_embedding, outputs.music_embedding]))
    rows = [
        {"modality": "speech", "label": clip.label, "emotion": clip.label, "file": clip.path.name}
        for clip in dev.speech.clips
    ] + [
        {"modality": "music", "label": clip.label, "emotion": space.nearest_label((clip.valence, clip.arousal), speech_labels), "file": clip.path.name}
        for clip in dev.music.clips
    ]
    frame = pd.DataFrame(rows)
    frame["x"], frame["y"] = projected[:, 0], projected[:, 1]
    return frame


def show(benchmark: Benchmark) -> None:
    setup = benchmark.setup
    st.success(
        f"{setup['queries']} speech queries ({plain(setup['speech'])}, {setup['split']}) ranked a pool of {setup['pool']} tracks "
        f"({plain(', '.join(setup['music']))}); model {setup['model_fingerprint']}."
    )
    table = metrics_table(benchmark)
    st.subheader("Retrieval quality")
    st.dataframe(
        table, hide_index=True, width="stretch",
        column_config={c: st.column_config.NumberColumn(c, format="%.3f") for c in table.columns if c not in ("ranker", "runs")},
    )
    st.caption("Mean over runs (± is the standard deviation across seeds). Higher is better; random ranking is the floor.")
    judged, missing = benchmark.dev.judged, benchmark.dev.unjudged_labels()
    if missing:
        st.caption(
            f"MRR and P@5 count the {int(judged.sum())} of {judged.size} queries with a relevant track in the pool; the best-matching "
            f"label of {plain(', '.join(missing))} is absent from it (blank cells below). nDCG@5 counts every query."
        )

    st.subheader("Per speech emotion")
    metric = st.segmented_control("Metric", RETRIEVAL_METRICS, default=RETRIEVAL_METRICS[0], key="per_class_metric") or RETRIEVAL_METRICS[0]
    matrix, names, labels = per_class_table(benchmark, metric)
    st.altair_chart(charts.similarity_heatmap(matrix, names, labels, value_title=metric, col_title="speech emotion"), width="stretch")

    st.subheader("Which emotions match")
    speech_labels = list(dict.fromkeys(benchmark.dev.speech.labels))
    pool_labels = music_labels(benchmark)
    similarity = EmotionSpace.default().similarity_matrix(speech_labels, pool_labels)
    st.altair_chart(
        charts.similarity_heatmap(similarity, speech_labels, pool_labels, row_title="speech", col_title="music"),
        width="stretch",
    )
    st.caption(
        "1 − distance on the valence-arousal plane between a speech emotion and a music label: the bridge between "
        "vocabularies. A track is relevant to a query when its label is the query emotion's best match in its corpus."
    )

    st.subheader("The joint emotion space")
    st.altair_chart(
        charts.embedding_map(
            joint_space_points(benchmark), color="emotion", shape="modality", shapes={"speech": "square", "music": "circle"},
            tooltip=["modality", "label", "file"],
        ),
        width="stretch",
    )
    st.caption(
        "The model's 64-d embeddings of the queries (■) and the pool (●), projected on their two main axes; music is "
        "coloured by its nearest speech emotion. Matching emotions should sit together."
    )


with guard("running the benchmark"):
    options = choose_options()
    if options is not None:
        st.session_state.benchmark_result = run(options)

with guard("showing the benchmark"):
    if "benchmark_result" in st.session_state:
        show(st.session_state.benchmark_result)
    else:
        st.info("Choose the speech and music to compare and press **Run the benchmark**.")
