#!/usr/bin/env bash
# Set up a virtual environment and run every check: formatting, lint, types, tests.
# Usage: bash test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")"
python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
.venv/bin/ruff format --check thudo tests benchmarks
.venv/bin/ruff check thudo tests benchmarks
.venv/bin/mypy thudo
.venv/bin/pytest -q "$@"
