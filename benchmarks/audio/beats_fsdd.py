"""BEATs-style pre-training on the Free Spoken Digit Dataset (CPU), speaker-independent probes.

    python benchmarks/audio/beats_fsdd.py --data-root /path/to/data               # LOSO (headline)
    python benchmarks/audio/beats_fsdd.py --data-root /path/to/data --protocol take

FSDD has six speakers. The dataset's own split (takes 0-4 test, 5-49 train) puts every test
speaker in the training set, so its 0.97-0.98 probe accuracies measure memory of those speakers
as much as digits. The headline protocol is therefore leave-one-speaker-out (``--protocol loso``,
the default): for each speaker, iteration 1 (BEATs' random-projection tokenizer) is pre-trained
from scratch on the OTHER five speakers' 2,500 clips only (no labels; the held-out speaker's
audio is never seen), a logistic-regression probe (core's L-BFGS ``selfsup.metrics.linear_probe``)
is fitted on the five speakers' labelled clips and scored on the held-out speaker's 500 clips;
the result is the mean over the six speakers, with every speaker's accuracy in the JSON.

Choices are made per fold on an inner validation speaker, never on the test speaker: the next
training speaker in alphabetical order (cyclically) is held out, the probe is fitted on the
remaining four and each candidate feature view is scored on it; the best view is refitted on all
five. Candidate views: raw fbanks -- time mean + std per bin (``meanstd``) or ``--segments``
time-segment means (``seg4``, :func:`selfsup_audio.pooling.segment_mean`); encoders -- last
block or layer average, per-band means (``last_band``, ``mean_band``). Keys:
``loso_raw_fbank_acc`` (mean + std pooling, fixed), ``loso_raw_fbank_best_acc`` (view chosen on
the inner speaker), ``loso_random_init_acc``, ``loso_iter1_acc`` (``--warp 0``) or
``loso_iter1_warp_acc`` (``--warp w``: the encoder sees a VTLP frequency warp by
``U[1-w, 1+w]`` of each clip and predicts the clean clip's labels), each with
``*_per_speaker``; ``choices`` holds the inner-validation scores and the chosen views.
``--take-split`` adds the by-take split with the same pre-training (``take_split_*``).
``--folds`` runs some folds only (to spread them over processes) and ``--merge`` joins such runs.

``--protocol take`` is the earlier benchmark, unchanged: pre-training (iteration 1 with BEATs'
random-projection tokenizer, tokenizer distillation from the iteration-1 encoder, iteration 2
with the trained tokenizer) sees the training takes 5-49 only (2,700 clips, no labels); every
probe is fitted on frozen embeddings of takes 5-49 and scored on takes 0-4 (300 clips).
Baselines: mean+std pooled raw fbanks and the randomly initialised encoder. Prints progress on
stderr and ONE JSON line last on stdout: raw_fbank_acc, random_init_acc, iter1_acc, iter2_acc,
sec_per_epoch (mean over all pre-training epochs) and details. Its defaults (chosen on a
validation split of the training takes, see plugins/audio/README.md): encoder ``mini`` (128-d x
4 blocks, 0.8 M parameters), 4 x 16 patches, iteration 1 for 20 epochs, a ``tiny`` tokenizer for
3 epochs, iteration 2 (warm-started from iteration 1) for 14 epochs, band pooling, one intra-op
thread. Probe features (``--embed-layers auto``): the last block's output or the layer average,
whichever probes better on 10 % of the training takes.
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
import torch.nn.functional as F

from selfsup.metrics import linear_probe
from selfsup_audio.augment import random_frequency_warp, utterance_cmvn
from selfsup_audio.data import BucketBatchSampler, FbankCollate, FSDDDataModule
from selfsup_audio.data.fsdd import parse_fsdd_name
from selfsup_audio.frontends.fbank import pad_features
from selfsup_audio.methods import AudioDINO, BEATs, BEATsTokenizerTraining
from selfsup_audio.pooling import band_mean, segment_mean
from selfsup_audio.tokenizers import KMeansTokenizer


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
    warp: float = 0.0,
) -> list[float]:
    """AdamW + linear warm-up + cosine decay over ``epochs`` of length-bucketed batches; with
    ``warp`` the encoder sees a frequency-warped view and predicts the clean view's labels."""
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
    warp_gen = torch.Generator().manual_seed(args.seed + 7)
    method.train()
    for epoch in range(epochs):
        start = time.perf_counter()
        sums: dict[str, float] = {}
        n = 0
        for idx in sampler:
            batch = collate(idx)
            if warp > 0:
                batch["target_fbank"] = batch["fbank"]
                batch["fbank"], _ = random_frequency_warp(
                    batch["fbank"], low=1 - warp, high=1 + warp, generator=warp_gen
                )
            for group in opt.param_groups:
                group["lr"] = lr_at(step, total, warmup, lr)
            out = method.training_losses(batch)
            opt.zero_grad(set_to_none=True)
            out["loss"].backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            step += 1
            n += 1
            method.update_teacher(step, total)  # EMA teachers and training progress (DINO)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", default=None, help="folder holding fsdd/ ($SELFSUP_DATA)")
    parser.add_argument("--size", default="mini")
    parser.add_argument(
        "--method",
        choices=["beats", "dino"],
        default="beats",
        help="take protocol: BEATs' iterations (default) or AudioDINO for --epochs1 epochs",
    )
    parser.add_argument("--dino-global-frames", type=int, default=48)
    parser.add_argument("--dino-local-frames", type=int, default=16)
    parser.add_argument("--dino-local-crops", type=int, default=4)
    parser.add_argument("--dino-prototypes", type=int, default=1024)
    parser.add_argument("--patch-time", type=int, default=4)
    parser.add_argument("--patch-freq", type=int, default=16)
    parser.add_argument("--epochs1", type=int, default=20)
    parser.add_argument("--tok-epochs", type=int, default=3)
    parser.add_argument("--epochs2", type=int, default=14)
    parser.add_argument("--iter2-init", choices=["iter1", "scratch"], default="iter1")
    parser.add_argument(
        "--iter2-targets",
        choices=["distilled", "kmeans"],
        default="distilled",
        help="take: iteration 2's labels from BEATs' distilled tokenizer or, HuBERT-style, from "
        "k-means clusters of iteration 1's block outputs (KMeansTokenizer)",
    )
    parser.add_argument("--kmeans-clusters", type=int, default=500, help="HuBERT's 500")
    parser.add_argument(
        "--kmeans-layer", type=int, default=1, help="0-based block of iteration 1 to cluster"
    )
    parser.add_argument("--kmeans-rows", type=int, default=200_000, help="patches clustered")
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
    parser.add_argument(
        "--protocol",
        choices=["loso", "take"],
        default="loso",
        help="loso: leave-one-speaker-out (headline); take: the by-take split (takes 0-4 test)",
    )
    parser.add_argument(
        "--warp",
        type=float,
        default=0.0,
        help="speaker perturbation in pre-training: the encoder sees a VTLP frequency warp by "
        "U[1-w, 1+w] and predicts the clean clip's labels (0: off)",
    )
    parser.add_argument(
        "--segments", type=int, default=4, help="time segments of raw-fbank pooling"
    )
    parser.add_argument(
        "--encoder-segments",
        type=int,
        default=0,
        help="also offer the probe time-segment pooling of encoder outputs (0: band means only)",
    )
    parser.add_argument(
        "--input-cmvn",
        choices=["none", "mean", "meanvar"],
        default="none",
        help="per-utterance normalisation of every fbank before anything else",
    )
    parser.add_argument(
        "--transductive",
        action="store_true",
        help="also pre-train once on all 3,000 clips (held-out speakers' audio included) and "
        "report loso_transductive_* next to the strict numbers",
    )
    parser.add_argument(
        "--take-split",
        action="store_true",
        help="loso: also pre-train on takes 5-49, score takes 0-4 (take_split_*)",
    )
    parser.add_argument(
        "--folds",
        default="",
        help="comma-separated held-out speakers (default: all six; 'none': no fold), to spread "
        "the folds over processes; --merge joins their JSON files",
    )
    parser.add_argument(
        "--speaker-norm",
        action="store_true",
        help="z-score probe features per speaker, the held-out speaker's own unlabelled clips "
        "included (transductive: keys loso_speaker_norm_*)",
    )
    parser.add_argument(
        "--no-baselines",
        dest="baselines",
        action="store_false",
        help="skip the raw-fbank and random-encoder probes (when another run reports them)",
    )
    parser.add_argument(
        "--merge",
        nargs="+",
        default=None,
        metavar="JSON",
        help="join the JSON files of runs over disjoint folds (and a --folds none --take-split "
        "run) into one result; nothing is trained",
    )
    return parser


def main() -> None:
    args = build_parser().parse_args()
    torch.set_num_threads(args.threads)
    if args.merge:
        emit(merge(args.merge), args)
    elif args.protocol == "loso":
        run_loso(args)
    else:
        run_take(args)


def emit(results: dict[str, Any], args: argparse.Namespace) -> None:
    line = json.dumps(results)
    if args.out:
        with open(args.out, "w") as f:
            f.write(line + "\n")
    print(line)


def code_usage(tokenizer: Any, x_tr: list[torch.Tensor], size: int, results: dict) -> None:
    """Perplexity and number of the codes a tokenizer gives the training clips' patches."""
    with torch.no_grad():
        codes = torch.cat(
            [tokenizer(*pad_features([f], min_frames=16, multiple_of=16)).flatten() for f in x_tr]
        )
    codes = codes[codes >= 0]
    p = torch.bincount(codes, minlength=size).double() / codes.numel()
    results["tokenizer_perplexity"] = float(torch.exp(-(p[p > 0] * p[p > 0].log()).sum()))
    results["tokenizer_codes_used"] = int((p > 0).sum())
    log(
        f"tokenizer: perplexity {results['tokenizer_perplexity']:.1f}, "
        f"{results['tokenizer_codes_used']} codes used on the training set"
    )


def distilled_targets(
    iter1_path: str,
    x_tr: list[torch.Tensor],
    y_tr: torch.Tensor,
    args: argparse.Namespace,
    tok_path: str,
    results: dict,
) -> list[float]:
    """BEATs' tokenizer distilled from iteration 1, saved for iteration 2; epoch times."""
    tok = BEATsTokenizerTraining(
        teacher_checkpoint=iter1_path,
        size=args.tok_size,
        codebook_size=args.codebook_size,
        estimator_depth=args.estimator_depth,
    )
    times = train(tok, x_tr, y_tr, args, args.tok_epochs, args.tok_lr, "tokenizer")
    code_usage(tok.tokenizer.eval(), x_tr, args.codebook_size, results)
    torch.save(tok.state_dict(), tok_path)
    return times


def kmeans_targets(
    iter1: BEATs, x_tr: list[torch.Tensor], args: argparse.Namespace, tok_path: str, results: dict
) -> list[float]:
    """HuBERT's next-iteration labels: k-means of iteration 1's block ``--kmeans-layer``
    outputs on the training clips (their real patches), saved for iteration 2. Its time goes
    to ``results["kmeans_seconds"]``, not to the epoch times."""
    start = time.perf_counter()
    tok = KMeansTokenizer(
        iter1.patch,
        args.kmeans_clusters,
        source="encoder",
        encoder=iter1.encoder,
        layer=args.kmeans_layer,
        seed=args.seed,
    )
    batches = (
        pad_features(x_tr[i : i + 64], min_frames=16, multiple_of=16)
        for i in range(0, len(x_tr), 64)
    )
    tok.fit(batches, max_rows=args.kmeans_rows)
    code_usage(tok.eval(), x_tr, args.kmeans_clusters, results)
    tok.save(tok_path)
    seconds = time.perf_counter() - start
    results["kmeans_seconds"] = seconds
    log(f"k-means targets: {args.kmeans_clusters} clusters of block {args.kmeans_layer} "
        f"({seconds:.0f}s)")  # fmt: skip
    return []


def run_take(args: argparse.Namespace) -> None:
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
    if args.method == "dino":
        run_take_dino(args, x_tr, y_tr, x_te, y_te, sets, results, t0)
        return
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

    times = train(iter1, x_tr, y_tr, args, args.epochs1, args.lr, "iter1", sets, args.warp)
    choose_layers(iter1, args, sets, "iter1", results)
    results["iter1_acc"] = probe(embed_all(iter1, x_tr), y_tr, embed_all(iter1, x_te), y_te)
    log(f"iteration 1 probe: {results['iter1_acc']:.4f}")

    workdir = tempfile.TemporaryDirectory()
    # chain the stages through checkpoint files, as the `selfsup fit` configs do
    iter1_path = os.path.join(workdir.name, "iter1.pt")
    tok_path = os.path.join(workdir.name, "tokenizer.pt")
    torch.save(iter1.state_dict(), iter1_path)
    if args.iter2_targets == "kmeans":
        times += kmeans_targets(iter1, x_tr, args, tok_path, results)
    else:
        times += distilled_targets(iter1_path, x_tr, y_tr, args, tok_path, results)

    torch.manual_seed(args.seed + 1)
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
    times += train(iter2, x_tr, y_tr, args, args.epochs2, args.lr, "iter2", sets, args.warp)
    choose_layers(iter2, args, sets, "iter2", results)
    results["iter2_acc"] = probe(embed_all(iter2, x_tr), y_tr, embed_all(iter2, x_te), y_te)
    log(f"iteration 2 probe: {results['iter2_acc']:.4f}")

    results["sec_per_epoch"] = sum(times) / len(times)
    results["total_sec"] = time.perf_counter() - t0
    results["config"] = vars(args)
    emit(results, args)


def run_take_dino(
    args: argparse.Namespace,
    x_tr: list[torch.Tensor],
    y_tr: torch.Tensor,
    x_te: list[torch.Tensor],
    y_te: torch.Tensor,
    sets: tuple,
    results: dict[str, Any],
    t0: float,
) -> None:
    """The take protocol for AudioDINO: random-init and pre-trained probes, same trunk."""
    torch.manual_seed(args.seed)
    method = AudioDINO(
        size=args.size,
        patch=(args.patch_time, args.patch_freq),
        global_frames=args.dino_global_frames,
        local_frames=args.dino_local_frames,
        num_local_crops=args.dino_local_crops,
        num_prototypes=args.dino_prototypes,
        teacher_temperature=0.07,
        teacher_temperature_warmup=0.3,
        pooling=args.pooling,
    ).eval()
    choose_layers(method, args, sets, "random_init", results)
    results["random_init_acc"] = probe(embed_all(method, x_tr), y_tr, embed_all(method, x_te), y_te)
    log(f"random-init encoder probe: {results['random_init_acc']:.4f}")
    times = train(method, x_tr, y_tr, args, args.epochs1, args.lr, "dino", sets)
    choose_layers(method, args, sets, "dino", results)
    results["dino_acc"] = probe(embed_all(method, x_tr), y_tr, embed_all(method, x_te), y_te)
    log(f"DINO probe: {results['dino_acc']:.4f}")
    results["sec_per_epoch"] = sum(times) / len(times)
    results["total_sec"] = time.perf_counter() - t0
    results["config"] = vars(args)
    emit(results, args)


# ----------------------------------------------------------------------------------------------
# leave-one-speaker-out


def load_all(
    args: argparse.Namespace,
) -> tuple[list[torch.Tensor], torch.Tensor, list[str], list[int]]:
    """Every FSDD clip: fbanks, digits, speaker names, takes (optionally CMVN-ed per clip)."""
    data = FSDDDataModule(data_root=args.data_root, val_fraction=0.0, patch_frames=args.patch_time)
    data.setup()
    feats: list[torch.Tensor] = []
    digits: list[int] = []
    speakers: list[str] = []
    takes: list[int] = []
    for split in ("train", "test"):
        part = data.splits[split]
        feats += part.features
        for name in part.names:
            digit, speaker, take = parse_fsdd_name(name)  # type: ignore[misc]
            digits.append(digit)
            speakers.append(speaker)
            takes.append(take)
    if args.input_cmvn != "none":
        feats = [utterance_cmvn(f[None], variance=args.input_cmvn == "meanvar")[0] for f in feats]
    return feats, torch.tensor(digits), speakers, takes


def raw_views(features: list[torch.Tensor], segments: int) -> dict[str, torch.Tensor]:
    """Raw-fbank probe features: time mean + std per bin, and ``segments`` time-segment means."""
    seg = []
    for f in features:
        mask = torch.zeros(1, f.shape[0], dtype=torch.bool)
        seg.append(segment_mean(f[None], mask, segments)[0])
    return {"meanstd": pooled_fbank(features), f"seg{segments}": torch.stack(seg)}


@torch.no_grad()
def encoder_views(
    method: BEATs, features: list[torch.Tensor], segments: int, batch: int = 128
) -> dict[str, torch.Tensor]:
    """Probe features of an encoder from one pass: {last block, layer mean} x {band means,
    and with ``segments > 0`` time-segment means of the band-averaged tokens}."""
    enc = method.encoder
    bands = method.num_mel_bins // enc.patch[1]
    order = sorted(range(len(features)), key=lambda i: features[i].shape[0])
    out: dict[str, list[tuple[list[int], torch.Tensor]]] = {}
    for s in range(0, len(order), batch):
        idx = order[s : s + batch]
        fbank, mask = pad_features([features[i] for i in idx], min_frames=16, multiple_of=16)
        tokens, pad = enc.embed_patches(fbank, mask)
        layers = enc.encode_layers(tokens, pad)
        hidden = {
            "last": layers[-1],
            "mean": torch.stack([F.layer_norm(h, h.shape[-1:]) for h in layers]).mean(0),
        }
        for layer, h in hidden.items():
            out.setdefault(f"{layer}_band", []).append((idx, band_mean(h, pad, bands)))
            if segments:
                out.setdefault(f"{layer}_seg{segments}", []).append(
                    (idx, segment_mean(h, pad, segments, bands))
                )
    views = {}
    for key, chunks in out.items():
        z = torch.empty(len(features), chunks[0][1].shape[1])
        for idx, part in chunks:
            z[torch.tensor(idx)] = part
        views[key] = z
    return views


def loso_probe(
    views: dict[str, torch.Tensor],
    y: torch.Tensor,
    spk: torch.Tensor,
    test: int,
    val: int,
) -> dict[str, Any]:
    """Pick the view with the best probe trained on the four speakers other than ``test`` and
    ``val``, scored on ``val``; refit it on all five and score the held-out ``test`` speaker."""
    inner_tr = (spk != test) & (spk != val)
    inner_val = spk == val
    scores = {
        k: probe(v[inner_tr], y[inner_tr], v[inner_val], y[inner_val]) for k, v in views.items()
    }
    best = max(scores, key=lambda k: scores[k])  # first maximum: ties keep the earlier view
    tr, te = spk != test, spk == test
    acc = probe(views[best][tr], y[tr], views[best][te], y[te])
    return {"acc": acc, "view": best, "val": scores}


def speaker_standardise(
    views: dict[str, torch.Tensor], spk: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Every feature z-scored within each speaker, the held-out one included: test-time
    adaptation on that speaker's unlabelled clips, i.e. transductive (reported apart)."""
    out = {}
    for key, x in views.items():
        z = x.clone()
        for s in spk.unique():
            m = spk == s
            z[m] = (x[m] - x[m].mean(0)) / (x[m].std(0) + 1e-3)
        out[key] = z
    return out


def fixed_probe(x: torch.Tensor, y: torch.Tensor, spk: torch.Tensor, test: int) -> float:
    tr, te = spk != test, spk == test
    return probe(x[tr], y[tr], x[te], y[te])


def new_encoder(args: argparse.Namespace) -> BEATs:
    torch.manual_seed(args.seed)
    return BEATs(
        size=args.size,
        patch=(args.patch_time, args.patch_freq),
        codebook_size=args.codebook_size,
        predictor_dim=args.predictor_dim,
        predictor_depth=args.predictor_depth,
        pooling=args.pooling,
    ).eval()


def pretrain(
    args: argparse.Namespace, features: list[torch.Tensor], labels: torch.Tensor, name: str
) -> tuple[BEATs, list[float]]:
    method = new_encoder(args)
    times = train(method, features, labels, args, args.epochs1, args.lr, name, warp=args.warp)
    return method, times


def summarise(results: dict[str, Any], key: str, per: dict[str, float]) -> None:
    results[f"{key}_per_speaker"] = per
    results[f"{key}_acc"] = sum(per.values()) / len(per)
    log(
        f"{key}: mean {results[f'{key}_acc']:.4f} "
        + " ".join(f"{k}={v:.3f}" for k, v in per.items())
    )


def run_loso(args: argparse.Namespace) -> None:
    """Leave-one-speaker-out: for each of the six speakers, pre-train on the other five
    speakers' clips only, choose the probe features on an inner validation speaker (the next
    training speaker in alphabetical order, cyclically), fit the probe on the five speakers'
    clips and score the held-out speaker's 500 clips."""
    t0 = time.perf_counter()
    feats, y, speakers, takes = load_all(args)
    names = sorted(set(speakers))
    spk = torch.tensor([names.index(s) for s in speakers])
    log(f"features: {len(feats)} clips of {len(names)} speakers ({time.perf_counter() - t0:.1f}s)")
    if args.folds == "none":  # e.g. only the take split
        folds: list[int] = []
    elif args.folds:
        folds = [names.index(f) for f in args.folds.split(",")]
    else:
        folds = list(range(len(names)))
    pre = "loso_speaker_norm" if args.speaker_norm else "loso"
    iter1_key = f"{pre}_iter1_warp" if args.warp > 0 else f"{pre}_iter1"
    results: dict[str, Any] = {"speakers": names}

    def norm(views: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return speaker_standardise(views, spk) if args.speaker_norm else views

    raw = norm(raw_views(feats, args.segments)) if args.baselines else {}
    per: dict[str, dict[str, float]] = {}
    chosen: dict[str, dict[str, Any]] = {}

    def record(key: str, speaker: str, value: float) -> None:
        per.setdefault(key, {})[speaker] = value

    rand_views = {}
    if args.baselines and folds:
        rand_views = norm(encoder_views(new_encoder(args), feats, args.encoder_segments))
    trans_views = None
    if args.transductive:
        tt = time.perf_counter()
        trans, _ = pretrain(args, feats, y, "transductive iter1")
        trans_views = norm(encoder_views(trans, feats, args.encoder_segments))
        results["transductive_pretrain_sec"] = time.perf_counter() - tt
    fold_sec: dict[str, float] = {}
    epoch_times: list[float] = []

    def finish(complete: bool) -> None:
        # written after every fold too, so a run stopped early keeps the folds it finished
        for key, values in per.items():
            summarise(results, key, values)
        results["choices"] = chosen
        results["fold_sec"] = fold_sec
        results["sec_per_epoch"] = sum(epoch_times) / max(1, len(epoch_times))
        results["total_sec"] = time.perf_counter() - t0
        results["complete"] = complete
        results["config"] = vars(args)
        if complete:
            emit(results, args)
        elif args.out:
            with open(args.out, "w") as f:
                f.write(json.dumps(results) + "\n")

    for test in folds:
        tf = time.perf_counter()
        name = names[test]
        val = (test + 1) % len(names)
        log(f"fold {name}: inner validation speaker {names[val]}")
        if args.baselines:
            record(f"{pre}_raw_fbank", name, fixed_probe(raw["meanstd"], y, spk, test))
            for key, views in ((f"{pre}_raw_fbank_best", raw), (f"{pre}_random_init", rand_views)):
                r = loso_probe(views, y, spk, test, val)
                record(key, name, r["acc"])
                chosen.setdefault(key, {})[name] = {"view": r["view"], "val": r["val"]}
        if args.epochs1 > 0:
            train_idx = [i for i in range(len(feats)) if spk[i] != test]
            model, times = pretrain(
                args, [feats[i] for i in train_idx], y[train_idx], f"iter1 (without {name})"
            )
            epoch_times += times
            views = norm(encoder_views(model, feats, args.encoder_segments))
            r = loso_probe(views, y, spk, test, val)
            record(iter1_key, name, r["acc"])
            chosen.setdefault(iter1_key, {})[name] = {"view": r["view"], "val": r["val"]}
        if trans_views is not None:
            r = loso_probe(trans_views, y, spk, test, val)
            record(f"{pre}_transductive_iter1", name, r["acc"])
            chosen.setdefault(f"{pre}_transductive_iter1", {})[name] = {
                "view": r["view"],
                "val": r["val"],
            }
        fold_sec[name] = time.perf_counter() - tf
        log(
            f"fold {name} done in {fold_sec[name]:.0f}s: "
            + ", ".join(f"{k}={v[name]:.3f}" for k, v in per.items())
        )
        finish(False)

    if args.take_split:
        take_split(args, feats, y, takes, results)
    finish(True)


def take_split(
    args: argparse.Namespace,
    feats: list[torch.Tensor],
    y: torch.Tensor,
    takes: list[int],
    results: dict[str, Any],
) -> None:
    """The by-take split (takes 0-4 test, 5-49 train; same speakers on both sides) with the
    LOSO pipeline's pre-training; probe features chosen on a seeded 10 % of the training takes."""
    tr = [i for i, t in enumerate(takes) if t >= 5]
    te = [i for i, t in enumerate(takes) if t <= 4]
    perm = torch.randperm(len(tr), generator=torch.Generator().manual_seed(args.seed)).tolist()
    cut = int(0.9 * len(tr))
    fit, val = [tr[i] for i in perm[:cut]], [tr[i] for i in perm[cut:]]
    tt = time.perf_counter()
    model, _ = pretrain(args, [feats[i] for i in tr], y[tr], "take-split iter1")
    for key, views in (
        ("take_split_raw_fbank_best", raw_views(feats, args.segments)),
        ("take_split_random_init", encoder_views(new_encoder(args), feats, args.encoder_segments)),
        ("take_split_iter1", encoder_views(model, feats, args.encoder_segments)),
    ):
        scores = {k: probe(v[fit], y[fit], v[val], y[val]) for k, v in views.items()}
        best = max(scores, key=lambda k: scores[k])
        results[f"{key}_acc"] = probe(views[best][tr], y[tr], views[best][te], y[te])
        results[f"{key}_view"] = best
        log(f"{key}: {results[f'{key}_acc']:.4f} ({best})")
    raw = pooled_fbank(feats)
    results["take_split_raw_fbank_acc"] = probe(raw[tr], y[tr], raw[te], y[te])
    results["take_split_sec"] = time.perf_counter() - tt


def merge(paths: list[str]) -> dict[str, Any]:
    """One LOSO result from runs over disjoint folds: per-speaker accuracies, choices and fold
    times are joined, means recomputed over the speakers each key has, scalars of the take
    split copied; every run's config is kept under ``runs``."""
    out: dict[str, Any] = {"speakers": None, "runs": []}
    per: dict[str, dict[str, float]] = {}
    choices: dict[str, dict[str, Any]] = {}
    fold_sec: dict[str, float] = {}
    epoch_sec: list[float] = []
    for path in paths:
        with open(path) as f:
            run = json.loads(f.readline())
        out["speakers"] = run["speakers"]
        for key, value in run.items():
            if key.endswith("_per_speaker"):
                for spk, acc in value.items():
                    if spk in per.setdefault(key[: -len("_per_speaker")], {}):
                        raise ValueError(f"{key} of {spk} appears in two runs ({path}).")
                    per[key[: -len("_per_speaker")]][spk] = acc
            elif key.startswith(("take_split_", "transductive_")):
                out[key] = value
        for key, value in run.get("choices", {}).items():
            choices.setdefault(key, {}).update(value)
        fold_sec.update(run.get("fold_sec", {}))
        if run.get("fold_sec"):
            epoch_sec.append(run["sec_per_epoch"])
        out["runs"].append(
            {"file": os.path.basename(path), "total_sec": run["total_sec"], "config": run["config"]}
        )
    order = out["speakers"]
    for key, values in per.items():
        summarise(out, key, {s: values[s] for s in order if s in values})
    out["choices"] = choices
    out["fold_sec"] = fold_sec
    out["sec_per_epoch"] = sum(epoch_sec) / max(1, len(epoch_sec))
    return out


if __name__ == "__main__":
    main()
