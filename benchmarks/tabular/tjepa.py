"""T-JEPA vs SCARF vs raw-feature MLP vs gradient-boosted trees on any CSV (CPU).

    python benchmarks/tabular/tjepa.py --csv ../shared/data/adult/adult.data \
        --test-csv ../shared/data/adult/adult.test --target -1 --no-header

Protocol: the preprocessing, every pre-training run and every model selection (early stopping of
each MLP) use the training rows and a validation split carved from them (seeded); the test rows
are only scored. Without ``--test-csv`` a seeded 80/20 train/test split is used. Pre-training
uses the training split only (no test rows, unlike the official T-JEPA code). Prints progress on
stderr and ONE JSON line last on stdout: gbdt, mlp_raw, mlp_tjepa, mlp_scarf (test accuracy, or
RMSE for regression), metric, sec_per_epoch (T-JEPA pre-training), and details.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings

import numpy as np
import torch

from selfsup_tabular.data import TabularPreprocessor, TargetEncoder, read_table, resolve_column
from selfsup_tabular.downstream import (
    FineTuneModel,
    MLPHead,
    RawMLP,
    fit_supervised,
    predict,
    score,
)
from selfsup_tabular.methods import SCARF, TJEPA


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def split_index(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(seed).permutation(n)
    cut = int(round(n * (1 - fraction)))
    return np.sort(perm[:cut]), np.sort(perm[cut:])


def subset(batch: dict[str, torch.Tensor], idx: np.ndarray) -> dict[str, torch.Tensor]:
    t = torch.from_numpy(idx)
    return {k: v[t] for k, v in batch.items()}


def cosine_lr(step: int, total: int, warmup: int, base: float) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def pretrain(
    method: torch.nn.Module,
    data: dict[str, torch.Tensor],
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    seed: int,
    name: str,
    time_budget: float,
) -> tuple[float, int]:
    """Hand-written loop (same optimisation as SSLModule: AdamW, no decay on ndim <= 1, EMA
    after every step). Returns seconds per epoch and epochs run."""
    torch.manual_seed(seed)
    params = [p for p in method.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.ndim > 1]},
        {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)
    n = next(iter(data.values())).shape[0]
    batch_size = min(batch_size, n)
    steps_per_epoch = max(1, n // batch_size)
    total = epochs * steps_per_epoch
    warmup = max(1, total // 10)
    step, start, done = 0, time.time(), 0
    epoch, requested, durations = 0, epochs, []
    while epoch < epochs:
        method.train()
        order = torch.randperm(n)
        losses, ranks = [], []
        for i in range(steps_per_epoch):
            idx = order[i * batch_size : (i + 1) * batch_size]
            for g in opt.param_groups:
                g["lr"] = cosine_lr(step, total, warmup, lr)
            out = method.training_losses({k: v[idx] for k, v in data.items()})
            opt.zero_grad(set_to_none=True)
            out["loss"].backward()
            opt.step()
            step += 1
            if isinstance(method, TJEPA):
                method.update_teacher(step, total)
            losses.append(float(out["loss"].detach()))
            if "rankme" in out:
                ranks.append(float(out["rankme"]))
        epoch += 1
        done = epoch
        elapsed = time.time() - start
        extra = f" rankme {np.mean(ranks):.1f}" if ranks else ""
        log(f"{name} epoch {done}/{epochs} loss {np.mean(losses):.4f}{extra} ({elapsed:.0f}s)")
        # Fit the run to the time budget from the recent epoch times (the machine's load
        # varies): the epoch count, and with it the LR/EMA horizon, follows the estimate,
        # never above the requested epochs.
        durations.append(elapsed - sum(durations))
        recent = float(np.mean(durations[-3:]))
        fit = done + int(max(0.0, time_budget - elapsed) / recent)
        epochs = max(done, min(requested, fit))
        total = max(step, epochs * steps_per_epoch)
    log(f"{name}: {done} epochs in {time.time() - start:.0f}s (budget {time_budget:.0f}s)")
    return (time.time() - start) / max(1, done), done


def embeddings(fn, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat(
            [
                fn({k: v[s : s + 4096] for k, v in batch.items()})
                for s in range(0, next(iter(batch.values())).shape[0], 4096)
            ]
        )


def probe(
    feats: list[torch.Tensor], ys: list[torch.Tensor], task: str, out_dim: int, seed: int, **kw
) -> tuple[float, float]:
    """MLP on frozen features (standardised with training statistics): (val, test) scores."""
    mean, std = feats[0].mean(0), feats[0].std(0).clamp_min(1e-6)
    tr, va, te = ((f - mean) / std for f in feats)
    torch.manual_seed(seed)
    head = MLPHead(tr.shape[1], out_dim, **kw.pop("head", {}))
    kw.setdefault("max_seconds", 120.0)
    head, val = fit_supervised(head, tr, ys[0], va, ys[1], task=task, seed=seed, **kw)
    return val, score(predict(head, te), ys[2], task)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--csv", required=True)
    ap.add_argument("--target", required=True, help="label column: name or 0-based index (<0 ok)")
    ap.add_argument("--test-csv")
    ap.add_argument("--task", choices=["classification", "regression"])
    ap.add_argument("--no-header", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--val-fraction", type=float, default=0.15)
    ap.add_argument(
        "--threads", type=int, default=1, help="torch threads (1 is fastest on a busy 2-core CPU)"
    )
    ap.add_argument("--max-rows", type=int, help="subsample training rows (quick runs)")
    ap.add_argument("--tjepa-epochs", type=int, default=100)
    ap.add_argument("--scarf-epochs", type=int, default=40)
    ap.add_argument(
        "--pretrain-budget", type=float, default=390.0, help="seconds for T-JEPA (SCARF: half)"
    )
    ap.add_argument("--pooling", default="flatten")
    ap.add_argument("--d-token", type=int, default=16)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--target-norm", default="none", choices=["none", "batch"])
    ap.add_argument(
        "--finetune-budget", type=float, default=120.0, help="seconds; 0 skips fine-tuning"
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    warnings.simplefilter("once")
    t0 = time.time()

    header = not args.no_header
    train_df = read_table(args.csv, header=header)
    target = resolve_column(train_df.columns, args.target)
    if args.test_csv:
        test_df = read_table(args.test_csv, header=header)
        if target not in test_df.columns:
            raise SystemExit(f"label column {target!r} is not in {args.test_csv}.")
    else:
        tr, te = split_index(len(train_df), 0.2, args.seed)
        train_df, test_df = train_df.iloc[tr], train_df.iloc[te]
    task = args.task
    if task is None:
        probe_enc = TargetEncoder("regression")
        numeric = probe_enc.present(train_df[target]).mean() > 0.99
        n_unique = train_df[target].nunique()
        task = "regression" if numeric and n_unique > 20 else "classification"
    labels = TargetEncoder(task)
    train_df = train_df[labels.present(train_df[target])].reset_index(drop=True)
    test_df = test_df[labels.present(test_df[target])].reset_index(drop=True)
    if args.max_rows and len(train_df) > args.max_rows:
        keep, _ = split_index(len(train_df), 1 - args.max_rows / len(train_df), args.seed)
        train_df = train_df.iloc[keep].reset_index(drop=True)
    fit_idx, val_idx = split_index(len(train_df), args.val_fraction, args.seed + 1)
    fit_df, val_df = train_df.iloc[fit_idx], train_df.iloc[val_idx]
    labels.fit(fit_df[target])
    pre = TabularPreprocessor().fit(fit_df, target=target)
    data = [pre.transform(d) for d in (fit_df, val_df, test_df)]
    ys = [labels.transform(d[target]) for d in (fit_df, val_df, test_df)]
    out_dim = labels.num_classes if task == "classification" else 1
    log(
        f"{task}: train {len(fit_df)}, val {len(val_df)}, test {len(test_df)}; "
        f"{pre.num_numerical} numerical, {len(pre.cardinalities)} categorical {pre.cardinalities}"
    )
    results: dict[str, object] = {}

    # Gradient-boosted trees on the same encoding (codes as native categoricals).
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    def tree_x(b: dict[str, torch.Tensor]) -> np.ndarray:
        num = b["x_num"].numpy().copy()
        num[b["num_missing"].numpy()] = np.nan
        return np.concatenate([num, b["x_cat"].numpy().astype(np.float64)], axis=1)

    cat_mask = [False] * pre.num_numerical + [True] * len(pre.cardinalities)
    wide = [c + 2 > 255 for c in pre.cardinalities]
    cat_mask = [m and not w for m, w in zip(cat_mask, [False] * pre.num_numerical + wide)]
    gb_cls = (
        HistGradientBoostingClassifier
        if task == "classification"
        else HistGradientBoostingRegressor
    )
    gbdt = gb_cls(categorical_features=np.array(cat_mask), random_state=args.seed)
    t = time.time()
    gbdt.fit(tree_x(data[0]), ys[0].numpy())
    pred = gbdt.predict(tree_x(data[2]))
    if task == "classification":
        results["gbdt"] = float((pred == ys[2].numpy()).mean())
    else:
        results["gbdt"] = float(np.sqrt(((pred - ys[2].numpy()) ** 2).mean()) * labels.std)
    log(f"gbdt {results['gbdt']:.4f} ({time.time() - t:.0f}s)")

    scale = 1.0 if task == "classification" else labels.std
    # MLP on raw (pre-processed) features.
    t = time.time()
    torch.manual_seed(args.seed)
    raw = RawMLP(pre.num_numerical, pre.cardinalities, out_dim)
    raw, val = fit_supervised(
        raw, data[0], ys[0], data[1], ys[1], task=task, seed=args.seed, max_seconds=120.0
    )
    results["mlp_raw"] = score(predict(raw, data[2]), ys[2], task) * scale
    log(f"mlp_raw val {val * scale:.4f} test {results['mlp_raw']:.4f} ({time.time() - t:.0f}s)")

    # T-JEPA pre-training on the training split, then an MLP on frozen embeddings.
    torch.manual_seed(args.seed)
    tjepa = TJEPA(
        d_token=args.d_token,
        encoder_layers=args.layers,
        num_heads=2,
        ffn_dim=2 * args.d_token,
        predictor_dim=args.d_token,
        predictor_heads=2,
        pooling=args.pooling,
        target_norm=args.target_norm,
    ).materialize(pre)
    sec, ep = pretrain(
        tjepa,
        data[0],
        epochs=args.tjepa_epochs,
        batch_size=512,
        lr=args.lr,
        weight_decay=1e-5,
        seed=args.seed,
        name="tjepa",
        time_budget=args.pretrain_budget,
    )
    results["sec_per_epoch"] = round(sec, 2)
    t = time.time()
    tjepa.eval()
    feats = [embeddings(tjepa.embed, d) for d in data]
    val, results["mlp_tjepa"] = probe(feats, ys, task, out_dim, args.seed)
    results["mlp_tjepa"] = float(results["mlp_tjepa"]) * scale
    log(f"mlp_tjepa val {val * scale:.4f} test {results['mlp_tjepa']:.4f} ({time.time() - t:.0f}s)")
    tjepa_epochs = ep
    ft_score = None
    if args.finetune_budget > 0:
        # Fine-tuning a copy of the T-JEPA encoder with the MLP head (reported in details).
        t = time.time()
        torch.manual_seed(args.seed)
        tuned = FineTuneModel(tjepa, out_dim, pooling=args.pooling)
        tuned, val = fit_supervised(
            tuned,
            data[0],
            ys[0],
            data[1],
            ys[1],
            task=task,
            lr=3e-4,
            patience=5,
            seed=args.seed,
            max_seconds=args.finetune_budget,
        )
        ft_score = score(predict(tuned, data[2]), ys[2], task) * scale
        log(f"finetune_tjepa val {val * scale:.4f} test {ft_score:.4f} ({time.time() - t:.0f}s)")

    # SCARF (table mode, marginals = all training rows), then an MLP on frozen embeddings.
    torch.manual_seed(args.seed)
    scarf = SCARF(num_numerical=pre.num_numerical, cardinalities=pre.cardinalities)
    scarf.set_marginals(data[0])
    sec_s, ep_s = pretrain(
        scarf,
        data[0],
        epochs=args.scarf_epochs,
        batch_size=256,
        lr=1e-3,
        weight_decay=1e-5,
        seed=args.seed,
        name="scarf",
        time_budget=args.pretrain_budget / 2,
    )
    t = time.time()
    scarf.eval()
    feats = [embeddings(scarf.embed, d) for d in data]
    val, results["mlp_scarf"] = probe(feats, ys, task, out_dim, args.seed)
    results["mlp_scarf"] = float(results["mlp_scarf"]) * scale
    log(f"mlp_scarf val {val * scale:.4f} test {results['mlp_scarf']:.4f} ({time.time() - t:.0f}s)")

    results["metric"] = "accuracy" if task == "classification" else "rmse"
    results["details"] = {
        "train_rows": len(fit_df),
        "val_rows": len(val_df),
        "test_rows": len(test_df),
        "tjepa_epochs": tjepa_epochs,
        "finetune_tjepa": None if ft_score is None else round(ft_score, 4),
        "scarf_epochs": ep_s,
        "scarf_sec_per_epoch": round(sec_s, 2),
        "pooling": args.pooling,
        "target_norm": args.target_norm,
        "d_token": args.d_token,
        "layers": args.layers,
        "threads": args.threads,
        "total_sec": round(time.time() - t0, 1),
    }
    for key in ("gbdt", "mlp_raw", "mlp_tjepa", "mlp_scarf"):
        results[key] = round(float(results[key]), 4)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
