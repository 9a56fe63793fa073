"""HuBERT-style k-means tokenizer: labels are core KMeans clusters of patches or of a trunk's
block outputs, padding is ignored, and BEATs trains on a saved one."""

from __future__ import annotations

import pytest
import torch

from selfsup_audio.encoders import AudioEncoder
from selfsup_audio.encoders.patch_embed import patchify
from selfsup_audio.frontends import pad_features
from selfsup_audio.methods import BEATs
from selfsup_audio.tokenizers import KMeansTokenizer


def _batches(seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    clips = [torch.randn(n, 32, generator=gen) for n in (40, 24, 33, 16, 40, 12)]
    return [pad_features(clips[i : i + 3], min_frames=4, multiple_of=4) for i in (0, 3)]


def test_patch_labels_are_the_nearest_centroids_and_padding_is_ignored() -> None:
    tok = KMeansTokenizer(patch=(4, 16), codebook_size=6, seed=1).fit(_batches())
    fbank, mask = _batches()[0]
    labels = tok(fbank, mask)
    rows = patchify(fbank, (4, 16))
    expected = tok.kmeans.predict(rows.reshape(-1, 64)).view(labels.shape)
    real = labels >= 0
    assert torch.equal(labels[real], expected[real])
    assert (labels[~real] == -100).all() and (~real).any()  # clip 2 is shorter: padded patches


def test_encoder_features_from_a_chosen_block_and_a_saved_tokenizer_drives_beats(tmp_path) -> None:
    torch.manual_seed(0)
    encoder = AudioEncoder("tiny", depth=2, patch=(4, 16))
    tok = KMeansTokenizer((4, 16), 8, source="encoder", encoder=encoder, layer=0).fit(_batches())
    fbank, mask = _batches(1)[0]
    tokens, pad = encoder.embed_patches(fbank, mask)
    first_block = encoder.encode_layers(tokens, pad)[0]
    torch.testing.assert_close(tok.features(fbank, mask), first_block)
    path = str(tmp_path / "kmeans.pt")
    tok.save(path)
    beats = BEATs(size="tiny", depth=1, patch=(4, 16), num_mel_bins=32, tokenizer_checkpoint=path)
    assert isinstance(beats.tokenizer, KMeansTokenizer)
    assert torch.equal(beats.tokenizer(fbank, mask), tok(fbank, mask))
    out = beats.training_losses({"fbank": fbank, "padding_mask": mask})
    out["loss"].backward()
    assert torch.isfinite(out["loss"])
    assert not any(p.requires_grad for p in beats.tokenizer.parameters())


def test_bad_settings_are_named() -> None:
    with pytest.raises(ValueError, match="source"):
        KMeansTokenizer(source="mfcc")
    with pytest.raises(ValueError, match="needs the trained encoder"):
        KMeansTokenizer(source="encoder")
    with pytest.raises(ValueError, match="before fit"):
        KMeansTokenizer(patch=(4, 16))(torch.randn(1, 8, 32))
    with pytest.raises(ValueError, match="fit the KMeansTokenizer"):
        KMeansTokenizer(patch=(4, 16)).save("never.pt")
