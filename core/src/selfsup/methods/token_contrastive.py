"""Modality-agnostic contrastive pre-training of a (shareable) transformer trunk on tokens."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from selfsup.encoders.heads import ProjectionHead, mlp_blocks
from selfsup.encoders.pooling import masked_mean
from selfsup.experiment.method import Method
from selfsup.losses import nt_xent
from selfsup.masking import gather_tokens, padded_token_mask, random_token_mask
from selfsup.methods.token_inputs import token_inputs, tokenize

__all__ = ["TokenContrastive"]


class TokenContrastive(Method):
    """SimCLR on token sets: two random token subsets of a sample are a positive pair.

    A modality's tokenizer (from its plugin: patches, feature tokens, ...) turns a sample into
    ``L`` tokens; each view keeps an exact random ``keep_ratio`` share of them (core
    :func:`~selfsup.masking.random_token_mask`, MAE-style: dropped tokens never enter the trunk),
    the trunk encodes the kept tokens, their mean ``h`` goes through an MLP projector ``g`` and
    NT-Xent (:func:`selfsup.losses.nt_xent`) pulls the two views of each sample together:

    .. math::

        z^{(v)} = g\\Big(\\tfrac{1}{|K_v|} \\sum_{j \\in K_v} T(t)_j\\Big), \\qquad
        \\mathcal{L} = \\mathrm{NT\\text{-}Xent}(z^{(1)}, z^{(2)}; \\tau)

    Token dropping is the only augmentation, so the method needs nothing modality-specific.
    Variable-length modalities (audio clips) return ``(tokens, padding_mask)`` from the tokenizer:
    each view then keeps ``keep_ratio`` of each sample's *real* tokens
    (:func:`~selfsup.masking.padded_token_mask`), padding never enters attention
    (``key_padding_mask``) nor the means. The trunk ``T`` can be one
    :class:`~selfsup.encoders.TransformerTrunk` shared by tasks of different modalities
    (``Task(share={"trunk": "trunk"})`` with ``SSLModule(shared=...)``).

    Args:
        tokenizer: Maps the batch's inputs to ``(B, L, D)`` tokens, or to ``(tokens,
            padding_mask)`` with a ``(B, L)`` bool mask, ``True`` on padding.
        trunk: Maps ``(B, L', D)`` tokens to ``(B, L', D)`` (a ``TransformerTrunk``).
        dim: Token width ``D``.
        proj_dim: Projector output width (default 64).
        keep_ratio: Share of tokens each view keeps (default 0.5).
        temperature: NT-Xent temperature (default 0.2).

    Shapes:
        batch: ``(inputs, labels)`` or ``inputs`` (a tensor or a dict the tokenizer reads);
        ``embed`` -> ``(B, D)`` (mean of the trunk's outputs over all tokens).

    Raises:
        ValueError: On a keep ratio outside ``(0, 1]``.
        MalformedBatchError: When the tokenizer does not return ``(B, L, D)`` tokens.
    """

    modality = "tokens"

    def __init__(
        self,
        tokenizer: nn.Module,
        trunk: nn.Module,
        dim: int,
        proj_dim: int = 64,
        keep_ratio: float = 0.5,
        temperature: float = 0.2,
    ) -> None:
        super().__init__()
        if not 0.0 < keep_ratio <= 1.0:
            raise ValueError(f"keep_ratio must lie in (0, 1], got {keep_ratio}.")
        self.tokenizer = tokenizer
        self.trunk = trunk
        self.dim = int(dim)
        self.keep_ratio = float(keep_ratio)
        self.temperature = float(temperature)
        self.projector = ProjectionHead(mlp_blocks([dim, dim, proj_dim]))

    def _tokens(self, batch: Any) -> tuple[Tensor, Tensor | None]:
        return tokenize(self.tokenizer, token_inputs(batch, type(self).__name__), self.dim)

    def _view(self, tokens: Tensor, padding: Tensor | None) -> Tensor:
        b, length, _ = tokens.shape
        if padding is None:
            mask = random_token_mask(b, length, 1.0 - self.keep_ratio, device=tokens.device)
            return self.projector(self.trunk(gather_tokens(tokens, mask.keep_idx)).mean(dim=1))
        m = padded_token_mask(padding, 1.0 - self.keep_ratio)
        kept = self.trunk(gather_tokens(tokens, m.keep_idx), m.keep_padding)
        return self.projector(masked_mean(kept, m.keep_padding))

    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        tokens, padding = self._tokens(batch)
        z1, z2 = self._view(tokens, padding), self._view(tokens, padding)
        loss = nt_xent(z1, z2, self.temperature)
        return {"loss": loss}

    def embed(self, batch: Any) -> Tensor:
        tokens, padding = self._tokens(batch)
        return masked_mean(self.trunk(tokens, padding), padding)

    def representations(self, batch: Any) -> Tensor:
        with torch.no_grad():
            return self.embed(batch)
