"""Vision Transformer from Hugging Face transformers, built from a ViTConfig (no download)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.export import exportable
from selfsup.masking import gather_tokens

__all__ = ["ViTEncoder", "patch_grid", "require_vit"]

_POOLINGS = ("cls", "mean")
#: ``ViTConfig.to_dict()`` entries that describe the file or a classifier head, not the encoder.
_NOT_ARCHITECTURE = (
    "transformers_version",
    "_name_or_path",
    "architectures",
    "id2label",
    "label2id",
    "problem_type",
)


def patch_grid(image_size: int, patch_size: int) -> tuple[int, int]:
    """The ``(H / p, W / p)`` patch grid of a square image.

    Raises:
        ValueError: ``patch_size`` does not divide ``image_size`` (patches would drop pixels).
    """
    if image_size < 1 or patch_size < 1:
        raise ValueError(f"image_size and patch_size must be >= 1, got {image_size}, {patch_size}.")
    if image_size % patch_size:
        divisors = [p for p in range(1, image_size + 1) if image_size % p == 0]
        raise ValueError(
            f"patch_size {patch_size} does not divide image_size {image_size}; the ViT would "
            f"silently drop the last {image_size % patch_size} pixel rows/columns. Use one of "
            f"{divisors} or resize the images."
        )
    return image_size // patch_size, image_size // patch_size


@exportable("vision:vit")
class ViTEncoder(nn.Module):
    """``transformers.ViTModel`` (Dosovitskiy et al., arXiv 2010.11929) built from a ``ViTConfig``.

    The model is built from the size arguments or from ``config`` (a ``ViTConfig`` as a dict;
    random init either way, nothing is downloaded), or loaded from a local directory in the
    Hugging Face format written by :meth:`save_pretrained` / ``ViTModel.save_pretrained``
    (``pretrained_path``, read with ``local_files_only=True``). With ``config`` or
    ``pretrained_path`` the size arguments are ignored. Position embeddings are learned, as in
    the HF model (MAE uses fixed sin-cos ones).

    Export: ``selfsup.export.save_pretrained(encoder, folder)`` (and ``selfsup export``) writes a
    ``vision:vit`` folder whose ``config.json`` holds the ViT's architecture (the ``ViTConfig``
    dict, :meth:`export_config`) and ``pooling``; :func:`selfsup.export.load_pretrained` rebuilds
    the model from it and loads the safetensors weights, offline. :meth:`save_pretrained` writes
    the Hugging Face format instead, for ``transformers`` users.

    :meth:`forward` pools the final (layer-normed) tokens: the [CLS] output (``"cls"``) or the
    mean of the patch outputs (``"mean"``, the usual choice for MAE / I-JEPA probes). It also
    takes square images of another size that ``patch_size`` divides (DINO's local crops): the
    patch position embeddings are then resized bicubically to that grid, as DINO's
    ``interpolate_pos_encoding`` does; the masked-token paths (:meth:`tokens` with
    ``keep_idx``, MAE, I-JEPA) keep to ``image_size``, whose grid their masks index.
    :meth:`tokens` runs the encoder on a subset of patches (MAE's visible patches, I-JEPA's
    context block), with an optional key-padding mask for padded subsets.

    Args:
        image_size: Square input size ``S`` (default 32).
        patch_size: Patch side ``p``; must divide ``S`` (default 4).
        hidden_size: Token width ``d`` (default 192, ViT-Tiny).
        num_layers: Transformer blocks (default 6).
        num_heads: Attention heads (default 3).
        mlp_dim: MLP hidden size (default ``4 d`` when 0).
        in_channels: Image channels (default 3).
        pooling: ``"cls"`` or ``"mean"`` (default ``"mean"``).
        pretrained_path: Local Hugging Face directory with ``config.json`` and weights
            (default None).
        config: ``ViTConfig`` entries (``ViTConfig.to_dict()``) to build the model from, at
            random init (default None: the size arguments).

    Shapes:
        forward: ``(B, C, S', S')`` with ``p | S'`` -> ``(B, d)``.
        tokens: images ``(B, C, S, S)``, keep_idx ``(B, K)`` -> ``(B, 1 + K, d)`` ([CLS] first).

    Raises:
        ValueError: ``patch_size`` does not divide ``image_size``, bad pooling, ``hidden_size``
            not divisible by ``num_heads``, images of another size/channel count, both
            ``pretrained_path`` and ``config``, a ``config`` of another model type, or a
            ``pretrained_path`` that is a selfsup export folder (use ``load_pretrained``).
        FileNotFoundError: ``pretrained_path`` is not a directory with a ``config.json``.

    Examples:
        >>> vit = ViTEncoder(image_size=8, patch_size=2, hidden_size=16, num_layers=1, num_heads=2)
        >>> vit(torch.rand(2, 3, 8, 8)).shape
        torch.Size([2, 16])
        >>> again = ViTEncoder(**vit.export_config())  # same architecture, fresh weights
        >>> again.grid, again.out_dim
        ((4, 4), 16)
    """

    def __init__(
        self,
        image_size: int = 32,
        patch_size: int = 4,
        hidden_size: int = 192,
        num_layers: int = 6,
        num_heads: int = 3,
        mlp_dim: int = 0,
        in_channels: int = 3,
        pooling: str = "mean",
        pretrained_path: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        from transformers import ViTConfig, ViTModel

        if pooling not in _POOLINGS:
            raise ValueError(f"pooling must be one of {_POOLINGS}, got {pooling!r}.")
        if pretrained_path is not None and config is not None:
            raise ValueError("give pretrained_path (a Hugging Face folder) or config, not both.")
        if pretrained_path is not None:
            _check_hf_folder(pretrained_path)
            model = ViTModel.from_pretrained(
                pretrained_path, add_pooling_layer=False, local_files_only=True
            )
        elif config is not None:
            kind = config.get("model_type", "vit")
            if kind != "vit":
                raise ValueError(f"config describes a {kind!r} model, not a ViT ('vit').")
            model = ViTModel(ViTConfig.from_dict(dict(config)), add_pooling_layer=False)
        else:
            if hidden_size % num_heads:
                raise ValueError(
                    f"hidden_size {hidden_size} must be divisible by num_heads {num_heads}."
                )
            patch_grid(image_size, patch_size)
            config = ViTConfig(
                image_size=image_size,
                patch_size=patch_size,
                num_channels=in_channels,
                hidden_size=hidden_size,
                num_hidden_layers=num_layers,
                num_attention_heads=num_heads,
                intermediate_size=mlp_dim or 4 * hidden_size,
                hidden_dropout_prob=0.0,
                attention_probs_dropout_prob=0.0,
            )
            model = ViTModel(config, add_pooling_layer=False)
        cfg = model.config
        self.model = model
        self.image_size = int(cfg.image_size)
        self.patch_size = int(cfg.patch_size)
        self.in_channels = int(cfg.num_channels)
        self.grid = patch_grid(self.image_size, self.patch_size)
        self.num_patches = self.grid[0] * self.grid[1]
        self.out_dim = int(cfg.hidden_size)
        self.pooling = pooling

    # -- export ------------------------------------------------------------------------------
    def export_config(self) -> dict[str, Any]:
        """``{"config": <ViTConfig dict>, "pooling": ...}``: what rebuilds this encoder.

        The ``ViTConfig`` entries (JSON data) fix the architecture whichever way the encoder was
        built (size arguments, ``config`` or a Hugging Face folder); the weights travel beside
        them, so ``pretrained_path`` is left out.
        """
        entries = self.model.config.to_dict()
        arch = {k: v for k, v in entries.items() if k not in _NOT_ARCHITECTURE}
        return {"config": arch, "pooling": self.pooling}

    def save_pretrained(self, path: str) -> None:
        """Write the Hugging Face format (``ViTModel.save_pretrained``: ``config.json`` and
        weights) to ``path``, loadable with ``pretrained_path`` or ``ViTModel.from_pretrained``.

        For selfsup's own format use ``selfsup.export.save_pretrained(encoder, folder)``.
        """
        self.model.save_pretrained(path)

    # -- forward -----------------------------------------------------------------------------
    def check_images(self, images: Tensor, any_size: bool = False) -> None:
        """Raise a ``ValueError`` unless images are ``(B, C, S, S)`` with this encoder's C, S
        (with ``any_size``: any square side the patch size divides)."""
        if any_size and images.dim() == 4 and images.shape[1] == self.in_channels:
            side = images.shape[-1]
            if images.shape[-2] == side and side % self.patch_size == 0:
                return
            raise ValueError(
                f"ViTEncoder takes square images whose side the patch size {self.patch_size} "
                f"divides, got {tuple(images.shape)}."
            )
        expected = (self.in_channels, self.image_size, self.image_size)
        if images.dim() != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(
                f"ViTEncoder expects images (B, {expected[0]}, {expected[1]}, {expected[2]}), got "
                f"{tuple(images.shape)}; resize/crop the images to image_size="
                f"{self.image_size} or build the encoder for their size."
            )

    def patch_embeddings(self, images: Tensor, any_size: bool = False) -> Tensor:
        """Patch embeddings plus their position embeddings ``(B, L, d)`` (no [CLS]); with
        ``any_size``, images of another side get the positions resized to their grid."""
        self.check_images(images, any_size)
        emb = self.model.embeddings
        projection = emb.patch_embeddings.projection  # the conv alone: no size check in the way
        patches = projection(images.to(projection.weight.dtype)).flatten(2).transpose(1, 2)
        return patches + self.patch_positions(images.shape[-1] // self.patch_size)

    def patch_positions(self, side: int) -> Tensor:
        """The patch position embeddings ``(1, side**2, d)`` for a ``side x side`` grid: the
        learned ones at the encoder's grid, bicubically resized otherwise."""
        positions = self.model.embeddings.position_embeddings[:, 1:]
        gh, gw = self.grid
        if (side, side) == (gh, gw):
            return positions
        d = positions.shape[-1]
        grid = positions.reshape(1, gh, gw, d).permute(0, 3, 1, 2)
        resized = F.interpolate(
            grid.float(), size=(side, side), mode="bicubic", align_corners=False
        )
        return resized.to(positions.dtype).permute(0, 2, 3, 1).reshape(1, side * side, d)

    def _layers(self) -> Any:
        layers = getattr(self.model, "layers", None)
        return layers if layers is not None else self.model.encoder.layer

    def run(self, patches: Tensor, key_padding_mask: Tensor | None = None) -> Tensor:
        """Prepend [CLS] (+ its position embedding), run the blocks and the final LayerNorm.

        ``key_padding_mask`` ``(B, K)`` is True at padded patch slots, which no token attends to.
        """
        emb = self.model.embeddings
        b = patches.shape[0]
        cls = (emb.cls_token + emb.position_embeddings[:, :1]).expand(b, -1, -1)
        h = emb.dropout(torch.cat([cls, patches], dim=1))
        mask = None
        if key_padding_mask is not None:
            pad = torch.cat([key_padding_mask.new_zeros(b, 1), key_padding_mask], dim=1)
            # Additive (B, 1, 1, L) mask: accepted by the eager and the SDPA attention paths.
            mask = torch.zeros(b, 1, 1, pad.shape[1], dtype=h.dtype, device=h.device)
            mask = mask.masked_fill(pad[:, None, None, :], torch.finfo(h.dtype).min)
        for layer in self._layers():
            out = layer(h, mask) if mask is not None else layer(h)
            h = out[0] if isinstance(out, tuple) else out
        return self.model.layernorm(h)

    def tokens(
        self,
        images: Tensor,
        keep_idx: Tensor | None = None,
        key_padding_mask: Tensor | None = None,
    ) -> Tensor:
        """Final tokens ``(B, 1 + K, d)`` of the patches ``keep_idx`` (all patches when None)."""
        patches = self.patch_embeddings(images)
        if keep_idx is not None:
            patches = gather_tokens(patches, keep_idx)
        return self.run(patches, key_padding_mask)

    def pool(self, tokens: Tensor) -> Tensor:
        """``(B, 1 + K, d)`` -> ``(B, d)`` by [CLS] or patch mean."""
        return tokens[:, 0] if self.pooling == "cls" else tokens[:, 1:].mean(dim=1)

    def forward(self, images: Tensor) -> Tensor:
        return self.pool(self.run(self.patch_embeddings(images, any_size=True)))


def _check_hf_folder(path: str) -> None:
    """Raise unless ``path`` holds a Hugging Face ``config.json`` (not a selfsup export)."""
    config_file = os.path.join(path, "config.json")
    if not os.path.isfile(config_file):
        raise FileNotFoundError(
            f"pretrained_path {path!r} has no config.json; pass a directory written by "
            "save_pretrained() (nothing is downloaded)."
        )
    try:
        with open(config_file, encoding="utf-8") as handle:
            fmt = json.load(handle).get("format")
    except (ValueError, AttributeError):
        return  # transformers reports what is wrong with the file
    if fmt == "selfsup-encoder":
        raise ValueError(
            f"{path!r} is a selfsup export folder (selfsup export / selfsup.export."
            "save_pretrained), not a Hugging Face one; load it with "
            "selfsup.export.load_pretrained(folder)."
        )


def require_vit(encoder: nn.Module | None, in_channels: int, owner: str) -> ViTEncoder:
    """``encoder`` if it is a :class:`ViTEncoder`, a default one when None.

    Raises:
        ValueError: another encoder type, or a channel count that differs from ``in_channels``.
    """
    if encoder is None:
        encoder = ViTEncoder(in_channels=in_channels)
    if not isinstance(encoder, ViTEncoder):
        raise ValueError(
            f"{owner} needs a selfsup_vision.encoders.ViTEncoder (token-level access for "
            f"masking), got {type(encoder).__name__}."
        )
    if encoder.in_channels != in_channels:
        raise ValueError(
            f"{owner}: in_channels={in_channels} but the ViT takes {encoder.in_channels} channels."
        )
    return encoder
