#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what it needs, starts what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test]"

# PostgreSQL: the tests talk to a real server with PL/Python (see README, "PostgreSQL").
scripts/prepare-postgres.sh
# The server's PL/Python runs as user postgres and imports sqlml from this checkout and its
# .venv: the folders above them must let that user through.
if id postgres >/dev/null 2>&1 && ! runuser -u postgres -- test -r "$PWD/udfs/train.py"; then
    dir="$PWD"
    while [[ "$dir" != "/" ]]; do
        chmod o+x "$dir"
        dir=$(dirname "$dir")
    done
fi

# Clients tests/server/test_serve_jdbc.py runs against sqlml serve: pgjdbc from Debian
# (/usr/share/java/postgresql.jar) and node-postgres as tests/server/node locks it.
sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"
if ! dpkg-query -W -f='${Status}' libpostgresql-jdbc-java 2>/dev/null | grep -q "install ok installed"; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libpostgresql-jdbc-java >/dev/null
fi
npm ci --prefix tests/server/node --no-audit --no-fund --loglevel=error

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m mypy  # sqlml/ and udfs/, as pyproject.toml configures it
.venv/bin/python -m pytest "$@"
