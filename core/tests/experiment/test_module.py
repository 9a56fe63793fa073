from __future__ import annotations

import pytest
import torch
from lightning.pytorch import Trainer
from torch import Tensor, nn

from selfsup.experiment import Method, SSLModule, Task
from selfsup.teachers import EMATeacher
from selfsup.testing.boring import BoringDataModule, BoringMethod, boring_task, quiet_trainer


def _trainer(**kwargs) -> Trainer:
    return quiet_trainer(**kwargs)


class QuadraticMethod(Method):
    """loss = (w - target)^2 with an EMA teacher of the linear layer."""

    modality = "vector"

    def __init__(self, target: float = 1.0, momentum: float = 0.5) -> None:
        super().__init__()
        self.target = target
        self.w = nn.Parameter(torch.zeros(()))
        self.encoder = nn.Linear(16, 4)
        self.teacher = EMATeacher(self.encoder, momentum=momentum)

    def training_losses(self, batch) -> dict[str, Tensor]:
        x, _ = batch
        feat = self.encoder(x).mean() * 0.0  # keeps the encoder in the graph
        return {"loss": (self.w - self.target) ** 2 + feat, "w": self.w.detach()}


def test_single_task_trains_and_logs():
    module = SSLModule(boring_task())
    trainer = _trainer()
    trainer.fit(module)
    assert trainer.global_step == 4
    for key in ("train/loss", "train/boring/loss", "train/boring/embedding_std"):
        assert key in trainer.callback_metrics


def test_joint_loss_is_weighted_sum():
    a = Task("a", QuadraticMethod(target=1.0), BoringDataModule(seed=0), weight=2.0)
    b = Task("b", QuadraticMethod(target=-3.0), BoringDataModule(seed=1), weight=0.5)
    module = SSLModule([a, b])
    with torch.no_grad():
        a.method.w.fill_(0.5)
        b.method.w.fill_(1.0)
    batch = {"a": next(iter(a.data.train_dataloader())), "b": next(iter(b.data.train_dataloader()))}
    module.log = lambda *args, **kwargs: None  # no trainer attached
    total = module.training_step(batch, 0)
    expected = 2.0 * (0.5 - 1.0) ** 2 + 0.5 * (1.0 + 3.0) ** 2
    assert total.item() == pytest.approx(expected)


def test_two_tasks_train_jointly_with_per_task_logs():
    module = SSLModule([boring_task("first", seed=0), boring_task("second", weight=0.3, seed=1)])
    trainer = _trainer(limit_val_batches=2, val_check_interval=2)
    trainer.fit(module)
    for key in ("train/first/loss", "train/second/loss", "val/first/loss", "val/second/loss"):
        assert key in trainer.callback_metrics, key


def test_shared_module_is_one_object_and_trained_once():
    backbone = BoringMethod().encoder
    t1 = Task("t1", BoringMethod(), BoringDataModule(seed=0), share={"encoder": "backbone"})
    t2 = Task("t2", BoringMethod(), BoringDataModule(seed=1), share={"encoder": "backbone"})
    module = SSLModule([t1, t2], shared={"backbone": backbone})
    assert t1.method.encoder is backbone and t2.method.encoder is backbone
    params = [p for g in module.configure_optimizers().param_groups for p in g["params"]]
    assert len(params) == len({id(p) for p in params})
    assert sum(p is next(backbone.parameters()) for p in params) == 1


def test_sharing_repoints_ema_teachers():
    method = QuadraticMethod()
    new_encoder = nn.Linear(16, 4)
    SSLModule(
        Task("q", method, BoringDataModule(), share={"encoder": "enc"}), shared={"enc": new_encoder}
    )
    assert method.teacher.student is new_encoder
    torch.testing.assert_close(method.teacher.teacher.weight, new_encoder.weight)


def test_ema_teacher_updates_once_per_optimizer_step_under_accumulation():
    method = QuadraticMethod(momentum=0.5)
    module = SSLModule(Task("q", method, BoringDataModule(num_samples=128)))
    updates: list[int] = []
    original = method.teacher.update
    method.teacher.update = lambda step, total: updates.append(step) or original(step, total)
    trainer = _trainer(max_steps=3, accumulate_grad_batches=2)
    trainer.fit(module)
    assert trainer.global_step == 3
    assert int(method.teacher.last_step) == 3
    # micro-batch 1 precedes any optimiser step; each later one reports the step count,
    # and EMATeacher applies a step once (last_step == 3 after 3 updates)
    assert updates == [1, 1, 2, 2, 3]


def test_checkpoint_restores_methods_and_teachers(tmp_path):
    method = QuadraticMethod(momentum=0.5)
    module = SSLModule(Task("q", method, BoringDataModule()))
    trainer = _trainer(max_steps=3)
    trainer.fit(module)
    path = tmp_path / "last.ckpt"
    trainer.save_checkpoint(path)

    fresh = QuadraticMethod(momentum=0.5)
    restored = SSLModule(Task("q", fresh, BoringDataModule()))
    state = torch.load(path, weights_only=True)["state_dict"]
    restored.load_state_dict(state)
    torch.testing.assert_close(fresh.teacher.teacher.weight, method.teacher.teacher.weight)
    torch.testing.assert_close(fresh.w, method.w)
    assert int(fresh.teacher.last_step) == 3

    resumed = _trainer(max_steps=5)
    resumed.fit(restored, ckpt_path=path)
    assert resumed.global_step == 5 and int(fresh.teacher.last_step) == 5


def test_monitor_hooks():
    module = SSLModule(boring_task())
    data = module.task_datamodules()["boring"]
    x, _ = next(iter(data.train_dataloader()))
    assert module.embed_batch({"boring": (x, None)})["boring"].shape == (16, 16)
    assert module.embed_inputs("boring", x).shape == (16, 16)


def test_rejects_bad_configurations():
    with pytest.raises(ValueError, match="unique"):
        SSLModule([boring_task("x"), boring_task("x")])
    with pytest.raises(KeyError, match="no shared module 'nope'"):
        SSLModule(Task("t", BoringMethod(), BoringDataModule(), share={"encoder": "nope"}))
    with pytest.raises(ValueError, match="loader_mode"):
        SSLModule(boring_task(), loader_mode="zip")
    with pytest.raises(ValueError, match="identifier"):
        Task("bad name", BoringMethod(), BoringDataModule())
    with pytest.raises(TypeError, match="selfsup Method"):
        Task("t", nn.Linear(2, 2), BoringDataModule())  # type: ignore[arg-type]


def test_method_must_return_loss_entry():
    class NoLoss(BoringMethod):
        def training_losses(self, batch):
            return {"other": torch.zeros(())}

    module = SSLModule(Task("t", NoLoss(), BoringDataModule()))
    batch = {"t": next(iter(module.tasks["t"].data.train_dataloader()))}
    with pytest.raises(TypeError, match="'loss' entry"):
        module.training_step(batch, 0)


@pytest.mark.parametrize(("rule", "decayed_ndims"), [("bias_and_norm", {2}), ("none", {0, 1, 2})])
def test_weight_decay_rule(rule: str, decayed_ndims: set[int]) -> None:
    module = SSLModule(Task("q", QuadraticMethod(), BoringDataModule()), no_weight_decay=rule)
    optimizer = module.configure_optimizers()
    decayed = [p for g in optimizer.param_groups if g["weight_decay"] > 0 for p in g["params"]]
    exempt = [p for g in optimizer.param_groups if g["weight_decay"] == 0 for p in g["params"]]
    assert {p.ndim for p in decayed} == decayed_ndims
    assert all(p.requires_grad for p in decayed + exempt)  # the frozen EMA teacher is left out
    assert len(decayed) + len(exempt) == 3  # w, encoder weight, encoder bias


def test_unknown_weight_decay_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="no_weight_decay must be one of"):
        SSLModule(boring_task(), no_weight_decay="norms")


class _NaNAfter(QuadraticMethod):
    """Quadratic loss that turns NaN from step ``start`` on."""

    def __init__(self, start: int) -> None:
        super().__init__(target=2.0)
        self.start, self.calls = start, 0

    def training_losses(self, batch) -> dict[str, Tensor]:
        out = super().training_losses(batch)
        self.calls += 1
        if self.calls > self.start:
            out["loss"] = out["loss"] * float("nan")
        return out


def test_nonfinite_loss_raises_naming_the_task() -> None:
    module = SSLModule([boring_task("fine"), Task("broken", _NaNAfter(1), BoringDataModule())])
    with pytest.raises(FloatingPointError, match="task 'broken' returned a non-finite loss"):
        _trainer().fit(module)


def test_nonfinite_skip_keeps_training_the_other_tasks() -> None:
    healthy = QuadraticMethod(target=1.0)
    broken = _NaNAfter(1)
    module = SSLModule(
        [Task("healthy", healthy, BoringDataModule()), Task("broken", broken, BoringDataModule())],
        nonfinite="skip",
        optimizer=lambda p: torch.optim.SGD(p, lr=0.1),
    )
    trainer = _trainer(max_steps=4)
    with pytest.warns(UserWarning, match="skipping it for this step"):
        trainer.fit(module)
    assert trainer.global_step == 4
    assert torch.isfinite(broken.w) and torch.isfinite(healthy.w)
    # healthy trained every step: w = 1 - 0.8^4 from 0 with SGD lr 0.1 on (w - 1)^2
    assert healthy.w.item() == pytest.approx(1 - 0.8**4, rel=1e-5)
    # broken trained only on its first (finite) step: 0 -> 0.4
    assert broken.w.item() == pytest.approx(0.4, rel=1e-5)
    assert trainer.callback_metrics["train/broken/nonfinite_skips"] == 3.0


def test_unknown_nonfinite_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="nonfinite must be"):
        SSLModule(boring_task(), nonfinite="ignore")


def test_method_update_teacher_moves_every_teacher_once_per_step() -> None:
    method = QuadraticMethod(momentum=0.5)
    with torch.no_grad():
        method.encoder.weight.add_(1.0)
    before = method.teacher.teacher.weight.detach().clone()
    assert method.update_teacher(1, 10) == 0.5
    expected = 0.5 * before + 0.5 * method.encoder.weight.detach()
    torch.testing.assert_close(method.teacher.teacher.weight, expected)
    assert method.update_teacher(1, 10) is None  # already applied for this step
    assert BoringMethod().update_teacher(1, 10) is None  # no teacher


class _ScaledHead(BoringMethod):
    """Asks for its own groups: the last layer at twice the optimiser's rate, no decay."""

    def optimizer_groups(self):
        head = list(self.projector.parameters()) if hasattr(self, "projector") else []
        head = head or list(self.parameters())[-2:]
        return [{"params": head, "lr_scale": 2.0, "weight_decay": 0.0}]


def test_method_optimizer_groups_scale_the_configured_rate_and_survive_schedulers() -> None:
    method = _ScaledHead()
    module = SSLModule(
        [Task("a", method, BoringDataModule()), Task("b", BoringMethod(), BoringDataModule())],
        optimizer=lambda groups: torch.optim.SGD(groups, lr=0.1, weight_decay=1e-3),
        scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5),
    )
    config = module.configure_optimizers()
    opt, sched = config["optimizer"], config["lr_scheduler"]["scheduler"]
    scaled = opt.param_groups[0]
    head = {id(p) for p in method.optimizer_groups()[0]["params"]}
    assert {id(p) for p in scaled["params"]} == head
    assert scaled["lr"] == pytest.approx(0.2) and scaled["weight_decay"] == 0.0
    others = [g for g in opt.param_groups[1:]]
    assert all(g["lr"] == pytest.approx(0.1) for g in others)
    listed = [id(p) for g in opt.param_groups for p in g["params"]]
    assert len(listed) == len(set(listed)) == sum(1 for p in module.parameters() if p.requires_grad)
    sched.step()
    assert scaled["lr"] == pytest.approx(0.1) and others[0]["lr"] == pytest.approx(0.05)


def test_method_optimizer_groups_may_not_set_lr() -> None:
    class SetsLr(BoringMethod):
        def optimizer_groups(self):
            return [{"params": list(self.parameters()), "lr": 1.0}]

    module = SSLModule([Task("a", SetsLr(), BoringDataModule())])
    with pytest.raises(ValueError, match="task 'a'.*lr_scale"):
        module.configure_optimizers()


def test_bf16_mixed_trains_with_a_float32_loss():
    """Lightning's ``bf16-mixed`` autocasts the step; the loss itself stays float32."""
    seen: list[torch.dtype] = []
    module = SSLModule(boring_task())
    method = module.tasks["boring"].method
    original = method.training_losses

    def record(batch):
        out = original(batch)
        seen.append(out["loss"].dtype)
        return out

    method.training_losses = record
    trainer = _trainer(precision="bf16-mixed")
    trainer.fit(module)
    assert trainer.global_step == 4
    assert seen and all(dtype == torch.float32 for dtype in seen)
    assert torch.isfinite(torch.as_tensor(trainer.callback_metrics["train/loss"]))
