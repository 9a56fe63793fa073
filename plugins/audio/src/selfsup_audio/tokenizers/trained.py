"""The iteration-2+ acoustic tokenizer: transformer encoder + head + cosine EMA quantiser."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from selfsup_audio.encoders.transformer import AudioEncoder
from selfsup_audio.tokenizers.quantizer import NormEMAVectorQuantizer, QuantizerOutput

__all__ = ["AcousticTokenizer"]


class AcousticTokenizer(nn.Module):
    """BEATs' self-distilled tokenizer (``Tokenizers.py``): patches -> transformer ->
    ``Linear-Tanh-Linear`` to ``code_dim`` -> :class:`NormEMAVectorQuantizer`.

    Trained by :class:`selfsup_audio.methods.BEATsTokenizerTraining`; frozen afterwards and used
    by :class:`selfsup_audio.methods.BEATs` (``tokenizer_checkpoint=...``). Its sizes are stored
    in the state dict (``_extra_state``) so :meth:`from_state_dict` rebuilds it from a checkpoint.

    Args:
        size: Backbone preset (default ``"tiny"``; see :data:`selfsup_audio.encoders.SIZES`).
        patch: ``(time, frequency)`` patch size; must equal the SSL model's (default (16, 16)).
        codebook_size: Codes ``K`` (default 1024). code_dim: Code size (default 256).
        depth: Backbone blocks (default None: the preset's).
        decay: Codebook EMA decay (default 0.99). beta: Commitment weight (default 1.0).
        restart_dead_codes: Re-seed unused codes (default True).

    Shapes:
        fbank ``(B, T, n_mels)``, frame_mask ``(B, T)`` or None -> (:meth:`quantize`)
        ``QuantizerOutput`` over the ``M`` real patches, patch padding mask ``(B, N)``;
        (:meth:`forward`) labels ``(B, N)`` long with -100 on padded patches.
    """

    def __init__(
        self,
        size: str = "tiny",
        patch: tuple[int, int] = (16, 16),
        codebook_size: int = 1024,
        code_dim: int = 256,
        depth: int | None = None,
        decay: float = 0.99,
        beta: float = 1.0,
        restart_dead_codes: bool = True,
    ) -> None:
        super().__init__()
        self.config: dict[str, Any] = {
            "size": size,
            "patch": [int(patch[0]), int(patch[1])],
            "codebook_size": int(codebook_size),
            "code_dim": int(code_dim),
            "depth": depth,
            "decay": float(decay),
            "beta": float(beta),
            "restart_dead_codes": bool(restart_dead_codes),
        }
        self.patch = (int(patch[0]), int(patch[1]))
        self.encoder = AudioEncoder(size, depth=depth, patch=self.patch)
        dim = self.encoder.dim
        self.head = nn.Sequential(nn.Linear(dim, dim), nn.Tanh(), nn.Linear(dim, code_dim))
        self.quantizer = NormEMAVectorQuantizer(
            codebook_size, code_dim, decay=decay, beta=beta, restart_dead_codes=restart_dead_codes
        )
        self.codebook_size = codebook_size

    def get_extra_state(self) -> dict[str, Any]:
        return dict(self.config)

    def set_extra_state(self, state: dict[str, Any]) -> None:
        if dict(state) != self.config:
            raise ValueError(
                f"checkpoint tokenizer configuration {dict(state)} differs from {self.config}; "
                "build it with AcousticTokenizer.from_state_dict(state_dict)."
            )

    @classmethod
    def from_state_dict(cls, state_dict: dict[str, Any], prefix: str = "") -> AcousticTokenizer:
        """Build a tokenizer with the configuration recorded in ``state_dict`` and load it."""
        key = f"{prefix}_extra_state"
        if key not in state_dict:
            raise KeyError(f"{key!r} not in the state dict: not saved by AcousticTokenizer.")
        config = dict(state_dict[key])
        tokenizer = cls(**{**config, "patch": tuple(config["patch"])})
        own = {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}
        tokenizer.load_state_dict(own)
        return tokenizer

    def quantize(
        self, fbank: Tensor, frame_mask: Tensor | None = None
    ) -> tuple[QuantizerOutput, Tensor]:
        """Quantise the real patches; returns the quantiser output and the padding mask."""
        x, pad = self.encoder(fbank, frame_mask)
        z = self.head(x[~pad])
        return self.quantizer(z), pad

    @torch.no_grad()
    def forward(self, fbank: Tensor, frame_mask: Tensor | None = None) -> Tensor:
        x, pad = self.encoder(fbank, frame_mask)
        codes = self.quantizer.nearest(self.head(x))
        return codes.masked_fill(pad, -100)
