"""data2vec 2.0 on tokens: one masked-latent-regression method for every modality's tokenizer."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from selfsup.distributed import global_mean_weight
from selfsup.encoders.conv_decoder import ConvDecoder
from selfsup.encoders.pooling import masked_mean
from selfsup.experiment.method import Method
from selfsup.losses import latent_regression
from selfsup.masking import gather_tokens, padded_token_mask
from selfsup.methods.token_inputs import token_inputs, tokenize
from selfsup.targets import layer_average_targets
from selfsup.teachers import EMATeacher

__all__ = ["Data2Vec"]


class Data2Vec(Method):
    """data2vec 2.0 (Baevski et al., arXiv 2212.07525): a student that sees a masked token
    sequence regresses, at the masked positions, the average of the top layers of an EMA
    teacher that sees it whole.

    .. math::

        y = \\frac{1}{K} \\sum_{l > L - K} \\mathrm{IN}\\big(\\bar T^{(l)}(t)\\big), \\qquad
        \\mathcal{L} = \\frac{1}{|M|} \\sum_{j \\in M} \\frac{1}{\\sqrt{D}}
            \\big\\| \\mathrm{Dec}\\big(T(t_{\\setminus M}) \\oplus \\epsilon\\big)_j - y_j
            \\big\\|^2

    The tokenizer (a modality plugin's: image patches, table features, fbank patches) turns a
    sample into tokens ``t``; the student trunk ``T`` encodes only the visible tokens (MAE-
    style: masked ones never enter it). The decoder (:class:`~selfsup.encoders.ConvDecoder`)
    reads the student's outputs put back in place, masked positions filled with Gaussian noise
    of std ``mask_noise_std``. The teacher ``\\bar T`` is an EMA of the trunk only (the
    reference's ``ema_encoder_only``): it reads the same tokenizer output, whole and without
    gradient, and its last ``top_k_layers`` block outputs, each instance-normalised over the
    tokens, averaged (:func:`selfsup.targets.layer_average_targets`), are the targets ``y``.
    Each sample is masked ``num_masks`` times (the reference's ``clone_batch``): the teacher
    runs once per sample, the student once per mask. The loss is the reference's squared
    error summed over features and scaled by ``1 / sqrt(D)`` (``loss_scale``), averaged over the
    masked tokens of the global batch.

    Differences from the reference, by design: masks are uniform random token subsets
    (:func:`~selfsup.masking.padded_token_mask`; the reference draws inverse blocks for images
    and spans for audio, which need the modality's geometry); targets are block outputs (the
    reference's ``end_of_block_targets``; its default reads the MLP output before the last
    residual); the decoder convolves over the tokenizer's order for every modality.

    Args:
        tokenizer: Maps the batch's inputs to ``(B, L, D)`` tokens (with their positions), or
            to ``(tokens, padding_mask)`` with a ``(B, L)`` bool mask, True on padding.
        trunk: A :class:`~selfsup.encoders.TransformerTrunk` (needs ``block_outputs``); may be
            one trunk shared by several tasks.
        dim: Token width ``D``.
        mask_ratio: Share of each sample's real tokens masked (default 0.6).
        num_masks: Masked copies of each sample per step (default 4; the reference uses 8-16).
        top_k_layers: Teacher blocks averaged into targets (default None: all).
        instance_norm_targets: Instance-normalise each teacher block (default True).
        layer_norm_targets: LayerNorm each averaged target (default False; the reference's
            image setting turns it on).
        decoder_dim, decoder_depth, decoder_kernel: The decoder (default ``D``, 3, 3).
        mask_noise_std: Std of the noise at masked decoder inputs (default 0.01).
        momentum: Teacher EMA schedule (default ``"cosine:0.999:0.9999"``, the reference's
            0.999 -> 0.9999 anneal).
        loss_scale: Factor on each token's summed squared error (default None: ``1/sqrt(D)``).

    Shapes:
        batch: ``(inputs, labels)`` or ``inputs`` (a tensor or a dict the tokenizer reads).
        embed: -> ``(B, D)``, the student trunk's output averaged over real tokens.

    Raises:
        ValueError: a ratio outside ``(0, 1)``, ``num_masks < 1``, a trunk without
            ``block_outputs`` or ``top_k_layers`` outside ``[1, depth]``.
        MalformedBatchError: the tokenizer does not return ``(B, L, D)`` tokens.

    Examples:
        >>> from selfsup.encoders import TransformerTrunk, VectorTokenizer
        >>> method = Data2Vec(VectorTokenizer(64, 16, num_tokens=8),
        ...                   TransformerTrunk(16, depth=2), dim=16)
        >>> out = method.training_losses(torch.randn(4, 64))
        >>> sorted(out)
        ['loss', 'prediction_std', 'target_std']
    """

    modality = "tokens"

    def __init__(
        self,
        tokenizer: nn.Module,
        trunk: nn.Module,
        dim: int,
        mask_ratio: float = 0.6,
        num_masks: int = 4,
        top_k_layers: int | None = None,
        instance_norm_targets: bool = True,
        layer_norm_targets: bool = False,
        decoder_dim: int | None = None,
        decoder_depth: int = 3,
        decoder_kernel: int = 3,
        mask_noise_std: float = 0.01,
        momentum: str | float = "cosine:0.999:0.9999",
        loss_scale: float | None = None,
    ) -> None:
        super().__init__()
        if not 0.0 < mask_ratio < 1.0 or num_masks < 1 or mask_noise_std < 0:
            raise ValueError(
                "need 0 < mask_ratio < 1, num_masks >= 1 and mask_noise_std >= 0, got "
                f"{mask_ratio}, {num_masks}, {mask_noise_std}."
            )
        blocks = getattr(trunk, "blocks", None)
        if not callable(getattr(trunk, "block_outputs", None)) or blocks is None:
            raise ValueError(
                f"Data2Vec needs a trunk with block_outputs() (selfsup.encoders."
                f"TransformerTrunk), got {type(trunk).__name__}."
            )
        if top_k_layers is not None and not 1 <= top_k_layers <= len(blocks):
            raise ValueError(
                f"top_k_layers must be in [1, {len(blocks)}] (the trunk's depth), got "
                f"{top_k_layers}."
            )
        self.tokenizer = tokenizer
        self.trunk = trunk
        self.dim = int(dim)
        self.mask_ratio = float(mask_ratio)
        self.num_masks = int(num_masks)
        self.top_k_layers = top_k_layers
        self.instance_norm_targets = bool(instance_norm_targets)
        self.layer_norm_targets = bool(layer_norm_targets)
        self.mask_noise_std = float(mask_noise_std)
        self.loss_scale = 1.0 / math.sqrt(dim) if loss_scale is None else float(loss_scale)
        self.decoder = ConvDecoder(dim, decoder_dim, decoder_depth, decoder_kernel)
        self.teacher = EMATeacher(trunk, momentum)

    def _tokens(self, batch: Any) -> tuple[Tensor, Tensor | None]:
        return tokenize(self.tokenizer, token_inputs(batch, type(self).__name__), self.dim)

    def targets(self, tokens: Tensor, padding: Tensor | None) -> Tensor:
        """The teacher's averaged, normalised top layers on the whole token sequence."""
        with torch.no_grad():
            layers = self.teacher.teacher.block_outputs(tokens.detach(), padding)
        return layer_average_targets(
            layers,
            self.top_k_layers,
            padding_mask=padding,
            instance_norm=self.instance_norm_targets,
            layer_norm=self.layer_norm_targets,
        )

    def predict(self, tokens: Tensor, padding: Tensor) -> tuple[Tensor, Tensor]:
        """Mask, encode the visible tokens, decode every position.

        Returns the decoder output ``(B, L, D)`` and the mask ``(B, L)`` (True = masked real
        token, where the loss is read).
        """
        m = padded_token_mask(padding, self.mask_ratio)
        visible = self.trunk(gather_tokens(tokens, m.keep_idx), m.keep_padding)
        visible = visible * (~m.keep_padding).unsqueeze(-1).to(visible.dtype)
        index = m.keep_idx.unsqueeze(-1).expand(-1, -1, visible.shape[-1])
        placed = torch.zeros_like(tokens).scatter(1, index, visible)
        noise = torch.randn_like(tokens) * self.mask_noise_std
        shown = ~m.mask & ~padding
        inputs = torch.where(shown.unsqueeze(-1), placed, noise)
        return self.decoder(inputs, padding), m.mask

    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        tokens, padding = self._tokens(batch)
        target = self.targets(tokens, padding)
        if padding is None:
            padding = torch.zeros(tokens.shape[:2], dtype=torch.bool, device=tokens.device)
        clones = self.num_masks
        pred, mask = self.predict(
            tokens.repeat_interleave(clones, 0), padding.repeat_interleave(clones, 0)
        )
        target = target.repeat_interleave(clones, 0).to(pred.dtype)
        count = mask.sum()
        if int(count) == 0:  # one-token samples only: nothing masked, nothing to predict
            loss = pred.sum() * 0.0
        else:
            mse = latent_regression(pred, target, kind="mse", mask=mask)
            loss = mse * self.dim * self.loss_scale * global_mean_weight(count, mse.dtype)
        with torch.no_grad():
            chosen_pred = pred[mask] if int(count) else pred.flatten(0, 1)
            chosen_target = target[mask] if int(count) else target.flatten(0, 1)
            # the reference stops a run when either falls to ~0: collapse to a constant
            prediction_std = chosen_pred.float().std(dim=0).mean()
            target_std = chosen_target.float().std(dim=0).mean()
        return {"loss": loss, "prediction_std": prediction_std, "target_std": target_std}

    def embed(self, batch: Any) -> Tensor:
        tokens, padding = self._tokens(batch)
        return masked_mean(self.trunk(tokens, padding), padding)

    def representations(self, batch: Any) -> Tensor:
        with torch.no_grad():
            return self.embed(batch)
