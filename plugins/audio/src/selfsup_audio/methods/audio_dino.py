"""DINO on fbanks: self-distillation across time crops of a clip, on the BEATs patch trunk."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from selfsup.encoders import DINOProjectionHead
from selfsup.teachers import SelfDistillationTeacher
from selfsup_audio.encoders.embedder import EMBED_LAYERS, POOLINGS, clip_embedding
from selfsup_audio.encoders.transformer import AudioEncoder
from selfsup_audio.frontends.fbank import FbankSettings
from selfsup_audio.methods.fbank_method import FbankMethod

__all__ = ["AudioDINO", "random_frame_crops"]


def random_frame_crops(
    fbank: Tensor, frame_mask: Tensor | None, frames: int
) -> tuple[Tensor, Tensor]:
    """One random window of ``frames`` frames per clip, inside the clip's own frames.

    A clip with ``L >= frames`` real frames gives a window starting uniformly in
    ``[0, L - frames]``; a shorter clip gives all of its frames, the rest of the window marked
    as padding (and zeroed). Offsets come from torch's global RNG.

    Shapes:
        fbank ``(B, T, F)``, frame_mask ``(B, T)`` (True = padding) or None ->
        crops ``(B, frames, F)`` and their padding mask ``(B, frames)``.

    Examples:
        >>> crops, mask = random_frame_crops(torch.randn(2, 50, 8), None, 16)
        >>> crops.shape, bool(mask.any())
        (torch.Size([2, 16, 8]), False)
    """
    b, t, f = fbank.shape
    lengths = (
        torch.full((b,), t, device=fbank.device) if frame_mask is None else (~frame_mask).sum(1)
    )
    room = (lengths - frames).clamp(min=0)
    start = (torch.rand(b, device=fbank.device) * (room + 1)).long().clamp(max=room)
    index = start[:, None] + torch.arange(frames, device=fbank.device)
    mask = index >= lengths[:, None]
    crops = fbank.gather(1, index.clamp(max=t - 1)[..., None].expand(-1, -1, f))
    return crops.masked_fill(mask[..., None], 0.0), mask


class AudioDINO(FbankMethod):
    """DINO for audio: an EMA teacher's centred, sharpened prototype distribution of two long
    time crops of a clip is matched by the student on every other crop, long and short.

    .. math::

        L = \\frac{1}{|\\mathcal{P}|} \\sum_{(t, v)} H\\big(
            \\mathrm{softmax}((\\bar g(\\bar f(x_t)) - c) / \\tau_t),\\
            \\mathrm{softmax}(g(f(x_v)) / \\tau_s)\\big)

    (:func:`selfsup.losses.dino_loss`, the same core loss as the vision DINO). ``f`` is the
    BEATs-style patch trunk (:class:`~selfsup_audio.encoders.AudioEncoder`) mean-pooled over a
    crop's real patches (:func:`~selfsup_audio.encoders.clip_embedding`), ``g`` the prototype
    head (:class:`selfsup.encoders.DINOProjectionHead`); the teacher copies both and sees the
    two global crops (``self.distillation``, :class:`~selfsup.teachers.SelfDistillationTeacher`,
    the vision DINO's teacher side). Crops are random
    windows of ``global_frames`` and ``local_frames`` frames inside each clip's real frames
    (:func:`random_frame_crops`; a clip shorter than a window is taken whole and padded), the
    time analogue of DINO's multi-crop. Centre, temperature warm-up and the training progress
    are DINO's (see :class:`selfsup_vision.methods.DINO` for the same options on images).

    Evaluation (:meth:`embed`, :meth:`export_encoder`) is the student trunk on whole clips,
    pooled as the BEATs methods; :meth:`bind_data` records the data module's front end.

    Args:
        size, dim, depth, heads, ffn_dim, patch: The trunk (:class:`AudioEncoder`; default tiny,
            ``(16, 16)`` patches).
        num_mel_bins: Bins of the input fbanks (default 128).
        global_frames: Frames of a global crop (default 96, ~1 s), a multiple of the time patch.
        local_frames: Frames of a local crop (default 32).
        num_local_crops: Local crops per clip (default 4).
        hidden_dim, bottleneck_dim, num_prototypes, norm_last_layer: The head (default 1024,
            256, 4096, True).
        student_temperature, teacher_temperature, warmup_teacher_temperature,
        teacher_temperature_warmup, center_momentum: As :class:`~selfsup.losses.DINOLoss`
            and DINO (default 0.1, 0.04, 0.04, 0, 0.9).
        momentum: Teacher EMA schedule (default ``"cosine:0.996:1.0"``).
        pooling, embed_layers: What :meth:`embed` and the export pool (as BEATs: ``"mean"`` or
            ``"band"``; ``"last"`` or ``"mean"``). Training always uses the last block's mean.

    Shapes:
        batch: ``{"fbank": (B, T, n_mels), "padding_mask": (B, T)}`` (extra keys ignored), a bare
            fbank tensor, or an ``(inputs, labels)`` pair.
        embed: -> ``(B, dim)``.

    Raises:
        ValueError: crop sizes that are not positive multiples of the time patch, or bins that
            are not a multiple of the frequency patch.

    Examples:
        >>> method = AudioDINO(depth=1, patch=(4, 16), num_mel_bins=32, global_frames=16,
        ...                    local_frames=8, hidden_dim=32, num_prototypes=64)
        >>> out = method.training_losses(torch.randn(3, 40, 32))
        >>> sorted(out)
        ['loss', 'teacher_entropy', 'teacher_temperature']
    """

    def __init__(
        self,
        size: str = "tiny",
        dim: int | None = None,
        depth: int | None = None,
        heads: int | None = None,
        ffn_dim: int | None = None,
        patch: tuple[int, int] = (16, 16),
        num_mel_bins: int = 128,
        global_frames: int = 96,
        local_frames: int = 32,
        num_local_crops: int = 4,
        hidden_dim: int = 1024,
        bottleneck_dim: int = 256,
        num_prototypes: int = 4096,
        norm_last_layer: bool = True,
        student_temperature: float = 0.1,
        teacher_temperature: float = 0.04,
        warmup_teacher_temperature: float = 0.04,
        teacher_temperature_warmup: float = 0.0,
        center_momentum: float = 0.9,
        momentum: str | float = "cosine:0.996:1.0",
        pooling: str = "mean",
        embed_layers: str = "last",
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS or embed_layers not in EMBED_LAYERS:
            raise ValueError(
                f"pooling must be one of {POOLINGS} and embed_layers one of {EMBED_LAYERS}, got "
                f"{pooling!r}, {embed_layers!r}."
            )
        self.pooling = pooling
        self.embed_layers = embed_layers
        self.encoder = AudioEncoder(size, dim, depth, heads, ffn_dim, patch)
        self.patch = self.encoder.patch
        for name, frames in (("global_frames", global_frames), ("local_frames", local_frames)):
            if frames < 1 or frames % self.patch[0]:
                raise ValueError(
                    f"{name} must be a positive multiple of the time patch ({self.patch[0]}), "
                    f"got {frames}."
                )
        if num_mel_bins % self.patch[1]:
            raise ValueError(
                f"num_mel_bins ({num_mel_bins}) must be a multiple of the frequency patch size "
                f"({self.patch[1]})."
            )
        if num_local_crops < 0:
            raise ValueError(f"num_local_crops must be >= 0, got {num_local_crops}.")
        self.num_mel_bins = num_mel_bins
        self.crop_frames = (int(global_frames), int(local_frames), int(num_local_crops))
        self.fbank_settings = FbankSettings()
        self.head = DINOProjectionHead(
            self.encoder.dim,
            hidden_dim,
            bottleneck_dim,
            num_prototypes,
            norm_last_layer=norm_last_layer,
        )
        self.distillation = SelfDistillationTeacher(
            self.encoder,
            self.head,
            num_prototypes,
            momentum=momentum,
            student_temperature=student_temperature,
            teacher_temperature=teacher_temperature,
            warmup_teacher_temperature=warmup_teacher_temperature,
            teacher_temperature_warmup=teacher_temperature_warmup,
            center_momentum=center_momentum,
        )

    def crops(self, batch: Any) -> list[tuple[Tensor, Tensor]]:
        """Two global crops, then the local crops: ``[(fbank, padding_mask), ...]``."""
        fbank, frame_mask = self._inputs(batch)
        global_frames, local_frames, num_local = self.crop_frames
        views = [random_frame_crops(fbank, frame_mask, global_frames) for _ in range(2)]
        views += [random_frame_crops(fbank, frame_mask, local_frames) for _ in range(num_local)]
        return views

    def _embed_views(self, encoder: nn.Module, head: nn.Module, views: list) -> Tensor:
        # one trunk pass per crop length
        out = []
        for group in (views[:2], views[2:]):
            if group:
                fbank = torch.cat([v[0] for v in group])
                mask = torch.cat([v[1] for v in group])
                vectors = clip_embedding(encoder, fbank, mask, num_mel_bins=self.num_mel_bins)
                out.append(head(vectors).unflatten(0, (len(group), -1)))
        return torch.cat(out)

    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        views = self.crops(batch)
        student = self._embed_views(self.encoder, self.head, views)
        distill = self.distillation
        teacher = self._embed_views(distill.encoder, distill.head, views[:2])
        return distill.losses(student, teacher)
