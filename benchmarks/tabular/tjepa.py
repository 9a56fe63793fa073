"""T-JEPA vs SCARF vs VIME vs raw-feature MLP vs gradient-boosted trees on any CSV (CPU).

    python benchmarks/tabular/tjepa.py --csv ../shared/data/adult/adult.data \
        --test-csv ../shared/data/adult/adult.test --target -1 --no-header

Protocol: the preprocessing, every pre-training run and every model selection (early stopping of
each MLP, the choice among ``--probe-heads``) use the training rows and a validation split carved
from them (seeded); the test rows are only scored, once per reported model, and not even read
into tensors with ``--no-test`` (what ``sweep.py`` uses to select settings). Without
``--test-csv`` a seeded 80/20 train/test split is used. Pre-training uses the training split only
(no test rows, unlike the official T-JEPA code). Prints progress on stderr and ONE JSON line last
on stdout: gbdt, mlp_raw, mlp_tjepa, mlp_scarf, mlp_vime (test accuracy, or RMSE for regression;
null with ``--no-test`` or when skipped), metric, sec_per_epoch (T-JEPA pre-training), val (the
same models' validation scores) and details.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch

from selfsup.data import DistinctLabelBatchSampler
from selfsup.metrics import rankme
from selfsup.targets import KMeans
from selfsup_tabular.data import TabularPreprocessor, TargetEncoder, read_table, resolve_column
from selfsup_tabular.encoders import NUMERICAL_EMBEDDINGS
from selfsup_tabular.evaluation.downstream import (
    FineTuneModel,
    MLPHead,
    RawMLP,
    fit_supervised,
    predict,
    score,
)
from selfsup_tabular.methods import SCARF, TJEPA, VIME

#: The probe head used before heads were selectable: 3 layers of 256, dropout 0.1, lr 1e-3.
DEFAULT_HEAD = "3x256:0.1:1e-3:1e-5"


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


def parse_head(spec: str) -> dict[str, float | int]:
    """``"LxW:dropout:lr:weight_decay"`` (e.g. ``3x256:0.1:1e-3:1e-5``) -> head settings."""
    try:
        shape, dropout, lr, wd = spec.split(":")
        layers, width = (int(v) for v in shape.lower().split("x"))
        out = {
            "num_layers": layers,
            "hidden_dim": width,
            "dropout": float(dropout),
            "lr": float(lr),
            "weight_decay": float(wd),
        }
    except ValueError as err:
        raise argparse.ArgumentTypeError(
            f"head {spec!r}: expected LAYERSxWIDTH:DROPOUT:LR:WEIGHT_DECAY, e.g. {DEFAULT_HEAD}"
        ) from err
    if layers < 1 or width < 1 or not 0 <= out["dropout"] < 1 or out["lr"] <= 0:
        raise argparse.ArgumentTypeError(f"head {spec!r}: values out of range")
    return out


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
    batch_plan: Callable[[int], list[list[int]]] | None = None,
) -> tuple[float, int]:
    """Hand-written loop (same optimisation as SSLModule: AdamW, no decay on ndim <= 1, EMA
    after every step). Returns seconds per epoch and epochs run. ``time_budget=inf`` runs
    exactly ``epochs`` epochs (results then do not depend on the machine's load).
    ``batch_plan(key)`` replaces the shuffled batches of each epoch (G-SimCLR batches)."""
    torch.manual_seed(seed)
    params = [p for p in method.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.ndim > 1]},
        {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)
    n = next(iter(data.values())).shape[0]
    batch_size = min(batch_size, n)
    steps_per_epoch = max(1, n // batch_size) if batch_plan is None else len(batch_plan(0))
    total = epochs * steps_per_epoch
    warmup = max(1, total // 10)
    step, start, done = 0, time.time(), 0
    epoch, requested, durations = 0, epochs, []
    while epoch < epochs:
        method.train()
        order = torch.randperm(n)
        plan = None if batch_plan is None else batch_plan(seed * 100_003 + epoch)
        losses, ranks = [], []
        for i in range(steps_per_epoch):
            if plan is None:
                idx = order[i * batch_size : (i + 1) * batch_size]
            else:
                idx = torch.as_tensor(plan[i])
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
        if math.isinf(time_budget):
            continue
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


def scarf_probe(args, pre, data, ys, task, out_dim, record, name, batch_plan=None):
    """SCARF (table mode, marginals = all training rows) pre-trained on the training split, then
    an MLP on its frozen embeddings, recorded as ``mlp_<name>``; returns the embeddings of every
    split and the pre-training's seconds per epoch and epochs."""
    torch.manual_seed(args.seed)
    scarf = SCARF(num_numerical=pre.num_numerical, cardinalities=pre.cardinalities)
    return row_mlp_probe(
        args, scarf, args.scarf_epochs, data, ys, task, out_dim, record, name, batch_plan
    )


def vime_probe(args, pre, data, ys, task, out_dim, record):
    """VIME (table mode, the reference code's p_m 0.3 and alpha 2.0, marginals = all training
    rows), then an MLP on its frozen embeddings, recorded as ``mlp_vime``."""
    torch.manual_seed(args.seed)
    vime = VIME(
        num_numerical=pre.num_numerical,
        cardinalities=pre.cardinalities,
        encoder_layers=args.vime_layers,
    )
    return row_mlp_probe(args, vime, args.vime_epochs, data, ys, task, out_dim, record, "vime")


def row_mlp_probe(args, method, epochs, data, ys, task, out_dim, record, name, batch_plan=None):
    """Pre-train a corruption method (SCARF, VIME) on the training split with every training row
    as its marginals, probe its frozen embeddings; returns (embeddings, s/epoch, epochs)."""
    method.set_marginals(data[0])
    sec, epochs = pretrain(
        method,
        data[0],
        epochs=epochs,
        batch_size=256,
        lr=1e-3,
        weight_decay=1e-5,
        seed=args.seed,
        name=name,
        time_budget=args.pretrain_budget / 2,
        batch_plan=batch_plan,
    )
    t = time.time()
    method.eval()
    feats = [embeddings(method.embed, d) for d in data]
    val, test, _ = probe(feats, ys, task, out_dim, args.seed, [DEFAULT_HEAD])
    record(f"mlp_{name}", val, test, time.time() - t)
    return feats, sec, epochs


def gsimclr_scarf(args, pre, data, ys, task, out_dim, train_feats, record) -> None:
    """G-SimCLR on SCARF: k-means of the first SCARF's training embeddings gives pseudo-labels,
    a fresh SCARF trains on batches without two rows of one cluster, an MLP probes it."""
    t = time.time()
    k = args.scarf_pseudo_clusters
    kmeans = KMeans(k, train_feats.shape[1], seed=args.seed).fit(train_feats)
    labels = kmeans.predict(train_feats)
    log(f"scarf_gsimclr: {k} clusters of the SCARF embeddings ({time.time() - t:.0f}s)")
    sampler = DistinctLabelBatchSampler(labels, 256, seed=args.seed)
    scarf_probe(args, pre, data, ys, task, out_dim, record, "scarf_gsimclr", sampler.batches_for)


def embeddings(fn, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat(
            [
                fn({k: v[s : s + 4096] for k, v in batch.items()})
                for s in range(0, next(iter(batch.values())).shape[0], 4096)
            ]
        )


def raw_features(batch: dict[str, torch.Tensor], cardinalities: list[int]) -> torch.Tensor:
    """The row itself as a flat vector: scaled numbers, missing flags, one-hot categories."""
    parts = []
    if "x_num" in batch:
        parts += [batch["x_num"], batch["num_missing"].float()]
    for k, card in enumerate(cardinalities):
        parts.append(torch.nn.functional.one_hot(batch["x_cat"][:, k], card + 2).float())
    return torch.cat(parts, dim=1)


def probe(
    feats: list[torch.Tensor],
    ys: list[torch.Tensor],
    task: str,
    out_dim: int,
    seed: int,
    heads: list[str],
    max_seconds: float = 120.0,
    patience: int = 10,
) -> tuple[float, float | None, str]:
    """MLPs on frozen features (standardised with training statistics), one per head in
    ``heads``; the head with the best validation score is kept (ties: the first). Returns its
    (val, test, head) scores; ``test`` is None when ``feats`` has no test entry."""
    mean, std = feats[0].mean(0), feats[0].std(0).clamp_min(1e-6)
    scaled = [(f - mean) / std for f in feats]
    best: tuple[float, torch.nn.Module | None, str] = (-math.inf, None, "")
    sign = 1.0 if task == "classification" else -1.0
    for spec in heads:
        h = dict(parse_head(spec))
        lr, wd = h.pop("lr"), h.pop("weight_decay")
        torch.manual_seed(seed)
        model = MLPHead(scaled[0].shape[1], out_dim, **h)
        model, val = fit_supervised(
            model,
            scaled[0],
            ys[0],
            scaled[1],
            ys[1],
            task=task,
            lr=lr,
            weight_decay=wd,
            patience=patience,
            seed=seed,
            max_seconds=max_seconds,
        )
        if len(heads) > 1:
            log(f"  head {spec}: val {val:.4f}")
        if sign * val > best[0]:
            best = (sign * val, model, spec)
    _, model, spec = best
    test = score(predict(model, scaled[2]), ys[2], task) if len(scaled) > 2 else None
    return sign * best[0], test, spec


def build_tjepa(args: argparse.Namespace) -> TJEPA:
    return TJEPA(
        d_token=args.d_token,
        encoder_layers=args.layers,
        num_heads=args.heads,
        ffn_dim=args.ffn_mult * args.d_token,
        dropout=args.dropout,
        num_registers=args.registers,
        predictor_dim=args.predictor_dim or args.d_token,
        predictor_layers=args.predictor_layers,
        predictor_heads=args.heads,
        context_ratio=tuple(args.context_ratio),
        target_ratio=tuple(args.target_ratio),
        num_targets=args.num_targets,
        momentum=args.momentum,
        pooling=args.pooling,
        target_norm=args.target_norm,
        numerical_embedding=args.numerical_embedding,
        frequencies=args.frequencies,
        frequency_scale=args.frequency_scale,
    )


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--csv", required=True)
    ap.add_argument("--target", required=True, help="label column: name or 0-based index (<0 ok)")
    ap.add_argument("--test-csv")
    ap.add_argument("--task", choices=["classification", "regression"])
    ap.add_argument("--no-header", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--val-fraction", type=float, default=0.15)
    ap.add_argument(
        "--no-test",
        action="store_true",
        help="validation only: the test rows are never transformed or scored (for sweeps)",
    )
    ap.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=["gbdt", "mlp_raw", "tjepa", "finetune", "scarf", "vime"],
        help="models not to run (tjepa: no pre-training, probe or fine-tuning)",
    )
    ap.add_argument(
        "--threads", type=int, default=1, help="torch threads (1 is fastest on a busy 2-core CPU)"
    )
    ap.add_argument("--max-rows", type=int, help="subsample training rows (quick runs)")
    ap.add_argument("--tjepa-epochs", type=int, default=100)
    ap.add_argument("--scarf-epochs", type=int, default=40)
    ap.add_argument("--vime-epochs", type=int, default=40)
    ap.add_argument("--vime-layers", type=int, default=1, help="VIME encoder depth")
    ap.add_argument(
        "--scarf-pseudo-clusters",
        type=int,
        default=0,
        help="also train SCARF on G-SimCLR batches: k-means clusters (>= 256, the SCARF batch) "
        "of the first SCARF's training embeddings, no two rows of one cluster per batch (0: off)",
    )
    ap.add_argument(
        "--pretrain-budget",
        type=float,
        default=390.0,
        help="seconds for T-JEPA (SCARF: half); inf: exactly --tjepa-epochs / --scarf-epochs",
    )
    ap.add_argument("--pooling", default="flatten")
    ap.add_argument("--d-token", type=int, default=16)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=2, help="attention heads (encoder, predictor)")
    ap.add_argument("--ffn-mult", type=int, default=2, help="encoder FFN width / d_token")
    ap.add_argument("--dropout", type=float, default=0.0, help="encoder dropout")
    ap.add_argument("--registers", type=int, default=1)
    ap.add_argument("--predictor-dim", type=int, help="default: d_token")
    ap.add_argument("--predictor-layers", type=int, default=2)
    ap.add_argument("--context-ratio", type=float, nargs=2, default=[0.136, 0.368])
    ap.add_argument("--target-ratio", type=float, nargs=2, default=[0.156, 0.622])
    ap.add_argument("--num-targets", type=int, default=4)
    ap.add_argument("--momentum", default="linear:0.996:1.0", help="EMA schedule")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=1e-5, help="pre-training AdamW")
    ap.add_argument("--batch-size", type=int, default=512, help="T-JEPA pre-training batch")
    ap.add_argument("--target-norm", default="none", choices=["none", "batch"])
    ap.add_argument(
        "--numerical-embedding",
        default="linear",
        choices=NUMERICAL_EMBEDDINGS,
        help="how numbers become vectors, in the T-JEPA tokenizer AND the raw-feature MLP",
    )
    ap.add_argument("--frequencies", type=int, default=16, help="periodic embedding")
    ap.add_argument("--frequency-scale", type=float, default=1.0, help="periodic embedding")
    ap.add_argument(
        "--probe-heads",
        nargs="+",
        default=[DEFAULT_HEAD],
        help="MLP heads on the frozen embeddings, LAYERSxWIDTH:DROPOUT:LR:WD; the best on "
        "validation is kept (test is scored for that one only)",
    )
    ap.add_argument(
        "--probe-input",
        default="embedding",
        choices=["embedding", "embedding+raw"],
        help="embedding: T-JEPA's protocol; embedding+raw: the raw row appended (not the paper's)",
    )
    ap.add_argument(
        "--probe-budget",
        type=float,
        default=120.0,
        help="seconds per MLP (raw-feature MLP and probes); inf: early stopping alone decides",
    )
    ap.add_argument("--probe-patience", type=int, default=10)
    ap.add_argument(
        "--finetune-budget", type=float, default=120.0, help="seconds; 0 skips fine-tuning"
    )
    ap.add_argument("--finetune-lr", type=float, default=3e-4)
    return ap


def main() -> None:
    args = parser().parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    warnings.simplefilter("once")
    t0 = time.time()
    heads = [args.probe_heads] if isinstance(args.probe_heads, str) else list(args.probe_heads)
    for spec in heads:
        parse_head(spec)

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
    frames = (fit_df, val_df) if args.no_test else (fit_df, val_df, test_df)
    data = [pre.transform(d) for d in frames]
    ys = [labels.transform(d[target]) for d in frames]
    out_dim = labels.num_classes if task == "classification" else 1
    log(
        f"{task}: train {len(fit_df)}, val {len(val_df)}, "
        f"test {'not read (--no-test)' if args.no_test else len(test_df)}; "
        f"{pre.num_numerical} numerical, {len(pre.cardinalities)} categorical {pre.cardinalities}"
    )
    scale = 1.0 if task == "classification" else labels.std
    results: dict[str, object] = {}
    vals: dict[str, float | None] = {}

    def scaled(value: float | None) -> float | None:
        return None if value is None else round(float(value) * scale, 4)

    def record(key: str, val: float | None, test: float | None, took: float) -> None:
        results[key], vals[key] = scaled(test), scaled(val)
        shown = "-" if test is None else f"{test * scale:.4f}"
        log(f"{key} val {val * scale:.4f} test {shown} ({took:.0f}s)")

    for key in ("gbdt", "mlp_raw"):
        results[key], vals[key] = None, None
    if "gbdt" not in args.skip:
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

        def gb_score(i: int) -> float:
            pred = torch.from_numpy(np.asarray(gbdt.predict(tree_x(data[i]))))
            if task == "classification":
                return float((pred == ys[i]).float().mean())
            return float((pred.float() - ys[i]).pow(2).mean().sqrt())

        record("gbdt", gb_score(1), None if args.no_test else gb_score(2), time.time() - t)

    if "mlp_raw" not in args.skip:
        # MLP on raw (pre-processed) features.
        t = time.time()
        torch.manual_seed(args.seed)
        raw = RawMLP(
            pre.num_numerical,
            pre.cardinalities,
            out_dim,
            numerical_embedding=args.numerical_embedding,
            frequencies=args.frequencies,
            frequency_scale=args.frequency_scale,
        )
        raw, val = fit_supervised(
            raw,
            data[0],
            ys[0],
            data[1],
            ys[1],
            task=task,
            seed=args.seed,
            patience=args.probe_patience,
            max_seconds=args.probe_budget,
        )
        test = None if args.no_test else score(predict(raw, data[2]), ys[2], task)
        record("mlp_raw", val, test, time.time() - t)

    results["mlp_tjepa"], vals["mlp_tjepa"], results["sec_per_epoch"] = None, None, None
    vals["tjepa_rankme"] = None
    tjepa_epochs = ft_score = head = None
    if "tjepa" not in args.skip:
        # T-JEPA pre-training on the training split, then an MLP on frozen embeddings.
        torch.manual_seed(args.seed)
        tjepa = build_tjepa(args).materialize(pre)
        sec, ep = pretrain(
            tjepa,
            data[0],
            epochs=args.tjepa_epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            weight_decay=args.weight_decay,
            seed=args.seed,
            name="tjepa",
            time_budget=args.pretrain_budget,
        )
        results["sec_per_epoch"] = round(sec, 2)
        t = time.time()
        tjepa.eval()
        feats = [embeddings(tjepa.embed, d) for d in data]
        # label-free score of the same validation rows the probe is judged on (docs/selection.md)
        vals["tjepa_rankme"] = round(float(rankme(feats[1])), 2)
        if args.probe_input == "embedding+raw":
            feats = [
                torch.cat([f, raw_features(d, pre.cardinalities)], 1) for f, d in zip(feats, data)
            ]
        val, test, head = probe(
            feats, ys, task, out_dim, args.seed, heads, args.probe_budget, args.probe_patience
        )
        record("mlp_tjepa", val, test, time.time() - t)
        tjepa_epochs = ep
        ft_score = ft_val = None
        if args.finetune_budget > 0 and "finetune" not in args.skip:
            # Fine-tuning a copy of the T-JEPA encoder with the MLP head (reported in details).
            t = time.time()
            torch.manual_seed(args.seed)
            tuned = FineTuneModel(tjepa, out_dim, pooling=args.pooling)
            tuned, ft_val = fit_supervised(
                tuned,
                data[0],
                ys[0],
                data[1],
                ys[1],
                task=task,
                lr=args.finetune_lr,
                patience=5,
                seed=args.seed,
                max_seconds=args.finetune_budget,
            )
            if not args.no_test:
                ft_score = score(predict(tuned, data[2]), ys[2], task)
            record("finetune_tjepa", ft_val, ft_score, time.time() - t)
            ft_score = results.pop("finetune_tjepa")

    results["mlp_scarf"], vals["mlp_scarf"] = None, None
    ep_s = sec_s = None
    if "scarf" not in args.skip:
        feats, sec_s, ep_s = scarf_probe(args, pre, data, ys, task, out_dim, record, "scarf")
        if args.scarf_pseudo_clusters:
            gsimclr_scarf(args, pre, data, ys, task, out_dim, feats[0], record)

    results["mlp_vime"], vals["mlp_vime"] = None, None
    ep_v = sec_v = None
    if "vime" not in args.skip:
        _, sec_v, ep_v = vime_probe(args, pre, data, ys, task, out_dim, record)

    results["metric"] = "accuracy" if task == "classification" else "rmse"
    results["val"] = vals
    results["details"] = {
        "train_rows": len(fit_df),
        "val_rows": len(val_df),
        "test_rows": None if args.no_test else len(test_df),
        "tjepa_epochs": tjepa_epochs,
        "finetune_tjepa": ft_score,
        "scarf_epochs": ep_s,
        "scarf_sec_per_epoch": None if sec_s is None else round(sec_s, 2),
        "vime_epochs": ep_v,
        "vime_sec_per_epoch": None if sec_v is None else round(sec_v, 2),
        "probe_head": head,
        "args": {
            k: "inf" if isinstance(v, float) and math.isinf(v) else v
            for k, v in vars(args).items()
            if k not in ("csv", "test_csv")
        },
        "total_sec": round(time.time() - t0, 1),
    }
    print(json.dumps(results))


if __name__ == "__main__":
    main()
