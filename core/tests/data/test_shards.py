"""selfsup.data.shards: tar shards on disk, streamed by worker (and rank), resumable exactly."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
import torch
from lightning.pytorch import seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint

from selfsup.data import ShardsDataModule
from selfsup.data.shards import (
    INDEX_NAME,
    ShardLoader,
    index_shards,
    iter_tar_samples,
    read_index,
    write_shards,
)
from selfsup.experiment import SSLModule, Task
from selfsup.testing.boring import BoringMethod, quiet_trainer
from selfsup.testing.faults import RaiseAtStep, StepInterrupted


def _samples(n: int):
    for i in range(n):
        yield {"__key__": f"{i:05d}", "txt": str(i), "cls": str(i % 3).encode()}


def _decode(sample) -> int:
    return int(sample["txt"])


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    # 103 samples in shards of 10: ten full shards and one of 3
    write_shards(_samples(103), tmp_path / "shards", samples_per_shard=10)
    return tmp_path / "shards"


def _all(loader: ShardLoader) -> list[int]:
    return [int(v) for batch in loader for v in batch]


def test_write_then_read_gives_the_samples_back(folder: Path) -> None:
    shards = read_index(folder)
    assert [s.count for s in shards] == [10] * 10 + [3]
    assert not list(folder.glob("*.part"))
    first = list(iter_tar_samples(shards[0].path))
    assert first[0] == {"__key__": "00000", "txt": b"0", "cls": b"0"}
    assert [s["__key__"] for s in first] == [f"{i:05d}" for i in range(10)]


def test_bad_samples_and_shards_are_refused(tmp_path: Path, folder: Path) -> None:
    with pytest.raises(ValueError, match="without '.' or '/'"):
        write_shards([{"__key__": "a.b", "x": b""}], tmp_path / "bad")
    with pytest.raises(ValueError, match="encode it to bytes"):
        write_shards([{"__key__": "a", "x": 3}], tmp_path / "bad")
    link = tmp_path / "link.tar"
    with tarfile.open(link, "w") as tar:
        info = tarfile.TarInfo("0001.jpg")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(ValueError, match="not a regular file"):
        list(iter_tar_samples(link))
    with pytest.raises(FileNotFoundError, match="index_shards"):
        read_index(tmp_path)
    (folder / INDEX_NAME).write_text(json.dumps({"format": "other", "shards": []}))
    with pytest.raises(ValueError, match="not a selfsup-shards/1 index"):
        read_index(folder)


def test_shards_written_elsewhere_are_indexed(tmp_path: Path) -> None:
    with tarfile.open(tmp_path / "a.tar", "w") as tar:
        for key in ("x1", "x2"):
            for field, data in (("png", b"\x89PNG"), ("cls", b"1")):
                info = tarfile.TarInfo(f"{key}.{field}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    assert [s.count for s in index_shards(tmp_path)] == [2]
    assert [s.count for s in read_index(tmp_path)] == [2]


@pytest.mark.parametrize("workers", [0, 2])
def test_an_epoch_reads_each_sample_at_most_once_in_full_batches(folder, workers) -> None:
    loader = ShardLoader(folder, _decode, batch_size=4, num_workers=workers, seed=1)
    # every worker gets at least floor(11 / K) shards: its budget is that many smallest shards
    per_worker = {0: 103, 2: 3 + 10 * 4}[workers] // 4
    assert len(loader) == per_worker * max(1, workers)
    batches = list(loader)
    assert len(batches) == len(loader) and all(b.shape == (4,) for b in batches)
    seen = [int(v) for b in batches for v in b]
    assert len(set(seen)) == len(seen) and set(seen) <= set(range(103))
    # the order is a function of (seed, epoch): the same again, another in the next epoch
    assert _all(ShardLoader(folder, _decode, batch_size=4, num_workers=workers, seed=1)) == seen
    loader.set_epoch(1)
    assert _all(loader) != seen


@pytest.mark.parametrize(("workers", "stop"), [(0, 7), (2, 5), (2, 6), (3, 4)])
def test_a_resumed_loader_continues_with_the_next_batch(folder, workers, stop) -> None:
    full = ShardLoader(folder, _decode, batch_size=3, num_workers=workers, seed=2)
    full.set_epoch(4)
    expected = [b.tolist() for b in full]
    first = ShardLoader(folder, _decode, batch_size=3, num_workers=workers, seed=2)
    first.set_epoch(4)
    it = iter(first)
    head = [next(it).tolist() for _ in range(stop)]
    state = first.state_dict()
    resumed = ShardLoader(folder, _decode, batch_size=3, num_workers=workers, seed=2)
    resumed.load_state_dict(state)
    assert head + [b.tolist() for b in resumed] == expected
    other = ShardLoader(folder, _decode, batch_size=3, num_workers=workers, seed=3)
    with pytest.raises(ValueError, match="cannot resume"):
        other.load_state_dict(state)


def test_too_few_shards_or_samples_for_the_workers_is_an_error(tmp_path: Path) -> None:
    write_shards(_samples(4), tmp_path, samples_per_shard=2)
    with pytest.raises(ValueError, match="2 shards for 3 global workers"):
        len(ShardLoader(tmp_path, _decode, batch_size=1, num_workers=3))
    with pytest.raises(ValueError, match="fewer than one batch"):
        len(ShardLoader(tmp_path, _decode, batch_size=3, num_workers=2))


def test_collate_and_decode_are_the_callers(folder: Path) -> None:
    loader = ShardLoader(
        folder, lambda s: (int(s["txt"]), int(s["cls"])), batch_size=5, shuffle=False
    )
    x, y = next(iter(loader))
    assert x.tolist() == [0, 1, 2, 3, 4] and y.tolist() == [0, 1, 2, 0, 1]
    assert isinstance(x, torch.Tensor)


# -- Lightning: a run killed mid-epoch resumes to identical weights ------------------------------
def _vector(sample) -> tuple[torch.Tensor, int]:
    return torch.frombuffer(bytearray(sample["vec"]), dtype=torch.float32), int(sample["cls"])


class _VectorShards(ShardsDataModule):
    def __init__(self, folder: Path, workers: int) -> None:
        super().__init__(str(folder), batch_size=4, num_workers=workers, seed=5)

    def decoder(self):
        return _vector


def _vector_shards(folder: Path) -> Path:
    gen = torch.Generator().manual_seed(0)
    centers = 3.0 * torch.randn(4, 16, generator=gen)

    def samples():
        for i in range(60):
            x = centers[i % 4] + torch.randn(16, generator=gen)
            yield {"__key__": f"{i:04d}", "vec": x.numpy().tobytes(), "cls": str(i % 4)}

    write_shards(samples(), folder, samples_per_shard=7)
    return folder


def _fit(folder: Path, root: Path, workers: int, kill_at: int | None = None, ckpt=None):
    seed_everything(0)
    module = SSLModule(
        [Task("v", BoringMethod(), _VectorShards(folder, workers))], exact_resume=True
    )
    checkpoint = ModelCheckpoint(dirpath=root, every_n_train_steps=4, save_last=True)
    trainer = quiet_trainer(
        max_epochs=2,
        max_steps=-1,
        deterministic=True,
        enable_checkpointing=True,
        callbacks=[checkpoint] + ([RaiseAtStep(kill_at)] if kill_at else []),
        default_root_dir=root,
    )
    trainer.fit(module, ckpt_path=ckpt)
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("workers", [0, 2])
def test_a_killed_run_resumes_from_shards_to_identical_weights(tmp_path: Path, workers) -> None:
    folder = _vector_shards(tmp_path / "shards")
    # 9 shards (8 x 7 + 4): with 2 workers each gets 4+ shards, budget 4 x 7 = 28 -> 7 batches
    expected = _fit(folder, tmp_path / "reference", workers)
    with pytest.raises(StepInterrupted):
        _fit(folder, tmp_path / "killed", workers, kill_at=10)
    last = tmp_path / "killed" / "last.ckpt"
    assert torch.load(last, map_location="cpu", weights_only=False)["global_step"] == 8
    torch.manual_seed(999)  # a restarted process holds other random state
    got = _fit(folder, tmp_path / "killed", workers, ckpt=last)
    for key, value in expected.items():
        assert torch.equal(value, got[key]), key


def test_a_shards_data_module_names_what_it_lacks(folder: Path, monkeypatch) -> None:
    class NoDecoder(ShardsDataModule):
        pass

    with pytest.raises(NotImplementedError, match="NoDecoder must implement decoder"):
        NoDecoder(str(folder), batch_size=4).setup("fit")
    with pytest.raises(ValueError, match="batch_size"):
        NoDecoder(str(folder), batch_size=0)
    monkeypatch.setenv("SELFSUP_DATA", str(folder.parent))

    class Numbers(ShardsDataModule):
        def decoder(self):
            return _decode

    data = Numbers(folder.name, batch_size=4, shuffle=False)  # relative: under SELFSUP_DATA
    assert next(iter(data.train_dataloader())).tolist() == [0, 1, 2, 3]
