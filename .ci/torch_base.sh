#!/usr/bin/env bash
# Print the site-packages folder of the shared torch-only venv (.venv-isolated/torch), creating
# it on first use. Other CI venvs see torch through a .pth file pointing there, so the ~5 GB
# install happens once; a lock keeps two scripts that start together from both creating it.
set -euo pipefail
PYTHON=${PYTHON:-python3}
BASE=.venv-isolated/torch
mkdir -p .venv-isolated
exec 9> .venv-isolated/.torch.lock
flock 9
if [ ! -x "$BASE/bin/python" ]; then
  "$PYTHON" -m venv "$BASE" >&2
  "$BASE/bin/python" -m pip install -q "torch>=2.13" >&2
fi
"$BASE/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'
