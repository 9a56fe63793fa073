#!/usr/bin/env bash
# Build the wheel and sdist of every package (core and plugins) into DIST and check them.
#
#   bash .ci/build_dists.sh [DIST]      (default: dist/)
#
# Uses PYTHON (default python3) with `build` and `twine` (installed into it if missing).
# docs/releasing.md describes the release procedure around it.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
DIST=${1:-dist}
# hatchling in PYTHON itself: building without a fresh isolated env per package takes seconds
"$PYTHON" -m pip install -q "build>=1.0" "twine>=5.0" "hatchling>=1.27"
rm -rf "$DIST"
mkdir -p "$DIST"
for pkg in core plugins/*/; do
  pkg=${pkg%/}
  [ -f "$pkg/pyproject.toml" ] || continue
  "$PYTHON" -m build --no-isolation --wheel --sdist --outdir "$DIST" "$pkg" > /dev/null
  echo "built $pkg"
done
"$PYTHON" -m twine check --strict "$DIST"/*
"$PYTHON" - "$DIST" <<'PY'
# Every wheel ships its LICENSE, its py.typed marker and, for packages with configs, the YAML files.
import sys
import zipfile
from pathlib import Path

problems = []
for wheel in sorted(Path(sys.argv[1]).glob("*.whl")):
    names = zipfile.ZipFile(wheel).namelist()
    if not any(n.endswith(".dist-info/licenses/LICENSE") for n in names):
        problems.append(f"{wheel.name}: no LICENSE")
    if not any(n.endswith("/py.typed") for n in names):
        problems.append(f"{wheel.name}: no py.typed")
    if not any("/configs/" in n and n.endswith(".yaml") for n in names):
        problems.append(f"{wheel.name}: no configs/*.yaml")
    print(f"{wheel.name}: {len(names)} files")
if problems:
    sys.exit("\n".join(problems))
PY
