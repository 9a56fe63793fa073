"""Deprecated: the streamed log-sum-exp moved to :mod:`selfsup.kernels.lse` (kept for one
release).

Every name below is forwarded there with a :class:`DeprecationWarning`. The public names
(``similarity_logsumexp``, ``ChunkedLogSumExp``, ``LSEBackend``, ``lse_backends``,
``register_lse_backend``) are also still exported, without a warning, by :mod:`selfsup.losses`.
"""

from selfsup.deprecation import forwarder

_MOVED = (
    "AccidentalHits",
    "ChunkedLogSumExp",
    "LSEBackend",
    "lse_backends",
    "register_lse_backend",
    "similarity_logsumexp",
    "KERNELS_ENV",
    "check_chunk_size",
)
__all__ = list(_MOVED[:6])  # KERNELS_ENV and check_chunk_size were never in __all__
__getattr__ = forwarder(__name__, "selfsup.kernels.lse", _MOVED)
