"""The non-finite policy covers inputs and gradients, not only the loss value.

A finite loss with a NaN/inf gradient must never be applied, and one NaN input value must
neither reach a BatchNorm (whose running statistics would carry it to every later batch) nor
end a ``skip`` run; under ``raise`` nothing is updated or written.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from selfsup.experiment import Method, SSLModule, Task
from selfsup.testing.boring import BoringDataModule, BoringMethod, quiet_trainer


class NaNGradAt(Method):
    """``loss = (w - 1)^2 + sqrt(|v - v0|^2)``: finite, but at step ``bad_step`` ``v`` sits at
    ``v0`` and the square root's gradient there is 0/0 = NaN."""

    modality = "vector"

    def __init__(self, bad_step: int = 1) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))
        self.v = nn.Parameter(torch.ones(3))
        self.bad_step = bad_step
        self.calls = 0

    def training_losses(self, batch) -> dict[str, Tensor]:
        self.calls += 1
        loss = (self.w - 1.0) ** 2
        if self.calls - 1 == self.bad_step:
            loss = loss + torch.sqrt((self.v - self.v.detach()).pow(2).sum())
        return {"loss": loss}


def test_nan_gradient_raises_before_anything_is_updated_or_written(tmp_path: Path) -> None:
    method = NaNGradAt(bad_step=1)
    module = SSLModule([Task("t", method, BoringDataModule())])
    ckpt = ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=1, save_top_k=-1)
    trainer = quiet_trainer(max_steps=4, enable_checkpointing=True, callbacks=[ckpt])
    with pytest.raises(FloatingPointError, match=r"non-finite gradients at step 1 in 1 .*v"):
        trainer.fit(module)
    w_after_step_0 = method.w.detach().clone()
    assert torch.isfinite(method.v).all() and torch.equal(method.v, torch.ones(3))
    assert torch.isfinite(w_after_step_0)
    written = sorted(p.name for p in tmp_path.glob("*.ckpt"))
    assert written == ["epoch=0-step=1.ckpt"]  # the good step only; nothing after the bad one


def test_nan_gradient_skip_leaves_weights_and_checkpoints_finite(tmp_path: Path) -> None:
    method = NaNGradAt(bad_step=1)
    module = SSLModule(
        [Task("t", method, BoringDataModule())],
        nonfinite="skip",
        optimizer=lambda p: torch.optim.SGD(p, lr=0.1),
    )
    ckpt = ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=1, save_top_k=1, save_last=True)
    trainer = quiet_trainer(max_steps=3, enable_checkpointing=True, callbacks=[ckpt])
    with pytest.warns(UserWarning, match="skipping this optimiser step"):
        trainer.fit(module)
    assert trainer.global_step == 3
    # steps 0 and 2 applied (0 -> 0.2 -> 0.36), step 1 skipped whole: w and v unchanged by it
    assert method.w.item() == pytest.approx(0.36, rel=1e-5)
    assert torch.equal(method.v, torch.ones(3))
    assert trainer.callback_metrics["train/nonfinite_grad_skips"] == 1.0
    for path in tmp_path.glob("*.ckpt"):
        state = torch.load(path, weights_only=True)["state_dict"]
        assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


class _OneNaNInput(BoringDataModule):
    """Blobs whose third training batch holds one NaN value."""

    def train_dataloader(self) -> DataLoader:
        x, y = self.dataset.tensors
        x = x.clone()
        x[2 * self.batch_size + 3, 5] = float("nan")
        return DataLoader(TensorDataset(x, y), batch_size=self.batch_size, drop_last=True)


def test_one_nan_input_value_is_refused_before_the_method_sees_it() -> None:
    module = SSLModule([Task("blobs", BoringMethod(), _OneNaNInput())])
    with pytest.raises(
        FloatingPointError, match=r"task 'blobs': the input batch .* batch\[0\] \(1 of 256\)"
    ):
        quiet_trainer(max_steps=4).fit(module)
    bn = [m for m in module.modules() if isinstance(m, nn.BatchNorm1d)]
    assert bn and all(torch.isfinite(m.running_mean).all() for m in bn)


def test_one_nan_input_value_does_not_end_a_skip_run() -> None:
    method = BoringMethod()
    module = SSLModule(
        [Task("blobs", method, _OneNaNInput()), Task("other", BoringMethod(), BoringDataModule())],
        nonfinite="skip",
    )
    trainer = quiet_trainer(max_steps=4)
    with pytest.warns(UserWarning, match="skipping that batch"):
        trainer.fit(module)
    assert trainer.global_step == 4
    assert trainer.callback_metrics["train/blobs/nonfinite_skips"] == 1.0
    for m in method.modules():  # BatchNorm never saw the NaN: every later batch stays finite
        if isinstance(m, nn.BatchNorm1d):
            assert torch.isfinite(m.running_mean).all() and torch.isfinite(m.running_var).all()
    assert all(torch.isfinite(p).all() for p in module.parameters())
