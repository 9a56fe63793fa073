#!/usr/bin/env bash
# Install the declared dependency floors of selfsup-core and selfsup-graph (.ci/floors.txt) into
# a fresh venv and run their tests: the lower bounds in pyproject.toml are versions that pass.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
ENV=.venv-floors
rm -rf "$ENV"
"$PYTHON" -m venv "$ENV"
"$ENV/bin/python" -m pip install -q -c .ci/floors.txt torch
"$ENV/bin/python" -m pip install -q -c .ci/floors.txt -e "core[testing,demo,parquet]" -e plugins/graph
# every floor in the constraints file is what got installed
"$ENV/bin/python" - <<'PY'
from importlib.metadata import version
from pathlib import Path

wrong = []
for line in Path(".ci/floors.txt").read_text().splitlines():
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, _, floor = line.partition("==")
    got = version(name)
    if got.split("+", 1)[0] != floor:
        wrong.append(f"{name}: {got} installed, floor {floor}")
if wrong:
    raise SystemExit("floors not installed:\n" + "\n".join(wrong))
print("floors installed:", Path(".ci/floors.txt").read_text().count("=="), "packages")
PY
"$ENV/bin/python" -m pytest core/tests plugins/graph/tests -q -m "not distributed" -p no:cacheprovider
