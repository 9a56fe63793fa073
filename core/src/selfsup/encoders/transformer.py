"""A modality-agnostic transformer trunk: tokens in, contextual tokens out.

Plugins own the tokenizers (patch embedders for spectrograms and images, feature tokenizers for
tables, node-feature projections for graphs); the trunk only sees ``(B, L, D)`` token tensors and an
optional padding mask, so one trunk can be shared across modalities (``SSLModule(shared=...)``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.checks import check_positive
from selfsup.encoders.pooling import masked_mean
from selfsup.encoders.torch_encoder_keys import rename_torch_encoder_keys
from selfsup.export.pretrained import exportable

# masked_mean lives in selfsup.encoders.pooling; kept importable from here for older code
__all__ = ["TRUNK_INITS", "TransformerBlock", "TransformerTrunk", "masked_mean"]

#: Initialisations of :class:`TransformerTrunk` (``init=``).
TRUNK_INITS = ("xavier", "torch")


class TransformerBlock(nn.Module):
    """Pre-norm transformer block: ``x + Attn(LN(x))``, then ``x + MLP(LN(x))``.

    Attention is :func:`torch.nn.functional.scaled_dot_product_attention` (flash / memory-
    efficient kernels where available), with padded keys excluded.

    Args:
        dim: Token width ``D``.
        num_heads: Attention heads (must divide ``D``).
        mlp_ratio: Hidden width of the MLP as a multiple of ``D`` (default 4).
        dropout: Dropout on attention weights, between the MLP's layers and after each residual
            branch (default 0), as ``torch.nn.TransformerEncoderLayer`` places it.
        mlp_dim: Hidden width of the MLP; overrides ``mlp_ratio`` (default None).

    Shapes:
        x: ``(B, L, D)``; padding_mask: ``(B, L)`` bool (``True`` = padding) -> ``(B, L, D)``.

    Examples:
        >>> block = TransformerBlock(dim=16, num_heads=2, mlp_dim=24)
        >>> block(torch.randn(2, 3, 16)).shape, block.mlp[0].out_features
        (torch.Size([2, 3, 16]), 24)
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        mlp_dim: int | None = None,
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"num_heads ({num_heads}) must divide dim ({dim}).")
        self.num_heads = num_heads
        self.dropout = dropout
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        hidden = mlp_dim if mlp_dim is not None else int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, padding_mask: Tensor | None = None) -> Tensor:
        b, length, d = x.shape
        qkv = self.qkv(self.norm1(x)).view(b, length, 3, self.num_heads, d // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, H, L, Dh)
        attn_mask = None
        if padding_mask is not None:
            attn_mask = (~padding_mask)[:, None, None, :]  # True = may attend
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0
        )
        x = x + self.drop(self.proj(out.transpose(1, 2).reshape(b, length, d)))
        # the dropout between the MLP's layers is applied here, not as a module in self.mlp,
        # so the parameter names stay mlp.0 / mlp.2 for checkpoints written before it existed
        fc1, act, fc2 = self.mlp
        return x + self.drop(fc2(self.drop(act(fc1(self.norm2(x))))))


@exportable("selfsup:transformer_trunk")
class TransformerTrunk(nn.Module):
    """A stack of :class:`TransformerBlock` s with a final LayerNorm, shared across modalities.

    Position information is the tokenizer's job (each modality has its own notion of position:
    time-frequency patches, feature identities, none for node sets), so the trunk adds none.

    Args:
        dim: Token width ``D`` every tokenizer feeding the trunk must produce.
        depth: Number of blocks (default 4).
        num_heads: Attention heads (default 4).
        mlp_ratio: MLP width multiple (default 4).
        dropout: Dropout (default 0).
        mlp_dim: MLP hidden width; overrides ``mlp_ratio`` (default None).
        init: ``"xavier"`` (default; MAE's: xavier-uniform linears, zero biases) or ``"torch"``
            (``nn.TransformerEncoderLayer``'s: xavier-uniform ``qkv`` and zero attention biases,
            PyTorch's default ``nn.Linear`` initialisation elsewhere; what T-JEPA's encoder
            was tuned with).

    Checkpoints of pre-norm GELU ``torch.nn.TransformerEncoderLayer`` stacks (the layout of
    the ``TokenTransformer`` s that vision and tabular had before this trunk replaced them:
    ``layers.{i}.self_attn.in_proj_weight``, ``linear1``, ...) load into it: their keys are
    renamed on load (:func:`selfsup.encoders.torch_encoder_keys.rename_torch_encoder_keys`).

    Shapes:
        tokens: ``(B, L, D)``; padding_mask: ``(B, L)`` bool (``True`` = padding) ->
        ``(B, L, D)``. Outputs at padded positions are computed but meaningless; pool with
        :func:`masked_mean`.

    Raises:
        ValueError: On bad sizes, or tokens whose width is not ``D``.

    Example:
        >>> trunk = TransformerTrunk(dim=32, depth=2, num_heads=4)
        >>> trunk(torch.randn(2, 5, 32)).shape
        torch.Size([2, 5, 32])
    """

    def __init__(
        self,
        dim: int,
        depth: int = 4,
        num_heads: int = 4,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        mlp_dim: int | None = None,
        init: str = "xavier",
    ) -> None:
        super().__init__()
        if init not in TRUNK_INITS:
            raise ValueError(f"init must be one of {TRUNK_INITS}, got {init!r}.")
        for name, value in (("dim", dim), ("depth", depth), ("num_heads", num_heads)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}.")
        check_positive("mlp_ratio", mlp_ratio)
        if mlp_dim is not None and (
            isinstance(mlp_dim, bool) or not isinstance(mlp_dim, int) or mlp_dim < 1
        ):
            raise ValueError(f"mlp_dim must be a positive int or None, got {mlp_dim!r}.")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}.")
        self.dim = dim
        self.blocks = nn.ModuleList(
            TransformerBlock(dim, num_heads, mlp_ratio, dropout, mlp_dim) for _ in range(depth)
        )
        self.norm = nn.LayerNorm(dim)
        if init == "xavier":
            self.apply(_init_weights)
        else:
            for block in self.blocks:
                nn.init.xavier_uniform_(block.qkv.weight)
                nn.init.zeros_(block.qkv.bias)
                nn.init.zeros_(block.proj.bias)
        self.register_load_state_dict_pre_hook(_rename_torch_encoder_keys)

    def forward(self, tokens: Tensor, padding_mask: Tensor | None = None) -> Tensor:
        return self.norm(self.block_outputs(tokens, padding_mask)[-1])

    def block_outputs(self, tokens: Tensor, padding_mask: Tensor | None = None) -> list[Tensor]:
        """Every block's output, first block first, before the final LayerNorm (the layers
        data2vec averages into targets, :func:`selfsup.targets.layer_average_targets`).

        Shapes:
            tokens ``(B, L, D)``, padding_mask ``(B, L)`` -> ``depth`` tensors ``(B, L, D)``.
        """
        if tokens.dim() != 3 or tokens.shape[-1] != self.dim:
            raise ValueError(
                f"tokens must have shape (B, L, {self.dim}), got {tuple(tokens.shape)}; the "
                "modality tokenizer's output width must equal the trunk's dim."
            )
        if padding_mask is not None:
            if padding_mask.shape != tokens.shape[:2] or padding_mask.dtype != torch.bool:
                raise ValueError(
                    f"padding_mask must be a bool tensor of shape {tuple(tokens.shape[:2])}, "
                    f"got {padding_mask.dtype} {tuple(padding_mask.shape)}."
                )
            if bool(padding_mask.all(dim=1).any()):
                raise ValueError("a row of padding_mask is all padding: nothing to attend to.")
        x, outputs = tokens, []
        for block in self.blocks:
            x = block(x, padding_mask)
            outputs.append(x)
        return outputs


def _rename_torch_encoder_keys(
    module: nn.Module, state_dict: dict[str, Tensor], prefix: str, *args: object
) -> None:
    rename_torch_encoder_keys(state_dict, prefix)


def _init_weights(module: nn.Module) -> None:
    # MAE initialisation: xavier-uniform linears, zero biases, identity LayerNorms
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
