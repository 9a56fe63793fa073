"""Deprecated: moved to :mod:`selfsup.kernels.lse._triton_kernels` (kept for one release).

The ``@triton.jit`` kernels are now internal to :mod:`selfsup.kernels.lse`; every name below is
forwarded with a :class:`DeprecationWarning`.
"""

from selfsup.deprecation import forwarder

_MOVED = ("lse_bwd_dk", "lse_bwd_dq", "lse_bwd_sym", "lse_fwd")
__all__ = list(_MOVED)
__getattr__ = forwarder(__name__, "selfsup.kernels.lse._triton_kernels", _MOVED)
