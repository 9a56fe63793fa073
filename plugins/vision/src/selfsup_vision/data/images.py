"""Reading image files: the RGB conversion policy and clear errors for bad files."""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "FOLDER_LAYOUTS",
    "IMAGE_EXTENSIONS",
    "RGB_POLICIES",
    "load_image",
    "scan_folder",
    "to_rgb",
    "to_tensor",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
#: ``"convert"``: any mode becomes RGB (see :func:`to_rgb`); ``"error"``: non-RGB files raise.
RGB_POLICIES = ("convert", "error")
#: How :func:`scan_folder` reads a folder: class sub-folders, loose images, or whichever is there.
FOLDER_LAYOUTS = ("classes", "flat", "auto")


def to_rgb(image: Any, policy: str = "convert", where: str = "image") -> Any:
    """Bring a PIL image to RGB under ``policy``.

    ``"convert"`` (default): grayscale (``L``, ``I;16``, ``1``) is replicated to three channels;
    palette images are expanded; images with alpha (``RGBA``, ``LA``, ``P`` with transparency)
    are composited onto a **white** background (dropping alpha as ``Image.convert("RGB")`` does
    would expose the arbitrary colours stored under transparent pixels); CMYK/YCbCr use PIL's
    conversion. ``"error"``: anything but ``RGB`` raises.

    Raises:
        ValueError: unknown policy, or a non-RGB image under ``"error"``.
    """
    from PIL import Image

    if policy not in RGB_POLICIES:
        raise ValueError(f"rgb policy must be one of {RGB_POLICIES}, got {policy!r}.")
    if image.mode == "RGB":
        return image
    if policy == "error":
        raise ValueError(
            f"{where} has mode {image.mode!r}, not RGB; use rgb='convert' to convert grayscale "
            "(replicated channels) and RGBA (composited on white) images."
        )
    if image.mode == "P":
        image = image.convert("RGBA") if "transparency" in image.info else image.convert("RGB")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode.startswith("I;16") or image.mode in ("I", "F"):
        # 16-bit / int / float grayscale: rescale to 8 bits before replicating.
        import numpy as np

        arr = np.asarray(image, dtype=np.float64)
        top = float(arr.max()) or 1.0
        image = Image.fromarray((arr / top * 255).round().astype(np.uint8))
    return image.convert("RGB")


def load_image(path: str, policy: str | None = "convert") -> Any:
    """Open an image file fully (decoded now, file closed) and apply :func:`to_rgb`.

    ``policy=None`` returns the decoded image in its own mode (the data modules apply their
    policy later).

    Raises:
        ValueError: the file is corrupt / not an image (the message names the file).
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            return img if policy is None else to_rgb(img, policy, where=f"image {path!r}")
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(
            f"cannot decode image {path!r} ({type(err).__name__}: {err}); the file is corrupt or "
            "not an image: delete or replace it."
        ) from err


def to_tensor(image: Any) -> Tensor:
    """PIL image (or ``(C, H, W)`` uint8/float tensor) -> float ``(C, H, W)`` in ``[0, 1]``."""
    if isinstance(image, Tensor):
        return image.float() / 255.0 if not image.is_floating_point() else image.float()
    from torchvision.transforms.v2 import functional as TF

    return TF.to_dtype(TF.to_image(image), torch.float32, scale=True)


def _image_files(folder: str) -> list[str]:
    """Sorted names of the image files directly in ``folder`` (by extension).

    Hidden files are skipped: ``._photo.jpg`` sidecars that macOS leaves on shared drives end in
    an image extension but hold no image.
    """
    return sorted(
        e.name
        for e in os.scandir(folder)
        if e.is_file() and not e.name.startswith(".") and e.name.lower().endswith(IMAGE_EXTENSIONS)
    )


def scan_folder(root: str, layout: str = "classes") -> tuple[list[tuple[str, int]], list[str]]:
    """``(path, label)`` pairs and class names of an image folder, in a fixed (sorted) order.

    Layouts (``layout``):

    * ``"classes"``: ``root/<class>/<image>`` (ImageFolder). Classes are the sorted sub-folders,
      labels their positions; images lying directly in ``root`` are not read.
    * ``"flat"``: ``root/<image>``, no classes (a folder of photos): every label is ``-1`` and
      the class list is empty; sub-folders are not read.
    * ``"auto"``: ``"classes"`` when sub-folders hold images, else ``"flat"``; a folder with
      both loose images and image sub-folders raises, since one of them would be left out.

    Args:
        root: The folder to scan.
        layout: ``"classes"`` (default), ``"flat"`` or ``"auto"``.

    Returns:
        ``(samples, classes)``: ``samples`` sorted by class, then file name.

    Raises:
        ValueError: unknown ``layout``, or ``"auto"`` on a folder holding both kinds.
        FileNotFoundError: ``root`` is missing or holds no image where the layout looks.

    Examples:
        >>> samples, classes = scan_folder("photos", layout="auto")  # doctest: +SKIP
    """
    if layout not in FOLDER_LAYOUTS:
        raise ValueError(f"layout must be one of {FOLDER_LAYOUTS}, got {layout!r}.")
    if not os.path.isdir(root):
        raise FileNotFoundError(
            f"image folder {root!r} not found; expected root/<class>/<image> (e.g. "
            "cifar10-jpg/train/airplane/0001.jpg) or, with layout='flat', root/<image>. Check "
            "root / data_root (or $SELFSUP_DATA)."
        )
    loose = _image_files(root)
    classes: list[str] = []
    samples: list[tuple[str, int]] = []
    if layout != "flat":
        classes = sorted(e.name for e in os.scandir(root) if e.is_dir())
        for label, name in enumerate(classes):
            files = _image_files(os.path.join(root, name))
            samples += [(os.path.join(root, name, f), label) for f in files]
    if layout == "auto" and samples and loose:
        raise ValueError(
            f"{root!r} holds both images ({loose[:3]}) and class folders with images "
            f"({classes[:3]}); set layout='classes' to read only the folders or layout='flat' to "
            "read only the loose images, or move the loose images into a folder."
        )
    if layout == "flat" or (layout == "auto" and not samples):
        samples, classes = [(os.path.join(root, f), -1) for f in loose], []
    if not samples:
        expected = "root/<image>" if layout == "flat" else "root/<class>/<image>"
        raise FileNotFoundError(
            f"no images under {root!r} (layout={layout!r}); expected {expected} with extensions "
            f"{IMAGE_EXTENSIONS}."
        )
    return samples, classes
