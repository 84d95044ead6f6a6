"""The creator's workflow in the dashboard (AppTest): Timeline page, result actions, Shortlists page."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

TIMEOUT = 300  # the first run loads the emotion model
APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"


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
    yield
    st.cache_resource.clear()


def texts(app: AppTest) -> list[str]:
    return [element.value for element in [*app.markdown, *app.caption]]


def test_timeline_page_cues_a_video_and_offers_the_cue_sheets(ingested_store: Path, monkeypatch: pytest.MonkeyPatch, videos) -> None:
    app = open_app(ingested_store, monkeypatch, "views/timeline.py")
    app.file_uploader[0].set_value(("scene.mp4", videos.mp4.read_bytes(), "video/mp4")).run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics["Shots"] == "4" and metrics["Frame rate"] == "25 fps" and int(metrics["Cues"]) >= 1
    assert any(text.startswith("**Cue 1** · 00:00:00:00 – ") for text in texts(app))
    downloads = [element for element in app.get("download_button")]
    assert len(downloads) == 3
    # The picture's weight reaches every cue's explanation.
    app.slider[2].set_value(0.5).run()
    assert not app.exception and any("picture: " in text and "at weight 0.50" in text for text in texts(app))


def test_result_actions_more_like_this_and_a_shortlist(ingested_store: Path, monkeypatch: pytest.MonkeyPatch, voice) -> None:
    app = open_app(ingested_store, monkeypatch)
    app.file_uploader[0].set_value(("voice.wav", voice("calm"), "audio/wav")).run()
    assert not app.exception
    like = [button for button in app.button if button.label == "More like this"]
    assert like
    like[0].click().run()
    assert not app.exception and any(text.startswith("Tracks whose emotion is closest to") for text in texts(app))
    app.text_input(key=f"list-1-{like[0].key.split('-', 2)[2]}").set_value("Episode 3")
    next(button for button in app.button if button.key.startswith("add-1-")).click().run()
    assert not app.exception and any("Added to “Episode 3”." in element.value for element in app.success)

    shortlists = app.switch_page("views/shortlists.py").run()
    assert not shortlists.exception and not shortlists.error
    table = shortlists.dataframe[0].value
    assert len(table) == 1 and table["licence"].tolist() == ["CC0"]
    assert len(shortlists.get("download_button")) == 2
