"""`import selfsup` stays light: no plugin, no domain library."""

from __future__ import annotations

import subprocess
import sys

from selfsup.imports import HEAVY_DOMAIN_MODULES


def test_import_selfsup_loads_no_plugin_or_domain_library():
    # selfsup.experiment and the CLI are left out on purpose: they import Lightning,
    # whose torchmetrics dependency imports torchvision whenever it is installed.
    # Triton is imported by selfsup.kernels.* only, on the first CUDA (or forced) call.
    code = (
        "import sys, selfsup, selfsup.losses, selfsup.masking, selfsup.teachers, "
        "selfsup.metrics, selfsup.distributed, selfsup.plugins\n"
        "selfsup.plugins.discover()\n"
        f"heavy = {(*HEAVY_DOMAIN_MODULES, 'triton')!r}\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in heavy "
        "or (m.startswith('selfsup_') and not m.endswith('.plugin') and '.' in m))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
