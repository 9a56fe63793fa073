#!/usr/bin/env bash
# Install each package alone with selfsup-core in a fresh venv and run its tests.
#
# Proves `pip install selfsup-graph` (etc.) works without the other plugins. The
# ~2 GB torch install is shared: a base venv holds torch only, and each isolated
# venv sees it through a .pth file, so pip treats torch as installed while every
# other dependency must be declared by the package under test.
set -euo pipefail
PYTHON=${PYTHON:-python3}
BASE_SITE=$(PYTHON="$PYTHON" bash .ci/torch_base.sh)
for pkg in "$@"; do
  name=$(basename "$pkg")
  env=".venv-isolated/$name"
  rm -rf "$env"
  "$PYTHON" -m venv "$env"
  site=$("$env/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  echo "$BASE_SITE" > "$site/_selfsup_torch_base.pth"
  echo "== isolated: $pkg"
  if [ "$pkg" = core ]; then
    "$env/bin/python" -m pip install -q -e "core[demo,testing,parquet]"
  else
    # the plugin with every extra it declares, so code behind an extra is tested too
    extras=$("$PYTHON" -c 'import sys, tomllib; print(",".join(tomllib.load(open(sys.argv[1], "rb"))["project"].get("optional-dependencies", {})))' "$pkg/pyproject.toml")
    "$env/bin/python" -m pip install -q -e "core[testing,parquet]" -e "$pkg${extras:+[$extras]}"
  fi
  # No other selfsup plugin may be importable here.
  "$env/bin/python" - "$name" <<'PY'
import sys
from importlib.metadata import entry_points
names = sorted(ep.name for ep in entry_points(group="selfsup.plugins"))
expected = [] if sys.argv[1] == "core" else [sys.argv[1]]
assert names == expected, f"isolated env for {sys.argv[1]} sees plugins {names}"
PY
  "$env/bin/python" -m pytest "$pkg/tests" -q -m "not distributed"
done
