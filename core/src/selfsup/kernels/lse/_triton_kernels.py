"""Triton kernels of the fused contrastive log-sum-exp (launched by :mod:`.triton`).

Notation (see :mod:`selfsup.kernels.lse.triton` for the maths): ``Q`` ``(N, D)`` rows, ``K``
``(M, D)`` columns, ``S2 = log2(e) * (s * Q K^T + b)`` (base-2 logits: the host folds
``log2(e)`` into ``SCALE2`` and ``BIAS2``, so every exponential is an ``exp2``), ``LSE2`` the
base-2 row log-sum-exp. Dropped entries (``exclude`` columns, accidental hits, padding) are
``-inf`` before any reduction, so they contribute ``exp2(-inf) = 0``.

Over 400 lines on purpose: the forward and the backward kernels share the notation above and
the tile layout below, and read best side by side.

Layout: one program per ``BLOCK_M`` rows (forward, dQ, symmetric dZ) or ``BLOCK_N`` columns
(dK), times ``NUM_DC`` feature chunks of the *output* (1 when ``D <= BLOCK_D``; every chunk
program recomputes the full-``D`` logits), times splits of the reduction axis when there are
too few output tiles (partial results, added by the host). No atomics, no ``N x M`` buffer:
every program owns its outputs, so results are deterministic. Portable Triton only (3.x):
``tl.load``/``tl.store`` with pointer arithmetic and masks, ``tl.dot`` with an fp32 (fp64 under
the interpreter) accumulator, ``tl.exp2``/``tl.log2``; no block pointers, TMA descriptors or
autotuning. Over 400 lines: four kernels sharing the ``@triton.jit`` helpers defined first, kept
in one file.

Kernel arguments shared by all kernels:
    SCALE2: pointer to one ``ACC`` value, ``s * log2(e)``.
    BIAS2: ``(M,)`` ``ACC``, ``b * log2(e)`` (read when ``HAS_BIAS``).
    EXCL: ``(N, NUM_EXCL)`` int64 excluded columns, ``-1`` = none (``NUM_EXCL`` in 0..2).
    ROW_IDS, KEY_IDS, POS: int64 ``(N,)``, ``(M,)``, ``(N,)`` accidental-hit ids (``HAS_HITS``).
    ACC: accumulation dtype (``tl.float32``; ``tl.float64`` for float64 inputs).
    PREC: ``tl.dot`` input precision (``"ieee"`` or ``"tf32"``; no effect on 16-bit inputs).
    P_SCALE: power of two applied to probabilities before they are cast to the input dtype
        (``2**14`` for float16, whose subnormal range would swallow ``P ~ 1/N``; else 1).
"""

from __future__ import annotations

import triton
import triton.language as tl

__all__ = ["lse_bwd_dk", "lse_bwd_dq", "lse_bwd_sym", "lse_fwd"]


@triton.jit
def _tile(P, start, ok, d0, D, stride, BLOCK: tl.constexpr, BLOCK_D: tl.constexpr):
    """Rows ``start .. start + BLOCK`` of the row-major matrix ``P``, features
    ``d0 .. d0 + BLOCK_D``; 0 where ``ok`` (per row) or ``d < D`` fails. 64-bit scalar base,
    32-bit offsets inside the tile."""
    offs = d0 + tl.arange(0, BLOCK_D)
    base = P + start * stride.to(tl.int64)
    ptrs = base + (tl.arange(0, BLOCK)[:, None] * stride + offs[None, :])
    return tl.load(ptrs, mask=ok[:, None] & (offs < D)[None, :], other=0.0)


@triton.jit
def _dot_chunked(
    A,
    a_start,
    a_ok,
    B,
    b_start,
    b_ok,
    D,
    stride_a,
    stride_b,
    ACC: tl.constexpr,
    PREC: tl.constexpr,
    BLOCK_A: tl.constexpr,
    BLOCK_B: tl.constexpr,
    BLOCK_D: tl.constexpr,
    NUM_DC: tl.constexpr,
):
    """``A[a_start:+BLOCK_A] @ B[b_start:+BLOCK_B]^T`` over ``NUM_DC`` feature chunks."""
    acc = tl.zeros([BLOCK_A, BLOCK_B], dtype=ACC)
    for c in range(NUM_DC):
        a = _tile(A, a_start, a_ok, c * BLOCK_D, D, stride_a, BLOCK_A, BLOCK_D)
        b = _tile(B, b_start, b_ok, c * BLOCK_D, D, stride_b, BLOCK_B, BLOCK_D)
        acc = tl.dot(a, tl.trans(b), acc, input_precision=PREC, out_dtype=ACC)
    return acc


@triton.jit
def _keep(
    r2,
    c2,
    r_ok2,
    c_ok2,
    ex0,
    ex1,
    rid,
    kid,
    pos,
    NUM_EXCL: tl.constexpr,
    HAS_HITS: tl.constexpr,
):
    """Entries of a logit tile that enter the sums (arguments broadcast to the tile shape:
    row / column indices, validity, excluded columns, hit ids)."""
    keep = r_ok2 & c_ok2
    if NUM_EXCL >= 1:
        keep = keep & (ex0 != c2)
    if NUM_EXCL >= 2:
        keep = keep & (ex1 != c2)
    if HAS_HITS:
        keep = keep & ((kid != rid) | (c2 == pos))
    return keep


@triton.jit
def _row_masks(
    EXCL, ROW_IDS, POS, rows, row_ok, stride_e, NUM_EXCL: tl.constexpr, HAS_HITS: tl.constexpr
):
    """Per-row mask data: two excluded columns (int32, -1 = none), row id and positive."""
    ex0 = tl.full(rows.shape, -1, tl.int32)
    ex1 = ex0
    if NUM_EXCL >= 1:
        ex0 = tl.load(EXCL + rows.to(tl.int64) * stride_e, mask=row_ok, other=-1).to(tl.int32)
    if NUM_EXCL >= 2:
        ex1 = tl.load(EXCL + rows.to(tl.int64) * stride_e + 1, mask=row_ok, other=-1).to(tl.int32)
    rid = tl.zeros(rows.shape, tl.int64)
    pos = rid
    if HAS_HITS:
        rid = tl.load(ROW_IDS + rows, mask=row_ok, other=0)
        pos = tl.load(POS + rows, mask=row_ok, other=-1)
    return ex0, ex1, rid, pos


@triton.jit
def lse_fwd(
    Q,
    K,
    SCALE2,
    BIAS2,
    EXCL,
    ROW_IDS,
    KEY_IDS,
    POS,
    LSE2_PART,
    N,
    M,
    D,
    stride_q,
    stride_k,
    stride_e,
    cols_per_split,
    ACC: tl.constexpr,
    PREC: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    NUM_EXCL: tl.constexpr,
    HAS_HITS: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
    NUM_DC: tl.constexpr,
):
    """Online base-2 log-sum-exp of rows ``pid_m`` over the columns of split ``pid_s``.

    Grid ``(cdiv(N, BLOCK_M), splits)``; writes ``LSE2_PART[pid_s, rows]`` (``-inf`` for a
    split whose columns are all dropped). The host merges splits with a log-sum-exp.
    """
    pid_m = tl.program_id(0)
    pid_s = tl.program_id(1)
    row0 = pid_m * BLOCK_M
    rows = row0 + tl.arange(0, BLOCK_M)
    row_ok = rows < N
    scale2 = tl.load(SCALE2).to(ACC)
    ex0, ex1, rid, pos = _row_masks(EXCL, ROW_IDS, POS, rows, row_ok, stride_e, NUM_EXCL, HAS_HITS)
    if NUM_DC == 1:
        q = _tile(Q, row0, row_ok, 0, D, stride_q, BLOCK_M, BLOCK_D)
    m_i = tl.full([BLOCK_M], float("-inf"), ACC)
    l_i = tl.zeros([BLOCK_M], ACC)
    col_lo = pid_s * cols_per_split
    col_hi = tl.minimum(col_lo + cols_per_split, M)
    for start in range(col_lo, col_hi, BLOCK_N):
        col0 = start
        cols = start + tl.arange(0, BLOCK_N)
        col_ok = cols < col_hi
        if NUM_DC == 1:
            k = _tile(K, col0, col_ok, 0, D, stride_k, BLOCK_N, BLOCK_D)
            s = tl.dot(q, tl.trans(k), input_precision=PREC, out_dtype=ACC)
        else:
            s = _dot_chunked(
                Q, row0, row_ok, K, col0, col_ok, D, stride_q, stride_k,
                ACC, PREC, BLOCK_M, BLOCK_N, BLOCK_D, NUM_DC,
            )  # fmt: skip
        s = s * scale2
        if HAS_BIAS:
            s = s + tl.load(BIAS2 + cols, mask=col_ok, other=0.0).to(ACC)[None, :]
        kid = tl.zeros([BLOCK_N], tl.int64)
        if HAS_HITS:
            kid = tl.load(KEY_IDS + cols, mask=col_ok, other=0)
        keep = _keep(
            rows[:, None], cols[None, :], row_ok[:, None], col_ok[None, :], ex0[:, None],
            ex1[:, None], rid[:, None], kid[None, :], pos[:, None], NUM_EXCL, HAS_HITS,
        )  # fmt: skip
        s = tl.where(keep, s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))
        # Rows with nothing kept so far stay at -inf: shift by 0 there (exp2(-inf) = 0).
        m_sh = tl.where(m_new == float("-inf"), 0.0, m_new).to(ACC)
        l_i = l_i * tl.exp2(m_i - m_sh) + tl.sum(tl.exp2(s - m_sh[:, None]), 1)
        m_i = m_new
    # l_i = 0: nothing kept (padding rows, an empty split) -> -inf.
    lse2 = tl.where(l_i > 0, m_i + tl.log2(tl.where(l_i > 0, l_i, 1.0)), float("-inf"))
    tl.store(LSE2_PART + pid_s.to(tl.int64) * N + rows, lse2, mask=row_ok)


@triton.jit
def lse_bwd_dq(
    Q,
    K,
    SCALE2,
    BIAS2,
    EXCL,
    ROW_IDS,
    KEY_IDS,
    POS,
    LSE2,
    G,
    OUT_SCALE,
    DQ,
    DQ_RAW,
    ROWDOT,
    N,
    M,
    D,
    stride_q,
    stride_k,
    stride_e,
    cols_per_split,
    ACC: tl.constexpr,
    PREC: tl.constexpr,
    P_SCALE: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    NUM_EXCL: tl.constexpr,
    HAS_HITS: tl.constexpr,
    RAW_OUT: tl.constexpr,
    NEED_ROWDOT: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
    NUM_DC: tl.constexpr,
):
    """Row-parallel ``acc_i = P_SCALE * sum_j P_ij k_j`` (feature chunk ``pid_d``).

    Grid ``(cdiv(N, BLOCK_M), NUM_DC, splits)``. ``RAW_OUT`` (column splits): store ``acc``
    in ``ACC`` to ``DQ_RAW[pid_s, rows, chunk]``; the host sums splits and scales. Otherwise
    store ``dq_i = OUT_SCALE * g_i * acc_i`` (``OUT_SCALE = s / P_SCALE``) in the input dtype
    and, with ``NEED_ROWDOT``, ``ROWDOT[pid_d, i] = q_i . acc_i`` (chunk part) for ``ds``.
    """
    pid_m = tl.program_id(0)
    pid_d = tl.program_id(1)
    pid_s = tl.program_id(2)
    row0 = pid_m * BLOCK_M
    rows = row0 + tl.arange(0, BLOCK_M)
    row_ok = rows < N
    scale2 = tl.load(SCALE2).to(ACC)
    ex0, ex1, rid, pos = _row_masks(EXCL, ROW_IDS, POS, rows, row_ok, stride_e, NUM_EXCL, HAS_HITS)
    lse2 = tl.load(LSE2 + rows, mask=row_ok, other=0.0).to(ACC)
    if NUM_DC == 1:
        q = _tile(Q, row0, row_ok, 0, D, stride_q, BLOCK_M, BLOCK_D)
    acc = tl.zeros([BLOCK_M, BLOCK_D], dtype=ACC)
    col_lo = pid_s * cols_per_split
    col_hi = tl.minimum(col_lo + cols_per_split, M)
    for start in range(col_lo, col_hi, BLOCK_N):
        col0 = start
        cols = start + tl.arange(0, BLOCK_N)
        col_ok = cols < col_hi
        if NUM_DC == 1:
            k = _tile(K, col0, col_ok, 0, D, stride_k, BLOCK_N, BLOCK_D)
            s = tl.dot(q, tl.trans(k), input_precision=PREC, out_dtype=ACC)
        else:
            s = _dot_chunked(
                Q, row0, row_ok, K, col0, col_ok, D, stride_q, stride_k,
                ACC, PREC, BLOCK_M, BLOCK_N, BLOCK_D, NUM_DC,
            )  # fmt: skip
            k = _tile(K, col0, col_ok, pid_d * BLOCK_D, D, stride_k, BLOCK_N, BLOCK_D)
        s = s * scale2
        if HAS_BIAS:
            s = s + tl.load(BIAS2 + cols, mask=col_ok, other=0.0).to(ACC)[None, :]
        kid = tl.zeros([BLOCK_N], tl.int64)
        if HAS_HITS:
            kid = tl.load(KEY_IDS + cols, mask=col_ok, other=0)
        keep = _keep(
            rows[:, None], cols[None, :], row_ok[:, None], col_ok[None, :], ex0[:, None],
            ex1[:, None], rid[:, None], kid[None, :], pos[:, None], NUM_EXCL, HAS_HITS,
        )  # fmt: skip
        p = tl.exp2(tl.where(keep, s, float("-inf")) - lse2[:, None])
        p = (p * P_SCALE).to(k.dtype)
        acc = tl.dot(p, k, acc, input_precision=PREC, out_dtype=ACC)
    offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    mask = row_ok[:, None] & (offs_d < D)[None, :]
    if RAW_OUT:
        ptrs = DQ_RAW + (pid_s.to(tl.int64) * N + rows.to(tl.int64))[:, None] * D + offs_d[None, :]
        tl.store(ptrs, acc, mask=mask)
    else:
        g = tl.load(G + rows, mask=row_ok, other=0.0).to(ACC)
        out_scale = tl.load(OUT_SCALE).to(ACC)
        dq = acc * (g * out_scale)[:, None]
        ptrs = DQ + rows.to(tl.int64)[:, None] * stride_q + offs_d[None, :]
        tl.store(ptrs, dq.to(DQ.dtype.element_ty), mask=mask)
        if NEED_ROWDOT:
            if NUM_DC != 1:
                q = _tile(Q, row0, row_ok, pid_d * BLOCK_D, D, stride_q, BLOCK_M, BLOCK_D)
            rowdot = tl.sum(q.to(ACC) * acc, 1)
            tl.store(ROWDOT + pid_d.to(tl.int64) * N + rows, rowdot, mask=row_ok)


@triton.jit
def lse_bwd_dk(
    Q,
    K,
    SCALE2,
    BIAS2,
    EXCL,
    ROW_IDS,
    KEY_IDS,
    POS,
    LSE2,
    R,
    OUT_SCALE,
    GMAX,
    DK,
    DBIAS,
    DK_RAW,
    DB_RAW,
    N,
    M,
    D,
    stride_q,
    stride_k,
    stride_e,
    rows_per_split,
    ACC: tl.constexpr,
    PREC: tl.constexpr,
    P_SCALE: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    NUM_EXCL: tl.constexpr,
    HAS_HITS: tl.constexpr,
    NEED_DK: tl.constexpr,
    NEED_DBIAS: tl.constexpr,
    RAW_OUT: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
    NUM_DC: tl.constexpr,
):
    """Column-parallel ``dk_j = s * gmax * sum_i r_i P_ij q_i`` and ``db_j = gmax * sum_i r_i
    P_ij`` (``r = g / gmax``), computed on transposed tiles ``S^T`` ``(BLOCK_N, BLOCK_M)``.

    Grid ``(cdiv(M, BLOCK_N), NUM_DC, splits)``; ``OUT_SCALE = s * gmax / P_SCALE``. ``DBIAS``
    is written by the ``pid_d == 0`` programs. ``RAW_OUT`` (row splits, when the column tiles
    leave SMs idle): store the unscaled ``ACC`` sums to ``DK_RAW[pid_s]`` / ``DB_RAW[pid_s]``;
    the host adds the splits and scales.
    """
    pid_n = tl.program_id(0)
    pid_d = tl.program_id(1)
    pid_s = tl.program_id(2)
    col0 = pid_n * BLOCK_N
    cols = col0 + tl.arange(0, BLOCK_N)
    col_ok = cols < M
    scale2 = tl.load(SCALE2).to(ACC)
    if NUM_DC == 1:
        k = _tile(K, col0, col_ok, 0, D, stride_k, BLOCK_N, BLOCK_D)
    bias2 = tl.zeros([BLOCK_N], ACC)
    if HAS_BIAS:
        bias2 = tl.load(BIAS2 + cols, mask=col_ok, other=0.0).to(ACC)
    kid = tl.zeros([BLOCK_N], tl.int64)
    if HAS_HITS:
        kid = tl.load(KEY_IDS + cols, mask=col_ok, other=0)
    acc = tl.zeros([BLOCK_N, BLOCK_D], dtype=ACC)
    db = tl.zeros([BLOCK_N], dtype=ACC)
    row_lo = pid_s * rows_per_split
    row_hi = tl.minimum(row_lo + rows_per_split, N)
    for start in range(row_lo, row_hi, BLOCK_M):
        row0 = start
        rows = start + tl.arange(0, BLOCK_M)
        row_ok = rows < row_hi
        ex0, ex1, rid, pos = _row_masks(
            EXCL, ROW_IDS, POS, rows, row_ok, stride_e, NUM_EXCL, HAS_HITS
        )
        lse2 = tl.load(LSE2 + rows, mask=row_ok, other=0.0).to(ACC)
        r = tl.load(R + rows, mask=row_ok, other=0.0).to(ACC)
        if NUM_DC == 1:
            q = _tile(Q, row0, row_ok, 0, D, stride_q, BLOCK_M, BLOCK_D)
            st = tl.dot(k, tl.trans(q), input_precision=PREC, out_dtype=ACC)
        else:
            st = _dot_chunked(
                K, col0, col_ok, Q, row0, row_ok, D, stride_k, stride_q,
                ACC, PREC, BLOCK_N, BLOCK_M, BLOCK_D, NUM_DC,
            )  # fmt: skip
            q = _tile(Q, row0, row_ok, pid_d * BLOCK_D, D, stride_q, BLOCK_M, BLOCK_D)
        st = st * scale2
        if HAS_BIAS:
            st = st + bias2[:, None]
        keep = _keep(
            rows[None, :], cols[:, None], row_ok[None, :], col_ok[:, None], ex0[None, :],
            ex1[None, :], rid[None, :], kid[:, None], pos[None, :], NUM_EXCL, HAS_HITS,
        )  # fmt: skip
        pt = tl.exp2(tl.where(keep, st, float("-inf")) - lse2[None, :]) * r[None, :]
        if NEED_DBIAS:
            db += tl.sum(pt, 1)
        if NEED_DK:
            acc = tl.dot((pt * P_SCALE).to(q.dtype), q, acc, input_precision=PREC, out_dtype=ACC)
    offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    mask = col_ok[:, None] & (offs_d < D)[None, :]
    if RAW_OUT:
        if NEED_DK:
            ptrs = DK_RAW + (pid_s.to(tl.int64) * M + cols.to(tl.int64))[:, None] * D
            tl.store(ptrs + offs_d[None, :], acc, mask=mask)
        if NEED_DBIAS:
            tl.store(DB_RAW + pid_s.to(tl.int64) * M + cols, db, mask=col_ok & (pid_d == 0))
    else:
        if NEED_DK:
            out_scale = tl.load(OUT_SCALE).to(ACC)
            ptrs = DK + cols.to(tl.int64)[:, None] * stride_k + offs_d[None, :]
            tl.store(ptrs, (acc * out_scale).to(DK.dtype.element_ty), mask=mask)
        if NEED_DBIAS:
            gmax = tl.load(GMAX).to(ACC)
            tl.store(DBIAS + cols, db * gmax, mask=col_ok & (pid_d == 0))


@triton.jit
def lse_bwd_sym(
    Z,
    SCALE2,
    EXCL,
    ROW_IDS,
    KEY_IDS,
    POS,
    LSE2,
    R,
    OUT_SCALE,
    DZ,
    ROWDOT,
    N,
    D,
    stride_z,
    stride_e,
    ACC: tl.constexpr,
    PREC: tl.constexpr,
    P_SCALE: tl.constexpr,
    NUM_EXCL: tl.constexpr,
    HAS_HITS: tl.constexpr,
    NEED_ROWDOT: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
    NUM_DC: tl.constexpr,
):
    """Symmetric ``S = s Z Z^T`` (one LSE serves rows and columns), one row-parallel pass:
    ``acc_a = P_SCALE * sum_b (r_a P_ab + r_b exp2(S2_ab - LSE2_b)) z_b``,
    ``dz_a = OUT_SCALE * acc_a`` (``OUT_SCALE = s * gmax / P_SCALE``), and with
    ``NEED_ROWDOT`` ``ROWDOT[pid_d, a] = z_a . acc_a`` (``ds = gmax / (2 P_SCALE) sum``).

    Grid ``(cdiv(N, BLOCK_M), NUM_DC)``; ``N`` here is the number of rows of ``Z`` (2N).
    """
    pid_m = tl.program_id(0)
    pid_d = tl.program_id(1)
    row0 = pid_m * BLOCK_M
    rows = row0 + tl.arange(0, BLOCK_M)
    row_ok = rows < N
    scale2 = tl.load(SCALE2).to(ACC)
    ex0, ex1, rid, pos = _row_masks(EXCL, ROW_IDS, POS, rows, row_ok, stride_e, NUM_EXCL, HAS_HITS)
    lse2_a = tl.load(LSE2 + rows, mask=row_ok, other=0.0).to(ACC)
    r_a = tl.load(R + rows, mask=row_ok, other=0.0).to(ACC)
    if NUM_DC == 1:
        za = _tile(Z, row0, row_ok, 0, D, stride_z, BLOCK_M, BLOCK_D)
    acc = tl.zeros([BLOCK_M, BLOCK_D], dtype=ACC)
    for start in range(0, N, BLOCK_N):
        col0 = start
        cols = start + tl.arange(0, BLOCK_N)
        col_ok = cols < N
        if NUM_DC == 1:
            zb = _tile(Z, col0, col_ok, 0, D, stride_z, BLOCK_N, BLOCK_D)
            s = tl.dot(za, tl.trans(zb), input_precision=PREC, out_dtype=ACC)
        else:
            s = _dot_chunked(
                Z, row0, row_ok, Z, col0, col_ok, D, stride_z, stride_z,
                ACC, PREC, BLOCK_M, BLOCK_N, BLOCK_D, NUM_DC,
            )  # fmt: skip
            zb = _tile(Z, col0, col_ok, pid_d * BLOCK_D, D, stride_z, BLOCK_N, BLOCK_D)
        kid = tl.zeros([BLOCK_N], tl.int64)
        if HAS_HITS:
            kid = tl.load(KEY_IDS + cols, mask=col_ok, other=0)
        keep = _keep(
            rows[:, None], cols[None, :], row_ok[:, None], col_ok[None, :], ex0[:, None],
            ex1[:, None], rid[:, None], kid[None, :], pos[:, None], NUM_EXCL, HAS_HITS,
        )  # fmt: skip
        s = tl.where(keep, s * scale2, float("-inf"))
        lse2_b = tl.load(LSE2 + cols, mask=col_ok, other=0.0).to(ACC)
        r_b = tl.load(R + cols, mask=col_ok, other=0.0).to(ACC)
        a = (
            tl.exp2(s - lse2_a[:, None]) * r_a[:, None]
            + tl.exp2(s - lse2_b[None, :]) * r_b[None, :]
        )
        acc = tl.dot((a * P_SCALE).to(zb.dtype), zb, acc, input_precision=PREC, out_dtype=ACC)
    offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    out_scale = tl.load(OUT_SCALE).to(ACC)
    ptrs = DZ + rows.to(tl.int64)[:, None] * stride_z + offs_d[None, :]
    tl.store(
        ptrs,
        (acc * out_scale).to(DZ.dtype.element_ty),
        mask=row_ok[:, None] & (offs_d < D)[None, :],
    )
    if NEED_ROWDOT:
        if NUM_DC != 1:
            za = _tile(Z, row0, row_ok, pid_d * BLOCK_D, D, stride_z, BLOCK_M, BLOCK_D)
        rowdot = tl.sum(za.to(ACC) * acc, 1)
        tl.store(ROWDOT + pid_d.to(tl.int64) * N + rows, rowdot, mask=row_ok)
