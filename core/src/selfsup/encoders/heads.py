"""Projection and prediction heads: the MLPs joint-embedding methods put on top of an encoder.

One zoo, after ``lightly/models/modules/heads.py``: :class:`ProjectionHead` stacks blocks
``(in_dim, out_dim, norm, activation)`` into ``Linear[-norm][-activation]`` layers, and each
preset names one paper's layout with that reference's default sizes. Every head *is* an
``nn.Sequential`` of its layers (no wrapper attribute), so ``state_dict`` keys stay
``projector.0.weight``, ``projector.1.running_mean``, ... as in the hand-written heads the
methods used before; checkpoints saved with those load unchanged.

A Linear followed by a BatchNorm has no bias: BatchNorm subtracts each feature's batch mean,
which cancels a bias exactly, so the parameter would only waste memory and weight decay. (Other
norms keep it: LayerNorm subtracts a mean across features, which a per-feature bias survives.)
A checkpoint of a hand-written head that has such a bias still loads, exactly: the bias moves
into the BatchNorm's running mean.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeAlias

from torch import Tensor, nn

__all__ = [
    "BYOLPredictionHead",
    "BYOLProjectionHead",
    "BarlowTwinsProjectionHead",
    "HeadBlock",
    "MoCoV3PredictionHead",
    "MoCoV3ProjectionHead",
    "ProjectionHead",
    "SimCLRProjectionHead",
    "VICRegProjectionHead",
    "mlp_blocks",
]

#: One layer of a head: ``(in_dim, out_dim, norm or None, activation or None)``.
HeadBlock: TypeAlias = tuple[int, int, nn.Module | None, nn.Module | None]


def mlp_blocks(
    dims: Sequence[int],
    *,
    batch_norm: bool = True,
    activation: Callable[[], nn.Module] | None = None,
) -> list[HeadBlock]:
    """Blocks of an MLP through ``dims``: ``Linear-BN-ReLU`` between sizes, a plain last Linear.

    .. math::

        z = W_L\\, \\phi(W_{L-1} \\cdots \\phi(W_1 h)) + b_L, \\qquad
        \\phi(u) = \\mathrm{ReLU}(\\mathrm{BN}(u))

    (``batch_norm=False``: ``phi(u) = ReLU(u + b)``, the hidden Linears keep their bias;
    ``activation`` replaces the ReLU, e.g. GRACE's ELU or GraphMAE2's PReLU).

    Args:
        dims: ``[in_dim, hidden_1, ..., out_dim]``, at least two sizes, each >= 1.
        batch_norm: ``BatchNorm1d`` after every hidden Linear (default True).
        activation: Builds each hidden layer's activation, called once per layer so learned
            ones (``nn.PReLU``) are not shared (default None: ``nn.ReLU(inplace=True)``).

    Returns:
        ``len(dims) - 1`` blocks for :class:`ProjectionHead`; the default ReLUs are in place.

    Raises:
        ValueError: fewer than two sizes, or a size < 1.

    Examples:
        >>> [(i, o, type(n).__name__, type(a).__name__) for i, o, n, a in mlp_blocks([8, 16, 4])]
        [(8, 16, 'BatchNorm1d', 'ReLU'), (16, 4, 'NoneType', 'NoneType')]
        >>> [type(a).__name__ for *_, a in mlp_blocks([8, 16, 4], activation=nn.ELU)]
        ['ELU', 'NoneType']
    """
    dims = [int(d) for d in dims]
    if len(dims) < 2 or min(dims) < 1:
        raise ValueError(
            f"an MLP head needs at least an input and an output size, each >= 1, got {dims}."
        )
    blocks: list[HeadBlock] = []
    for d_in, d_out in zip(dims[:-2], dims[1:-1], strict=True):
        norm = nn.BatchNorm1d(d_out) if batch_norm else None
        act = nn.ReLU(inplace=True) if activation is None else activation()
        blocks.append((d_in, d_out, norm, act))
    blocks.append((dims[-2], dims[-1], None, None))
    return blocks


#: Norms that subtract a per-feature batch mean, so the Linear before them needs no bias.
_BATCH_NORMS = (nn.BatchNorm1d, nn.SyncBatchNorm)


def _layer_dims(input_dim: int, hidden_dim: int, output_dim: int, num_layers: int) -> list[int]:
    """``[input_dim, hidden_dim x (num_layers - 1), output_dim]``, checking ``num_layers``."""
    if isinstance(num_layers, bool) or int(num_layers) != num_layers or num_layers < 2:
        raise ValueError(f"num_layers must be an int >= 2, got {num_layers!r}.")
    return [input_dim, *[hidden_dim] * (int(num_layers) - 1), output_dim]


class ProjectionHead(nn.Sequential):
    """Linear layers, each optionally followed by a norm and an activation.

    ``ProjectionHead([(d_0, d_1, norm_1, act_1), ..., (d_{L-1}, d_L, norm_L, act_L)])`` is

    .. math::

        z = a_L(n_L(W_L \\cdots a_1(n_1(W_1 h + b_1)) \\cdots + b_L))

    with ``Linear(d_{i-1}, d_i, bias=False)`` when ``norm_i`` is a BatchNorm (it cancels the
    bias), ``bias=True`` otherwise, and the missing norms / activations left out. The layers
    are the module's own children, in order.

    Args:
        blocks: ``(in_dim, out_dim, norm or None, activation or None)`` per Linear
            (:data:`HeadBlock`; :func:`mlp_blocks` builds the usual MLP).

    Shapes:
        forward: ``(B, d_0)`` -> ``(B, d_L)``.

    Raises:
        ValueError: no blocks, or a block's ``in_dim`` is not the previous ``out_dim``.

    Examples:
        >>> import torch
        >>> head = ProjectionHead(mlp_blocks([512, 2048, 128]))
        >>> [(type(m).__name__, getattr(m, "bias", None) is not None) for m in head]
        [('Linear', False), ('BatchNorm1d', True), ('ReLU', False), ('Linear', True)]
        >>> head(torch.randn(4, 512)).shape
        torch.Size([4, 128])
    """

    def __init__(self, blocks: Sequence[HeadBlock]) -> None:
        if not blocks:
            raise ValueError("a ProjectionHead needs at least one block.")
        layers: list[nn.Module] = []
        for i, (d_in, d_out, norm, activation) in enumerate(blocks):
            if i and d_in != blocks[i - 1][1]:
                raise ValueError(
                    f"block {i} takes {d_in} features but block {i - 1} gives {blocks[i - 1][1]}."
                )
            layers.append(nn.Linear(d_in, d_out, bias=not isinstance(norm, _BATCH_NORMS)))
            layers += [m for m in (norm, activation) if m is not None]
        super().__init__(*layers)
        self.register_load_state_dict_pre_hook(_fold_bias_into_batch_norm)


def _fold_bias_into_batch_norm(
    head: nn.Sequential, state_dict: dict[str, Tensor], prefix: str, *args: object
) -> None:
    # A head written by hand may carry a bias on the Linear before a BatchNorm. In training the
    # norm cancels it; in evaluation it sits inside the running mean. Subtracting it from the
    # running mean loads such a checkpoint exactly, in both modes and for further training.
    layers = list(head)
    for i, (layer, after) in enumerate(zip(layers, layers[1:], strict=False)):
        bias, mean = f"{prefix}{i}.bias", f"{prefix}{i + 1}.running_mean"
        if (
            isinstance(layer, nn.Linear)
            and layer.bias is None
            and isinstance(after, _BATCH_NORMS)
            and bias in state_dict
            and mean in state_dict
        ):
            state_dict[mean] = state_dict[mean] - state_dict.pop(bias).to(state_dict[mean])


class SimCLRProjectionHead(ProjectionHead):
    """SimCLR's head ``g`` (Chen et al., arXiv 2002.05709, Sec. 2.1): ``z = W_2 ReLU(BN(W_1 h))``.

    ``num_layers - 1`` blocks ``Linear(no bias)-BN-ReLU``, then a Linear with bias and no norm.
    ``batch_norm=False`` gives the paper's equation as written, ``W_2 ReLU(W_1 h + b_1) + b_2``.
    The reference code (``google-research/simclr``) puts BN on the hidden layers, as here, and
    also a bias-free BN on the output (lightly's ``batch_norm=True``), which this head leaves
    out; SimCLR v2 (arXiv 2006.10029) uses ``num_layers=3``.

    Args:
        input_dim: Encoder feature size (default 2048, ResNet-50).
        hidden_dim: Hidden width (default 2048, the paper's).
        output_dim: Projection size, the loss space (default 128, the paper's).
        num_layers: Linear layers, >= 2 (default 2).
        batch_norm: BN after each hidden Linear (default True).

    Shapes:
        forward: ``(B, input_dim)`` -> ``(B, output_dim)``.

    Examples:
        >>> import torch
        >>> head = SimCLRProjectionHead(512, 512, 128)
        >>> [type(m).__name__ for m in head]
        ['Linear', 'BatchNorm1d', 'ReLU', 'Linear']
        >>> head(torch.randn(4, 512)).shape
        torch.Size([4, 128])
    """

    def __init__(
        self,
        input_dim: int = 2048,
        hidden_dim: int = 2048,
        output_dim: int = 128,
        num_layers: int = 2,
        batch_norm: bool = True,
    ) -> None:
        dims = _layer_dims(input_dim, hidden_dim, output_dim, num_layers)
        super().__init__(mlp_blocks(dims, batch_norm=batch_norm))


class BYOLProjectionHead(ProjectionHead):
    """BYOL's projector ``g`` (Grill et al., arXiv 2006.07733, Sec. 3.3): ``Linear-BN-ReLU-Linear``.

    A Linear to 4096 units, batch normalisation, ReLU, and a final Linear to 256 units. The
    hidden Linear has no bias (the BN cancels it); the last has one.

    Args:
        input_dim: Encoder feature size (default 2048, ResNet-50).
        hidden_dim: Hidden width (default 4096, the paper's).
        output_dim: Projection size (default 256, the paper's).

    Shapes:
        forward: ``(B, input_dim)`` -> ``(B, output_dim)``.

    Examples:
        >>> import torch
        >>> BYOLProjectionHead(512, 1024, 128)(torch.randn(4, 512)).shape
        torch.Size([4, 128])
    """

    def __init__(
        self, input_dim: int = 2048, hidden_dim: int = 4096, output_dim: int = 256
    ) -> None:
        super().__init__(mlp_blocks([input_dim, hidden_dim, output_dim]))


class BYOLPredictionHead(ProjectionHead):
    """BYOL's predictor ``q`` (arXiv 2006.07733, Sec. 3.3): the projector's layout on ``z``.

    ``q`` has the same architecture as ``g``: ``Linear(no bias)-BN-ReLU-Linear``, from the
    projection size back to it.

    Args:
        input_dim: Projection size (default 256).
        hidden_dim: Hidden width (default 4096).
        output_dim: Prediction size, equal to the target projection's (default 256).

    Shapes:
        forward: ``(B, input_dim)`` -> ``(B, output_dim)``.

    Examples:
        >>> import torch
        >>> BYOLPredictionHead(128, 1024, 128)(torch.randn(4, 128)).shape
        torch.Size([4, 128])
    """

    def __init__(self, input_dim: int = 256, hidden_dim: int = 4096, output_dim: int = 256) -> None:
        super().__init__(mlp_blocks([input_dim, hidden_dim, output_dim]))


class BarlowTwinsProjectionHead(ProjectionHead):
    """Barlow Twins' projector (Zbontar et al., arXiv 2103.03230, implementation details).

    Three Linear layers of 8192 units, the first two followed by batch normalisation and ReLU:
    ``num_layers - 1`` blocks ``Linear(no bias)-BN-ReLU``, then a Linear. The reference
    (``facebookresearch/barlowtwins``) drops the last Linear's bias too; this head keeps it
    (lightly's layout, and the one our methods always had). It cannot change the loss: the
    loss standardises each output dimension over the batch, which removes any bias.

    Args:
        input_dim: Encoder feature size (default 2048, ResNet-50).
        hidden_dim: Hidden width (default 8192, the paper's).
        output_dim: Projection size (default 8192, the paper's).
        num_layers: Linear layers, >= 2 (default 3, the paper's).

    Shapes:
        forward: ``(B, input_dim)`` -> ``(B, output_dim)``.

    Examples:
        >>> import torch
        >>> head = BarlowTwinsProjectionHead(512, 1024, 1024)
        >>> [type(m).__name__ for m in head][-4:]
        ['Linear', 'BatchNorm1d', 'ReLU', 'Linear']
        >>> head(torch.randn(4, 512)).shape
        torch.Size([4, 1024])
    """

    def __init__(
        self,
        input_dim: int = 2048,
        hidden_dim: int = 8192,
        output_dim: int = 8192,
        num_layers: int = 3,
    ) -> None:
        super().__init__(mlp_blocks(_layer_dims(input_dim, hidden_dim, output_dim, num_layers)))


class VICRegProjectionHead(ProjectionHead):
    """VICReg's expander (Bardes et al., arXiv 2105.04906, implementation details).

    Three fully connected layers of 8192 units, the first two followed by batch normalisation
    and ReLU: ``num_layers - 1`` blocks ``Linear(no bias)-BN-ReLU``, then a Linear with bias.
    The reference
    (``facebookresearch/vicreg``) puts the bias on the hidden Linears and none on the last; the
    BN cancels the former, and the loss cannot see the latter (variance and covariance are
    shift-invariant, and the invariance term compares two views shifted alike).

    Args:
        input_dim: Encoder feature size (default 2048, ResNet-50).
        hidden_dim: Hidden width (default 8192, the paper's).
        output_dim: Embedding size (default 8192, the paper's).
        num_layers: Linear layers, >= 2 (default 3, the paper's).

    Shapes:
        forward: ``(B, input_dim)`` -> ``(B, output_dim)``.

    Examples:
        >>> import torch
        >>> VICRegProjectionHead(512, 1024, 1024)(torch.randn(4, 512)).shape
        torch.Size([4, 1024])
    """

    def __init__(
        self,
        input_dim: int = 2048,
        hidden_dim: int = 8192,
        output_dim: int = 8192,
        num_layers: int = 3,
    ) -> None:
        super().__init__(mlp_blocks(_layer_dims(input_dim, hidden_dim, output_dim, num_layers)))


def _moco_v3_blocks(dims: list[int]) -> list[HeadBlock]:
    # MoCo v3 ends its heads with a BatchNorm without affine parameters ("last_bn")
    blocks = mlp_blocks(dims)
    d_in, d_out, _, _ = blocks[-1]
    blocks[-1] = (d_in, d_out, nn.BatchNorm1d(d_out, affine=False), None)
    return blocks


class MoCoV3ProjectionHead(ProjectionHead):
    """MoCo v3's projector (Chen, Xie and He, arXiv 2104.02057, Sec. 4): ``num_layers - 1``
    blocks ``Linear(no bias)-BN-ReLU``, then a Linear and a BatchNorm without affine
    parameters (the reference's ``_build_mlp(..., last_bn=True)``).

    Args:
        input_dim: Encoder feature size (default 2048, ResNet-50).
        hidden_dim: Hidden width (default 4096, the paper's).
        output_dim: Embedding size (default 256, the paper's).
        num_layers: Linear layers, >= 2 (default 3, the paper's projector).

    Shapes:
        forward: ``(B, input_dim)`` -> ``(B, output_dim)``.

    Examples:
        >>> head = MoCoV3ProjectionHead(384, 512, 64)
        >>> [type(m).__name__ for m in head][-2:], head[-1].affine
        (['Linear', 'BatchNorm1d'], False)
    """

    def __init__(
        self,
        input_dim: int = 2048,
        hidden_dim: int = 4096,
        output_dim: int = 256,
        num_layers: int = 3,
    ) -> None:
        super().__init__(
            _moco_v3_blocks(_layer_dims(input_dim, hidden_dim, output_dim, num_layers))
        )


class MoCoV3PredictionHead(ProjectionHead):
    """MoCo v3's predictor: MoCo v3's projector layout with two Linear layers, on the
    projection (``Linear(no bias)-BN-ReLU-Linear-BN``, the last BN without affine parameters).

    Args:
        input_dim: Projection size (default 256).
        hidden_dim: Hidden width (default 4096, the paper's).
        output_dim: Prediction size, the projection's (default 256).

    Shapes:
        forward: ``(B, input_dim)`` -> ``(B, output_dim)``.

    Examples:
        >>> import torch
        >>> MoCoV3PredictionHead(64, 128, 64)(torch.randn(4, 64)).shape
        torch.Size([4, 64])
    """

    def __init__(self, input_dim: int = 256, hidden_dim: int = 4096, output_dim: int = 256) -> None:
        super().__init__(_moco_v3_blocks([input_dim, hidden_dim, output_dim]))
