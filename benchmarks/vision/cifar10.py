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

On a GPU, ``--loader device`` moves the uint8 cache onto the device once and gathers each batch
there (no per-step host gather, float conversion or host-to-device copy), and
``--cudnn-benchmark`` lets cuDNN pick the fastest convolution algorithms for the fixed shapes.

Validation and selection (never on the test folder). ``--val-size N`` holds out N images of the
training folder, drawn per class in proportion to the class sizes (stratified, seeded by
``--seed``): they are never pre-trained on and never in the kNN bank. With ``--train-subset`` the
pre-training images are the same seeded subset as without ``--val-size`` and the validation
images come from the rest of the folder; without it, pre-training uses the folder minus the
validation images. ``val_knn_acc`` is the kNN accuracy with the pre-training images as the bank
and the validation images as queries, ``val_rankme`` the RankMe (effective rank, arXiv 2210.02885)
of the validation images' encoder features, both of the final state, next to the test
``knn_acc`` / ``linear_acc`` (also of the final state, as before). ``--eval-every E`` evaluates
every E epochs and the final state: validation kNN, validation RankMe and test kNN, each recorded
in ``eval_history``. The selected state is the one with the highest validation kNN (the earliest
on ties): ``best_val_epoch``, ``best_val_knn_acc`` and ``test_knn_at_best_val``. The test kNN is
computed for every tracked state and recorded, but the selection never reads it;
``test_knn_best_over_evals`` (the best test kNN over the tracked states, i.e. selected on test)
is lightly's published CIFAR-10 number, kept only to compare with their table. Tracked
evaluations count against ``--time-budget`` but not against ``images_per_sec``.
``--fit-epochs-to-budget`` times the second epoch (and one tracked evaluation) and, when
``--epochs`` cannot finish within ``--time-budget``, shortens the cosine schedule to the epochs
that fit (logged; ``epochs_requested`` vs ``epochs_scheduled`` in the JSON), so the schedule
still ends at zero.
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

from selfsup.metrics import knn_accuracy, linear_probe, rankme
from selfsup_vision.data import ImageFiles, ImageFolderDataModule, TorchvisionDataModule
from selfsup_vision.encoders import ResNetEncoder, SmallConvNet, ViTEncoder
from selfsup_vision.methods import (
    BYOL,
    DINO,
    IBOT,
    IJEPA,
    MAE,
    BarlowTwins,
    MoCo,
    MoCoV3,
    SimCLR,
    SwAV,
    VICReg,
)

METHODS = (
    "simclr",
    "dcl",
    "byol",
    "directpred",
    "dino",
    "swav",
    "moco",
    "moco_v3",
    "supcon",
    "barlow",
    "mixed_barlow",
    "vicreg",
    "mae",
    "ijepa",
    "ibot",
)
VIT_METHODS = ("mae", "ijepa", "ibot")
MATRYOSHKA_METHODS = ("simclr", "dcl", "byol", "directpred", "barlow", "vicreg")


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
    matryoshka_dims: list[int] | None = None,
) -> nn.Module:
    """The benchmark's settings per method (CPU-sized heads; see the plugin README).

    ``views``, ``projection_dim`` and ``barlow_lambda`` override the method's augmentation preset,
    its projector output size and the Barlow Twins off-diagonal weight; None keeps the defaults.
    """
    kw: dict = {} if views is None else {"views": views}
    if matryoshka_dims:
        if name not in MATRYOSHKA_METHODS:
            raise ValueError(f"--matryoshka-dims applies to {MATRYOSHKA_METHODS}, not {name!r}")
        kw["matryoshka_dims"] = matryoshka_dims
    if name in ("simclr", "dcl", "supcon", "mae", "ijepa") and views is not None:
        raise ValueError(f"--views applies to the BYOL/Barlow/VICReg family, not {name!r}")
    if name in ("mae", "ijepa") and projection_dim is not None:
        raise ValueError(f"--projection-dim applies to the joint-embedding methods, not {name!r}")
    if name in ("barlow", "mixed_barlow") and barlow_lambda is not None:
        kw["lambda_offdiag"] = barlow_lambda
    elif barlow_lambda is not None:
        raise ValueError(f"--barlow-lambda applies to barlow / mixed_barlow, not {name!r}")
    if name == "simclr":
        t = 0.5 if temperature is None else temperature
        d = projection_dim or 128
        return SimCLR(encoder=encoder, hidden_dim=head, projection_dim=d, temperature=t, **kw)
    if name == "dcl":
        t = 0.1 if temperature is None else temperature
        d = projection_dim or 128
        return SimCLR(
            encoder=encoder, hidden_dim=head, projection_dim=d, temperature=t, loss="dcl", **kw
        )
    if name in ("byol", "directpred"):
        predictor = "directpred" if name == "directpred" else "mlp"
        if momentum is not None:
            kw["momentum"] = momentum
        d = projection_dim or 256
        return BYOL(encoder, hidden_dim=head, projection_dim=d, predictor=predictor, **kw)
    if name == "dino":
        # CIFAR-sized DINO (solo-learn's CIFAR layout: 4,096 prototypes with learned scales),
        # 4 local crops of 16 px, teacher temperature 0.04 -> 0.07 over the first 30 % of the
        # steps, the EMA schedule the BYOL rows use
        return DINO(
            encoder,
            hidden_dim=head,
            bottleneck_dim=projection_dim or 256,
            num_prototypes=4096,
            norm_last_layer=False,
            teacher_temperature=0.07,
            teacher_temperature_warmup=0.3,
            momentum=momentum or "cosine:0.99:1.0",
            num_local_crops=4,
            local_crop_size=16,
            **kw,
        )
    if name == "swav":
        # CIFAR-sized SwAV: the CPU head, 4 local crops of 16 px (one as DINO's rows), τ 0.1
        return SwAV(
            encoder,
            hidden_dim=head,
            projection_dim=projection_dim or 128,
            num_prototypes=3000,
            num_local_crops=4,
            local_crop_size=16,
            **kw,
        )
    if name == "moco":
        # the MoCo authors' CIFAR-10 demo: queue 4,096, τ 0.1, momentum 0.99, symmetric
        return MoCo(
            encoder,
            hidden_dim=head,
            projection_dim=projection_dim or 128,
            queue_size=4096,
            temperature=0.1 if temperature is None else temperature,
            momentum=momentum or "constant:0.99",
            symmetric=True,
            **kw,
        )
    if name == "moco_v3":
        # MoCo v3's CIFAR layout (solo-learn's): 256-d keys, τ 0.2, momentum 0.99 -> 1
        return MoCoV3(
            encoder,
            hidden_dim=head,
            projection_dim=projection_dim or 256,
            temperature=0.2 if temperature is None else temperature,
            momentum=momentum or "cosine:0.99:1.0",
            **kw,
        )
    if name == "supcon":
        # SupCon on the batch's labels over both views (supervised: a reference point)
        t = 0.1 if temperature is None else temperature
        d = projection_dim or 128
        return SimCLR(
            encoder=encoder, hidden_dim=head, projection_dim=d, temperature=t, loss="supcon"
        )
    if name in ("barlow", "mixed_barlow"):
        d = projection_dim or head
        mixup = name == "mixed_barlow"
        return BarlowTwins(encoder, hidden_dim=head, projection_dim=d, mixup=mixup, **kw)
    if name == "vicreg":
        return VICReg(encoder, hidden_dim=head, projection_dim=projection_dim or head, **kw)
    if name == "ibot":
        # DINO's CIFAR-sized head and schedules (the rows above), plus masked patch distillation
        return IBOT(
            encoder,
            hidden_dim=head,
            bottleneck_dim=projection_dim or 256,
            num_prototypes=4096,
            teacher_temperature=0.07,
            teacher_temperature_warmup=0.3,
            momentum=momentum or "cosine:0.99:1.0",
            **kw,
        )
    if name == "mae":
        return MAE(encoder)
    if name == "ijepa":
        return IJEPA(encoder)
    raise ValueError(f"unknown method {name!r}; choose from {METHODS}")


def int_list(text: str | None) -> list[int] | None:
    """``"8,16,32"`` -> ``[8, 16, 32]``; None or empty -> None."""
    return [int(t) for t in text.split(",") if t.strip()] if text else None


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
    on_device: bool = False,
) -> tuple[Tensor, Tensor]:
    """Evaluation features of un-augmented images (``inference_mode``: no autograd records).

    Features and labels come back on the CPU, or on ``device`` with ``on_device`` (the tracked
    evaluations, whose kNN then runs on the accelerator).
    """
    method.eval()
    xs, ys = [], []
    with torch.inference_mode(), autocast(device, precision):
        for images, labels in loader:
            x = method.embed(to_device(images, device, channels_last)).float()
            xs.append(x if on_device else x.cpu())
            ys.append(labels.to(x.device) if on_device else labels)
    method.train()
    return torch.cat(xs), torch.cat(ys)


def split_training_images(
    labels: list[int], train_subset: int | None, val_size: int, seed: int
) -> tuple[list[int], list[int]]:
    """``(pre-training, validation)`` indices into the training folder, sorted and disjoint.

    Pre-training: with ``train_subset < len(labels)``, the seeded subset
    :class:`~selfsup_vision.data.ImageFolderDataModule` draws (``randperm`` with ``seed``), so
    adding a validation split never changes which images pre-train; otherwise every image that
    is not a validation image. Validation: ``val_size`` images of the rest, stratified: class
    ``c`` gets ``val_size * n_c / n`` of them (``n_c`` of the ``n`` remaining images are of class
    ``c``; largest remainders round), each class's share drawn with a generator seeded
    ``seed + 2`` (``seed + 1`` is the data module's probe subsets).

    Raises:
        ValueError: ``val_size`` negative or larger than the images left for validation.
    """
    n = len(labels)
    if val_size < 0:
        raise ValueError(f"--val-size must be >= 0, got {val_size}")
    pretrain: list[int] | None = None
    if train_subset is not None and train_subset < n:
        gen = torch.Generator().manual_seed(seed)  # ImageFolderDataModule's subset, drawn alike
        pretrain = torch.randperm(n, generator=gen)[:train_subset].sort().values.tolist()
    taken = set(pretrain or ())
    pool = [i for i in range(n) if i not in taken]
    if val_size > len(pool):
        where = f"outside the {len(taken)}-image pre-training subset" if taken else "in the folder"
        raise ValueError(
            f"--val-size {val_size} needs {val_size} training images {where}, but only "
            f"{len(pool)} are there: lower --val-size or --train-subset."
        )
    by_class: dict[int, list[int]] = {}
    for i in pool:
        by_class.setdefault(labels[i], []).append(i)
    classes = sorted(by_class)
    exact = [val_size * len(by_class[c]) / max(1, len(pool)) for c in classes]
    quota = [math.floor(q) for q in exact]
    by_remainder = sorted(range(len(classes)), key=lambda j: (quota[j] - exact[j], j))
    for j in by_remainder[: val_size - sum(quota)]:
        quota[j] += 1
    gen = torch.Generator().manual_seed(seed + 2)
    val: list[int] = []
    for c, q in zip(classes, quota):
        members = by_class[c]
        val += [members[k] for k in torch.randperm(len(members), generator=gen)[:q].tolist()]
    if pretrain is None:
        held_out = set(val)
        pretrain = [i for i in range(n) if i not in held_out]
    return pretrain, sorted(val)


class FolderWithValidation(ImageFolderDataModule):
    """:class:`~selfsup_vision.data.ImageFolderDataModule` whose training folder also gives a
    validation split (:func:`split_training_images`); ``val_size=0`` is the plain module.

    The pre-training images (``train_dataloader``, the train probe, ``cached_tensors("train")``)
    never include a validation image; :meth:`validation_tensors` decodes the validation images.
    """

    def __init__(self, *args, val_size: int = 0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.val_size = val_size
        self.val_samples: list[tuple[str, int]] = []

    def datasets(self) -> tuple:
        train, test = super().datasets()
        if not self.val_size:
            return train, test
        labels = [y for _, y in train.samples]
        pretrain, val = split_training_images(labels, self.train_subset, self.val_size, self.seed)
        self.val_samples = [train.samples[i] for i in val]
        # Exactly train_subset images (or the folder minus validation): setup() subsets no more.
        return ImageFiles([train.samples[i] for i in pretrain]), test

    def validation_tensors(self) -> tuple[Tensor, Tensor]:
        """The validation images decoded once: uint8 ``(N, C, S, S)`` and labels ``(N,)``."""
        self.setup()
        if not self.val_samples:
            raise ValueError("no validation split: pass val_size > 0 (--val-size)")
        held_out = TorchvisionDataModule(
            ImageFiles(self.val_samples),
            image_size=self.image_size,
            in_memory=True,
            batch_size=self.batch_size,
            drop_last=False,
            seed=self.seed,
        )
        return held_out.cached_tensors("train")


class TensorBatches:
    """Re-iterable ``(float images in [0, 1], labels)`` batches of uint8 images, in order."""

    def __init__(self, images: Tensor, labels: Tensor, batch_size: int) -> None:
        self.images, self.labels, self.batch_size = images, labels, batch_size

    def __len__(self) -> int:
        return math.ceil(self.images.shape[0] / self.batch_size)

    def __iter__(self):
        for i in range(0, self.images.shape[0], self.batch_size):
            j = i + self.batch_size
            yield self.images[i:j].float().div_(255.0), self.labels[i:j]


class DeviceBatches:
    """``--loader device``: shuffled full batches gathered on the device from the uint8 cache.

    The cache moves to ``device`` once; each epoch draws a permutation from a CPU generator
    seeded ``seed`` and drops the incomplete last batch (as the data module's loader does).
    """

    def __init__(
        self, images: Tensor, labels: Tensor, batch_size: int, device: str, seed: int
    ) -> None:
        self.images, self.labels = images.to(device), labels.to(device)
        self.batch_size, self.device = batch_size, device
        self.gen = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return self.images.shape[0] // self.batch_size

    def __iter__(self):
        order = torch.randperm(self.images.shape[0], generator=self.gen).to(self.device)
        for i in range(len(self)):
            idx = order[i * self.batch_size : (i + 1) * self.batch_size]
            yield self.images[idx].float().div_(255.0), self.labels[idx]


def select_best(history: list[dict]) -> dict:
    """The tracked state with the highest validation kNN, the earliest on ties.

    Reads ``val_knn_acc`` only: the entries' ``test_knn_acc`` never takes part.
    """
    if not history:
        raise ValueError("no tracked evaluation to select from")
    return max(enumerate(history), key=lambda e: (e[1]["val_knn_acc"], -e[0]))[1]


class PerImage(Dataset):
    """The per-image path (one ``__getitem__`` and one float conversion per image), for timing."""

    def __init__(self, images: Tensor, labels: Tensor) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        return self.images[i].float() / 255.0, int(self.labels[i])


def train_batches(
    data: ImageFolderDataModule, loader: str, seed: int, device: str = "cpu"
) -> Iterable:
    """Pre-training batches: the data module's loader, the device-side gather or the
    per-image path."""
    if loader == "batched":  # uint8 cache, one gather + one float conversion per batch
        return data.train_dataloader()
    if loader == "device":
        data.setup("fit")  # fewer images than a batch raise here, as with the loader
        images, labels = data.cached_tensors("train")
        return DeviceBatches(images, labels, data.batch_size, device, seed)
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


class ProjectedEmbedding(nn.Module):
    """A method whose ``embed`` is its projector output (what a retrieval index holds)."""

    def __init__(self, method: nn.Module) -> None:
        super().__init__()
        if getattr(method, "projector", None) is None:
            raise ValueError(f"--prefix-knn needs a projector; {type(method).__name__} has none")
        self.method = method

    def embed(self, images: Tensor) -> Tensor:
        return self.method.projector(self.method.embed(images))


def prefix_knn(
    method: nn.Module,
    train_probe: Iterable,
    test_probe: Iterable,
    dims: list[int],
    device: str,
    channels_last: bool,
    precision: str,
) -> dict[str, float]:
    """kNN accuracy of the first ``d`` projector outputs, for each ``d`` in ``dims``.

    Matryoshka training (``--matryoshka-dims``) is meant to make the short prefixes usable on
    their own; :func:`selfsup.metrics.knn_accuracy` L2-normalises each prefix (cosine).
    """
    head = ProjectedEmbedding(method)
    train_z, train_y = features(head, train_probe, device, channels_last, precision)
    test_z, test_y = features(head, test_probe, device, channels_last, precision)
    if max(dims) > train_z.shape[1]:
        raise ValueError(f"--prefix-knn {dims}: the projector has {train_z.shape[1]} outputs")
    return {str(d): round(knn((train_z[:, :d], train_y), (test_z[:, :d], test_y)), 4) for d in dims}


def peak_memory_mb(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def tracked_eval(
    method: nn.Module,
    bank: Iterable,
    val: Iterable,
    test: Iterable,
    device: str,
    channels_last: bool,
    precision: str,
) -> dict:
    """Validation kNN and RankMe and test kNN of the current state (features on the device)."""
    bank_f = features(method, bank, device, channels_last, precision, on_device=True)
    val_f = features(method, val, device, channels_last, precision, on_device=True)
    test_f = features(method, test, device, channels_last, precision, on_device=True)
    return {
        "val_knn_acc": round(knn(bank_f, val_f), 4),
        "val_rankme": round(float(rankme(val_f[0])), 2),
        "test_knn_acc": round(knn(bank_f, test_f), 4),  # recorded, never used to select
    }


def fitted_epochs(
    requested: int,
    epochs_done: int,
    seconds_left: float,
    epoch_seconds: float,
    eval_seconds: float,
    eval_every: int,
) -> int:
    """Epochs that fit the budget: those done plus whole epochs (each with its share of the
    tracked evaluations) in ``seconds_left`` less one final evaluation, with a 3 % margin;
    at least one more epoch, at most ``requested``."""
    per_epoch = epoch_seconds + (eval_seconds / eval_every if eval_every else 0.0)
    more = math.floor(0.97 * max(0.0, seconds_left - eval_seconds) / max(per_epoch, 1e-9))
    return min(requested, epochs_done + max(1, more))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data-root", required=True, help="CIFAR-10 folder with train/ and test/")
    p.add_argument("--method", choices=METHODS, required=True)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--train-subset", type=int, default=None, help="pre-train on N images")
    p.add_argument("--test-subset", type=int, default=None, help="evaluate on N test images")
    p.add_argument(
        "--val-size",
        type=int,
        default=0,
        help="hold out N training images (stratified, seeded, disjoint from pre-training) for "
        "val_knn_acc / val_rankme and selection (default 0: none)",
    )
    p.add_argument(
        "--eval-every",
        type=int,
        default=0,
        help="track validation kNN / RankMe and test kNN every N epochs and select the state "
        "with the best validation kNN (needs --val-size; default 0: final state only)",
    )
    p.add_argument(
        "--fit-epochs-to-budget",
        action="store_true",
        help="shorten the cosine schedule to the epochs that fit --time-budget (timed on the "
        "second epoch)",
    )
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
    p.add_argument(
        "--time-budget",
        type=float,
        default=20.0,
        help="pre-training minutes (tracked evaluations included)",
    )
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
        choices=("batched", "device", "per-image"),
        default="batched",
        help="batched: gather + convert whole batches from the uint8 cache (default); "
        "device: the cache moved to --device once, batches gathered there; "
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
        "--cudnn-benchmark",
        action="store_true",
        help="torch.backends.cudnn.benchmark = True (fastest convolution algorithms per shape)",
    )
    p.add_argument(
        "--predictor-lr-mult",
        type=float,
        default=1.0,
        help="BYOL/DirectPred: the predictor's learning rate as a multiple of --lr",
    )
    p.add_argument("--temperature", type=float, default=None, help="SimCLR/DCL (default 0.5 / 0.1)")
    p.add_argument(
        "--matryoshka-dims",
        default=None,
        help="comma-separated nested prefix sizes of the projector output for the Matryoshka "
        f"loss, e.g. 8,16,32,64,128 ({', '.join(MATRYOSHKA_METHODS)})",
    )
    p.add_argument(
        "--prefix-knn",
        default=None,
        help="comma-separated prefix sizes: also report the test kNN of each prefix of the "
        "projector output (prefix_knn_acc)",
    )
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
    args = p.parse_args(argv)
    if args.val_size < 0 or args.eval_every < 0:
        p.error("--val-size and --eval-every must be >= 0")
    if args.eval_every and not args.val_size:
        p.error("--eval-every selects on the validation split: give --val-size N too")
    if args.eval_every and args.skip_eval:
        p.error("--eval-every evaluates; it cannot go with --skip-eval")
    if args.loader == "device" and args.augment == "views":
        p.error("--loader device serves images for --augment device, not per-image views")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.cudnn_benchmark:
        torch.backends.cudnn.benchmark = True
    backbone = args.backbone or ("vit_tiny" if args.method in VIT_METHODS else "resnet18")
    root, name = os.path.split(os.path.abspath(args.data_root.rstrip("/")))
    n_test = args.test_subset or 10**9
    data = FolderWithValidation(
        root=name,
        data_root=root,
        batch_size=args.batch_size,
        train_subset=args.train_subset,
        probe_train_size=10**9,
        probe_val_size=n_test,
        in_memory=True,
        mode="views" if args.augment == "views" else "images",
        seed=args.seed,
        val_size=args.val_size,
    )
    t0 = time.time()
    images, _ = data.cached_tensors("train")  # decoded once, shared by training and probes
    n_train = images.shape[0]
    log(f"decoded {n_train} train images in {time.time() - t0:.1f}s")
    val_batches = None
    if args.val_size:
        t0 = time.time()
        val_images, val_labels = data.validation_tensors()
        val_batches = TensorBatches(val_images, val_labels, args.batch_size)
        log(f"decoded {val_images.shape[0]} validation images in {time.time() - t0:.1f}s")
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
        int_list(args.matryoshka_dims),
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
        train_loader = train_batches(data, args.loader, args.seed, args.device)
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
    steps_per_epoch = len(train_loader)
    n_epochs = args.epochs  # --fit-epochs-to-budget may lower it after the second epoch
    schedule = {"total": n_epochs * steps_per_epoch}
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(1.0, s / max(1, schedule["total"]))))
    )
    step, seen, epochs_done, budget = 0, 0, 0.0, args.time_budget * 60
    max_steps = args.max_steps or schedule["total"]
    seen_after_first, first_step_end = 0, None
    history: list[dict] = []
    eval_wall = eval_cpu = 0.0

    def track() -> float:
        """One tracked evaluation appended to ``history``; returns its wall seconds."""
        nonlocal eval_wall, eval_cpu
        t_wall, t_cpu = time.time(), time.process_time()
        entry = {"epoch": round(epochs_done, 3), "step": step}
        entry |= tracked_eval(
            method,
            train_probe,
            val_batches,
            test_probe,
            args.device,
            channels_last,
            args.precision,
        )
        history.append(entry)
        seconds = time.time() - t_wall
        eval_wall += seconds
        eval_cpu += time.process_time() - t_cpu
        log(
            f"epoch {entry['epoch']}: val kNN {entry['val_knn_acc']:.4f} val RankMe "
            f"{entry['val_rankme']:.1f} (test kNN {entry['test_knn_acc']:.4f}; {seconds:.1f}s)"
        )
        return seconds

    start, cpu_start = time.time(), time.process_time()
    method.train()
    epoch, stop = 0, False
    while epoch < n_epochs and not stop:
        batches, epoch_start = 0, time.time()
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
                method.update_teacher(step, schedule["total"])
            seen += n
            if first_step_end is None:
                first_step_end = time.time()
            else:
                seen_after_first += n
            if step % 10 == 0:
                rate = seen / (time.time() - start - eval_wall)
                log(
                    f"epoch {epoch} step {step}/{schedule['total']} loss "
                    f"{out['loss'].item():.4f} {rate:.1f} img/s"
                )
            if time.time() - start > budget or step >= max_steps:
                stop = True
                break
        epochs_done = epoch + batches / steps_per_epoch
        epoch_seconds = time.time() - epoch_start
        epoch += 1
        if stop:
            break
        eval_seconds = track() if args.eval_every and epoch % args.eval_every == 0 else None
        if args.fit_epochs_to_budget and epoch == 2 and n_epochs > 2:
            if args.eval_every and eval_seconds is None:
                eval_seconds = track()  # times one evaluation (a regular history entry)
            fit = fitted_epochs(
                n_epochs,
                epoch,
                budget - (time.time() - start),
                epoch_seconds,
                eval_seconds or 0.0,
                args.eval_every,
            )
            if fit < n_epochs:
                log(
                    f"{n_epochs} epochs do not fit the {args.time_budget} min budget "
                    f"({epoch_seconds:.1f}s per epoch, {eval_seconds or 0:.1f}s per evaluation "
                    f"every {args.eval_every} epochs): cosine schedule shortened to {fit} epochs"
                )
                n_epochs = fit
                schedule["total"] = fit * steps_per_epoch
                if not args.max_steps:
                    max_steps = schedule["total"]
        if time.time() - start > budget:
            stop = True
    if time.time() - start > budget:
        log(f"time budget of {args.time_budget} min reached after {epochs_done:.2f} epochs")
    if epochs_done < args.epochs:
        log(f"reached {epochs_done:.2f} of the {args.epochs} requested epochs")
    if args.eval_every and (not history or history[-1]["step"] != step):
        track()  # the final state
    end = time.time()
    train_time = end - start - eval_wall
    cpu_per_image = (time.process_time() - cpu_start - eval_cpu) / max(1, seen)
    images_per_sec = seen / train_time
    after_first = end - first_step_end - eval_wall if first_step_end else 0.0
    steady = seen_after_first / after_first if seen_after_first else images_per_sec
    log(
        f"{images_per_sec:.2f} img/s ({steady:.2f} img/s after the first step), "
        f"{cpu_per_image:.3f} CPU s per image"
    )

    knn_acc = linear_acc = val_knn_acc = val_rank = prefix_acc = None
    if not args.skip_eval:
        train_f = features(method, train_probe, args.device, channels_last, args.precision)
        test_f = features(method, test_probe, args.device, channels_last, args.precision)
        knn_acc = round(knn(train_f, test_f), 4)
        linear_acc = round(linear_probe(train_f[0], train_f[1], test_f[0], test_f[1]).accuracy, 4)
        log(f"kNN {knn_acc:.4f} linear {linear_acc:.4f}")
        if args.prefix_knn:
            prefix_acc = prefix_knn(
                method,
                train_probe,
                test_probe,
                int_list(args.prefix_knn),
                args.device,
                channels_last,
                args.precision,
            )
            log(f"projector-prefix kNN {prefix_acc}")
        if val_batches is not None:
            val_f = features(method, val_batches, args.device, channels_last, args.precision)
            val_knn_acc = round(knn(train_f, val_f), 4)
            val_rank = round(float(rankme(val_f[0])), 2)
            log(f"validation kNN {val_knn_acc:.4f} RankMe {val_rank:.1f}")
    best = select_best(history) if history else None
    if best is not None:
        log(
            f"selected on validation: epoch {best['epoch']} (val kNN {best['val_knn_acc']:.4f}), "
            f"its test kNN {best['test_knn_acc']:.4f}"
        )
    result = {
        "method": args.method,
        "epochs": round(epochs_done, 3),
        "knn_acc": knn_acc,
        "linear_acc": linear_acc,
        "prefix_knn_acc": prefix_acc,
        "matryoshka_dims": int_list(args.matryoshka_dims),
        "val_knn_acc": val_knn_acc,
        "val_rankme": val_rank,
        "best_val_epoch": None if best is None else best["epoch"],
        "best_val_step": None if best is None else best["step"],
        "best_val_knn_acc": None if best is None else best["val_knn_acc"],
        "test_knn_at_best_val": None if best is None else best["test_knn_acc"],
        "val_rankme_at_best_val": None if best is None else best["val_rankme"],
        "test_knn_best_over_evals": (
            max(e["test_knn_acc"] for e in history) if history else None
        ),  # selected on test (lightly's table); for comparison with it only
        "selected_on": "validation" if args.val_size else None,
        "images_per_sec": round(images_per_sec, 2),
        "images_per_sec_after_first_step": round(steady, 2),
        "cpu_seconds_per_image": round(cpu_per_image, 4),
        "random_encoder_knn_acc": None if random_knn is None else round(random_knn, 4),
        "raw_pixel_knn_acc": None if raw_knn is None else round(raw_knn, 4),
        "peak_memory_mb": round(peak_memory_mb(args.device), 1),
        "steps": step,
        "pretrain_seconds": round(train_time, 1),
        "eval_seconds": round(eval_wall, 1),
        "backbone": backbone,
        "train_images": n_train,
        "val_images": args.val_size,
        "test_images": None if args.skip_eval else len(test_probe.dataset),
        "batch_size": args.batch_size,
        "optimizer": args.optimizer,
        "lr": lr,
        "weight_decay": wd,
        "epochs_requested": args.epochs,
        "epochs_scheduled": n_epochs,
        "fit_epochs_to_budget": args.fit_epochs_to_budget,
        "eval_every": args.eval_every,
        "time_budget_min": args.time_budget,
        "channels_last": channels_last,
        "loader": "views" if args.augment == "views" else args.loader,
        "augment": args.augment,
        "cudnn_benchmark": args.cudnn_benchmark,
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
        "eval_history": history or None,
    }
    line = json.dumps(result)
    if args.output:
        with open(args.output, "w") as f:
            f.write(line + "\n")
    print(line)


if __name__ == "__main__":
    main()
