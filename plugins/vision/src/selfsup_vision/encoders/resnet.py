"""torchvision ResNets (random init or local weights) with an optional CIFAR stem."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from selfsup.checkpoints import read_state_dict
from selfsup.export import exportable

__all__ = ["RESNET_DEPTHS", "ResNet18Encoder", "ResNetEncoder", "load_state_dict_file"]

#: Supported depths and their feature size.
RESNET_DEPTHS = {18: 512, 34: 512, 50: 2048, 101: 2048}


def load_state_dict_file(path: str) -> dict[str, Tensor]:
    """Read a plain state dict saved with ``torch.save`` (``weights_only=True``, no pickle code).

    A dict holding a ``"state_dict"`` entry (Lightning checkpoints) is unwrapped.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file holds no ``{name: tensor}`` mapping.
    """
    state = read_state_dict(path, wrappers=("state_dict",))
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError(f"{path!r} does not hold a state dict (a mapping of names to tensors).")
    return state


@exportable("vision:resnet")
class ResNetEncoder(nn.Module):
    """``torchvision.models.resnet{depth}(weights=None)`` without its classifier (arXiv 1512.03385).

    With ``cifar_stem`` the 7x7 stride-2 convolution and the max-pool are replaced by a 3x3
    stride-1 convolution, as in SimCLR's CIFAR-10 experiments (Chen et al., arXiv 2002.05709,
    appendix B.9): a 32x32 image keeps a 4x4 map before the global pool instead of 1x1.
    torchvision is imported here, at construction; nothing is downloaded.

    Weights: ``weights_path`` loads a local state dict, either this encoder's own
    (:meth:`export`, keys ``net.*``) or a torchvision ResNet's (keys ``conv1.weight`` ...,
    ``fc.*`` ignored). Two ways out: ``selfsup.export.save_pretrained(encoder, folder)`` (and
    ``selfsup export``) writes a ``vision:resnet`` folder that
    :func:`selfsup.export.load_pretrained` rebuilds; :meth:`export` writes a plain state dict,
    loadable with ``torch.load(weights_only=True)`` into this class or, minus the ``net.``
    prefix, into ``torchvision.models.resnet{depth}`` with ``strict=False``.

    Args:
        depth: 18, 34, 50 or 101 (default 18).
        in_channels: Image channels ``C`` (default 3).
        cifar_stem: 3x3 stride-1 stem without max-pool, for 32x32 images (default True).
        weights_path: Local state-dict file to load (default None: random init).

    Shapes:
        x: ``(B, C, H, W)`` -> ``(B, out_dim)`` with ``out_dim`` 512 (18/34) or 2048 (50/101).

    Raises:
        ValueError: unknown depth, ``in_channels < 1``, or weights that do not fit
            (e.g. ImageNet-stem weights into a CIFAR-stem encoder).
        FileNotFoundError: ``weights_path`` does not exist.

    Examples:
        >>> encoder = ResNetEncoder(18, cifar_stem=True).eval()
        >>> encoder(torch.rand(2, 3, 32, 32)).shape
        torch.Size([2, 512])
    """

    def __init__(
        self,
        depth: int = 18,
        in_channels: int = 3,
        cifar_stem: bool = True,
        weights_path: str | None = None,
    ) -> None:
        super().__init__()
        if depth not in RESNET_DEPTHS:
            raise ValueError(f"depth must be one of {sorted(RESNET_DEPTHS)}, got {depth}.")
        if in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {in_channels}.")
        from torchvision import models

        net = getattr(models, f"resnet{depth}")(weights=None)
        if cifar_stem:
            net.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
            net.maxpool = nn.Identity()
        elif in_channels != 3:
            net.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        net.fc = nn.Identity()
        self.net = net
        self.depth = depth
        self.in_channels = in_channels
        self.cifar_stem = cifar_stem
        self.out_dim = RESNET_DEPTHS[depth]
        if weights_path is not None:
            self.load_weights(weights_path)

    def load_weights(self, path: str) -> None:
        """Load a local state dict (this class's ``net.*`` keys or torchvision's keys)."""
        state = load_state_dict_file(path)
        if not any(k.startswith("net.") for k in state):
            state = {f"net.{k}": v for k, v in state.items() if not k.startswith("fc.")}
        own = self.state_dict()
        wrong = [
            f"{k}: file {tuple(v.shape)} vs encoder {tuple(own[k].shape)}"
            for k, v in state.items()
            if k in own and own[k].shape != v.shape
        ]
        if wrong:
            raise ValueError(
                f"weights in {path!r} do not fit ResNetEncoder(depth={self.depth}, "
                f"in_channels={self.in_channels}, cifar_stem={self.cifar_stem}): {wrong[:3]}; "
                "ImageNet weights need cifar_stem=False."
            )
        missing, unexpected = self.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(
                f"weights in {path!r} do not match a ResNet-{self.depth}: missing {missing[:5]}, "
                f"unexpected {unexpected[:5]}."
            )

    def export(self, path: str) -> None:
        """Save the encoder's weights as a plain state dict (``torch.save``).

        For a folder that rebuilds the encoder by itself use
        ``selfsup.export.save_pretrained(encoder, folder)`` instead.
        """
        torch.save(self.state_dict(), path)

    def export_config(self) -> dict[str, Any]:
        """The architecture for :func:`selfsup.export.save_pretrained`; the weights travel in
        the folder, so ``weights_path`` (a file on this machine) is left out."""
        return {"depth": self.depth, "in_channels": self.in_channels, "cifar_stem": self.cifar_stem}

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


@exportable("vision:resnet18")
class ResNet18Encoder(ResNetEncoder):
    """:class:`ResNetEncoder` with ``depth=18`` (kept for the SimCLR configs written before).

    Args:
        in_channels: Image channels ``C`` (default 3).
        cifar_stem: Use the 3x3 stride-1 stem for 32x32 images (default True).
        weights_path: Local state-dict file to load (default None).

    Shapes:
        x: ``(B, C, H, W)`` -> ``(B, 512)``.

    Examples:
        >>> ResNet18Encoder().out_dim
        512
    """

    def __init__(
        self, in_channels: int = 3, cifar_stem: bool = True, weights_path: str | None = None
    ) -> None:
        super().__init__(18, in_channels, cifar_stem, weights_path)

    def export_config(self) -> dict[str, Any]:
        """``in_channels`` and ``cifar_stem`` (the depth is fixed at 18)."""
        return {"in_channels": self.in_channels, "cifar_stem": self.cifar_stem}
