"""PyTorch paths of the new log-sum-exp options (accidental hits, symmetric backward), backend
dispatch (``SELFSUP_KERNELS``, lazy Triton import) and a CPU smoke run of the benchmark.

CPU only, float64 against independent references (materialised logits, loop-built masks).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import selfsup.distributed as sdist
from selfsup.imports import module_available
from selfsup.kernels.lse import dispatch as cs
from selfsup.kernels.lse import torch_ref
from selfsup.losses import InfoNCELoss, dcl, info_nce, nt_xent, similarity_logsumexp

TOL = 1e-10
F64 = torch.float64
ROOT = Path(__file__).resolve().parents[3]


def leaf(*shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=F64).requires_grad_()


def ref_info_nce(q, k, tau, *, bias=None, key_ids=None, decoupled=False, offset=0):
    """Loss of queries q against keys k; query i's positive is column offset + i."""
    q, k = F.normalize(q, dim=1), F.normalize(k, dim=1)
    n, m = q.shape[0], k.shape[0]
    s = q @ k.T / tau
    if bias is not None:
        s = s + bias
    drop = torch.zeros(n, m, dtype=torch.bool)
    for i in range(n):
        p = offset + i
        for j in range(m):
            if decoupled and j == p:
                drop[i, j] = True
            if key_ids is not None and j != p and int(key_ids[j]) == int(key_ids[p]):
                drop[i, j] = True
    pos = s[torch.arange(n), torch.arange(n) + offset]
    return torch.logsumexp(s.masked_fill(drop, float("-inf")), dim=1) - pos


def grads(loss, inputs):
    return torch.autograd.grad(loss, inputs)


@pytest.fixture(autouse=True)
def _pytorch_backend(monkeypatch):
    monkeypatch.delenv("SELFSUP_KERNELS", raising=False)


# ---- accidental hits ---------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [None, 1, 5, 64])
@pytest.mark.parametrize("decoupled", [False, True])
@pytest.mark.parametrize("use_bias", [False, True])
def test_info_nce_accidental_hits_match_reference(chunk_size, decoupled, use_bias):
    q, k = leaf(6, 4, seed=0), leaf(15, 4, seed=1)
    bias = leaf(15, seed=2) if use_bias else None
    key_ids = torch.tensor([0, 1, 2, 3, 4, 5, 1, 0, 7, 2, 2, 8, 5, 9, 1])  # repeats
    tau = torch.tensor(0.3, dtype=F64, requires_grad=True)
    inputs = [q, k, tau] + ([bias] if use_bias else [])
    out = info_nce(
        q, k, tau, bias=bias, key_ids=key_ids, decoupled=decoupled, chunk_size=chunk_size
    )
    ref = ref_info_nce(q, k, tau, bias=bias, key_ids=key_ids, decoupled=decoupled).mean()
    torch.testing.assert_close(out, ref, atol=TOL, rtol=0)
    for g, r in zip(grads(out, inputs), grads(ref, inputs), strict=True):
        torch.testing.assert_close(g, r, atol=TOL, rtol=0)


def test_accidental_hits_change_the_loss_only_when_ids_repeat():
    q, k = leaf(5, 3, seed=3), leaf(9, 3, seed=4)
    distinct = torch.arange(9)
    plain = info_nce(q, k, 0.2)
    torch.testing.assert_close(info_nce(q, k, 0.2, key_ids=distinct), plain, atol=TOL, rtol=0)
    repeated = torch.tensor([0, 1, 2, 3, 4, 0, 1, 2, 3])  # every query has a hit
    assert info_nce(q, k, 0.2, key_ids=repeated) < plain  # fewer negatives


def test_accidental_hits_module_and_reduction():
    q, k = leaf(4, 3, seed=5), leaf(7, 3, seed=6)
    ids = torch.tensor([3, 1, 3, 0, 1, 5, 3])
    loss = InfoNCELoss(0.5, chunk_size=2)(q, k, key_ids=ids)
    ref = ref_info_nce(q, k, 0.5, key_ids=ids).mean()
    torch.testing.assert_close(loss, ref, atol=TOL, rtol=0)


def test_accidental_hits_gathered(monkeypatch):
    # Rank 1 of 2 (fake gather prepends rank 0's rows): ids of key[:N] travel with the keys.
    def other(x):
        x = x.detach().flip(0)
        return x.roll(1, dims=1) if x.dim() > 1 else x

    monkeypatch.setattr(sdist, "is_distributed", lambda: True)
    monkeypatch.setattr(sdist, "world_size", lambda: 2)
    monkeypatch.setattr(sdist, "rank", lambda: 1)
    monkeypatch.setattr(sdist, "gather", lambda x: torch.cat([other(x), x]))
    monkeypatch.setattr(sdist, "gather_no_grad", lambda x: torch.cat([other(x), x.detach()]))
    q, k = leaf(4, 3, seed=7), leaf(6, 3, seed=8)
    ids = torch.tensor([7, 1, 7, 2, 1, 9])
    got = info_nce(q, k, 0.4, key_ids=ids, reduction="none", chunk_size=3)
    keys = torch.cat([other(k[:4]), k])
    all_ids = torch.cat([other(ids[:4]), ids])
    want = ref_info_nce(q, keys, 0.4, key_ids=all_ids, offset=4)
    torch.testing.assert_close(got, want, atol=TOL, rtol=0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"key_ids": torch.arange(7, dtype=torch.int32)}, "int64"),
        ({"key_ids": torch.arange(6)}, r"\(M,\) = \(7,\)"),
        ({"key_ids": [0, 1]}, "int64 tensor"),
    ],
)
def test_bad_key_ids(kwargs, match):
    q, k = torch.randn(4, 3), torch.randn(7, 3)
    with pytest.raises(ValueError, match=match):
        info_nce(q, k, **kwargs)


def test_similarity_logsumexp_validation():
    q = torch.randn(4, 3)
    with pytest.raises(ValueError, match="both key_ids"):
        similarity_logsumexp(q, q, 1.0, key_ids=torch.arange(4))
    with pytest.raises(ValueError, match="positive must be an int64"):
        similarity_logsumexp(q, q, 1.0, key_ids=torch.arange(4), positive=torch.arange(3))
    with pytest.raises(ValueError, match="symmetric=True needs"):
        similarity_logsumexp(q, q.clone(), 1.0, symmetric=True)
    with pytest.raises(ValueError, match="symmetric=True needs"):
        similarity_logsumexp(q, q, 1.0, symmetric=True, bias=torch.zeros(4))


# ---- symmetric backward (PyTorch backend) ------------------------------------------------


@pytest.mark.parametrize("chunk_size", [1, 3, 8, 100])
@pytest.mark.parametrize("decoupled", [False, True])
def test_symmetric_torch_backward_matches_reference(chunk_size, decoupled):
    n = 5
    z = leaf(2 * n, 4, seed=10)
    scale = torch.tensor(1.9, dtype=F64, requires_grad=True)
    idx = torch.arange(2 * n)
    exclude = torch.stack([idx, (idx + n) % (2 * n)], 1) if decoupled else idx[:, None]
    out = similarity_logsumexp(z, z, scale, exclude=exclude, symmetric=True, chunk_size=chunk_size)
    s = scale * (z @ z.T)
    drop = torch.zeros(2 * n, 2 * n, dtype=torch.bool)
    for i, row in enumerate(exclude.tolist()):
        for c in row:
            drop[i, c] = True
    ref = torch.logsumexp(s.masked_fill(drop, float("-inf")), dim=1)
    torch.testing.assert_close(out, ref, atol=TOL, rtol=0)
    w = torch.linspace(0.5, 1.5, 2 * n, dtype=F64)
    for g, r in zip(grads((out * w).sum(), [z, scale]), grads((ref * w).sum(), [z, scale])):
        torch.testing.assert_close(g, r, atol=TOL, rtol=0)


def test_symmetric_gradcheck():
    z = leaf(6, 3, seed=11)
    exclude = torch.arange(6)[:, None]

    def fn(z):
        return similarity_logsumexp(z, z, 1.4, exclude=exclude, symmetric=True, chunk_size=4)

    assert torch.autograd.gradcheck(fn, (z,))


@pytest.mark.parametrize("loss", [nt_xent, dcl])
def test_two_view_losses_use_symmetric_backward(loss, monkeypatch):
    calls = []
    original = torch_ref.torch_backward

    def spy(*args, **kwargs):
        calls.append(kwargs.get("symmetric", False))
        return original(*args, **kwargs)

    monkeypatch.setitem(cs._BACKENDS, "torch", cs.LSEBackend("torch", torch_ref.torch_forward, spy))
    z1, z2 = leaf(5, 3, seed=12), leaf(5, 3, seed=13)
    chunked = loss(z1, z2, 0.3, chunk_size=4)
    dense = loss(z1, z2, 0.3)
    g_chunked = grads(chunked, [z1, z2])
    assert calls == [True]
    torch.testing.assert_close(chunked, dense, atol=TOL, rtol=0)
    for g, r in zip(g_chunked, grads(dense, [z1, z2]), strict=True):
        torch.testing.assert_close(g, r, atol=TOL, rtol=0)


# ---- dispatch ------------------------------------------------------------------------------


def test_backend_names_and_env_validation(monkeypatch):
    assert "torch" in cs.lse_backends() and "triton" in cs.lse_backends()
    q = torch.randn(3, 2)
    monkeypatch.setenv("SELFSUP_KERNELS", "cuda")
    with pytest.raises(ValueError, match="SELFSUP_KERNELS='cuda'"):
        similarity_logsumexp(q, q, 1.0)
    monkeypatch.setenv("SELFSUP_KERNELS", "torch")
    assert cs._select_backend(None, q, q).name == "torch"
    with pytest.raises(ValueError, match="unknown LSE backend"):
        similarity_logsumexp(q, q, 1.0, backend="nope")


@pytest.mark.skipif(not module_available("triton"), reason="needs selfsup-core[kernels]")
def test_cpu_losses_never_import_triton_and_env_triton_falls_back():
    """Auto mode on CPU stays on PyTorch without importing Triton; SELFSUP_KERNELS=triton on
    CPU tensors without the interpreter uses PyTorch too; backend='triton' there raises."""
    code = (
        "import os, sys, torch\n"
        "from selfsup.losses import info_nce, nt_xent, similarity_logsumexp\n"
        "a, b = torch.randn(6, 4, requires_grad=True), torch.randn(6, 4)\n"
        "info_nce(a, b).backward(); nt_xent(a, b, chunk_size=4).backward()\n"
        "print('triton' in sys.modules)\n"
        "os.environ['SELFSUP_KERNELS'] = 'triton'\n"
        "forced = float(info_nce(a, b)); os.environ['SELFSUP_KERNELS'] = 'torch'\n"
        "print(abs(forced - float(info_nce(a, b))) < 1e-6)\n"
        "try:\n"
        "    similarity_logsumexp(a, b, 1.0, backend='triton')\n"
        "except (ValueError, ImportError) as err:\n"
        "    print(type(err).__name__)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("TRITON_INTERPRET", "SELFSUP_KERNELS")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    lines = out.stdout.split()
    assert lines[0] == "False"
    assert lines[1] == "True"
    assert lines[2] == ("ValueError" if module_available("triton") else "ImportError")


@pytest.mark.skipif(
    torch.cuda.is_available() or not module_available("triton"),
    reason="CPU machines with triton only (GPU machines run test_contrastive_cuda.py)",
)
def test_interpreter_suite_ran():
    """test_contrastive.py needs Triton imported in interpreter mode; if this process imported
    it compiled first (so that file skipped itself), run it in a fresh process."""
    module = sys.modules.get("selfsup.kernels.lse.triton")
    if module is not None and module.interpreted():
        pytest.skip("the interpreter tests run in this process")
    env = dict(os.environ, TRITON_INTERPRET="1")
    env.pop("SELFSUP_KERNELS", None)
    path = Path(__file__).with_name("test_contrastive.py")
    out = subprocess.run(
        [sys.executable, "-m", "pytest", str(path), "-q", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert out.returncode == 0 and " passed" in out.stdout, out.stdout[-3000:]
    assert "skipped" not in out.stdout.splitlines()[-1], out.stdout[-3000:]


# ---- benchmark smoke run -----------------------------------------------------------------


def test_benchmark_cpu_smoke(capsys):
    spec = importlib.util.spec_from_file_location(
        "bench_contrastive", ROOT / "benchmarks" / "kernels" / "contrastive.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.main(
        ["--device", "cpu", "--sizes", "24", "--dims", "8", "--repeats", "1", "--warmup", "0",
         "--paths", "naive,chunked,triton", "--chunk-size", "16"]
    )  # fmt: skip
    doc = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    rows = doc["results"]
    assert len(rows) == 2 * 2 * 3  # losses x modes x paths
    for row in rows:
        if row["path"] == "triton" and "error" in row:
            continue  # no interpreter in this process
        assert row["time_ms_median"] > 0 and row["products"] >= 1, row
    assert {r["products"] for r in rows if r["path"] == "chunked" and r["mode"] == "fwd_bwd"} == {
        3,
        4,
    }


def _load_script(name: str):
    path = ROOT / "benchmarks" / "kernels" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_parses_tile_configs_with_a_feature_chunk():
    bench = _load_script("contrastive")
    args = bench.parse_args(["--device", "cpu", "--triton-configs", "64,64,4,2;128,64,8,2,128"])
    assert args.configs == [
        {"block_m": 64, "block_n": 64, "num_warps": 4, "num_stages": 2},
        {"block_m": 128, "block_n": 64, "num_warps": 8, "num_stages": 2, "max_block_d": 128},
    ]
    with pytest.raises(SystemExit):
        bench.parse_args(["--device", "cpu", "--triton-configs", "64,64,4"])


def test_sweep_report_picks_forward_and_backward_separately(tmp_path, capsys):
    # Config A has the faster forward, B the faster backward (fwd_bwd - fwd): the report must
    # pick each and add them; the default row is reported for comparison.
    def row(mode, ms, config=None):
        r = {"loss": "info_nce", "n": 64, "d": 8, "path": "triton", "mode": mode, "rows": 64,
             "cols": 64, "time_ms_median": ms}  # fmt: skip
        return {**r, "config": config} if config else r

    a = {"block_m": 64, "block_n": 64, "num_warps": 4, "num_stages": 2}
    b = {"block_m": 128, "block_n": 64, "num_warps": 8, "num_stages": 2, "max_block_d": 128}
    results = [row("fwd", 2.0), row("fwd_bwd", 9.0), row("fwd", 1.0, a), row("fwd_bwd", 8.0, a),
               row("fwd", 3.0, b), row("fwd_bwd", 6.0, b),
               {**row("fwd", 1.0), "path": "naive"}]  # fmt: skip
    path = tmp_path / "sweep.json"
    path.write_text("table\n" + json.dumps({"results": results}) + "\n")
    report = _load_script("sweep_report")
    (best,) = report.report(report.load_rows([str(path)]))
    assert best["best_fwd"] == "64x64w4s2" and best["fwd_ms"] == 1.0
    assert best["best_bwd"] == "128x64w8s2d128" and best["bwd_ms"] == 3.0
    assert best["fwd_bwd_ms_derived"] == 4.0 and best["default_fwd_bwd_ms"] == 9.0
    flop = 2.0 * 64 * 64 * 8
    assert best["fwd_bwd_useful_tflops_derived"] == round(3 * flop / 1e12 / 4.0 * 1e3, 1)
    empty = tmp_path / "empty.json"
    empty.write_text("")
    with pytest.raises(SystemExit, match="did not finish"):
        report.load_rows([str(empty)])
