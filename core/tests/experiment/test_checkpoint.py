"""Checkpoints of SSLModule runs cannot be lost and load without running code.

AtomicCheckpointIO (swapped in by SSLModule.setup) writes next to the target and renames, so a
crash, a full disk or a SIGKILL at any byte leaves the previous checkpoint intact, also when the
temporary directory ($TMPDIR) is on another filesystem.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from selfsup.experiment import SSLModule
from selfsup.experiment.checkpoint_io import AtomicCheckpointIO, is_remote_path
from selfsup.testing.boring import boring_task, quiet_trainer


def _trained() -> tuple[SSLModule, object]:
    module = SSLModule([boring_task("a", seed=0), boring_task("b", seed=1)])
    trainer = quiet_trainer(max_steps=2)
    trainer.fit(module)
    return module, trainer


def _shift(module: SSLModule) -> None:
    with torch.no_grad():  # a later state, so a completed save would change the file
        for p in module.parameters():
            p.add_(1.0)


def test_runs_use_the_atomic_io_and_keep_a_users_own(tmp_path: Path) -> None:
    _, trainer = _trained()
    assert type(trainer.strategy.checkpoint_io) is AtomicCheckpointIO

    class Mine(AtomicCheckpointIO):
        pass

    module = SSLModule([boring_task()])
    trainer = quiet_trainer(max_steps=1, plugins=[Mine()])
    trainer.fit(module)
    assert type(trainer.strategy.checkpoint_io) is Mine


@pytest.mark.parametrize(
    "failure",
    [OSError("simulated crash while writing"), OSError(errno.ENOSPC, "No space left on device")],
    ids=["crash", "disk-full"],
)
def test_a_failed_save_keeps_the_last_good_checkpoint(tmp_path: Path, monkeypatch, failure) -> None:
    module, trainer = _trained()
    last = tmp_path / "last.ckpt"
    trainer.save_checkpoint(last)
    good = last.read_bytes()
    _shift(module)
    real_save = torch.save

    def fail_half_way(obj, handle, *args, **kwargs):  # some bytes reach the disk, then it fails
        real_save({"partial": torch.zeros(1000)}, handle)
        raise failure

    monkeypatch.setattr(torch, "save", fail_half_way)
    with pytest.raises(OSError):
        trainer.save_checkpoint(last)
    monkeypatch.undo()
    assert last.read_bytes() == good  # untouched, not half-written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]  # no stray temp file
    state = torch.load(last, map_location="cpu", weights_only=True)["state_dict"]
    SSLModule([boring_task("a", seed=0), boring_task("b", seed=1)]).load_state_dict(state)


_KILLED_SAVE = """
import os, signal, sys, torch
from selfsup.experiment.checkpoint_io import AtomicCheckpointIO
io = AtomicCheckpointIO()
io.save_checkpoint({"step": torch.tensor(1)}, sys.argv[1])  # a good checkpoint
real_save = torch.save
def killed(obj, handle, *a, **k):
    real_save({"big": torch.zeros(200_000)}, handle)
    handle.flush()
    os.kill(os.getpid(), signal.SIGKILL)  # preempted mid-write: nothing cleans up
torch.save = killed
io.save_checkpoint({"step": torch.tensor(2)}, sys.argv[1])
"""


def test_sigkill_mid_save_with_tmpdir_on_another_filesystem(tmp_path: Path) -> None:
    other_fs = Path("/dev/shm")
    if not other_fs.is_dir() or os.stat(other_fs).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs /dev/shm on another filesystem than the test folder")
    target = tmp_path / "run" / "last.ckpt"
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_KILLED_SAVE), str(target)],
        env={**os.environ, "TMPDIR": str(other_fs)},
        capture_output=True,
    )
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    loaded = torch.load(target, weights_only=True)
    assert int(loaded["step"]) == 1  # the previous checkpoint, whole
    leftovers = [p.name for p in target.parent.iterdir() if p.name != "last.ckpt"]
    assert len(leftovers) == 1 and leftovers[0].endswith(".partial")  # a kill cannot clean up
    AtomicCheckpointIO().save_checkpoint({"step": torch.tensor(3)}, target)
    assert sorted(p.name for p in target.parent.iterdir()) == ["last.ckpt"]  # the next save does
    assert int(torch.load(target, weights_only=True)["step"]) == 3


class _Boom:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_loading_never_runs_code_from_a_checkpoint(tmp_path: Path, monkeypatch) -> None:
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "payload": _Boom()}, evil)
    called = []
    monkeypatch.setattr(os, "system", lambda *a: called.append(a))
    module = SSLModule([boring_task()])
    trainer = quiet_trainer(max_steps=2)
    with pytest.raises(Exception, match="[Ww]eights only load failed|weights_only"):
        trainer.fit(module, ckpt_path=evil)
    assert called == []
    with pytest.raises(ValueError, match="weights_only=True only"):
        AtomicCheckpointIO().load_checkpoint(evil, weights_only=False)


def test_remote_checkpoints_are_refused_unless_asked_for(tmp_path: Path) -> None:
    assert is_remote_path("s3://bucket/x.ckpt") and is_remote_path("https://host/x.ckpt")
    assert not is_remote_path(tmp_path / "x.ckpt") and not is_remote_path("file:///x.ckpt")
    io = AtomicCheckpointIO()
    with pytest.raises(ValueError, match="refusing to read the remote checkpoint"):
        io.load_checkpoint("https://example.invalid/last.ckpt")
    with pytest.raises(ValueError, match="refusing to write the remote checkpoint"):
        io.save_checkpoint({}, "s3://bucket/last.ckpt")
    module = SSLModule([boring_task()])
    with pytest.raises(ValueError, match="refusing to read the remote checkpoint"):
        quiet_trainer(max_steps=1).fit(module, ckpt_path="https://example.invalid/last.ckpt")


def test_missing_checkpoint_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="absent.ckpt"):
        AtomicCheckpointIO().load_checkpoint(tmp_path / "absent.ckpt")
