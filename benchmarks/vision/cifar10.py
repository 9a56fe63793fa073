"""Pre-train a vision method on (a subset of) CIFAR-10, then kNN / linear-probe the test set.

    python benchmarks/vision/cifar10.py --data-root ../shared/data/cifar10-jpg --method simclr \
        --epochs 20 --train-subset 10000

Data: ``DIR/train/<class>/*.jpg`` and ``DIR/test/<class>/*.jpg`` (ImageFolder layout), decoded once
into memory. Protocol: features are the encoder outputs of un-augmented images; kNN is the weighted
vote of Wu et al. 2018 (k = 200, cosine, temperature 0.1, :func:`selfsup.metrics.knn_accuracy`),
the bank is the pre-training images; the linear probe is :func:`selfsup.metrics.linear_probe`
(L-BFGS logistic regression on standardised features) fitted on the same images. For reference
the script also reports kNN on raw pixels and on the randomly initialised encoder (same seed, same
architecture). Pre-training is a hand-written loop equivalent to ``selfsup fit`` (AdamW or SGD,
cosine schedule, no weight decay on ndim <= 1 parameters, EMA teachers after every step) that
stops early when ``--time-budget`` minutes (or ``--max-steps`` steps) are spent. Progress goes to
stderr; the last stdout line is one JSON object (keys method, epochs, knn_acc, linear_acc,
images_per_sec, ...).

Speed options (all keep the method identical): the train/test images are decoded once into a
uint8 tensor cache and batches are gathered from it in one indexing operation (``--loader
batched``); both views are drawn by the method's batched on-device augmentation (``--augment
device``, not per-image ``torchvision.transforms.v2`` pipelines); ResNet/conv encoders and their
inputs are channels_last (``--channels-last``); evaluation features run under
``torch.inference_mode``. ``--threads`` sets torch's intra-op threads: on a shared CPU whose cores
are already busy, 1 thread is faster than 2 (each parallel region waits for a descheduled worker).
Throughput slice without evaluation:

    python benchmarks/vision/cifar10.py --data-root ../shared/data/cifar10-jpg --method simclr \
        --epochs 1 --train-subset 1280 --batch-size 64 --max-steps 6 --skip-eval --threads 1
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import resource
import sys
import time
from collections.abc import Iterable

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from selfsup.metrics import knn_accuracy, linear_probe
from selfsup_vision.data import ImageFolderDataModule
from selfsup_vision.encoders import ResNetEncoder, SmallConvNet, ViTEncoder
from selfsup_vision.methods import BYOL, IJEPA, MAE, BarlowTwins, SimCLR, VICReg

METHODS = (
    "simclr",
    "dcl",
    "byol",
    "directpred",
    "barlow",
    "mixed_barlow",
    "vicreg",
    "mae",
    "ijepa",
)
VIT_METHODS = ("mae", "ijepa")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def build_encoder(backbone: str) -> nn.Module:
    if backbone == "resnet18":
        return ResNetEncoder(18, cifar_stem=True)
    if backbone == "small_convnet":
        return SmallConvNet(width=32, out_dim=128)
    if backbone == "vit_tiny":
        return ViTEncoder(image_size=32, patch_size=4, hidden_size=192, num_layers=6, num_heads=3)
    raise ValueError(f"unknown backbone {backbone!r}")


def build_method(
    name: str,
    encoder: nn.Module,
    head: int,
    temperature: float | None = None,
    momentum: str | None = None,
    views: str | None = None,
    projection_dim: int | None = None,
    barlow_lambda: float | None = None,
) -> nn.Module:
    """The benchmark's settings per method (CPU-sized heads; see the plugin README).

    ``views``, ``projection_dim`` and ``barlow_lambda`` override the method's augmentation preset,
    its projector output size and the Barlow Twins off-diagonal weight; None keeps the defaults.
    """
    kw: dict = {} if views is None else {"views": views}
    if name in ("simclr", "dcl", *VIT_METHODS) and views is not None:
        raise ValueError(f"--views applies to the BYOL/Barlow/VICReg family, not {name!r}")
    if name in VIT_METHODS and projection_dim is not None:
        raise ValueError(f"--projection-dim applies to the joint-embedding methods, not {name!r}")
    if name in ("barlow", "mixed_barlow") and barlow_lambda is not None:
        kw["lambda_offdiag"] = barlow_lambda
    elif barlow_lambda is not None:
        raise ValueError(f"--barlow-lambda applies to barlow / mixed_barlow, not {name!r}")
    if name == "simclr":
        t = 0.5 if temperature is None else temperature
        d = projection_dim or 128
        return SimCLR(encoder=encoder, hidden_dim=head, projection_dim=d, temperature=t)
    if name == "dcl":
        t = 0.1 if temperature is None else temperature
        d = projection_dim or 128
        return SimCLR(encoder=encoder, hidden_dim=head, projection_dim=d, temperature=t, loss="dcl")
    if name in ("byol", "directpred"):
        predictor = "directpred" if name == "directpred" else "mlp"
        if momentum is not None:
            kw["momentum"] = momentum
        d = projection_dim or 256
        return BYOL(encoder, hidden_dim=head, projection_dim=d, predictor=predictor, **kw)
    if name in ("barlow", "mixed_barlow"):
        d = projection_dim or head
        mixup = name == "mixed_barlow"
        return BarlowTwins(encoder, hidden_dim=head, projection_dim=d, mixup=mixup, **kw)
    if name == "vicreg":
        return VICReg(encoder, hidden_dim=head, projection_dim=projection_dim or head, **kw)
    if name == "mae":
        return MAE(encoder)
    if name == "ijepa":
        return IJEPA(encoder)
    raise ValueError(f"unknown method {name!r}; choose from {METHODS}")


def to_device(images: Tensor, device: str, channels_last: bool) -> Tensor:
    """A batch on ``device``, in the encoder's memory format."""
    images = images.to(device, non_blocking=True)
    return images.contiguous(memory_format=torch.channels_last) if channels_last else images


def autocast(device: str, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast for the network (losses keep float32: :mod:`selfsup.precision`)."""
    if precision == "32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)


def features(
    method: nn.Module,
    loader: Iterable,
    device: str,
    channels_last: bool = False,
    precision: str = "32",
) -> tuple[Tensor, Tensor]:
    """Evaluation features of un-augmented images (``inference_mode``: no autograd records)."""
    method.eval()
    xs, ys = [], []
    with torch.inference_mode(), autocast(device, precision):
        for images, labels in loader:
            xs.append(method.embed(to_device(images, device, channels_last)).float().cpu())
            ys.append(labels)
    method.train()
    return torch.cat(xs), torch.cat(ys)


class PerImage(Dataset):
    """The per-image path (one ``__getitem__`` and one float conversion per image), for timing."""

    def __init__(self, images: Tensor, labels: Tensor) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        return self.images[i].float() / 255.0, int(self.labels[i])


def train_batches(data: ImageFolderDataModule, loader: str, seed: int) -> Iterable:
    """Pre-training batches: the data module's loader or the per-image/per-file paths."""
    if loader == "batched":  # uint8 cache, one gather + one float conversion per batch
        return data.train_dataloader()
    if loader == "per-image":
        images, labels = data.cached_tensors("train")
        gen = torch.Generator().manual_seed(seed)
        return DataLoader(
            PerImage(images, labels), data.batch_size, shuffle=True, drop_last=True, generator=gen
        )
    raise ValueError(f"unknown loader {loader!r}")


def param_groups(method: nn.Module, lr: float, predictor_lr_mult: float = 1.0) -> list[dict]:
    """Optimiser groups: no weight decay on ndim <= 1 parameters; the predictor's learning rate
    (BYOL/DirectPred) scaled by ``predictor_lr_mult``."""
    predictor = getattr(method, "predictor", None)
    if predictor_lr_mult != 1.0 and not isinstance(predictor, nn.Module):
        name = type(method).__name__
        raise ValueError(f"--predictor-lr-mult needs a method with a predictor, not {name}")
    in_predictor = {id(q) for q in predictor.parameters()} if predictor is not None else set()
    groups = []
    for is_predictor in (False, True):
        scale = predictor_lr_mult if is_predictor else 1.0
        params = [
            q
            for q in method.parameters()
            if q.requires_grad and (id(q) in in_predictor) == is_predictor
        ]
        groups += [
            {"params": [q for q in params if q.ndim > 1], "lr": lr * scale},
            {"params": [q for q in params if q.ndim <= 1], "lr": lr * scale, "weight_decay": 0.0},
        ]
    return [g for g in groups if g["params"]]


def knn(train: tuple, test: tuple) -> float:
    return knn_accuracy(train[0], train[1], test[0], test[1], k=200, temperature=0.1)


def peak_memory_mb(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data-root", required=True, help="CIFAR-10 folder with train/ and test/")
    p.add_argument("--method", choices=METHODS, required=True)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--train-subset", type=int, default=None, help="pre-train on N images")
    p.add_argument("--test-subset", type=int, default=None, help="evaluate on N test images")
    p.add_argument("--backbone", default=None, help="resnet18 (default), small_convnet, vit_tiny")
    p.add_argument("--head-dim", type=int, default=1024, help="projector hidden/output size")
    p.add_argument(
        "--projection-dim",
        type=int,
        default=None,
        help="projector output size (default 128 SimCLR/DCL, 256 BYOL, --head-dim otherwise)",
    )
    p.add_argument(
        "--views", default=None, help="augmentation preset, e.g. simclr-cifar, byol-cifar"
    )
    p.add_argument(
        "--barlow-lambda", type=float, default=None, help="Barlow Twins off-diagonal weight"
    )
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--optimizer", choices=("adamw", "sgd"), default="adamw")
    p.add_argument("--lr", type=float, default=None, help="default 2e-3 (AdamW), 0.06·B/256 (SGD)")
    p.add_argument("--weight-decay", type=float, default=None, help="1e-4 AdamW, 5e-4 SGD")
    p.add_argument("--time-budget", type=float, default=20.0, help="pre-training minutes")
    p.add_argument("--max-steps", type=int, default=None, help="stop after N optimiser steps")
    p.add_argument(
        "--skip-eval", action="store_true", help="pre-training throughput only (no kNN/probe)"
    )
    p.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="NHWC encoder weights and inputs (default on; faster convolutions on CPU)",
    )
    p.add_argument(
        "--loader",
        choices=("batched", "per-image"),
        default="batched",
        help="batched: gather + convert whole batches from the uint8 cache (default); "
        "per-image: one __getitem__ per image (the old path, for comparison)",
    )
    p.add_argument(
        "--augment",
        choices=("device", "views"),
        default="device",
        help="device: the method draws both views in one batched call (default); views: "
        "per-image torchvision.transforms.v2 pipelines in the loader (decodes JPEGs each epoch)",
    )
    p.add_argument(
        "--predictor-lr-mult",
        type=float,
        default=1.0,
        help="BYOL/DirectPred: the predictor's learning rate as a multiple of --lr",
    )
    p.add_argument("--temperature", type=float, default=None, help="SimCLR/DCL (default 0.5 / 0.1)")
    p.add_argument(
        "--ema-momentum",
        default=None,
        help="BYOL/DirectPred EMA schedule, e.g. 'cosine:0.99:1.0' (default), 'constant:0.99'",
    )
    p.add_argument(
        "--no-baselines",
        action="store_true",
        help="skip the raw-pixel and random-encoder kNN (same for every method and seed)",
    )
    p.add_argument("--threads", type=int, default=None)
    p.add_argument(
        "--precision",
        choices=("32", "bf16"),
        default="32",
        help="bf16: bf16 autocast for encoders and heads (2x on CPUs with AVX512-BF16)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--output", default=None, help="also write the JSON here")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    backbone = args.backbone or ("vit_tiny" if args.method in VIT_METHODS else "resnet18")
    root, name = os.path.split(os.path.abspath(args.data_root.rstrip("/")))
    n_test = args.test_subset or 10**9
    data = ImageFolderDataModule(
        root=name,
        data_root=root,
        batch_size=args.batch_size,
        train_subset=args.train_subset,
        probe_train_size=10**9,
        probe_val_size=n_test,
        in_memory=True,
        mode="views" if args.augment == "views" else "images",
        seed=args.seed,
    )
    t0 = time.time()
    images, _ = data.cached_tensors("train")  # decoded once, shared by training and probes
    n_train = images.shape[0]
    log(f"decoded {n_train} train images in {time.time() - t0:.1f}s")
    channels_last = args.channels_last and backbone != "vit_tiny"

    torch.manual_seed(args.seed)
    method = build_method(
        args.method,
        build_encoder(backbone),
        args.head_dim,
        args.temperature,
        args.ema_momentum,
        args.views,
        args.projection_dim,
        args.barlow_lambda,
    )
    method = method.to(args.device)
    if channels_last:
        method = method.to(memory_format=torch.channels_last)
    raw_knn = random_knn = None
    if not args.skip_eval:
        t0 = time.time()
        train_probe, test_probe = data.probe_dataloaders()
        log(f"decoded {len(test_probe.dataset)} test images in {time.time() - t0:.1f}s")
    if not (args.skip_eval or args.no_baselines):
        raw_train = tuple(torch.cat(t) for t in zip(*((x.flatten(1), y) for x, y in train_probe)))
        raw_test = tuple(torch.cat(t) for t in zip(*((x.flatten(1), y) for x, y in test_probe)))
        raw_knn = knn(raw_train, raw_test)
        log(f"raw-pixel kNN {raw_knn:.4f}")
        t0 = time.time()
        random_knn = knn(
            features(method, train_probe, args.device, channels_last, args.precision),
            features(method, test_probe, args.device, channels_last, args.precision),
        )
        log(f"random-encoder kNN {random_knn:.4f} ({time.time() - t0:.0f}s for features)")

    train_loader = data.train_dataloader() if args.augment == "views" else None
    if train_loader is None:
        train_loader = train_batches(data, args.loader, args.seed)
    if args.optimizer == "adamw":
        lr = args.lr or 2e-3
        wd = 1e-4 if args.weight_decay is None else args.weight_decay
    else:
        lr = args.lr or 0.06 * args.batch_size / 256
        wd = 5e-4 if args.weight_decay is None else args.weight_decay
    groups = param_groups(method, lr, args.predictor_lr_mult)
    if args.optimizer == "adamw":
        opt = torch.optim.AdamW(groups, lr=lr, weight_decay=wd)
    else:
        opt = torch.optim.SGD(groups, lr=lr, momentum=0.9, weight_decay=wd)
    total = args.epochs * len(train_loader)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(1.0, s / max(1, total))))
    )
    step, seen, epochs_done, budget = 0, 0, 0.0, args.time_budget * 60
    max_steps = args.max_steps or total
    seen_after_first, first_step_end = 0, None
    start, cpu_start = time.time(), time.process_time()
    method.train()
    for epoch in range(args.epochs):
        batches = 0
        for batch in train_loader:
            batches += 1
            if args.augment == "views":
                n = batch["views"][0].shape[0]
                views = [to_device(v, args.device, channels_last) for v in batch["views"]]
                with autocast(args.device, args.precision):
                    out = method.training_losses({"views": views, "labels": batch["labels"]})
            else:
                x, y = batch
                n = x.shape[0]
                with autocast(args.device, args.precision):
                    out = method.training_losses((x.to(args.device, non_blocking=True), y))
            opt.zero_grad(set_to_none=True)
            out["loss"].backward()
            opt.step()
            sched.step()
            step += 1
            if hasattr(method, "update_teacher"):  # EMA targets (BYOL, I-JEPA)
                method.update_teacher(step, total)
            seen += n
            if first_step_end is None:
                first_step_end = time.time()
            else:
                seen_after_first += n
            if step % 10 == 0:
                rate = seen / (time.time() - start)
                log(
                    f"epoch {epoch} step {step}/{total} loss {out['loss'].item():.4f} "
                    f"{rate:.1f} img/s"
                )
            if time.time() - start > budget or step >= max_steps:
                break
        epochs_done = epoch + batches / len(train_loader)
        if time.time() - start > budget:
            log(f"time budget of {args.time_budget} min reached after {epochs_done:.2f} epochs")
            break
        if step >= max_steps:
            break
    end = time.time()
    train_time = end - start
    cpu_per_image = (time.process_time() - cpu_start) / max(1, seen)
    images_per_sec = seen / train_time
    steady = seen_after_first / (end - first_step_end) if seen_after_first else images_per_sec
    log(
        f"{images_per_sec:.2f} img/s ({steady:.2f} img/s after the first step), "
        f"{cpu_per_image:.3f} CPU s per image"
    )

    knn_acc = linear_acc = None
    if not args.skip_eval:
        train_f = features(method, train_probe, args.device, channels_last, args.precision)
        test_f = features(method, test_probe, args.device, channels_last, args.precision)
        knn_acc = round(knn(train_f, test_f), 4)
        linear_acc = round(linear_probe(train_f[0], train_f[1], test_f[0], test_f[1]).accuracy, 4)
        log(f"kNN {knn_acc:.4f} linear {linear_acc:.4f}")
    result = {
        "method": args.method,
        "epochs": round(epochs_done, 3),
        "knn_acc": knn_acc,
        "linear_acc": linear_acc,
        "images_per_sec": round(images_per_sec, 2),
        "images_per_sec_after_first_step": round(steady, 2),
        "cpu_seconds_per_image": round(cpu_per_image, 4),
        "random_encoder_knn_acc": None if random_knn is None else round(random_knn, 4),
        "raw_pixel_knn_acc": None if raw_knn is None else round(raw_knn, 4),
        "peak_memory_mb": round(peak_memory_mb(args.device), 1),
        "steps": step,
        "pretrain_seconds": round(train_time, 1),
        "backbone": backbone,
        "train_images": n_train,
        "test_images": None if args.skip_eval else len(test_probe.dataset),
        "batch_size": args.batch_size,
        "optimizer": args.optimizer,
        "lr": lr,
        "weight_decay": wd,
        "epochs_requested": args.epochs,
        "time_budget_min": args.time_budget,
        "channels_last": channels_last,
        "loader": "views" if args.augment == "views" else args.loader,
        "augment": args.augment,
        "temperature": getattr(method, "temperature", None),
        "ema_momentum": args.ema_momentum,
        "predictor_lr_mult": args.predictor_lr_mult,
        "head_dim": args.head_dim,
        "projection_dim": args.projection_dim,
        "views": args.views,
        "barlow_lambda": args.barlow_lambda,
        "threads": torch.get_num_threads(),
        "precision": args.precision,
        "device": args.device if args.device == "cpu" else torch.cuda.get_device_name(),
        "cpu": platform.processor() or platform.machine(),
        "seed": args.seed,
    }
    line = json.dumps(result)
    if args.output:
        with open(args.output, "w") as f:
            f.write(line + "\n")
    print(line)


if __name__ == "__main__":
    main()
