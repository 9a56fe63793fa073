"""COLA with independently speaker-perturbed views on FSDD, leave-one-speaker-out (CPU).

    python benchmarks/audio/cola_fsdd_loso.py --data-root DIR --view-warp 0.1   # COLA + warp
    python benchmarks/audio/cola_fsdd_loso.py --data-root DIR --view-warp 0     # plain COLA
    python benchmarks/audio/cola_fsdd_loso.py --merge a.json b.json --out all.json

``DIR`` is the folder holding ``fsdd/recordings``. The protocol is the one of
``beats_fsdd.py --protocol loso`` (whose fold and probe code this script imports, not copies):
for each of FSDD's six speakers, :class:`selfsup_audio.methods.COLA` is pre-trained from scratch
on the other five speakers' 2,500 clips only (no labels; the held-out speaker's audio is never
seen), core's L-BFGS ``linear_probe`` (wd 1e-4, 300 iterations) is fitted on the five speakers'
labelled clips and scored on the held-out speaker's 500; the headline is the mean over the six.

Speaker-invariant objective (``--view-warp a``): the two views of a clip are two random crops,
and each view's log-mel spectrogram is frequency-warped by its own factor from ``U[1-a, 1+a]``
(``COLA(view_warp=a)``, VTLP): the positive pair shares the words but not the formant scale, so
the contrastive loss rewards features that ignore the scale. ``--view-warp 0`` is plain COLA.

Every choice is made per fold on the inner validation speaker (the next training speaker in
alphabetical order, cyclically; ``beats_fsdd.loso_probe``): the probe is fitted on the other four
training speakers and each candidate view is scored on the inner speaker; the best is refitted
on all five and scored on the held-out speaker. Candidates for the pre-trained encoder: the
encoder output ``f`` or the projection ``g`` (``head(f)``) after each epoch in
``--select-epochs`` (``e{epoch}_f``, ``e{epoch}_g``). Baselines computed with the same front
end: raw log-mel time mean + std per band (``loso_raw_logmel_acc``, fixed view) and the randomly
initialised encoder (``loso_random_init_acc``, ``f`` or ``g`` chosen on the inner speaker).

Audio is read at FSDD's own 8 kHz. Training clips are cut (longer clips: a random
``--clip-samples`` window per epoch) or zero-padded (shorter clips, at a random offset) to
``--clip-samples``; COLA takes its two ``--crop-samples`` crops from that. Probe features are
those of each whole clip over its own samples (``COLA.embed`` with lengths, eval mode, no warp).
Prints progress on stderr and ONE JSON line last on stdout (``loso_cola_warp_acc`` or
``loso_cola_acc`` with ``*_per_speaker``, ``choices``, ``fold_sec``, ``sec_per_epoch``).
``--folds`` runs some folds only and ``--merge`` (``beats_fsdd.merge``) joins such runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # beats_fsdd.py, next to this

from beats_fsdd import (
    emit,
    fixed_probe,
    log,
    loso_probe,
    lr_at,
    merge,
    pooled_fbank,
    summarise,
)

from selfsup_audio.data import FSDDDataModule
from selfsup_audio.data.fsdd import parse_fsdd_name
from selfsup_audio.frontends import load_waveform
from selfsup_audio.methods import COLA


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", default=None, help="folder holding fsdd/ ($SELFSUP_DATA)")
    parser.add_argument("--view-warp", type=float, default=0.1, help="COLA(view_warp=...); 0: off")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument(
        "--select-epochs",
        default="",
        help="comma-separated epochs whose encoder is a probe candidate (default: half and all)",
    )
    parser.add_argument("--sample-rate", type=int, default=8000)
    parser.add_argument("--clip-samples", type=int, default=4800, help="training window")
    parser.add_argument("--crop-samples", type=int, default=4000, help="COLA crop (view)")
    parser.add_argument("--n-mels", type=int, default=40)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--feature-dim", type=int, default=512)
    parser.add_argument("--projection-dim", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=0, help="use N clips per speaker (smoke)")
    parser.add_argument("--out", default=None, help="also write the JSON line to this file")
    parser.add_argument(
        "--folds",
        default="",
        help="comma-separated held-out speakers (default: all six), to spread the folds over "
        "processes; --merge joins their JSON files",
    )
    parser.add_argument(
        "--no-baselines",
        dest="baselines",
        action="store_false",
        help="skip the raw log-mel and random-encoder probes (when another run reports them)",
    )
    parser.add_argument("--merge", nargs="+", default=None, metavar="JSON")
    return parser


def load_clips(args: argparse.Namespace) -> tuple[list[torch.Tensor], torch.Tensor, list[str]]:
    """Every FSDD clip as a mono waveform at ``--sample-rate``, its digit and its speaker."""
    folder = FSDDDataModule(data_root=args.data_root).directory()
    files = sorted(f for f in os.listdir(folder) if parse_fsdd_name(f) is not None)
    waves, digits, speakers = [], [], []
    kept: dict[str, int] = {}
    for name in files:
        digit, speaker, _ = parse_fsdd_name(name)  # type: ignore[misc]
        if args.limit and kept.get(speaker, 0) >= args.limit:
            continue
        kept[speaker] = kept.get(speaker, 0) + 1
        waves.append(load_waveform(os.path.join(folder, name), args.sample_rate))
        digits.append(digit)
        speakers.append(speaker)
    return waves, torch.tensor(digits), speakers


def new_method(args: argparse.Namespace, view_warp: float) -> COLA:
    torch.manual_seed(args.seed)
    sr = args.sample_rate
    return COLA(
        sample_rate=sr,
        crop_samples=args.crop_samples,
        n_fft=round(0.032 * sr),  # 32 ms FFT, 25 ms window, 10 ms hop
        win_length=round(0.025 * sr),
        hop_length=round(0.010 * sr),
        n_mels=args.n_mels,
        f_min=0.0,
        f_max=None,
        width=args.width,
        feature_dim=args.feature_dim,
        projection_dim=args.projection_dim,
        view_warp=view_warp,
    ).eval()


def windows(waves: list[torch.Tensor], length: int, gen: torch.Generator) -> torch.Tensor:
    """``(B, length)``: a random window of each longer clip, each shorter clip zero-padded at a
    random offset."""
    out = torch.zeros(len(waves), length)
    for row, w in enumerate(waves):
        n = w.shape[0]
        shift = int(torch.randint(0, abs(n - length) + 1, (1,), generator=gen))
        if n >= length:
            out[row] = w[shift : shift + length]
        else:
            out[row, shift : shift + n] = w
    return out


@torch.no_grad()
def cola_views(method: COLA, waves: list[torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Probe candidates of one encoder: ``f`` (encoder output) and ``g = head(f)`` of each whole
    clip over its own samples, eval mode (no warp)."""
    method.eval()
    f = torch.cat([method.embed(w[None]) for w in waves])
    return {f"{prefix}f": f, f"{prefix}g": method.head(f)}


def pretrain(
    args: argparse.Namespace, waves: list[torch.Tensor], all_waves: list[torch.Tensor], name: str
) -> tuple[dict[str, torch.Tensor], list[float], list[dict[str, float]]]:
    """COLA from scratch on ``waves`` (AdamW, 10 % warm-up + cosine); returns the probe
    candidates of ``all_waves`` after each ``--select-epochs`` epoch, epoch times and losses."""
    method = new_method(args, args.view_warp)
    params = list(method.parameters())
    opt = torch.optim.AdamW(
        [
            {"params": [p for p in params if p.ndim > 1]},
            {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0},
        ],
        lr=args.lr,
        weight_decay=args.weight_decay,
    )
    steps_per_epoch = len(waves) // args.batch_size
    total = args.epochs * steps_per_epoch
    warmup = max(1, int(0.1 * total))
    gen = torch.Generator().manual_seed(args.seed)
    torch.manual_seed(args.seed + 1)  # COLA's crops and warps draw from the global RNG
    views: dict[str, torch.Tensor] = {}
    times: list[float] = []
    stats: list[dict[str, float]] = []
    step = 0
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        method.train()
        order = torch.randperm(len(waves), generator=gen).tolist()
        sums = {"loss": 0.0, "accuracy": 0.0}
        for b in range(steps_per_epoch):  # incomplete last batch dropped
            idx = order[b * args.batch_size : (b + 1) * args.batch_size]
            batch = windows([waves[i] for i in idx], args.clip_samples, gen)
            for group in opt.param_groups:
                group["lr"] = lr_at(step, total, warmup, args.lr)
            out = method.training_losses(batch)
            opt.zero_grad(set_to_none=True)
            out["loss"].backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            step += 1
            for k in sums:
                sums[k] += float(out[k].detach())
        times.append(time.perf_counter() - start)
        stats.append({k: v / steps_per_epoch for k, v in sums.items()})
        log(
            f"{name} epoch {epoch}/{args.epochs} {times[-1]:.1f}s "
            + " ".join(f"{k}={v:.4f}" for k, v in stats[-1].items())
        )
        if epoch in args.select:
            views.update(cola_views(method, all_waves, f"e{epoch}_"))
    return views, times, stats


def main() -> None:
    args = build_parser().parse_args()
    torch.set_num_threads(args.threads)
    if args.merge:
        emit(merge(args.merge), args)
        return
    if args.select_epochs:
        args.select = sorted({int(e) for e in args.select_epochs.split(",")})
    else:
        args.select = sorted({max(1, args.epochs // 2), args.epochs})
    if not args.select or min(args.select) < 1 or max(args.select) > args.epochs:
        raise SystemExit(f"--select-epochs must lie in 1..--epochs ({args.epochs}).")
    if args.crop_samples > args.clip_samples:
        raise SystemExit("--crop-samples must be <= --clip-samples.")
    run_loso(args)


def run_loso(args: argparse.Namespace) -> None:
    t0 = time.perf_counter()
    waves, y, speakers = load_clips(args)
    names = sorted(set(speakers))
    spk = torch.tensor([names.index(s) for s in speakers])
    log(f"audio: {len(waves)} clips of {len(names)} speakers ({time.perf_counter() - t0:.1f}s)")
    folds = [names.index(f) for f in args.folds.split(",")] if args.folds else range(len(names))
    key = "loso_cola_warp" if args.view_warp > 0 else "loso_cola"
    results: dict[str, Any] = {"speakers": names}
    per: dict[str, dict[str, float]] = {}
    chosen: dict[str, dict[str, Any]] = {}
    fold_sec: dict[str, float] = {}
    epoch_times: list[float] = []
    losses: dict[str, list[dict[str, float]]] = {}

    raw: torch.Tensor | None = None
    rand_views: dict[str, torch.Tensor] = {}
    if args.baselines:
        frontend = new_method(args, 0.0).frontend
        with torch.no_grad():
            raw = pooled_fbank([frontend(w[None])[0].T for w in waves])  # (frames, n_mels) each
        rand_views = cola_views(new_method(args, 0.0), waves, "")

    def finish(complete: bool) -> None:
        # written after every fold too, so a run stopped early keeps the folds it finished
        for k, values in per.items():
            summarise(results, k, values)
        results["choices"] = chosen
        results["train_stats"] = losses
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
        if raw is not None:
            per.setdefault("loso_raw_logmel", {})[name] = fixed_probe(raw, y, spk, test)
            r = loso_probe(rand_views, y, spk, test, val)
            per.setdefault("loso_random_init", {})[name] = r["acc"]
            chosen.setdefault("loso_random_init", {})[name] = {"view": r["view"], "val": r["val"]}
        train_idx = [i for i in range(len(waves)) if spk[i] != test]
        views, times, stats = pretrain(
            args, [waves[i] for i in train_idx], waves, f"COLA (without {name})"
        )
        epoch_times += times
        losses[name] = stats
        r = loso_probe(views, y, spk, test, val)
        per.setdefault(key, {})[name] = r["acc"]
        chosen.setdefault(key, {})[name] = {"view": r["view"], "val": r["val"]}
        fold_sec[name] = time.perf_counter() - tf
        log(
            f"fold {name} done in {fold_sec[name]:.0f}s: "
            + ", ".join(f"{k}={v[name]:.3f}" for k, v in per.items())
        )
        finish(False)
    finish(True)


if __name__ == "__main__":
    main()
