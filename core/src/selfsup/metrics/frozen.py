"""The frozen-evaluation context: every probe embeds with the encoder in eval mode, no gradients.

Probes run in the middle of training (monitors every N epochs) and after it; both must leave the
model exactly as they found it. ``module.train()`` after the probe would be wrong: a frozen
content encoder or an EMA teacher is meant to stay in eval mode, so each submodule's own flag is
put back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

__all__ = ["frozen_eval"]


@contextmanager
def frozen_eval(module: Any) -> Iterator[None]:
    """Eval mode and ``torch.no_grad()`` for the block; every submodule's ``training`` flag is
    restored afterwards, also when the block raises.

    ``module`` may be any callable: only an ``nn.Module`` has modes to switch (a bound
    ``method.embed`` is switched through its owner).

    Examples:
        >>> net = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
        >>> net[1].eval()  # a submodule kept in eval mode on purpose
        Dropout(p=0.5, inplace=False)
        >>> with frozen_eval(net):
        ...     out = net(torch.ones(1, 2))
        >>> net.training, net[1].training, out.requires_grad
        (True, False, False)
    """
    owner = getattr(module, "__self__", module)  # a bound method's module
    modules = list(owner.modules()) if isinstance(owner, nn.Module) else []
    flags = [(m, m.training) for m in modules]
    if modules:
        owner.eval()  # through eval(): a module may override train() to do more than the flag
    try:
        with torch.no_grad():
            yield
    finally:
        for m, training in flags:
            m.training = training
