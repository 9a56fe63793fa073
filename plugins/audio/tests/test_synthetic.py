"""Generated clips: reproducible, balanced, variable-length, FSDD-shaped batches and probes."""

from __future__ import annotations

import pytest
import torch

from selfsup.experiment import make_resumable
from selfsup_audio.data import SyntheticClipsDataModule, synthetic_clip


def test_clip_is_bounded_reproducible_and_as_long_as_asked() -> None:
    a = synthetic_clip(3, 10, torch.Generator().manual_seed(0), min_seconds=0.5, max_seconds=0.5)
    b = synthetic_clip(3, 10, torch.Generator().manual_seed(0), min_seconds=0.5, max_seconds=0.5)
    assert a.shape == (8000,) and a.dtype == torch.float32
    assert torch.equal(a, b) and a.abs().max() <= 1.0 and a.std() > 0.01


def test_class_pitch_shows_in_the_spectrum() -> None:
    gen = torch.Generator().manual_seed(1)
    peaks = []
    for label in (0, 4, 8):
        clip = synthetic_clip(label, 10, gen, min_seconds=1.0, max_seconds=1.0).double()
        spectrum = torch.fft.rfft(clip).abs()
        peaks.append(int(spectrum[50:].argmax()) + 50)  # Hz, at a 1 s clip
    # fundamentals near 200 * 2^(2c/10) Hz (gliding half an octave): strictly rising
    assert peaks[0] < peaks[1] < peaks[2]


def test_data_module_splits_batches_and_probes() -> None:
    data = SyntheticClipsDataModule(num_clips=60, num_classes=3, num_mel_bins=32, batch_size=8)
    data.setup("fit")
    sizes = {k: len(v) for k, v in data.splits.items()}
    assert sizes == {"test": 12, "val": 5, "train": 43}
    assert sorted(torch.cat([s.labels for s in data.splits.values()]).bincount().tolist()) == [
        20,
        20,
        20,
    ]
    lengths = {f.shape[0] for f in data.splits["train"].features}
    assert len(lengths) > 5  # variable-length clips
    batch = next(iter(data.train_dataloader()))
    assert batch["fbank"].shape[0] == 8 and batch["fbank"].shape[2] == 32
    assert batch["padding_mask"].dtype == torch.bool and batch["padding_mask"].any()
    (inputs, labels), _ = (next(iter(loader)) for loader in data.probe_dataloaders())
    assert set(inputs) == {"fbank", "padding_mask"} and labels.dtype == torch.long
    resumable = make_resumable(data.train_dataloader(), seed=0)  # length buckets replay
    assert len(resumable) == len(data.train_dataloader())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_clips": 5, "num_classes": 3}, "two clips per class"),
        ({"test_fraction": 1.0}, "test_fraction"),
        ({"min_seconds": 0.0}, "min_seconds"),
    ],
)
def test_bad_arguments_are_refused(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        SyntheticClipsDataModule(**kwargs)


def test_patch_tokenizer_feeds_a_shared_trunk_with_padding() -> None:
    from selfsup.encoders import TransformerTrunk
    from selfsup.methods import TokenContrastive
    from selfsup_audio.encoders import FbankPatchTokenizer, PatchEmbed

    data = SyntheticClipsDataModule(
        num_clips=40, num_classes=2, num_mel_bins=32, batch_size=8, patch_frames=4
    )
    data.setup("fit")
    batch = next(iter(data.train_dataloader()))
    tokenizer = FbankPatchTokenizer(dim=16, patch=(4, 16), num_mel_bins=32)
    tokens, padding = tokenizer(batch)
    plain = PatchEmbed(dim=16, patch=(4, 16))
    plain.load_state_dict(tokenizer.state_dict())
    ref_tokens, ref_padding = plain(batch["fbank"], batch["padding_mask"])
    assert torch.equal(tokens, ref_tokens) and torch.equal(padding, ref_padding)
    assert padding.any() and not padding.all(dim=1).any()
    method = TokenContrastive(tokenizer, TransformerTrunk(16, depth=1, num_heads=2), dim=16)
    loss = method.training_losses(batch)["loss"]
    loss.backward()
    assert torch.isfinite(loss) and tokenizer.conv.weight.grad is not None
    assert method.embed(batch).shape == (8, 16)


def test_predict_embeds_every_generated_clip_once_by_number() -> None:
    from selfsup.data import EmbeddingBatch
    from selfsup_audio.methods import BEATs

    data = SyntheticClipsDataModule(
        num_clips=30, num_classes=3, num_mel_bins=32, batch_size=8, patch_frames=4
    )
    method = BEATs(size="tiny", depth=1, patch=(4, 16), num_mel_bins=32, codebook_size=16)
    ids, lengths = [], []
    for batch in data.predict_dataloader():
        assert isinstance(batch, EmbeddingBatch) and batch.ids.dtype == torch.long
        with torch.no_grad():
            vectors = method.eval().embed(batch.inputs)
        assert vectors.shape == (len(batch.ids), 64) and bool(torch.isfinite(vectors).all())
        ids += batch.ids.tolist()
        lengths += (~batch.inputs["padding_mask"]).sum(1).tolist()
    assert sorted(ids) == list(range(30))
    assert lengths == sorted(lengths)  # grouped by length: little padding
    # clip number i is the i-th generated clip, whatever split it fell in
    by_id = dict(data.predict_clips())
    first = data.splits["test"]
    assert torch.equal(by_id[0], first.features[0]) and first.names[0] == "synthetic_0"
