"""The old import paths of the log-sum-exp (one release): ``selfsup.losses.chunked_softmax``,
``selfsup.kernels.contrastive`` and ``selfsup.kernels.contrastive_triton`` forward every public
name to its new module with a DeprecationWarning naming that module; ``selfsup.losses`` keeps
exporting the public names without a warning.

Triton is imported only inside the tests that need it (after ``test_contrastive.py`` has chosen
the interpreter mode at collection time).
"""

from __future__ import annotations

import importlib
import warnings

import pytest

from selfsup.imports import module_available

needs_triton = pytest.mark.skipif(not module_available("triton"), reason="needs triton")

CHUNKED = [
    "AccidentalHits",
    "ChunkedLogSumExp",
    "KERNELS_ENV",
    "LSEBackend",
    "check_chunk_size",
    "lse_backends",
    "register_lse_backend",
    "similarity_logsumexp",
]
CONTRASTIVE = [
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
]
KERNELS = ["lse_bwd_dk", "lse_bwd_dq", "lse_bwd_sym", "lse_fwd"]


def _check(old: str, new: str, names: list[str]) -> None:
    module, target = importlib.import_module(old), importlib.import_module(new)
    assert set(module.__all__) <= set(names)
    for name in names:
        with pytest.warns(DeprecationWarning, match=rf"{old}\.{name} is deprecated.*from {new}"):
            value = getattr(module, name)
        assert value is getattr(target, name), name


def test_chunked_softmax_forwards_to_kernels_lse():
    _check("selfsup.losses.chunked_softmax", "selfsup.kernels.lse", CHUNKED)


def test_from_import_of_an_old_path_warns_at_the_caller():
    with pytest.warns(DeprecationWarning, match="selfsup.kernels.lse") as record:
        from selfsup.losses.chunked_softmax import similarity_logsumexp  # noqa: F401
    assert record[0].filename == __file__


def test_unknown_and_private_names_are_not_forwarded():
    module = importlib.import_module("selfsup.losses.chunked_softmax")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in ("_torch_forward", "_BACKENDS", "nope"):
            with pytest.raises(AttributeError, match=name):
                getattr(module, name)


def test_losses_still_export_the_public_names_without_a_warning():
    import selfsup.kernels.lse as lse
    import selfsup.losses as losses

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in ("ChunkedLogSumExp", "LSEBackend", "lse_backends", "register_lse_backend"):
            assert getattr(losses, name) is getattr(lse, name)
        assert losses.similarity_logsumexp is lse.similarity_logsumexp


@needs_triton
def test_contrastive_forwards_to_lse_triton():
    _check("selfsup.kernels.contrastive", "selfsup.kernels.lse.triton", CONTRASTIVE)


@needs_triton
def test_contrastive_triton_forwards_to_the_private_kernels():
    _check("selfsup.kernels.contrastive_triton", "selfsup.kernels.lse._triton_kernels", KERNELS)
