"""docker-compose.yml: no password in the file, the dashboard published on 127.0.0.1 unless the operator opts in."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

COMPOSE = Path(__file__).resolve().parents[1] / "docker-compose.yml"
DOCKER_COMPOSE = shutil.which("docker-compose")

pytestmark = pytest.mark.skipif(DOCKER_COMPOSE is None, reason="needs docker-compose")


def rendered(**env: str) -> dict:
    """The compose file as docker-compose resolves it (variables substituted, anchors merged)."""
    clean = {key: value for key, value in os.environ.items() if key not in ("UNDERTONE_BIND", "POSTGRES_PASSWORD_FILE")}
    result = subprocess.run(
        [DOCKER_COMPOSE, "-f", str(COMPOSE), "config"], env={**clean, **env}, capture_output=True, text=True, check=True
    )
    return yaml.safe_load(result.stdout)


def test_the_file_is_valid() -> None:
    subprocess.run([DOCKER_COMPOSE, "-f", str(COMPOSE), "config", "-q"], check=True)


def test_no_password_is_written_in_the_file() -> None:
    config = rendered()
    for name, service in config["services"].items():
        environment = service.get("environment") or {}
        assert "POSTGRES_PASSWORD" not in environment, name
        for key, value in environment.items():
            assert not re.search(r"://[^/@]*:[^/@]*@", str(value)), (name, key)  # user:password@host
    assert config["services"]["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert config["services"]["worker"]["environment"]["UNDERTONE_DATABASE_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert config["services"]["dashboard"]["environment"]["UNDERTONE_DASHBOARD_TOKEN_FILE"] == "/run/secrets/dashboard_token"
    for name in ("api", "dashboard"):  # the API's bearer token, which the dashboard also presents
        assert config["services"][name]["environment"]["UNDERTONE_TOKEN_FILE"] == "/run/secrets/api_token"


def published(config: dict, service: str) -> list[str]:
    ports = config["services"][service]["ports"]
    return [f"{port.get('host_ip', '0.0.0.0')}:{port['published']}" if isinstance(port, dict) else port for port in ports]


def test_the_dashboard_and_api_are_published_on_localhost_unless_the_operator_opts_in() -> None:
    for service in ("dashboard", "api"):
        assert [port.split(":")[0] for port in published(rendered(), service)] == ["127.0.0.1"]
        assert [port.split(":")[0] for port in published(rendered(UNDERTONE_BIND="0.0.0.0"), service)] == ["0.0.0.0"]
    assert all("ports" not in service for name, service in rendered()["services"].items() if name not in ("dashboard", "api"))
