"""BEATs-style iterative pre-training on the Free Spoken Digit Dataset (CPU), linear probes.

    python benchmarks/audio/beats_fsdd.py --data-root /path/to/data

Protocol: fbanks (16 kHz, 128 Kaldi mel bins, AudioSet normalisation) are computed once and kept in
memory. Pre-training (iteration 1 with BEATs' random-projection tokenizer, tokenizer distillation
from the iteration-1 encoder, iteration 2 with the trained tokenizer) sees the training takes 5-49
only (2,700 clips, no labels). Every probe is core's L-BFGS logistic regression
(``selfsup.metrics.linear_probe``) fitted on frozen embeddings of takes 5-49 and scored on takes 0-4
(300 clips). Baselines: mean+std pooled raw fbanks and the randomly initialised encoder. Prints
progress on stderr and ONE JSON line last on stdout: raw_fbank_acc, random_init_acc, iter1_acc,
iter2_acc, sec_per_epoch (mean over all pre-training epochs) and details.

Defaults (chosen on a validation split of the training takes, see plugins/audio/README.md): encoder
``mini`` (128-d x 4 blocks, 0.8 M parameters), 4 x 16 patches, iteration 1 for 20 epochs, a ``tiny``
tokenizer for 3 epochs, iteration 2 (warm-started from iteration 1) for 14 epochs, band pooling, one
intra-op thread: about 12 CPU-minutes (19-26 minutes of wall time on a 2-core CPU shared with 4-6
other jobs, see the README).

Probe features (``--embed-layers auto``, the default): for every encoder (random, iteration 1,
iteration 2) the script fits the probe on 90 % of the training takes for the last block's output
and for the layer average (``BEATs(embed_layers="mean")``), scores both on the other 10 %, and
reports the test accuracy of the better one (ties keep the last block). The test takes never enter
the choice; the validation accuracies and the choice are in the JSON (``*_val``, ``*_layers``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from typing import Any

import torch

from selfsup.metrics import linear_probe
from selfsup_audio.data import BucketBatchSampler, FbankCollate, FSDDDataModule
from selfsup_audio.frontends.fbank import pad_features
from selfsup_audio.methods import BEATs, BEATsTokenizerTraining


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def lr_at(step: int, total: int, warmup: int, base: float) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def train(
    method: torch.nn.Module,
    features: list[torch.Tensor],
    labels: torch.Tensor,
    args: argparse.Namespace,
    epochs: int,
    lr: float,
    name: str,
    probe_sets: tuple | None = None,
) -> list[float]:
    """AdamW + linear warm-up + cosine decay over ``epochs`` of length-bucketed batches."""
    params = [p for p in method.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim > 1]
    no_decay = [p for p in params if p.ndim <= 1]
    opt = torch.optim.AdamW(
        [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=lr,
        betas=(0.9, 0.98),
        weight_decay=args.weight_decay,
    )
    sampler = BucketBatchSampler([f.shape[0] for f in features], args.batch_size, seed=args.seed)
    collate = FbankCollate(
        features,
        labels,
        args.patch_time,
        args.patch_time,
        max_frames=args.max_frames,
        generator=torch.Generator().manual_seed(args.seed),
    )
    total = epochs * len(sampler)
    warmup = max(1, int(0.1 * total))
    step, times = 0, []
    method.train()
    for epoch in range(epochs):
        start = time.perf_counter()
        sums: dict[str, float] = {}
        n = 0
        for idx in sampler:
            batch = collate(idx)
            for group in opt.param_groups:
                group["lr"] = lr_at(step, total, warmup, lr)
            out = method.training_losses(batch)
            opt.zero_grad(set_to_none=True)
            out["loss"].backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            step += 1
            n += 1
            for k, v in out.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
        times.append(time.perf_counter() - start)
        stats = " ".join(f"{k}={v / n:.4f}" for k, v in sums.items())
        log(f"{name} epoch {epoch + 1}/{epochs} {times[-1]:.1f}s {stats}")
        if probe_sets and args.probe_every and (epoch + 1) % args.probe_every == 0:
            method.eval()
            acc = probe(
                embed_all(method, probe_sets[0]),
                probe_sets[1],
                embed_all(method, probe_sets[2]),
                probe_sets[3],
            )
            log(f"{name} epoch {epoch + 1} validation probe {acc:.4f}")
            method.train()
    method.eval()
    return times


@torch.no_grad()
def embed_all(method: Any, features: list[torch.Tensor], batch: int = 128) -> torch.Tensor:
    order = sorted(range(len(features)), key=lambda i: features[i].shape[0])
    out = torch.empty(len(features), 0)
    chunks = []
    for s in range(0, len(order), batch):
        idx = order[s : s + batch]
        fbank, mask = pad_features([features[i] for i in idx], min_frames=16, multiple_of=16)
        chunks.append((idx, method.embed({"fbank": fbank, "padding_mask": mask})))
    out = torch.empty(len(features), chunks[0][1].shape[1])
    for idx, z in chunks:
        out[torch.tensor(idx)] = z
    return out


def choose_layers(
    method: Any, args: argparse.Namespace, sets: tuple, name: str, results: dict[str, Any]
) -> None:
    """Set ``method.embed_layers`` to ``--embed-layers`` or, for ``auto``, to the candidate with
    the best validation probe (90/10 split of the training takes; never the test takes)."""
    if args.embed_layers != "auto":
        method.embed_layers = args.embed_layers
        return
    val = {}
    for choice in ("last", "mean"):
        method.embed_layers = choice
        train_x, val_x = embed_all(method, sets[0]), embed_all(method, sets[2])
        val[choice] = probe(train_x, sets[1], val_x, sets[3])
    best = max(val, key=lambda k: val[k])  # first maximum: ties keep "last"
    method.embed_layers = best
    results[f"{name}_val"] = val
    results[f"{name}_layers"] = best
    log(f"{name} validation probes {val} -> embed_layers={best!r}")


def pooled_fbank(features: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack([torch.cat([f.mean(0), f.std(0, unbiased=False)]) for f in features])


def probe(
    train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor
) -> float:
    result = linear_probe(
        train_x.double(), train_y, test_x.double(), test_y, epochs=300, weight_decay=1e-4
    )
    return result.accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", default=None, help="folder holding fsdd/ ($SELFSUP_DATA)")
    parser.add_argument("--size", default="mini")
    parser.add_argument("--patch-time", type=int, default=4)
    parser.add_argument("--patch-freq", type=int, default=16)
    parser.add_argument("--epochs1", type=int, default=20)
    parser.add_argument("--tok-epochs", type=int, default=3)
    parser.add_argument("--epochs2", type=int, default=14)
    parser.add_argument("--iter2-init", choices=["iter1", "scratch"], default="iter1")
    parser.add_argument("--tok-size", default="tiny")
    parser.add_argument("--estimator-depth", type=int, default=2)
    parser.add_argument("--pooling", choices=["mean", "band"], default="band")
    parser.add_argument("--embed-layers", choices=["last", "mean", "auto"], default="auto")
    parser.add_argument("--predictor-dim", type=int, default=64)
    parser.add_argument("--predictor-depth", type=int, default=1)
    parser.add_argument("--probe-every", type=int, default=0, help="probe every N epochs (tuning)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--tok-lr", type=float, default=5e-4)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--max-frames", type=int, default=128)
    parser.add_argument("--codebook-size", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=0, help="use N training clips (smoke)")
    parser.add_argument("--out", default=None, help="also write the JSON line to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()

    data = FSDDDataModule(data_root=args.data_root, val_fraction=0.0, patch_frames=args.patch_time)
    data.setup()
    train_split, test_split = data.splits["train"], data.splits["test"]
    x_tr, y_tr = train_split.features, train_split.labels
    x_te, y_te = test_split.features, test_split.labels
    if args.limit:  # smoke runs of the whole pipeline
        x_tr, y_tr, x_te, y_te = x_tr[: args.limit], y_tr[: args.limit], x_te[:50], y_te[:50]
    log(f"features: {len(x_tr)} train / {len(x_te)} test clips ({time.perf_counter() - t0:.1f}s)")

    # tuning probes (--probe-every) never see the test takes: 90/10 split of the training takes
    perm = torch.randperm(len(x_tr), generator=torch.Generator().manual_seed(args.seed)).tolist()
    cut = int(0.9 * len(perm))
    sets = (
        [x_tr[i] for i in perm[:cut]],
        y_tr[perm[:cut]],
        [x_tr[i] for i in perm[cut:]],
        y_tr[perm[cut:]],
    )
    results: dict[str, Any] = {}
    results["raw_fbank_acc"] = probe(pooled_fbank(x_tr), y_tr, pooled_fbank(x_te), y_te)
    log(f"raw fbank mean+std probe: {results['raw_fbank_acc']:.4f}")

    patch = (args.patch_time, args.patch_freq)
    torch.manual_seed(args.seed)
    iter1 = BEATs(
        size=args.size,
        patch=patch,
        codebook_size=args.codebook_size,
        predictor_dim=args.predictor_dim,
        predictor_depth=args.predictor_depth,
        pooling=args.pooling,
    ).eval()
    choose_layers(iter1, args, sets, "random_init", results)
    results["random_init_acc"] = probe(embed_all(iter1, x_tr), y_tr, embed_all(iter1, x_te), y_te)
    log(f"random-init encoder probe: {results['random_init_acc']:.4f}")

    times = train(iter1, x_tr, y_tr, args, args.epochs1, args.lr, "iter1", sets)
    choose_layers(iter1, args, sets, "iter1", results)
    results["iter1_acc"] = probe(embed_all(iter1, x_tr), y_tr, embed_all(iter1, x_te), y_te)
    log(f"iteration 1 probe: {results['iter1_acc']:.4f}")

    workdir = tempfile.TemporaryDirectory()
    # chain the stages through checkpoint files, as the `selfsup fit` configs do
    iter1_path = os.path.join(workdir.name, "iter1.pt")
    tok_path = os.path.join(workdir.name, "tokenizer.pt")
    torch.save(iter1.state_dict(), iter1_path)
    tok = BEATsTokenizerTraining(
        teacher_checkpoint=iter1_path,
        size=args.tok_size,
        codebook_size=args.codebook_size,
        estimator_depth=args.estimator_depth,
    )
    times += train(tok, x_tr, y_tr, args, args.tok_epochs, args.tok_lr, "tokenizer")
    tokenizer = tok.tokenizer.eval()
    with torch.no_grad():
        codes = torch.cat(
            [tokenizer(*pad_features([f], min_frames=16, multiple_of=16)).flatten() for f in x_tr]
        )
    codes = codes[codes >= 0]
    p = torch.bincount(codes, minlength=args.codebook_size).double() / codes.numel()
    results["tokenizer_perplexity"] = float(torch.exp(-(p[p > 0] * p[p > 0].log()).sum()))
    results["tokenizer_codes_used"] = int((p > 0).sum())
    log(
        f"tokenizer: perplexity {results['tokenizer_perplexity']:.1f}, "
        f"{results['tokenizer_codes_used']} codes used on the training set"
    )

    torch.manual_seed(args.seed + 1)
    torch.save(tok.state_dict(), tok_path)
    iter2 = BEATs(
        size=args.size,
        patch=patch,
        tokenizer_checkpoint=tok_path,
        init_checkpoint=iter1_path if args.iter2_init == "iter1" else None,
        predictor_dim=args.predictor_dim,
        predictor_depth=args.predictor_depth,
        pooling=args.pooling,
    )
    workdir.cleanup()
    times += train(iter2, x_tr, y_tr, args, args.epochs2, args.lr, "iter2", sets)
    choose_layers(iter2, args, sets, "iter2", results)
    results["iter2_acc"] = probe(embed_all(iter2, x_tr), y_tr, embed_all(iter2, x_te), y_te)
    log(f"iteration 2 probe: {results['iter2_acc']:.4f}")

    results["sec_per_epoch"] = sum(times) / len(times)
    results["total_sec"] = time.perf_counter() - t0
    results["config"] = vars(args)
    line = json.dumps(results)
    if args.out:
        with open(args.out, "w") as f:
            f.write(line + "\n")
    print(line)


if __name__ == "__main__":
    main()
