"""Deprecated: moved to :mod:`selfsup.kernels.lse.triton` (kept for one release)."""

from selfsup.deprecation import forwarder

_MOVED = (
    "BACKEND",
    "KernelConfig",
    "interpreted",
    "kernel_config",
    "lse_backward",
    "lse_forward",
    "matmul_count",
    "override_config",
    "runs_on",
    "supports",
)
__all__ = list(_MOVED)
__getattr__ = forwarder(__name__, "selfsup.kernels.lse.triton", _MOVED)
