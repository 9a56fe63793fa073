"""HuBERT-style tokenizer: patch labels from k-means clusters of patch features.

HuBERT (Hsu et al., arXiv 2106.07447) predicts, for masked frames, the k-means cluster of
each frame: iteration 1 clusters acoustic features (MFCCs), later iterations the hidden states
of the previous iteration's model (layer 6 of the base model). :class:`KMeansTokenizer` is the
patch analogue for the BEATs loop: ``source="patches"`` clusters the flattened normalised fbank
patches, ``source="encoder"`` the outputs of block ``layer`` of a trained
:class:`~selfsup_audio.encoders.AudioEncoder` (from an earlier iteration's checkpoint). The
clustering is core's :class:`selfsup.targets.KMeans`; the fitted tokenizer saves its centroids,
its configuration and its encoder in the state dict, and
``BEATs(tokenizer_checkpoint=...)`` reads it back like the trained tokenizer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from selfsup.targets import KMeans
from selfsup_audio.encoders.patch_embed import patch_padding_mask, patchify
from selfsup_audio.encoders.transformer import AudioEncoder
from selfsup_audio.tokenizers.random_projection import mask_padded_labels

__all__ = ["KMeansTokenizer"]

SOURCES = ("patches", "encoder")


class KMeansTokenizer(nn.Module):
    """Labels every patch with its nearest k-means centroid (HuBERT's targets, per patch).

    Args:
        patch: ``(time, frequency)`` patch size, the SSL model's (default ``(16, 16)``).
        codebook_size: Clusters ``K`` (default 500; HuBERT: 100 in iteration 1, 500 after).
        source: ``"patches"`` (flattened fbank patches) or ``"encoder"`` (a trunk's block
            outputs; give ``encoder``).
        encoder: The trained trunk for ``source="encoder"`` (frozen and kept inside).
        layer: Block whose outputs are clustered (default -1: the last; HuBERT base uses 6 of
            12).
        seed: k-means seed (default 0).

    Shapes:
        fbank ``(B, T, n_mels)``, frame_mask ``(B, T)`` or None -> labels ``(B, N)`` long,
        -100 on padded patches.

    Raises:
        ValueError: an unknown source, ``"encoder"`` without an encoder or with another patch
            size, or labelling before :meth:`fit`.

    Examples:
        >>> tok = KMeansTokenizer(patch=(4, 16), codebook_size=8)
        >>> tok = tok.fit([(torch.randn(6, 40, 32), None)])
        >>> tok(torch.randn(2, 40, 32)).shape
        torch.Size([2, 20])
    """

    def __init__(
        self,
        patch: tuple[int, int] = (16, 16),
        codebook_size: int = 500,
        source: str = "patches",
        encoder: AudioEncoder | None = None,
        layer: int = -1,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {source!r}.")
        self.patch = (int(patch[0]), int(patch[1]))
        if source == "encoder":
            if encoder is None:
                raise ValueError("source='encoder' needs the trained encoder (encoder=...).")
            if tuple(encoder.patch) != self.patch:
                raise ValueError(
                    f"the encoder uses patches {tuple(encoder.patch)}, the tokenizer {self.patch}."
                )
            encoder.requires_grad_(False)
            encoder.eval()
        self.encoder = encoder if source == "encoder" else None
        self.config: dict[str, Any] = {
            "patch": list(self.patch),
            "codebook_size": int(codebook_size),
            "source": source,
            "layer": int(layer),
            "seed": int(seed),
            "dim": self._feature_dim(encoder),
        }
        self.kmeans = KMeans(codebook_size, self.config["dim"], seed=seed)
        self.codebook_size = int(codebook_size)

    def _feature_dim(self, encoder: AudioEncoder | None) -> int:
        return self.patch[0] * self.patch[1] if encoder is None else int(encoder.dim)

    def get_extra_state(self) -> dict[str, Any]:
        state = dict(self.config)
        if self.encoder is not None:
            state["encoder"] = dict(self.encoder.config)
        return state

    def set_extra_state(self, state: dict[str, Any]) -> None:
        mine = self.get_extra_state()
        if dict(state) != mine:
            raise ValueError(
                f"checkpoint tokenizer {dict(state)} differs from this one {mine}; build it with "
                "KMeansTokenizer.from_state_dict(state_dict)."
            )

    @classmethod
    def from_state_dict(cls, state_dict: dict[str, Any], prefix: str = "") -> KMeansTokenizer:
        """Rebuild a fitted tokenizer (encoder included) from its state dict alone."""
        key = f"{prefix}_extra_state"
        if key not in state_dict:
            raise KeyError(f"{key!r} not in the state dict: not saved by KMeansTokenizer.")
        config = dict(state_dict[key])
        encoder = None
        if config["source"] == "encoder":
            encoder = AudioEncoder.from_state_dict(state_dict, f"{prefix}encoder.")
        tokenizer = cls(
            tuple(config["patch"]),
            config["codebook_size"],
            config["source"],
            encoder,
            config["layer"],
            config["seed"],
        )
        own = {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}
        tokenizer.load_state_dict(own)
        return tokenizer

    @torch.no_grad()
    def features(self, fbank: Tensor, frame_mask: Tensor | None = None) -> Tensor:
        """What is clustered, per patch: ``(B, N, dim)``."""
        if self.encoder is None:
            return patchify(fbank, self.patch)
        tokens, pad = self.encoder.embed_patches(fbank, frame_mask)
        layers = self.encoder.encode_layers(tokens, pad)
        return layers[self.config["layer"]]

    @torch.no_grad()
    def fit(
        self, batches: Iterable[tuple[Tensor, Tensor | None]], max_rows: int | None = None
    ) -> KMeansTokenizer:
        """Fit the clusters on the real patches of ``(fbank, frame_mask)`` batches (at most
        ``max_rows`` of them, the first ones); returns ``self``."""
        rows, total = [], 0
        for fbank, frame_mask in batches:
            x = self.features(fbank, frame_mask)
            if frame_mask is not None:
                x = x[
                    ~patch_padding_mask(frame_mask, self.patch[0], fbank.shape[2] // self.patch[1])
                ]
            rows.append(x.reshape(-1, x.shape[-1]).float())
            total += rows[-1].shape[0]
            if max_rows is not None and total >= max_rows:
                break
        data = torch.cat(rows)[:max_rows]
        self.kmeans.fit(data)
        return self

    @torch.no_grad()
    def forward(self, fbank: Tensor, frame_mask: Tensor | None = None) -> Tensor:
        x = self.features(fbank, frame_mask)
        labels = self.kmeans.predict(x.reshape(-1, x.shape[-1])).view(x.shape[:2])
        return mask_padded_labels(labels, fbank, frame_mask, self.patch)

    def save(self, path: str) -> None:
        """Write the fitted tokenizer (tensors and plain settings; no pickled code) for
        ``BEATs(tokenizer_checkpoint=path)``."""
        if not bool(self.kmeans.fitted):
            raise ValueError("fit the KMeansTokenizer before saving it.")
        torch.save({f"tokenizer.{k}": v for k, v in self.state_dict().items()}, path)

    def extra_repr(self) -> str:
        fitted = bool(self.kmeans.fitted)
        return f"source={self.config['source']}, k={self.codebook_size}, fitted={fitted}"
