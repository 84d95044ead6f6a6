"""What a dashboard visitor may reach: library roots only, metadata as text, a password beyond localhost."""

from __future__ import annotations

import csv
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import streamlit as st
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from dashboard.access import NO_ROOTS, library_path, playable
from dashboard.text import shown
from recommender.errors import UsageError
from recommender.settings import Settings

TIMEOUT = 300
APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
EVIL_TITLE = "![x](http://host/p.png)"
EVIL_FIELD = "![f](http://host/f.png)"


@pytest.fixture(autouse=True)
def release_stores():
    yield
    st.cache_resource.clear()


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """A library root holding one folder of audio, next to a secret folder outside it."""
    root = tmp_path / "library"
    (root / "album").mkdir(parents=True)
    (root / "album" / "song.wav").write_bytes(b"RIFF")
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "passwords.csv").write_text("user,password\nroot,hunter2\n")
    return root


def settings_with(*roots: Path) -> Settings:
    return Settings.load(config_file="/nonexistent.toml", library_roots=tuple(roots))


def test_no_roots_means_no_server_folder() -> None:
    with pytest.raises(UsageError, match="turned off"):
        library_path("/music", settings_with())


def test_paths_inside_the_roots_are_accepted(library: Path) -> None:
    assert library_path(str(library / "album"), settings_with(library)) == library / "album"
    assert library_path(str(library / "album" / ".." / "album"), settings_with(library)) == library / "album"


@pytest.mark.parametrize("escape", ["dotdot", "symlink", "proc_cwd", "manifest"])
def test_every_way_out_of_the_roots_is_refused(library: Path, escape: str) -> None:
    secret = library.parent / "secret"
    if escape == "dotdot":
        given = str(library / ".." / "secret")
    elif escape == "symlink":
        (library / "shortcut").symlink_to(secret)
        given = str(library / "shortcut")
    elif escape == "manifest":
        (library / "list.csv").write_text(f"path,title\nalbum/song.wav,Fine\n{secret / 'passwords.csv'},Nope\n")
        given = str(library / "list.csv")
    else:
        # Another process whose working directory is outside the library, reached through /proc.
        other = subprocess.Popen(["sleep", "60"], cwd=secret)
        try:
            given = f"/proc/{other.pid}/cwd"
            with pytest.raises(UsageError, match="not a folder or manifest inside the music library"):
                library_path(given, settings_with(library))
        finally:
            other.kill()
            other.wait()
        return
    with pytest.raises(UsageError, match="outside the music library|not a folder or manifest inside"):
        library_path(given, settings_with(library))


def test_only_files_inside_the_roots_are_playable(library: Path) -> None:
    song = library / "album" / "song.wav"
    (library / "leak.wav").symlink_to(library.parent / "secret" / "passwords.csv")
    assert playable(song, settings_with(library)) == song
    assert playable(library / "leak.wav", settings_with(library)) is None
    assert playable(song, settings_with()) is None


def test_catalog_page_refuses_a_folder_outside_the_roots(library: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNDERTONE_LIBRARY_ROOTS", str(library))
    app = open_app(tmp_path / "store", monkeypatch, "views/catalog.py")
    app.text_input[0].input(str(library / ".." / "secret" / "passwords.csv"))
    app.button[0].click().run()
    assert not app.exception
    assert [shown(e.value) for e in app.error] == [
        f"{library / '..' / 'secret' / 'passwords.csv'} is not a folder or manifest inside the music library ({library})."
    ]
    assert "hunter2" not in str(app) and "user,password" not in str(app)


def test_catalog_page_without_roots_offers_no_folder_box(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UNDERTONE_LIBRARY_ROOTS", raising=False)
    app = open_app(tmp_path / "store", monkeypatch, "views/catalog.py")
    assert app.text_input[0].disabled
    assert NO_ROOTS in [c.value for c in app.caption]


@pytest.fixture(scope="module")
def evil_library(music_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two real tracks whose manifest metadata is Markdown that would fetch a remote image; (root, store)."""
    from ingest.pipeline import run_ingest

    root = tmp_path_factory.mktemp("evil-library")
    for name in ("00_happy.flac", "01_sad.flac"):
        shutil.copy(music_dir / name, root / name)
    with (root / "manifest.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "title", "artist", "genre", EVIL_FIELD])
        writer.writerow(["00_happy.flac", EVIL_TITLE, "[click](http://host/a)", "![g](http://host/g.png)", "one"])
        writer.writerow(["01_sad.flac", "**bold** :red[red]", "Someone", "folk", "two"])
    store = tmp_path_factory.mktemp("evil-store")
    summary = run_ingest(root / "manifest.csv", Settings.load(config_file=store / "none.toml", store=store))
    assert summary.ingested == 2
    return root, store


def rendered(app: AppTest) -> list[str]:
    """HTML of every Markdown text and widget label on the page, as a CommonMark renderer makes it."""
    renderer = MarkdownIt("commonmark")
    texts = [element.value for kind in ("markdown", "caption", "error", "success", "info", "subheader") for element in getattr(app, kind)]
    texts += [widget.label for kind in ("multiselect", "slider", "selectbox") for widget in getattr(app, kind)]
    return [renderer.render(text) for text in texts]


def test_metadata_is_shown_as_text_never_markdown(evil_library: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    root, store = evil_library
    monkeypatch.setenv("UNDERTONE_LIBRARY_ROOTS", str(root))
    app = open_app(store, monkeypatch)
    app.radio[0].set_value("Valence-arousal").run()
    assert not app.exception
    html = rendered(app)
    assert not [page for page in html if "<img" in page or "<a " in page]
    titles = [shown(m.value) for m in app.markdown if m.value.startswith("**")]
    assert any(EVIL_TITLE in title for title in titles) and any("**bold** :red[red]" in title for title in titles)
    assert EVIL_FIELD in [shown(widget.label) for widget in app.sidebar.multiselect]
    assert len(app.get("audio")) == 2  # the tracks lie inside the root: they play


def test_tracks_outside_the_roots_are_not_streamed(evil_library: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, store = evil_library
    monkeypatch.setenv("UNDERTONE_LIBRARY_ROOTS", str(tmp_path))
    app = open_app(store, monkeypatch)
    app.radio[0].set_value("Valence-arousal").run()
    assert not app.exception and not app.get("audio")
    assert sum("outside the music library" in c.value for c in app.caption) == 2


def test_a_token_gates_every_page(ingested_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNDERTONE_DASHBOARD_TOKEN", "correct horse")
    app = open_app(ingested_store, monkeypatch)
    assert [t.value for t in app.title] == ["Undertone"] and not app.get("file_uploader")
    app.text_input[0].input("wrong").run()
    app.button[0].click().run()
    assert [e.value for e in app.error] == ["Wrong password."] and not app.get("file_uploader")
    app.text_input[0].input("correct horse")
    app.button[0].click().run()
    assert not app.exception
    assert app.title[0].value == "Find music that feels like your words"
    app.switch_page("views/catalog.py").run()  # the session stays signed in
    assert app.title[0].value == "Catalog"


def test_token_can_come_from_a_file(ingested_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "token"
    secret.write_text("from-a-file\n")
    monkeypatch.delenv("UNDERTONE_DASHBOARD_TOKEN", raising=False)
    monkeypatch.setenv("UNDERTONE_DASHBOARD_TOKEN_FILE", str(secret))
    app = open_app(ingested_store, monkeypatch)
    app.text_input[0].input("from-a-file")
    app.button[0].click().run()
    assert app.title[0].value == "Find music that feels like your words"


def open_app(store: Path, monkeypatch: pytest.MonkeyPatch, page: str | None = None) -> AppTest:
    monkeypatch.setenv("UNDERTONE_STORE", str(store))
    monkeypatch.setenv("UNDERTONE_CONFIG", str(store.parent / "no-config.toml"))
    app = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    if page:
        app.switch_page(page).run()
    assert not app.exception
    return app


def test_without_roots_tracks_can_still_be_uploaded(music_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UNDERTONE_LIBRARY_ROOTS", raising=False)
    store = tmp_path / "store"
    app = open_app(store, monkeypatch, "views/catalog.py")
    files = [("../../../tmp/evil name.flac", (music_dir / "00_happy.flac").read_bytes(), "audio/flac"),
             ("sad.flac", (music_dir / "01_sad.flac").read_bytes(), "audio/flac")]
    app.file_uploader[0].set_value(files)
    app.button[1].click().run()
    assert not app.exception and not app.error
    deadline = time.monotonic() + TIMEOUT
    while not app.success and time.monotonic() < deadline:
        time.sleep(0.5)
        app.run()
    assert "2 ingested, 0 unchanged, 0 failed" in app.success[0].value
    saved = sorted(path.name for path in (store / "uploads").rglob("*.flac"))
    assert saved == ["000-evil name.flac", "001-sad.flac"]
    assert not Path("/tmp/evil name.flac").exists()
    app.switch_page("views/search.py").run()
    app.radio[0].set_value("Valence-arousal").run()
    assert len(app.get("audio")) == 2  # uploads play even without library roots


def test_uploads_must_be_audio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboard.access import save_uploads

    with pytest.raises(UsageError, match="not an audio file"):
        save_uploads([("notes.txt", b"hello")], settings_with())


def test_evaluation_reads_own_csvs_only_inside_the_roots(library: Path, ingested_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNDERTONE_LIBRARY_ROOTS", str(library))
    secret = library.parent / "secret" / "passwords.csv"
    app = open_app(ingested_store, monkeypatch, "views/evaluation.py")
    app.selectbox[0].set_value("a CSV file…")
    app.text_input[0].input(str(secret))
    app.button[0].click().run()
    assert not app.exception
    assert [shown(e.value) for e in app.error] == [f"{secret} is not a folder or manifest inside the music library ({library})."]
    assert "hunter2" not in str(app)
