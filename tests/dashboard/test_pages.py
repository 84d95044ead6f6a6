"""Every dashboard page through Streamlit's AppTest, on a synthesized catalog ingested by the real pipeline."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard.text import shown

TIMEOUT = 300  # the first run loads the emotion model
APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
TRACK_COUNT = 6  # see conftest.TRACKS


def open_app(store: Path, monkeypatch: pytest.MonkeyPatch, page: str | None = None) -> AppTest:
    monkeypatch.setenv("UNDERTONE_STORE", str(store))
    monkeypatch.setenv("UNDERTONE_CONFIG", str(store.parent / "no-config.toml"))
    app = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    if page:
        app.switch_page(page).run()
    assert not app.exception
    return app


@pytest.fixture(scope="module", autouse=True)
def release_stores():
    """Close the recommenders the app opened, so their store locks are released."""
    yield
    st.cache_resource.clear()


def result_titles(app: AppTest) -> list[str]:
    return [m.value for m in app.markdown if m.value.startswith("**") and ". " in m.value[:6]]


def errors(app: AppTest) -> list[str]:
    return [shown(e.value) for e in app.error]


# -- Search ------------------------------------------------------------------------------------------


def test_uploaded_clip_finds_every_track(ingested_store: Path, monkeypatch: pytest.MonkeyPatch, voice) -> None:
    app = open_app(ingested_store, monkeypatch)
    assert not app.warning  # the catalog is not empty
    app.file_uploader[0].set_value(("voice.wav", voice("happy"), "audio/wav")).run()
    assert not app.exception and not errors(app)
    assert app.subheader[0].value == "6 tracks for speech “voice.wav”"
    titles = result_titles(app)
    assert len(titles) == TRACK_COUNT and all("Broken" not in title for title in titles)
    assert {m.label for m in app.metric} >= {"Valence", "Arousal", "Length", "Match"}
    assert sum(m.label == "Match" for m in app.metric) == TRACK_COUNT


def test_filters_from_the_payload_narrow_the_results(ingested_store: Path, monkeypatch: pytest.MonkeyPatch, tracks) -> None:
    app = open_app(ingested_store, monkeypatch)
    genre = next(widget for widget in app.sidebar.multiselect if widget.label == "Genre")
    assert set(genre.options) == {genre for _, genre, _ in tracks}
    genre.set_value(["piano", "ambient"])
    app.radio[0].set_value("Valence-arousal").run()
    assert not app.exception and not errors(app)
    assert app.subheader[0].value.startswith("2 tracks")
    assert [shown(value) for value in app.caption.values].count("6 tracks searched · genre: piano or ambient") == 1
    assert {t.split("**")[1].split(". ")[1] for t in result_titles(app)} == {"Sad Song", "Calm Song"}


def test_a_recording_from_the_browser_microphone(ingested_store: Path, monkeypatch: pytest.MonkeyPatch, voice) -> None:
    app = open_app(ingested_store, monkeypatch)
    app.radio[0].set_value("Record").run()
    app.audio_input[0].set_value(("recording.wav", voice("sad", seconds=2.5), "audio/wav")).run()
    assert not app.exception and not errors(app)
    assert app.subheader[0].value == "6 tracks for speech “recording.wav”"


def test_one_track_per_artist(ingested_store: Path, monkeypatch: pytest.MonkeyPatch, tracks) -> None:
    app = open_app(ingested_store, monkeypatch)
    app.radio[0].set_value("Valence-arousal")
    app.sidebar.checkbox[0].check().run()
    assert not app.exception
    assert len(result_titles(app)) == len({artist for _, _, artist in tracks})


@pytest.mark.parametrize(
    ("kind", "widget", "value"),
    [("Emotion word", "text_input", "sad"), ("Text", "text_area", "We won! This is the best day of my life.")],
)
def test_word_and_text_queries(ingested_store: Path, monkeypatch: pytest.MonkeyPatch, kind: str, widget: str, value: str) -> None:
    app = open_app(ingested_store, monkeypatch)
    app.radio[0].set_value(kind).run()
    getattr(app, widget)[0].input(value).run()
    assert not app.exception and not errors(app)
    assert len(result_titles(app)) == TRACK_COUNT


def test_unknown_emotion_word_is_a_clear_error(ingested_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = open_app(ingested_store, monkeypatch)
    app.radio[0].set_value("Emotion word").run()
    app.text_input[0].input("blorptastic").run()
    assert not app.exception
    assert "unknown emotion word 'blorptastic'" in errors(app)[0]
    assert not result_titles(app)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notes.wav", b"Dear diary, today I uploaded a text file." * 20, "not a readable audio file"),
        ("empty.wav", b"", "no data"),
        ("long.wav", None, "min long; the limit is 10.0 min"),  # 601 s of noise, made in the test
    ],
)
def test_unusable_uploads_are_clear_errors(
    ingested_store: Path, monkeypatch: pytest.MonkeyPatch, long_noise, name: str, content: bytes | None, message: str
) -> None:
    content = long_noise(601) if content is None else content
    app = open_app(ingested_store, monkeypatch)
    app.file_uploader[0].set_value((name, content, "audio/wav")).run()
    assert not app.exception
    assert len(errors(app)) == 1 and message in errors(app)[0]
    assert not result_titles(app)


def test_empty_catalog_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = open_app(tmp_path / "empty-store", monkeypatch)
    assert "The catalog is empty" in app.warning[0].value
    app.radio[0].set_value("Valence-arousal").run()
    assert not app.exception
    assert errors(app) == ["No tracks to recommend: the catalog is empty. Add music on the Catalog page, then search again."]
    assert {m.label for m in app.metric} >= {"Valence", "Arousal"}  # the query is still analysed


# -- Catalog -----------------------------------------------------------------------------------------


def test_catalog_page_shows_statistics_and_failures(ingested_store: Path, music_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = open_app(ingested_store, monkeypatch, "views/catalog.py")
    assert not errors(app)
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Tracks"] == "6" and metrics["Genres"] == "6" and metrics["Artists"] == "3" and metrics["Failed files"] == "1"
    assert app.selectbox[0].label == "Colour by" and app.selectbox[0].value == "genre"
    history, *_, failures = (frame.value for frame in app.dataframe)
    assert list(history["source"]) == [str(music_dir / "manifest.csv")]
    assert (history["ingested"][0], history["failed"][0]) == (TRACK_COUNT, 1)
    assert list(failures["path"].map(lambda p: Path(p).name)) == ["broken.wav"] and failures["reason"][0] == "corrupt"


def test_ingesting_a_folder_from_the_page(music_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNDERTONE_LIBRARY_ROOTS", str(music_dir))
    app = open_app(tmp_path / "fresh-store", monkeypatch, "views/catalog.py")
    assert "The catalog is empty" in app.info[0].value
    app.text_input[0].input(str(music_dir))
    app.button[0].click().run()
    assert not app.exception and not errors(app)
    deadline = time.monotonic() + TIMEOUT
    while not app.success and time.monotonic() < deadline:
        time.sleep(0.5)
        app.run()
    assert "6 ingested, 0 unchanged, 1 failed" in app.success[0].value
    assert {m.label: m.value for m in app.metric}["Tracks"] == "6"


def test_missing_ingest_folder_is_a_clear_error(ingested_store: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("UNDERTONE_LIBRARY_ROOTS", str(tmp_path))
    app = open_app(ingested_store, monkeypatch, "views/catalog.py")
    app.text_input[0].input(str(tmp_path / "nowhere"))
    app.button[0].click().run()
    assert not app.exception
    assert errors(app) == [(f"{tmp_path / 'nowhere'} is not a folder or manifest inside the music library ({tmp_path}).")]


# -- Evaluation --------------------------------------------------------------------------------------


def test_evaluation_without_corpora_explains_what_is_missing(ingested_store: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("UNDERTONE_DATA_DIR", str(tmp_path / "no-corpora"))
    app = open_app(ingested_store, monkeypatch, "views/evaluation.py")
    app.button[0].click().run()
    assert not app.exception
    assert errors(app)[0].startswith("The labelled corpora (ravdess, emotify) are not at")


def test_evaluation_runs_on_a_tiny_labelled_set(
    ingested_store: Path, music_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, voice
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # keep the feature cache of these throwaway files out of the real one
    speech_csv = tmp_path / "speech.csv"
    rows = []
    for number, mood in enumerate(("happy", "sad", "angry", "calm") * 2):
        path = tmp_path / f"speech_{number}_{mood}.wav"
        path.write_bytes(voice(mood, seconds=2.0, seed=number))
        rows.append({"path": path.name, "label": mood})
    write_csv(speech_csv, rows)
    music_csv = tmp_path / "music.csv"
    write_csv(music_csv, [{"path": str(p), "label": p.stem.split("_", 1)[1]} for p in sorted(music_dir.glob("*.flac"))])

    monkeypatch.setenv("UNDERTONE_LIBRARY_ROOTS", f"{tmp_path}:{music_dir}")
    app = open_app(ingested_store, monkeypatch, "views/evaluation.py")
    app.selectbox[0].set_value("a CSV file…")
    app.text_input[0].input(str(speech_csv))
    app.multiselect[0].set_value(["a CSV file…"])
    app.text_input[1].input(str(music_csv))
    app.slider[0].set_value(2)
    app.button[0].click().run()
    assert not app.exception and not errors(app)
    assert app.success[0].value.startswith("8 speech queries")
    table = app.dataframe[0].value
    assert list(table["ranker"]) == ["this model", "random ranking"]
    assert list(table["runs"]) == [1, 2]
    assert table[["MRR", "P@5", "nDCG@5"]].apply(lambda column: column.between(0, 1)).all().all()


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
