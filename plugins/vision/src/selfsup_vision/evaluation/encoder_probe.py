"""Offline frozen-feature evaluation: kNN and linear probe of an encoder on labelled images.

    python -m selfsup_vision.evaluation --data-root /path/to/cifar10-jpg --encoder-dir encoder/
    python -m selfsup_vision.evaluation --data-root /path/to/cifar10-jpg \
        --resnet-weights encoder.pt [--depth 18] [--imagenet-stem]
    python -m selfsup_vision.evaluation --data-root /path/to/cifar10-jpg --vit-dir vit/

``--encoder-dir`` takes any folder ``selfsup export`` (or ``selfsup.export.save_pretrained``)
wrote; ``--resnet-weights`` a plain state dict (``ResNetEncoder.export``); ``--vit-dir`` a Hugging
Face ViT folder (``ViTEncoder.save_pretrained``).

Prints one JSON line ``{"knn_acc", "linear_acc", "train_images", "test_images", ...}``.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn

from selfsup.metrics import frozen_eval, knn_accuracy, linear_probe

__all__ = ["evaluate_encoder", "extract_features"]


def extract_features(
    embed: Callable[[Tensor], Tensor], loader: Iterable[Any], device: str | torch.device = "cpu"
) -> tuple[Tensor, Tensor]:
    """``(features (N, D) float32 on the CPU, labels (N,))`` of ``(images, labels)`` batches.

    The forward passes run under ``torch.inference_mode`` (no autograd bookkeeping); the
    concatenation outside it returns ordinary tensors, usable by the (autograd) linear probe.
    """
    xs, ys = [], []
    for images, labels in loader:
        with torch.inference_mode():
            xs.append(embed(images.to(device)).float().cpu())
        ys.append(torch.as_tensor(labels).reshape(-1).long())
    if not xs:
        raise ValueError("the loader yielded no batch.")
    return torch.cat(xs), torch.cat(ys)


def evaluate_encoder(
    encoder: nn.Module | Callable[[Tensor], Tensor],
    train_loader: Iterable[Any],
    test_loader: Iterable[Any],
    *,
    k: int = 200,
    temperature: float = 0.1,
    linear: bool = True,
    device: str | torch.device = "cpu",
) -> dict[str, float]:
    """kNN (cosine, weighted votes ``exp(s / T)``, Wu et al. 2018) and linear-probe accuracy.

    The encoder runs in eval mode without gradients (its mode is restored). kNN uses the train
    features as the bank (:func:`selfsup.metrics.knn_accuracy`); the linear probe is
    :func:`selfsup.metrics.linear_probe` (L-BFGS logistic regression on standardised features).

    Args:
        encoder: Module or callable ``images (B, C, H, W) -> (B, D)`` (e.g. ``method.embed``).
        train_loader: ``(images, labels)`` batches of the labelled training images.
        test_loader: ``(images, labels)`` batches of the test images.
        k: kNN neighbours (default 200).
        temperature: kNN vote temperature (default 0.1).
        linear: Also fit the linear probe (default True).
        device: Where the encoder runs (default CPU).

    Returns:
        ``{"knn_acc": ..., "linear_acc": ...}`` (the latter when ``linear``).
    """
    with frozen_eval(encoder):
        train = extract_features(encoder, train_loader, device)
        test = extract_features(encoder, test_loader, device)
    out = {"knn_acc": knn_accuracy(*train, *test, k=k, temperature=temperature)}
    if linear:
        out["linear_acc"] = linear_probe(train[0], train[1], test[0], test[1]).accuracy
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from selfsup.export import load_pretrained
    from selfsup_vision.data import ImageFolderDataModule
    from selfsup_vision.encoders import ResNetEncoder, ViTEncoder

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data-root", required=True, help="folder with train/ and test/ class folders")
    p.add_argument("--resnet-weights", help="state dict of a ResNetEncoder (export())")
    p.add_argument("--depth", type=int, default=18)
    p.add_argument("--imagenet-stem", action="store_true", help="7x7 stem + max-pool")
    p.add_argument("--vit-dir", help="directory written by ViTEncoder.save_pretrained")
    p.add_argument("--encoder-dir", help="folder written by `selfsup export` / save_pretrained")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--train-size", type=int, default=10**9, help="labelled train images used")
    p.add_argument("--test-size", type=int, default=10**9)
    p.add_argument("--k", type=int, default=200)
    p.add_argument("--temperature", type=float, default=0.1)
    p.add_argument("--batch-size", type=int, default=256)
    args = p.parse_args(argv)
    given = [a for a in (args.resnet_weights, args.vit_dir, args.encoder_dir) if a is not None]
    if len(given) != 1:
        p.error("pass exactly one of --encoder-dir, --resnet-weights and --vit-dir")
    if args.encoder_dir:
        encoder: nn.Module = load_pretrained(args.encoder_dir)
    elif args.vit_dir:
        encoder = ViTEncoder(pretrained_path=args.vit_dir)
    else:
        encoder = ResNetEncoder(
            args.depth, cifar_stem=not args.imagenet_stem, weights_path=args.resnet_weights
        )
    root, name = os.path.split(os.path.abspath(args.data_root.rstrip("/")))
    data = ImageFolderDataModule(
        root=name,
        data_root=root,
        image_size=args.image_size,
        batch_size=args.batch_size,
        probe_train_size=args.train_size,
        probe_val_size=args.test_size,
    )
    train, test = data.probe_dataloaders()
    result: dict[str, Any] = evaluate_encoder(
        encoder, train, test, k=args.k, temperature=args.temperature
    )
    result.update(train_images=len(train.dataset), test_images=len(test.dataset))
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
