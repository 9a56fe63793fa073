"""Reading image files: the RGB conversion policy and clear errors for bad files."""

from __future__ import annotations

import os
import warnings
from typing import IO, Any

import torch
from torch import Tensor

__all__ = [
    "BAD_FILE_POLICIES",
    "FOLDER_LAYOUTS",
    "IMAGE_EXTENSIONS",
    "RGB_POLICIES",
    "BadImageError",
    "load_image",
    "scan_folder",
    "to_gray",
    "to_rgb",
    "to_tensor",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
#: ``"convert"``: any mode becomes RGB (see :func:`to_rgb`); ``"error"``: non-RGB files raise.
RGB_POLICIES = ("convert", "error")
#: How :func:`scan_folder` reads a folder: class sub-folders, loose images, or whichever is there.
FOLDER_LAYOUTS = ("classes", "flat", "auto")
#: What a data module does with a file that cannot be decoded: stop, or skip it with a warning.
BAD_FILE_POLICIES = ("error", "skip")

_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
_UINT16_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
_EXIF_ORIENTATION = 0x0112


class BadImageError(ValueError):
    """A file that cannot be used as an image: undecodable, a decompression bomb, or a mode
    without a defined RGB conversion. The message names the file."""


def _from_16_bit(image: Any, where: str) -> Any:
    """16-bit (``I;16*``, or ``I`` holding 0..65535) grayscale -> ``L``: ``round(v / 257)``.

    The full 16-bit range maps onto 8 bits the same way for every image (65535 -> 255,
    32896 -> 128), so two exposures of a scene stay different; 12-bit data stored in 16 bits
    comes out dark (4095 -> 16), as its values say.
    """
    import numpy as np
    from PIL import Image

    arr = np.asarray(image, dtype=np.int64)
    low, high = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
    if low < 0 or high > 65535:
        raise BadImageError(
            f"{where} is a 32-bit integer image with values up to {high} (down to {low}); only "
            "0..65535 (16-bit) has a defined 8-bit conversion: rescale it to 8 or 16 bits first."
        )
    return Image.fromarray(((arr + 128) // 257).astype(np.uint8))


def to_rgb(image: Any, policy: str = "convert", where: str = "image") -> Any:
    """Bring a PIL image to RGB under ``policy``.

    ``"convert"`` (default):

    * grayscale ``L`` and bilevel ``1`` are replicated to three channels;
    * 16-bit grayscale (``I;16``, and ``I`` holding 0..65535) maps the full 16-bit range onto
      8 bits, ``round(v / 257)`` (the same for every image; never stretched to the image's own
      maximum), then is replicated; ``I`` outside 0..65535 raises;
    * palette images are expanded;
    * images with alpha (``RGBA``, ``LA``, ``PA``, ``P`` with transparency) are composited onto
      a **white** background (dropping alpha as ``Image.convert("RGB")`` does would expose the
      arbitrary colours stored under transparent pixels);
    * CMYK / YCbCr / HSV use PIL's conversion (no colour profile is applied);
    * 32-bit float ``F`` and ``LAB`` have no defined conversion here and raise.

    ``"error"``: anything but ``RGB`` raises.

    Raises:
        ValueError: unknown policy, or a non-RGB image under ``"error"``.
        BadImageError: a float / ``LAB`` image, or ``I`` values outside 0..65535 (``where``
            names the file).
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
    if image.mode == "F":
        raise BadImageError(
            f"{where} is a 32-bit floating-point image (mode 'F', e.g. a depth map); it has no "
            "standard range to map to 8-bit RGB: save it as an 8- or 16-bit image first."
        )
    if image.mode == "LAB":
        raise BadImageError(
            f"{where} has mode 'LAB'; PIL's plain conversion to RGB is not colorimetric: "
            "convert it to sRGB with PIL.ImageCms first."
        )
    if image.mode == "P":
        image = image.convert("RGBA") if "transparency" in image.info else image.convert("RGB")
    if image.mode in _ALPHA_MODES:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode in _UINT16_MODES or image.mode == "I":
        image = _from_16_bit(image, where)
    return image.convert("RGB")


def to_gray(image: Any, where: str = "image") -> Any:
    """Bring a PIL image to 8-bit grayscale ``L`` (``in_channels=1``).

    ``L`` is kept; everything else goes through :func:`to_rgb` (``"convert"``: 16-bit scaling,
    alpha on white, the same refusals) and then PIL's ITU-R 601-2 luma ``L = 0.299 R + 0.587 G
    + 0.114 B``; so a 16-bit image is scaled, not clipped at 255 as ``convert("L")`` would.

    Raises:
        BadImageError: as :func:`to_rgb`.
    """
    if image.mode == "L":
        return image
    return to_rgb(image, "convert", where).convert("L")


def load_image(
    path: str | IO[bytes], policy: str | None = "convert", name: str | None = None
) -> Any:
    """Open an image file fully (decoded now, file closed), upright, and apply :func:`to_rgb`.

    The EXIF orientation tag is applied (``PIL.ImageOps.exif_transpose``), so a portrait phone
    photo comes out as viewers show it. Only the first frame of an animated GIF / multi-page
    TIFF is read. ``policy=None`` returns the decoded image in its own mode (the data modules
    apply their policy later).

    Decompression bombs: PIL refuses images of more than ``2 * PIL.Image.MAX_IMAGE_PIXELS``
    pixels (raised here as :class:`BadImageError` naming the file) and warns between 1x and 2x;
    that ``DecompressionBombWarning`` is re-issued with the file's name and the image decoded.

    ``path`` may be an open binary file (an image read from a shard); ``name`` then says in
    messages which image it is.

    Raises:
        BadImageError: the file is missing, unreadable, corrupt, truncated, not an image, a
            decompression bomb, or in a mode without RGB conversion (the message names it).
    """
    from PIL import Image, ImageOps

    label = name if name is not None else path
    where = f"image {label!r}"
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img.load()
                # Orientation 1 is "as stored"; checking first avoids exif_transpose's copy.
                rotated = img.getexif().get(_EXIF_ORIENTATION, 1) not in (1, None)
                image = ImageOps.exif_transpose(img) if rotated else img
    except (FileNotFoundError, PermissionError, IsADirectoryError) as err:
        raise BadImageError(
            f"cannot read image {path!r} ({type(err).__name__}): the file no longer exists or "
            "is not readable; it was moved or deleted after the folder was scanned, or its "
            "permissions forbid reading: restore it, or rerun so the folder is scanned again."
        ) from err
    except Image.DecompressionBombError as err:
        raise BadImageError(
            f"{where} declares {_pixels(err)} pixels, more than twice PIL's limit "
            f"Image.MAX_IMAGE_PIXELS={Image.MAX_IMAGE_PIXELS} (a possible decompression bomb); "
            "delete the file, or raise PIL.Image.MAX_IMAGE_PIXELS if you trust it."
        ) from err
    except MemoryError:
        raise  # the machine's limit, not the file's fault
    except Exception as err:  # decoders of a stranger's file may raise any type
        raise BadImageError(
            f"cannot decode image {label!r} ({type(err).__name__}: {err}); the file is corrupt, "
            "truncated or not an image: delete or replace it."
        ) from err
    bomb_warned = False  # some formats run PIL's size check twice per file
    for w in caught:
        if issubclass(w.category, Image.DecompressionBombWarning):
            if bomb_warned:
                continue
            bomb_warned = True
            warnings.warn(
                f"{where} declares {_pixels(w.message)} pixels, more than PIL's "
                f"Image.MAX_IMAGE_PIXELS={Image.MAX_IMAGE_PIXELS} (a possible decompression "
                "bomb); decoded anyway, as PIL does below twice the limit.",
                Image.DecompressionBombWarning,
                stacklevel=2,
            )
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return image if policy is None else to_rgb(image, policy, where=where)


def _pixels(message: Any) -> str:
    """The pixel count in PIL's decompression-bomb message ("Image size (N pixels) ...")."""
    text = str(message)
    start = text.find("(")
    return text[start + 1 :].split(" ", 1)[0] if start >= 0 else "too many"


def to_tensor(image: Any) -> Tensor:
    """PIL image (or ``(C, H, W)`` uint8/float tensor) -> float ``(C, H, W)`` in ``[0, 1]``."""
    if isinstance(image, Tensor):
        return image.float() / 255.0 if not image.is_floating_point() else image.float()
    from torchvision.transforms.v2 import functional as TF

    return TF.to_dtype(TF.to_image(image), torch.float32, scale=True)


def _entries(folder: str) -> tuple[list[str], list[str], list[str]]:
    """``(images, other files, sub-folders)`` directly in ``folder``, each sorted by name.

    Images are recognised by extension (any case). Hidden entries are skipped: ``._photo.jpg``
    sidecars that macOS leaves on shared drives end in an image extension but hold no image, and
    hidden folders (``.ipynb_checkpoints``, ``.git``) are not classes.
    """
    images: list[str] = []
    other: list[str] = []
    folders: list[str] = []
    for entry in os.scandir(folder):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            folders.append(entry.name)
        elif entry.is_file():
            (images if entry.name.lower().endswith(IMAGE_EXTENSIONS) else other).append(entry.name)
    return sorted(images), sorted(other), sorted(folders)


def scan_folder(root: str, layout: str = "classes") -> tuple[list[tuple[str, int]], list[str]]:
    """``(path, label)`` pairs and class names of an image folder, in a fixed (sorted) order.

    Layouts (``layout``):

    * ``"classes"``: ``root/<class>/<image>`` (ImageFolder). Classes are the sorted sub-folders,
      labels their positions; images lying directly in ``root`` are not read.
    * ``"flat"``: ``root/<image>``, no classes (a folder of photos): every label is ``-1`` and
      the class list is empty; sub-folders are not read.
    * ``"auto"``: ``"classes"`` when sub-folders hold images, else ``"flat"``; a folder with
      both loose images and image sub-folders raises, since one of them would be left out.

    Hidden files and folders (names starting with ``.``) are skipped. Two things warn (with
    counts and examples) instead of passing silently: class folders holding no image (they keep
    their label, so labels stay the positions of the sorted folder names; images are read one
    level deep only) and files without an image extension (``.heic``, ``.txt``) in the folders
    read.

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
    loose, loose_other, classes = _entries(root)
    samples: list[tuple[str, int]] = []
    empty: list[str] = []
    ignored: list[str] = []
    if layout != "flat":
        for label, name in enumerate(classes):
            files, other, _ = _entries(os.path.join(root, name))
            samples += [(os.path.join(root, name, f), label) for f in files]
            ignored += [f"{name}/{f}" for f in other]
            if not files:
                empty.append(name)
    if layout == "auto" and samples and loose:
        raise ValueError(
            f"{root!r} holds both images ({loose[:3]}) and class folders with images "
            f"({classes[:3]}); set layout='classes' to read only the folders or layout='flat' to "
            "read only the loose images, or move the loose images into a folder."
        )
    if layout == "flat" or (layout == "auto" and not samples):
        samples, classes = [(os.path.join(root, f), -1) for f in loose], []
        empty, ignored = [], loose_other
    if ignored:
        warnings.warn(
            f"ignored {len(ignored)} file(s) without an image extension under {root!r}, e.g. "
            f"{ignored[:3]}; the extensions read are {IMAGE_EXTENSIONS}: convert the images "
            "(e.g. HEIC to JPEG) or move the other files out of the folder.",
            stacklevel=2,
        )
    if not samples:
        expected = "root/<image>" if layout == "flat" else "root/<class>/<image>"
        raise FileNotFoundError(
            f"no images under {root!r} (layout={layout!r}); expected {expected} with extensions "
            f"{IMAGE_EXTENSIONS}."
        )
    if empty:
        warnings.warn(
            f"{len(empty)} class folder(s) hold no images: {empty[:5]} (under {root!r}); they "
            "keep their label numbers (labels are the positions of the sorted folder names) and "
            "images are read one level deep only: move nested images up or remove the folders.",
            stacklevel=2,
        )
    return samples, classes
