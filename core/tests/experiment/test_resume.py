"""A run killed mid-epoch resumes from its last checkpoint to bit-identical final weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from lightning.pytorch import Callback, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset

from selfsup.experiment import (
    Method,
    ResumableLoader,
    SSLModule,
    Task,
    TeacherUpdates,
    make_resumable,
)
from selfsup.losses import negative_cosine
from selfsup.teachers import EMATeacher
from selfsup.testing.boring import BoringDataModule, BoringMethod, quiet_trainer
from selfsup.testing.faults import RaiseAtStep, StepInterrupted


class _NoisyDataset(Dataset):
    """Every read draws fresh noise from the global generator, as augmentations do."""

    def __init__(self, n: int) -> None:
        self.x = torch.arange(n, dtype=torch.float32)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> Tensor:
        return torch.stack([self.x[i], torch.rand(())])


def _collect(loader: Any, limit: int | None = None) -> list[Tensor]:
    out = []
    for batch in loader:
        out.append(batch)
        if limit is not None and len(out) == limit:
            break
    return out


# -- ResumableLoader ------------------------------------------------------------------------------
def test_loader_yields_each_sample_once_per_pass_like_a_dataloader() -> None:
    data = _NoisyDataset(23)
    loader = ResumableLoader(data, batch_size=5, shuffle=True, drop_last=False, seed=3)
    batches = _collect(loader)
    assert len(batches) == len(loader) == len(DataLoader(data, batch_size=5)) == 5
    seen = torch.cat([b[:, 0] for b in batches]).long().sort().values
    assert torch.equal(seen, torch.arange(23))
    assert len(ResumableLoader(data, batch_size=5, drop_last=True)) == 4
    assert len(_collect(ResumableLoader(data, batch_size=5, drop_last=True))) == 4
    ordered = _collect(ResumableLoader(data, batch_size=5, shuffle=False))
    assert torch.equal(torch.cat([b[:, 0] for b in ordered]), data.x)


def test_order_and_noise_depend_on_seed_epoch_and_pass_only() -> None:
    data = _NoisyDataset(20)
    a = ResumableLoader(data, batch_size=4, shuffle=True, seed=1)
    torch.manual_seed(0)
    first = _collect(a)
    second = _collect(a)  # a second pass of the same epoch: another permutation and noise
    assert not torch.equal(torch.cat(first), torch.cat(second))
    b = ResumableLoader(data, batch_size=4, shuffle=True, seed=1)
    torch.manual_seed(12345)  # the global state does not matter ...
    torch.rand(7)
    assert torch.equal(torch.cat(_collect(b)), torch.cat(first))
    state = torch.random.get_rng_state()
    _collect(b)
    assert torch.equal(torch.random.get_rng_state(), state)  # ... and is left untouched
    b.set_epoch(1)
    assert not torch.equal(torch.cat(_collect(b)), torch.cat(first))
    other_seed = ResumableLoader(data, batch_size=4, shuffle=True, seed=2)
    assert not torch.equal(torch.cat(_collect(other_seed)), torch.cat(first))


def test_state_dict_resumes_the_pass_where_it_stopped() -> None:
    data = _NoisyDataset(30)
    full = ResumableLoader(data, batch_size=4, shuffle=True, seed=5)
    full.set_epoch(2)
    _collect(full)
    expected = _collect(full)  # the second pass of epoch 2

    run = ResumableLoader(data, batch_size=4, shuffle=True, seed=5)
    run.set_epoch(2)
    _collect(run)
    _collect(run, limit=3)
    state = run.state_dict()
    assert state["epoch"] == 2 and state["cycle"] == 1 and state["offset"] == 3

    resumed = ResumableLoader(data, batch_size=4, shuffle=True, seed=5)
    resumed.load_state_dict(state)
    rest = _collect(resumed)
    assert len(rest) == len(expected) - 3
    for got, want in zip(rest, expected[3:], strict=True):
        assert torch.equal(got, want)
    nxt = _collect(resumed)  # then the third pass, as the uninterrupted loader would
    assert torch.equal(torch.cat(nxt), torch.cat(_collect(full)))


def test_resumed_state_of_a_finished_epoch_starts_the_next_one_fresh() -> None:
    data = _NoisyDataset(12)
    run = ResumableLoader(data, batch_size=4, shuffle=True, seed=0)
    _collect(run, limit=2)  # the epoch ended early (limit_train_batches)
    resumed = ResumableLoader(data, batch_size=4, shuffle=True, seed=0)
    resumed.load_state_dict(run.state_dict())
    resumed.set_epoch(1)
    fresh = ResumableLoader(data, batch_size=4, shuffle=True, seed=0)
    fresh.set_epoch(1)
    assert torch.equal(torch.cat(_collect(resumed)), torch.cat(_collect(fresh)))


def test_workers_read_the_same_batches() -> None:
    data = _NoisyDataset(16)
    main = _collect(ResumableLoader(data, batch_size=4, shuffle=True, seed=9))
    workers = _collect(ResumableLoader(data, batch_size=4, shuffle=True, seed=9, num_workers=2))
    assert torch.equal(torch.cat(main), torch.cat(workers))


def test_ranks_read_disjoint_padded_shards(monkeypatch: pytest.MonkeyPatch) -> None:
    from selfsup.experiment import resumable

    data = _NoisyDataset(10)
    shards = []
    for rank in range(3):
        monkeypatch.setattr(resumable, "_world", lambda rank=rank: (rank, 3))
        loader = ResumableLoader(data, batch_size=2, shuffle=True, seed=4)
        assert len(loader) == 2  # ceil(10 / 3) = 4 samples per rank
        shards.append(torch.cat([b[:, 0] for b in _collect(loader)]).long())
    everything = torch.cat(shards)
    assert everything.numel() == 12 and set(everything.tolist()) == set(range(10))


def test_loading_a_state_for_other_data_is_refused() -> None:
    state = ResumableLoader(_NoisyDataset(10), batch_size=2, seed=0).state_dict()
    with pytest.raises(ValueError, match="dataset of 10 samples"):
        ResumableLoader(_NoisyDataset(11), batch_size=2, seed=0).load_state_dict(state)


def test_make_resumable_keeps_batching_and_refuses_what_it_cannot_replay() -> None:
    data = TensorDataset(torch.arange(10.0))
    made = make_resumable(DataLoader(data, batch_size=3, shuffle=True, drop_last=True), seed=0)
    assert (made.batch_size, made.shuffle, made.drop_last, len(made)) == (3, True, True, 3)
    assert not make_resumable(DataLoader(data, batch_size=3), seed=0).shuffle
    assert make_resumable(made, seed=1) is made

    class Stream(IterableDataset):
        def __iter__(self):
            yield from range(3)

    class SamplesInIter(DataLoader):
        def __iter__(self):
            return super().__iter__()

    weighted = torch.utils.data.WeightedRandomSampler([1.0] * 10, 10)
    for loader, reason in [
        (DataLoader(Stream(), batch_size=2), "IterableDataset"),
        (SamplesInIter(data, batch_size=2), "own iterator"),
        (DataLoader(data, batch_size=2, sampler=weighted), "custom sampler"),
        (DataLoader(data, batch_size=None), "no batch size"),
        ([torch.zeros(2)], "got list"),
    ]:
        with pytest.raises(TypeError, match=f"task 'x'.*{reason}"):
            make_resumable(loader, seed=0, name="task 'x'")


# -- whole experiments ----------------------------------------------------------------------------
class _TeacherStudent(Method):
    """BYOL-like regression onto an EMA teacher, with dropout: randomness and teacher state."""

    def __init__(self, dim: int = 16) -> None:
        super().__init__()
        self.student = nn.Sequential(nn.Linear(dim, 32), nn.ReLU(), nn.Dropout(0.3))
        self.predictor = nn.Linear(32, 32)
        self.teacher = EMATeacher(self.student, momentum="cosine")

    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        x = batch[0]
        view = x + 0.1 * torch.randn_like(x)  # on-device augmentation from the global generator
        with torch.no_grad():
            target = self.teacher(x)
        return {"loss": negative_cosine(self.predictor(self.student(view)), target).mean()}

    def embed(self, batch: Any) -> Tensor:
        return self.student(batch[0])


def _module(exact: bool, sampling: str = "all") -> SSLModule:
    seed_everything(0)
    return SSLModule(
        [
            Task("byol", _TeacherStudent(), BoringDataModule(num_samples=40, batch_size=4)),
            Task("simclr", BoringMethod(), BoringDataModule(num_samples=24, batch_size=4, seed=1)),
        ],
        sampling=sampling,
        exact_resume=exact,
        sampling_seed=7,
    )


def _fit(module: SSLModule, root: Path, kill_at: int | None = None, ckpt: Path | None = None):
    checkpoint = ModelCheckpoint(dirpath=root, every_n_train_steps=3, save_last=True, save_top_k=-1)
    callbacks: list[Callback] = [checkpoint] + ([RaiseAtStep(kill_at)] if kill_at else [])
    trainer = quiet_trainer(
        max_epochs=3,
        max_steps=-1,
        deterministic=True,
        enable_checkpointing=True,
        callbacks=callbacks,
        default_root_dir=root,
    )
    trainer.fit(module, ckpt_path=ckpt)
    return trainer


def _state(module: SSLModule) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _kill_and_resume(tmp_path: Path, exact: bool, sampling: str, kill_at: int) -> tuple:
    reference = _module(exact, sampling)
    _fit(reference, tmp_path / "reference")
    module = _module(exact, sampling)
    with pytest.raises(StepInterrupted):
        _fit(module, tmp_path / "killed", kill_at=kill_at)
    last = tmp_path / "killed" / "last.ckpt"
    saved_step = torch.load(last, map_location="cpu", weights_only=False)["global_step"]
    resumed = _module(exact, sampling)
    torch.manual_seed(999)  # a restarted process holds other random state
    _fit(resumed, tmp_path / "killed", ckpt=last)
    return _state(reference), _state(resumed), saved_step


@pytest.mark.parametrize("sampling", ["all", "temperature"])
def test_killed_mid_epoch_resumes_to_identical_weights(tmp_path: Path, sampling: str) -> None:
    # 10 steps per epoch with sampling="all" (the 6-batch task cycles), 16 with temperature;
    # killed at step 14, the last checkpoint is step 12: mid-epoch in both.
    expected, got, saved_step = _kill_and_resume(tmp_path, True, sampling, kill_at=14)
    assert saved_step == 12
    assert expected.keys() == got.keys()
    for key, value in expected.items():
        assert torch.equal(value, got[key]), key
    assert any("teacher" in k for k in expected)


def test_without_exact_resume_the_resumed_run_drifts(tmp_path: Path) -> None:
    # The check above can fail: a plain resume replays other batches and other noise.
    expected, got, _ = _kill_and_resume(tmp_path, False, "all", kill_at=14)
    assert any(not torch.equal(v, got[k]) for k, v in expected.items())


def test_checkpoints_hold_the_teacher_update_of_their_step(tmp_path: Path) -> None:
    module = _module(True)
    trainer = _fit(module, tmp_path, kill_at=None)
    assert any(isinstance(c, TeacherUpdates) for c in trainer.callbacks)
    ckpt = next(tmp_path.glob("*step=3.ckpt"))
    state = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    assert int(state["tasks.byol.method.teacher.last_step"]) == 3


class _PairsPlan(torch.utils.data.Sampler):
    """A custom batch sampler that can say its batches for any pass (as length buckets do)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def batches_for(self, key: int) -> list[list[int]]:
        order = torch.randperm(self.n, generator=torch.Generator().manual_seed(key)).tolist()
        return [sorted(order[i : i + 2]) for i in range(0, self.n - 1, 2)]

    def __iter__(self):
        return iter(self.batches_for(0))

    def __len__(self) -> int:
        return self.n // 2


def test_batch_plans_are_replayed_after_a_resume() -> None:
    data = _NoisyDataset(10)
    made = make_resumable(DataLoader(data, batch_sampler=_PairsPlan(10)), seed=3)
    assert len(made) == 5
    full = _collect(made)
    assert all(b.shape == (2, 2) for b in full)
    assert sorted(torch.cat([b[:, 0] for b in full]).long().tolist()) == list(range(10))
    run = make_resumable(DataLoader(data, batch_sampler=_PairsPlan(10)), seed=3)
    _collect(run, limit=2)
    resumed = make_resumable(DataLoader(data, batch_sampler=_PairsPlan(10)), seed=3)
    resumed.load_state_dict(run.state_dict())
    assert torch.equal(torch.cat(_collect(resumed)), torch.cat(full[2:]))
