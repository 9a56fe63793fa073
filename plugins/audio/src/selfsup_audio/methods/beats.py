"""BEATs masked acoustic-label prediction (Chen et al., ICML 2023, arXiv 2212.09058)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from selfsup.checkpoints import find_module_prefix, read_state_dict
from selfsup.distributed import global_mean_weight
from selfsup.experiment.method import MalformedBatchError
from selfsup.losses import masked_token_cross_entropy
from selfsup.masking import padded_token_mask
from selfsup_audio.encoders.embedder import EMBED_LAYERS, POOLINGS
from selfsup_audio.encoders.patch_embed import patch_grid, sincos_positions
from selfsup_audio.encoders.transformer import AudioEncoder, AudioTransformer
from selfsup_audio.frontends.fbank import FbankSettings
from selfsup_audio.methods.fbank_method import FbankMethod
from selfsup_audio.pooling import band_mean, masked_mean
from selfsup_audio.tokenizers.kmeans import KMeansTokenizer
from selfsup_audio.tokenizers.random_projection import BestRQTokenizer, RandomProjectionTokenizer
from selfsup_audio.tokenizers.trained import AcousticTokenizer

__all__ = ["BEATs", "LabelPredictor", "band_mean", "masked_mean"]

_TOKENIZERS = ("random", "best_rq", "trained")


class LabelPredictor(nn.Module):
    """BEATs' label predictor: ``Linear(D, P)``, a learned mask token at masked positions,
    sine-cosine positions, a small pre-LN transformer and ``Linear(P, K)``.

    Shapes:
        visible ``(B, K_v, D)`` with positions keep_idx ``(B, K_v)`` and slot padding
        ``(B, K_v)``, grid ``(T', F')``, patch padding ``(B, N)`` -> logits ``(B, N, K)``.
    """

    def __init__(self, dim: int, pred_dim: int, depth: int, heads: int, num_classes: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, pred_dim)
        self.mask_token = nn.Parameter(torch.zeros(pred_dim))
        nn.init.normal_(self.mask_token, std=0.02)
        self.transformer = AudioTransformer(pred_dim, depth, heads, 4 * pred_dim)
        self.head = nn.Linear(pred_dim, num_classes)
        self.pred_dim = pred_dim

    def forward(
        self,
        visible: Tensor,
        keep_idx: Tensor,
        keep_padding: Tensor,
        grid: tuple[int, int],
        padding_mask: Tensor,
    ) -> Tensor:
        b, n = padding_mask.shape
        v = self.proj(visible)
        token = self.mask_token.to(v.dtype)
        # padding slots point at masked/padded positions: write the mask token there, not junk
        v = torch.where(keep_padding[..., None], token, v)
        full = token.expand(b, n, self.pred_dim).clone()
        full = full.scatter(1, keep_idx[..., None].expand(-1, -1, self.pred_dim), v)
        full = full + sincos_positions(*grid, self.pred_dim, v.device).to(v.dtype)
        return self.transformer(full, padding_mask)


class BEATs(FbankMethod):
    """BEATs masked acoustic-label prediction with a frozen tokenizer.

    .. math::

        L_{MAM} = -\\frac{1}{|M|} \\sum_{t \\in M} \\log p(z_t \\mid X^{U})

    Each sample's real patches are masked at ``mask_ratio`` (75 %, exact count, see
    :func:`selfsup.masking.padded_token_mask`); only the visible patches (positions added
    before dropping) go through the encoder (MAE style); :class:`LabelPredictor` fills the masked
    positions with a mask token and predicts the tokenizer's label ``z_t`` of every masked,
    non-padded patch ``t in M`` (core :func:`selfsup.losses.masked_token_cross_entropy`, with
    label smoothing). The tokenizer is frozen: iteration 1 uses a random projection
    (``"random"``: BEATs', ``"best_rq"``: BEST-RQ's), iteration 2+ an
    :class:`~selfsup_audio.tokenizers.AcousticTokenizer` read from ``tokenizer_checkpoint``.
    :meth:`embed` is the mean of the unmasked encoder's outputs over non-padded patches.
    :meth:`export_encoder` gives that encoder with its fbank front end and pooling as an
    :class:`~selfsup_audio.encoders.AudioEmbedder` (waveforms in, :meth:`embed`'s vectors out);
    the label predictor and the tokenizer stay behind. ``fbank_settings`` holds the sample rate
    and normalisation of the training data (taken from the audio data module by
    :meth:`bind_data`), which the exported front end uses.

    Args:
        size: Encoder preset ``tiny|mini|small|base`` (default ``"tiny"``).
        dim, depth, heads, ffn_dim: Override the preset (default None).
        patch: ``(time, frequency)`` patch size (default (16, 16)).
        num_mel_bins: Mel bins of the input (default 128).
        conv_positions: Add BEATs' convolutional positions (default False).
        conv_kernel: Their kernel (default 128).
        mask_ratio: Fraction of real patches masked (default 0.75).
        tokenizer: ``"random"`` (default), ``"best_rq"`` or ``"trained"`` (implied by a
            ``tokenizer_checkpoint``).
        tokenizer_checkpoint: A ``selfsup fit`` checkpoint of
            :class:`~selfsup_audio.methods.BEATsTokenizerTraining`, or a fitted
            :class:`~selfsup_audio.tokenizers.KMeansTokenizer` (``.save``: HuBERT-style
            cluster targets) (default None).
        codebook_size: Labels of the random tokenizers (default 1024).
        code_dim: Projection size of the random tokenizers (default 256).
        tokenizer_seed: Seed of the random tokenizers (default 0).
        predictor_dim: Predictor width (default None: encoder width).
        predictor_depth: Predictor blocks (default 2).
        predictor_heads: Predictor heads (default None: encoder heads).
        label_smoothing: Cross-entropy label smoothing (default 0.1, ESPnet's).
        init_checkpoint: Warm-start the encoder from a previous BEATs checkpoint (default None);
            the encoder's architecture then comes from the checkpoint (``size``, ``dim``,
            ``depth``, ``heads``, ``ffn_dim``, ``patch`` and the position options are ignored).
        pooling: :meth:`embed` pooling: ``"mean"`` over all non-padded patches (default, BEATs'
            head) or ``"band"``: :func:`band_mean`, one mean per frequency band, concatenated
            (``(B, F' dim)``; much better linear probes on short clips, see the README).
        embed_layers: Which encoder outputs :meth:`embed` pools: ``"last"`` (default, the
            encoder's output) or ``"mean"``: the average of every block's output, each
            normalised by a parameter-free LayerNorm first (data2vec's layer-averaged targets,
            SUPERB-style features: the last block of a masked-prediction model is
            specialised for the pretext labels, earlier blocks keep more of the input).

    Shapes:
        batch: ``{"fbank": (B, T, num_mel_bins), "padding_mask": (B, T) bool}`` (see
        :func:`selfsup_audio.batch.parse_fbank_batch`) -> losses; embed -> ``(B, dim)``.
        An optional ``"target_fbank"`` of the fbank's shape gives the tokenizer its own view:
        the encoder sees ``"fbank"`` (e.g. speaker-perturbed,
        :func:`~selfsup_audio.augment.random_frequency_warp`) and predicts the labels of
        ``"target_fbank"`` (the clean clip), so the perturbation cannot be read off the targets.

    Raises:
        MalformedBatchError: a batch that is not such fbank features (waveforms, NaN, ...).
        ValueError: unknown tokenizer/size, or a tokenizer whose patch size differs.
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
        conv_positions: bool = False,
        conv_kernel: int = 128,
        mask_ratio: float = 0.75,
        tokenizer: str = "random",
        tokenizer_checkpoint: str | None = None,
        codebook_size: int = 1024,
        code_dim: int = 256,
        tokenizer_seed: int = 0,
        predictor_dim: int | None = None,
        predictor_depth: int = 2,
        predictor_heads: int | None = None,
        label_smoothing: float = 0.1,
        init_checkpoint: str | None = None,
        pooling: str = "mean",
        embed_layers: str = "last",
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}.")
        if embed_layers not in EMBED_LAYERS:
            raise ValueError(f"embed_layers must be one of {EMBED_LAYERS}, got {embed_layers!r}.")
        self.pooling = pooling
        self.embed_layers = embed_layers
        self.fbank_settings = FbankSettings()
        if tokenizer_checkpoint is not None:
            tokenizer = "trained"
        if tokenizer not in _TOKENIZERS:
            raise ValueError(f"tokenizer must be one of {_TOKENIZERS}, got {tokenizer!r}.")
        if tokenizer == "trained" and tokenizer_checkpoint is None:
            raise ValueError("tokenizer='trained' needs tokenizer_checkpoint=<path to .ckpt>.")
        if not 0.0 < mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in (0, 1), got {mask_ratio}.")
        self.num_mel_bins = num_mel_bins
        self.mask_ratio = mask_ratio
        self.label_smoothing = label_smoothing
        if init_checkpoint is not None:
            state = read_state_dict(init_checkpoint)
            self.encoder = AudioEncoder.from_state_dict(
                state, find_module_prefix(state, "encoder", "ffn_dim")
            )
        else:
            self.encoder = AudioEncoder(
                size,
                dim,
                depth,
                heads,
                ffn_dim,
                patch,
                conv_positions=conv_positions,
                conv_kernel=conv_kernel,
            )
        self.patch = self.encoder.patch
        if num_mel_bins % self.patch[1]:
            raise ValueError(
                f"num_mel_bins ({num_mel_bins}) must be a multiple of the frequency patch size "
                f"({self.patch[1]})."
            )
        self.tokenizer = self._build_tokenizer(
            tokenizer, tokenizer_checkpoint, codebook_size, code_dim, tokenizer_seed
        )
        self.tokenizer.requires_grad_(False)
        self.tokenizer.eval()
        enc = self.encoder.config
        if (predictor_dim or enc["dim"]) % 4:
            raise ValueError(f"predictor_dim must be divisible by 4, got {predictor_dim}.")
        num_classes = self.tokenizer.codebook_size
        self.predictor = LabelPredictor(
            enc["dim"],
            predictor_dim or enc["dim"],
            predictor_depth,
            predictor_heads or enc["heads"],
            num_classes,
        )

    def _build_tokenizer(
        self, kind: str, path: str | None, codebook_size: int, code_dim: int, seed: int
    ) -> nn.Module:
        if kind == "random":
            return RandomProjectionTokenizer(self.patch, codebook_size, code_dim, seed=seed)
        if kind == "best_rq":
            return BestRQTokenizer(self.patch, codebook_size, code_dim, seed=seed)
        state = read_state_dict(str(path))
        try:  # a HuBERT-style k-means tokenizer (its settings hold "source")
            prefix = find_module_prefix(state, "tokenizer", "source")
        except KeyError:
            prefix = None
        if prefix is not None:
            tok: nn.Module = KMeansTokenizer.from_state_dict(state, prefix)
        else:
            tok = AcousticTokenizer.from_state_dict(
                state, find_module_prefix(state, "tokenizer", "code_dim")
            )
        if tok.patch != self.patch:
            raise ValueError(
                f"the tokenizer in {path!r} uses patches {tok.patch}, the encoder {self.patch}; "
                "labels must be one per encoder patch."
            )
        return tok

    def train(self, mode: bool = True) -> BEATs:
        super().train(mode)
        self.tokenizer.eval()  # frozen: no dropout, no codebook EMA
        return self

    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        fbank, frame_mask = self._inputs(batch)
        target = fbank
        if isinstance(batch, Mapping) and batch.get("target_fbank") is not None:
            target = batch["target_fbank"]
            if not isinstance(target, Tensor) or target.shape != fbank.shape:
                raise MalformedBatchError(
                    f"{type(self).__name__}: 'target_fbank' must be a tensor of the fbank's shape "
                    f"{tuple(fbank.shape)}, got {getattr(target, 'shape', type(target).__name__)}."
                )
            # padded frames of the view are zeroed by _inputs; the labels' clip must match
            target = (
                target.masked_fill(frame_mask[..., None], 0.0) if frame_mask is not None else target
            )
        labels = self.tokenizer(target, frame_mask)  # (B, N), -100 on padding
        tokens, pad = self.encoder.embed_patches(fbank, frame_mask)
        m = padded_token_mask(pad, self.mask_ratio)
        visible = torch.gather(tokens, 1, m.keep_idx[..., None].expand(-1, -1, tokens.shape[2]))
        encoded = self.encoder.encode(visible, m.keep_padding)
        grid = patch_grid(fbank.shape[1], fbank.shape[2], self.patch)
        hidden = self.predictor(encoded, m.keep_idx, m.keep_padding, grid, pad)
        num_masked = m.mask.sum()
        if int(num_masked) == 0:  # every clip is a single patch: nothing to predict
            loss = hidden.sum() * 0.0
            accuracy = torch.zeros((), device=hidden.device)
        else:
            # logits of the masked positions only, as one (1, M, K) sequence for the core loss
            logits = self.predictor.head(hidden[m.mask])[None]
            targets = labels[m.mask][None]
            loss = masked_token_cross_entropy(
                logits,
                targets,
                torch.ones_like(targets, dtype=torch.bool),
                label_smoothing=self.label_smoothing,
            )
            # padded clips mask different numbers of patches per rank: weigh each rank's mean
            # by its share, so DDP's average is the mean over every masked patch
            loss = loss * global_mean_weight(num_masked, loss.dtype)
            with torch.no_grad():
                accuracy = (logits.argmax(-1) == targets).float().mean()
        return {"loss": loss, "accuracy": accuracy, "masked": num_masked.float()}

    def encode(self, batch: Any) -> tuple[Tensor, Tensor]:
        """Unmasked encoder outputs ``(B, N, dim)`` and the patch padding mask ``(B, N)``."""
        fbank, frame_mask = self._inputs(batch)
        return self.encoder(fbank, frame_mask)
