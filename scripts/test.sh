#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian machine, check the code, then run the tests.
#   system: chromium + chromedriver (browser test), docker-compose (checks docker-compose.yml offline; no engine needed),
#           ffmpeg (generates the test videos)
#   python: a venv in .venv with the package and its dev extra
#   checks: ruff (lint + import order), import-linter (layers point down), docker-compose config
set -euo pipefail
cd "$(dirname "$0")/.."

system_packages=(chromium chromium-driver docker-compose ffmpeg)
missing=()
for package in "${system_packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q "${missing[@]}"
fi

python3 -m venv .venv
.venv/bin/pip install -q -e '.[dev]'

.venv/bin/ruff check .
.venv/bin/lint-imports
docker-compose -f docker-compose.yml config -q
exec .venv/bin/python -m pytest "$@"
