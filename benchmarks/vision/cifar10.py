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
stops early when ``--time-budget`` minutes are spent. Progress goes to stderr; the last stdout
line is one JSON object (keys method, epochs, knn_acc, linear_acc, images_per_sec, ...).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import sys
import time

import torch
from torch import nn

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


def build_method(name: str, encoder: nn.Module, head: int) -> nn.Module:
    """The benchmark's settings per method (CPU-sized heads; see the plugin README)."""
    if name == "simclr":
        return SimCLR(encoder=encoder, hidden_dim=head, projection_dim=128, temperature=0.5)
    if name == "dcl":
        return SimCLR(
            encoder=encoder, hidden_dim=head, projection_dim=128, temperature=0.1, loss="dcl"
        )
    if name in ("byol", "directpred"):
        predictor = "directpred" if name == "directpred" else "mlp"
        return BYOL(encoder, hidden_dim=head, projection_dim=256, predictor=predictor)
    if name in ("barlow", "mixed_barlow"):
        return BarlowTwins(
            encoder, hidden_dim=head, projection_dim=head, mixup=name == "mixed_barlow"
        )
    if name == "vicreg":
        return VICReg(encoder, hidden_dim=head, projection_dim=head)
    if name == "mae":
        return MAE(encoder)
    if name == "ijepa":
        return IJEPA(encoder)
    raise ValueError(f"unknown method {name!r}; choose from {METHODS}")


@torch.no_grad()
def features(method: nn.Module, loader: torch.utils.data.DataLoader, device: str) -> tuple:
    method.eval()
    xs, ys = [], []
    for images, labels in loader:
        xs.append(method.embed(images.to(device)).float().cpu())
        ys.append(labels)
    method.train()
    return torch.cat(xs), torch.cat(ys)


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
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--optimizer", choices=("adamw", "sgd"), default="adamw")
    p.add_argument("--lr", type=float, default=None, help="default 2e-3 (AdamW), 0.06·B/256 (SGD)")
    p.add_argument("--weight-decay", type=float, default=None, help="1e-4 AdamW, 5e-4 SGD")
    p.add_argument("--time-budget", type=float, default=20.0, help="pre-training minutes")
    p.add_argument("--threads", type=int, default=None)
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
        seed=args.seed,
    )
    t0 = time.time()
    train_probe, test_probe = data.probe_dataloaders()
    train_loader = data.train_dataloader()
    n_train = len(train_probe.dataset)
    log(
        f"decoded {n_train} train / {len(test_probe.dataset)} test images "
        f"in {time.time() - t0:.0f}s"
    )

    raw_train = tuple(torch.cat(t) for t in zip(*((x.flatten(1), y) for x, y in train_probe)))
    raw_test = tuple(torch.cat(t) for t in zip(*((x.flatten(1), y) for x, y in test_probe)))
    raw_knn = knn(raw_train, raw_test)
    log(f"raw-pixel kNN {raw_knn:.4f}")

    torch.manual_seed(args.seed)
    method = build_method(args.method, build_encoder(backbone), args.head_dim).to(args.device)
    t0 = time.time()
    random_knn = knn(
        features(method, train_probe, args.device), features(method, test_probe, args.device)
    )
    log(f"random-encoder kNN {random_knn:.4f} ({time.time() - t0:.0f}s for features)")

    params = [q for q in method.parameters() if q.requires_grad]
    groups = [
        {"params": [q for q in params if q.ndim > 1]},
        {"params": [q for q in params if q.ndim <= 1], "weight_decay": 0.0},
    ]
    if args.optimizer == "adamw":
        lr = args.lr or 2e-3
        wd = 1e-4 if args.weight_decay is None else args.weight_decay
        opt = torch.optim.AdamW(groups, lr=lr, weight_decay=wd)
    else:
        lr = args.lr or 0.06 * args.batch_size / 256
        wd = 5e-4 if args.weight_decay is None else args.weight_decay
        opt = torch.optim.SGD(groups, lr=lr, momentum=0.9, weight_decay=wd)
    total = args.epochs * len(train_loader)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(1.0, s / max(1, total))))
    )
    step, seen, epochs_done, budget = 0, 0, 0.0, args.time_budget * 60
    start = time.time()
    method.train()
    for epoch in range(args.epochs):
        batches = 0
        for images, labels in train_loader:
            batches += 1
            out = method.training_losses((images.to(args.device), labels))
            opt.zero_grad(set_to_none=True)
            out["loss"].backward()
            opt.step()
            sched.step()
            step += 1
            if hasattr(method, "update_teacher"):  # EMA targets (BYOL, I-JEPA)
                method.update_teacher(step, total)
            seen += images.shape[0]
            if step % 10 == 0:
                rate = seen / (time.time() - start)
                log(
                    f"epoch {epoch} step {step}/{total} loss {out['loss'].item():.4f} "
                    f"{rate:.1f} img/s"
                )
            if time.time() - start > budget:
                break
        epochs_done = epoch + batches / len(train_loader)
        if time.time() - start > budget:
            log(f"time budget of {args.time_budget} min reached after {epochs_done:.2f} epochs")
            break
    train_time = time.time() - start
    images_per_sec = seen / train_time

    train_f = features(method, train_probe, args.device)
    test_f = features(method, test_probe, args.device)
    knn_acc = knn(train_f, test_f)
    linear_acc = linear_probe(train_f[0], train_f[1], test_f[0], test_f[1]).accuracy
    log(f"kNN {knn_acc:.4f} linear {linear_acc:.4f}")
    result = {
        "method": args.method,
        "epochs": round(epochs_done, 3),
        "knn_acc": round(knn_acc, 4),
        "linear_acc": round(linear_acc, 4),
        "images_per_sec": round(images_per_sec, 2),
        "random_encoder_knn_acc": round(random_knn, 4),
        "raw_pixel_knn_acc": round(raw_knn, 4),
        "peak_memory_mb": round(peak_memory_mb(args.device), 1),
        "steps": step,
        "pretrain_seconds": round(train_time, 1),
        "backbone": backbone,
        "train_images": n_train,
        "test_images": len(test_probe.dataset),
        "batch_size": args.batch_size,
        "optimizer": args.optimizer,
        "lr": lr,
        "weight_decay": wd,
        "epochs_requested": args.epochs,
        "time_budget_min": args.time_budget,
        "threads": torch.get_num_threads(),
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
