"""Fully sharded data parallel (PyTorch's FSDP2, ``fully_shard``) for the transformer encoders.

Under Lightning's ``ModelParallelStrategy`` each rank keeps ``1/W`` of every parameter, gradient
and optimiser state; a block's full weights exist only while it runs. Which modules become a
unit is the one decision that matters: :func:`shard_transformer_blocks` makes every transformer
block its own unit (the block is the natural unit: its weights are all-gathered just before it
runs and freed after), then each method as a whole (everything else: tokenizers, heads,
predictors). :class:`~selfsup.experiment.SSLModule` does this in ``configure_model`` when the
trainer's strategy is ``ModelParallelStrategy``; nothing else changes for a method.

The block types are the core :class:`~selfsup.encoders.transformer.TransformerBlock`, those
plugins register (:func:`register_block`, e.g. the audio encoder's block) and Hugging Face's
``ViTLayer`` when ``transformers`` is installed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from torch import nn

from selfsup.encoders.transformer import TransformerBlock

__all__ = ["block_types", "register_block", "shard_transformer_blocks", "unsharded"]

_BLOCKS: list[type[nn.Module]] = [TransformerBlock]


def register_block(cls: type[nn.Module]) -> type[nn.Module]:
    """Declare ``cls`` a transformer block for sharding (usable as a class decorator).

    Examples:
        >>> from torch import nn
        >>> @register_block
        ... class MyBlock(nn.Module):
        ...     pass
        >>> MyBlock in block_types()
        True
    """
    if cls not in _BLOCKS:
        _BLOCKS.append(cls)
    return cls


def block_types() -> tuple[type[nn.Module], ...]:
    """The module classes :func:`shard_transformer_blocks` shards one by one."""
    found = list(_BLOCKS)
    try:  # an optional dependency: only when the vision plugin's HF ViT may be in use
        from transformers.models.vit.modeling_vit import ViTLayer
    except ImportError:
        pass
    else:
        found.append(ViTLayer)
    return tuple(found)


def shard_transformer_blocks(module: nn.Module, mesh: Any, **kwargs: Any) -> int:
    """``fully_shard`` every transformer block inside ``module``, then ``module`` itself.

    Parameters of modules already sharded (a trunk shared with another method) stay in their
    unit; the parent's unit takes the rest. A module that is already sharded is left alone.

    Args:
        module: A method (or any module) holding transformer encoders.
        mesh: The 1-D data-parallel ``DeviceMesh`` to shard over.
        **kwargs: Passed to ``fully_shard`` (e.g. ``reshard_after_forward``,
            ``mp_policy``).

    Returns:
        The number of blocks sharded as their own unit.

    Examples:
        >>> shard_transformer_blocks(method, mesh)  # doctest: +SKIP
        4
    """
    from torch.distributed.fsdp import FSDPModule, fully_shard

    if isinstance(module, FSDPModule):
        return 0
    types = block_types()
    # blocks of a module shared with another method are sharded once, by whoever comes first
    blocks = [m for m in module.modules() if isinstance(m, types) and not isinstance(m, FSDPModule)]
    for block in blocks:
        fully_shard(block, mesh=mesh, **kwargs)
    fully_shard(module, mesh=mesh, **kwargs)
    return len(blocks)


@contextlib.contextmanager
def unsharded(module: nn.Module) -> Iterator[nn.Module]:
    """Gather a sharded module's own parameters for calls that bypass its ``forward``.

    FSDP2 gathers a unit's parameters in a hook on its ``forward``; a method's ``embed`` or
    ``representations`` is another entry point, so :class:`~selfsup.experiment.SSLModule` runs
    them inside this context (its blocks, being units of their own, gather themselves). A
    module that is not sharded passes through.

    Examples:
        >>> with unsharded(nn.Linear(2, 2)) as m:
        ...     m.weight.shape
        torch.Size([2, 2])
    """
    from torch.distributed.fsdp import FSDPModule

    if not isinstance(module, FSDPModule):
        yield module
        return
    module.unshard()
    try:
        yield module
    finally:
        module.reshard()
