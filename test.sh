#!/usr/bin/env bash
# Set up a virtual environment and run every check: formatting, lint, types, tests.
# Usage: bash test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")"
python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)
"${pip[@]}" -e '.[test]'
# ngsildclient pins an old httpx but runs with the current one: its needs come separately.
"${pip[@]}" --no-deps 'ngsildclient==0.5.2'
"${pip[@]}" -r tests/requirements-client.txt
sources=(thudo tests)
[ -d benchmarks ] && sources+=(benchmarks)
.venv/bin/ruff format --check "${sources[@]}"
.venv/bin/ruff check "${sources[@]}"
.venv/bin/mypy thudo
.venv/bin/pytest -q "$@"
# The whole suite again on PostgreSQL/PostGIS (every test that builds its settings with
# make_settings), except the smoke tests, which start `thudo serve` on SQLite files. Where no
# PostgreSQL answers on 127.0.0.1:5432 these tests skip, saying so.
if [ $# -eq 0 ]; then
  THUDO_TEST_BACKEND=postgres .venv/bin/pytest -q -m "not smoke"
fi
