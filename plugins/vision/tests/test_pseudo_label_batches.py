"""G-SimCLR batching: with `pseudo_labels`, no training batch holds two images of one cluster,
subsets keep their images' labels, and SimCLR trains on such batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from selfsup.experiment import SSLModule, Task
from selfsup.testing.boring import quiet_trainer
from selfsup_vision.data import TorchvisionDataModule
from selfsup_vision.encoders import SmallConvNet
from selfsup_vision.methods import SimCLR


class _Tagged(TensorDataset):
    """Images whose class label is their index, so a batch says which images it holds."""

    def __init__(self, n: int) -> None:
        super().__init__(torch.rand(n, 3, 8, 8), torch.arange(n))


def _labels_file(tmp_path, labels) -> str:
    path = str(tmp_path / "clusters.npy")
    np.save(path, np.asarray(labels, dtype=np.int64))
    return path


@pytest.mark.parametrize("subset", [None, 40])
def test_training_batches_hold_distinct_pseudo_labels(tmp_path, subset) -> None:
    labels = np.arange(60) % 12  # 12 clusters of 5 images
    data = TorchvisionDataModule(
        _Tagged(60), _Tagged(10), image_size=8, batch_size=6, train_subset=subset,
        in_memory=True, pseudo_labels=_labels_file(tmp_path, labels),
    )  # fmt: skip
    loader = data.train_dataloader()
    batches = [ids.tolist() for _, ids in loader]
    assert len(batches) == len(loader) > 0
    allowed = set(range(60)) if subset is None else set(data._train.indices)
    for ids in batches:
        assert len(ids) == 6 and set(ids) <= allowed
        assert len({int(labels[i]) for i in ids}) == 6


def test_a_labels_file_of_the_wrong_length_is_refused(tmp_path) -> None:
    data = TorchvisionDataModule(
        _Tagged(20), image_size=8, batch_size=4, pseudo_labels=_labels_file(tmp_path, [0] * 19)
    )
    with pytest.raises(ValueError, match="19 labels for 20 samples"):
        data.train_dataloader()


def test_simclr_trains_on_distinct_label_batches(tmp_path) -> None:
    data = TorchvisionDataModule(
        _Tagged(48), _Tagged(8), image_size=8, batch_size=8, probe_train_size=8,
        probe_val_size=8, pseudo_labels=_labels_file(tmp_path, np.arange(48) % 16),
    )  # fmt: skip
    method = SimCLR(encoder=SmallConvNet(width=4, out_dim=8), hidden_dim=8, projection_dim=4)
    trainer = quiet_trainer(max_steps=2, max_epochs=-1)
    trainer.fit(SSLModule([Task("images", method, data)]))
    assert torch.isfinite(trainer.callback_metrics["train/loss"])
