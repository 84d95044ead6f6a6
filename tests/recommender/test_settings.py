from pathlib import Path

import pytest

from recommender.settings import Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ("STORE", "QDRANT_URL", "DATABASE_URL", "REDIS_URL", "MODEL", "CONFIG", "MAX_TRACK_SECONDS"):
        monkeypatch.delenv(f"UNDERTONE_{name}", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def test_defaults_are_embedded(tmp_path):
    settings = Settings.load()
    assert settings.store == tmp_path / "home" / ".undertone"
    assert settings.qdrant_url is None
    assert settings.catalog_url == f"sqlite:///{settings.store / 'catalog.sqlite'}"


def test_precedence_file_then_env_then_arguments(tmp_path, monkeypatch):
    config = tmp_path / "undertone.toml"
    config.write_text('store = "/from/file"\nredis_url = "redis://file"\nmax_track_seconds = 30\n')
    monkeypatch.setenv("UNDERTONE_CONFIG", str(config))
    monkeypatch.setenv("UNDERTONE_REDIS_URL", "redis://env")
    settings = Settings.load(store=tmp_path / "arg", qdrant_url=None)
    assert settings.store == tmp_path / "arg"
    assert settings.redis_url == "redis://env"
    assert settings.max_track_seconds == 30.0


def test_env_values_are_typed(monkeypatch):
    monkeypatch.setenv("UNDERTONE_MAX_TRACK_SECONDS", "90")
    monkeypatch.setenv("UNDERTONE_STORE", "~/music-store")
    settings = Settings.load()
    assert settings.max_track_seconds == 90.0
    assert settings.store == Path("~/music-store").expanduser()


def test_unknown_keys_are_reported(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('qdrant_ulr = "http://typo"\n')
    with pytest.raises(ValueError, match="qdrant_ulr"):
        Settings.load(config)


def test_database_url_overrides_sqlite():
    assert Settings.load(database_url="postgresql://x/y").catalog_url == "postgresql://x/y"


def test_secrets_come_from_files_named_by_the_environment(tmp_path, monkeypatch):
    (tmp_path / "db").write_text("postgresql://u:from-file@h/db\n")
    (tmp_path / "pw").write_text("p@ss:word\n")
    monkeypatch.setenv("UNDERTONE_DATABASE_URL_FILE", str(tmp_path / "db"))
    assert Settings.load().database_url == "postgresql://u:from-file@h/db"
    monkeypatch.delenv("UNDERTONE_DATABASE_URL_FILE")
    monkeypatch.setenv("UNDERTONE_DATABASE_PASSWORD_FILE", str(tmp_path / "pw"))
    settings = Settings.load(database_url="postgresql://u@h/db")
    assert settings.catalog_url == "postgresql://u:p%40ss%3Aword@h/db"
    assert "p@ss" not in repr(settings) and "p@ss" not in str(settings.model_dump(mode="json"))


def test_an_unreadable_secret_file_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("UNDERTONE_REDIS_URL_FILE", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="UNDERTONE_REDIS_URL_FILE: cannot read .*missing"):
        Settings.load()


def test_library_roots_are_a_path_list_resolved(tmp_path, monkeypatch):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    monkeypatch.setenv("UNDERTONE_LIBRARY_ROOTS", f"{tmp_path / 'link'}:{tmp_path / 'x' / '..' / 'y'}")
    assert Settings.load().library_roots == (tmp_path / "real", tmp_path / "y")
    monkeypatch.delenv("UNDERTONE_LIBRARY_ROOTS")
    assert Settings.load().library_roots == ()
