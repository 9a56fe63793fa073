"""Row log-sum-exp of a scaled similarity matrix, the quadratic part of every softmax
contrastive loss (:func:`selfsup.losses.info_nce`, :func:`~selfsup.losses.nt_xent`,
:func:`~selfsup.losses.dcl`).

Layout (each module imports only the ones listed before it; nothing here imports
:mod:`selfsup.losses`, which imports this package):

- :mod:`.torch_ref` — the PyTorch reference, dense or streamed in column blocks (the
  ``"torch"`` backend; runs anywhere).
- :mod:`.dispatch` — the backend contract (:class:`LSEBackend`, :class:`AccidentalHits`), the
  registry, backend choice (``backend=``, ``SELFSUP_KERNELS``, ``supports``), the autograd
  function :class:`ChunkedLogSumExp` and :func:`similarity_logsumexp`.
- :mod:`.triton` — the fused Triton path (the ``"triton"`` backend: launch configuration and
  the forward/backward pair). It imports ``triton``, so only :mod:`.dispatch` imports it, on
  first use (never at ``import selfsup``).
- :mod:`._triton_kernels` — the ``@triton.jit`` kernels launched by :mod:`.triton`.

Importing this package loads torch only.
"""

from selfsup.kernels.lse.dispatch import (
    KERNELS_ENV,
    AccidentalHits,
    ChunkedLogSumExp,
    LSEBackend,
    check_chunk_size,
    lse_backends,
    register_lse_backend,
    similarity_logsumexp,
)

__all__ = [
    "KERNELS_ENV",
    "AccidentalHits",
    "ChunkedLogSumExp",
    "LSEBackend",
    "check_chunk_size",
    "lse_backends",
    "register_lse_backend",
    "similarity_logsumexp",
]
