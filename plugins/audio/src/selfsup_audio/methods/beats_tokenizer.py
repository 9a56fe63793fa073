"""BEATs tokenizer training: distil a frozen SSL teacher into a cosine-VQ acoustic tokenizer."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.checkpoints import find_module_prefix, read_state_dict
from selfsup_audio.encoders.patch_embed import patch_grid, sincos_positions
from selfsup_audio.encoders.transformer import AudioEncoder, AudioTransformer
from selfsup_audio.frontends.fbank import FbankSettings
from selfsup_audio.methods.fbank_method import FbankMethod
from selfsup_audio.tokenizers.trained import AcousticTokenizer

__all__ = ["BEATsTokenizerTraining", "Estimator"]


class Estimator(nn.Module):
    """The tokenizer estimator: quantised codes -> teacher features (discarded after training).

    ``Linear(code_dim, D)`` + sine-cosine positions + a pre-LN transformer + ``Linear(D, D_t)``
    (BEATs: 3 blocks).

    Shapes:
        codes ``(B, N, code_dim)``, grid ``(T', F')``, padding ``(B, N)`` -> ``(B, N, D_t)``.
    """

    def __init__(self, code_dim: int, dim: int, depth: int, heads: int, out_dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(code_dim, dim)
        self.transformer = AudioTransformer(dim, depth, heads, 4 * dim)
        self.head = nn.Linear(dim, out_dim)
        self.dim = dim

    def forward(self, codes: Tensor, grid: tuple[int, int], padding_mask: Tensor) -> Tensor:
        x = self.proj(codes) + sincos_positions(*grid, self.dim, codes.device).to(codes.dtype)
        return self.head(self.transformer(x, padding_mask))


class BEATsTokenizerTraining(FbankMethod):
    """Train an :class:`~selfsup_audio.tokenizers.AcousticTokenizer` by self-distillation
    (BEATs, arXiv 2212.09058, Sec. 3.2, "self-distilled tokenizer").

    .. math::

        L = \\frac{1}{|V|} \\sum_{t \\in V} \\big(1 - \\cos(\\hat o_t, o_t)\\big)
            + \\beta \\lVert \\ell_2(e_t) - \\mathrm{sg}[v_{z_t}] \\rVert^2

    ``o_t`` are the frozen teacher's (the previous iteration's SSL encoder, read from
    ``teacher_checkpoint``) last-layer outputs on the whole clip, ``e_t`` the tokenizer's
    pre-quantisation vectors, ``v_{z_t}`` their nearest unit codes, ``\\hat o_t`` the
    :class:`Estimator` applied to the straight-through quantised vectors; ``V`` the non-padded
    patches. The codebook learns by EMA (no gradient), so the paper's codebook term is the EMA
    update. Logs the batch code perplexity and the number of codes used: a collapsing codebook
    shows as falling perplexity.

    What it trains is the tokenizer; the next stage reads it from this run's *checkpoint*
    (``BEATs(tokenizer_checkpoint=...)``), codebook included. :meth:`embed` and
    :meth:`export_encoder` give the tokenizer's *backbone* as a feature extractor (mean of its
    outputs over non-padded patches; exported as an
    :class:`~selfsup_audio.encoders.AudioEmbedder`, waveforms in); the head, codebook,
    estimator and teacher are not exported, since an embedding file or folder holds vectors,
    not discrete labels.

    Args:
        teacher_checkpoint: ``selfsup fit`` checkpoint of a :class:`~selfsup_audio.methods.BEATs`
            run (default None: a randomly initialised ``teacher_size`` teacher; only for tests).
        teacher_size: Preset of the random teacher (default ``"tiny"``).
        size: Tokenizer backbone preset (default ``"tiny"``).
        depth: Tokenizer blocks (default None: the preset's).
        patch: Patch size, the SSL model's (default (16, 16); taken from the teacher when a
            checkpoint is given).
        num_mel_bins: Input bins (default 128).
        codebook_size: ``K`` (default 1024). code_dim: Code size (default 256).
        decay: Codebook EMA decay (default 0.99). beta: Commitment weight (default 1.0).
        restart_dead_codes: Re-seed unused codes (default True).
        estimator_depth: Estimator blocks (default 3).

    Shapes:
        batch: as :class:`~selfsup_audio.methods.BEATs`; embed -> ``(B, tokenizer dim)``.

    Raises:
        MalformedBatchError: a batch that is not fbank features.
    """

    def __init__(
        self,
        teacher_checkpoint: str | None = None,
        teacher_size: str = "tiny",
        size: str = "tiny",
        depth: int | None = None,
        patch: tuple[int, int] = (16, 16),
        num_mel_bins: int = 128,
        codebook_size: int = 1024,
        code_dim: int = 256,
        decay: float = 0.99,
        beta: float = 1.0,
        restart_dead_codes: bool = True,
        estimator_depth: int = 3,
    ) -> None:
        super().__init__()
        if teacher_checkpoint is not None:
            state = read_state_dict(teacher_checkpoint)
            self.teacher = AudioEncoder.from_state_dict(
                state, find_module_prefix(state, "encoder", "ffn_dim")
            )
        else:
            self.teacher = AudioEncoder(teacher_size, patch=patch)
        self.teacher.requires_grad_(False)
        self.teacher.eval()
        self.patch = self.teacher.patch
        self.num_mel_bins = num_mel_bins
        self.fbank_settings = FbankSettings()
        self.tokenizer = AcousticTokenizer(
            size, self.patch, codebook_size, code_dim, depth, decay, beta, restart_dead_codes
        )
        enc = self.tokenizer.encoder.config
        self.estimator = Estimator(
            code_dim, enc["dim"], estimator_depth, enc["heads"], self.teacher.dim
        )

    def train(self, mode: bool = True) -> BEATsTokenizerTraining:
        super().train(mode)
        self.teacher.eval()
        return self

    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        fbank, frame_mask = self._inputs(batch)
        with torch.no_grad():
            target, pad = self.teacher(fbank, frame_mask)
        q, _ = self.tokenizer.quantize(fbank, frame_mask)
        codes = q.quantized.new_zeros(*pad.shape, q.quantized.shape[-1])
        codes = codes.masked_scatter(~pad[..., None], q.quantized)
        grid = patch_grid(fbank.shape[1], fbank.shape[2], self.patch)
        pred = self.estimator(codes, grid, pad)
        cos = F.cosine_similarity(pred[~pad], target[~pad], dim=-1)
        distill = (1.0 - cos).mean()
        return {
            "loss": distill + q.commitment,
            "distill": distill.detach(),
            "commitment": q.commitment.detach(),
            "perplexity": q.perplexity,
            "codes_used": q.used.float(),
        }

    def embedding_encoder(self) -> AudioEncoder:
        """The tokenizer's backbone (what :meth:`embed` pools and the export ships)."""
        return self.tokenizer.encoder
