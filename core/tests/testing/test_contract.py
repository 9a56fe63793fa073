"""The contract suites pass on a good toy method and fail, with a useful message, on broken ones."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from selfsup.demo import MLPEncoder
from selfsup.experiment.method import MalformedBatchError, Method
from selfsup.plugins import Plugin
from selfsup.testing import MethodContract, PluginContract
from selfsup.testing.contract import imported_modules


# --------------------------------------------------------------------------- toy methods
class GoodMethod(Method):
    """A linear encoder trained with in-batch cross-entropy between two noisy views."""

    modality = "toy"

    def __init__(self, in_dim: int = 4, out_dim: int = 3, noise_std: float = 0.1) -> None:
        super().__init__()
        self.in_dim = in_dim
        self.noise_std = noise_std
        self.encoder = MLPEncoder(in_dim, 8, out_dim)

    def _inputs(self, batch: Any) -> Tensor:
        if not isinstance(batch, Tensor):
            raise MalformedBatchError(f"expects a tensor (B, {self.in_dim}), got {type(batch)}")
        if batch.dim() != 2 or batch.shape[1] != self.in_dim:
            raise MalformedBatchError(f"expects shape (B, {self.in_dim}), got {tuple(batch.shape)}")
        return batch

    def _loss(self, x: Tensor) -> Tensor:
        z1 = self.encoder(x + self.noise_std * torch.randn_like(x))
        z2 = self.encoder(x + self.noise_std * torch.randn_like(x))
        logits = z1 @ z2.T
        return nn.functional.cross_entropy(logits, torch.arange(len(x)))

    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        loss = self._loss(self._inputs(batch))
        return {"loss": loss, "loss_copy": loss.detach()}

    def embed(self, batch: Any) -> Tensor:
        return self.encoder(self._inputs(batch))

    def export_encoder(self) -> nn.Module:
        return self.encoder


class NoExport(GoodMethod):
    export_encoder = Method.export_encoder


class NotExportable(GoodMethod):
    def export_encoder(self) -> nn.Module:
        return nn.Linear(4, 3)


class NaNLoss(GoodMethod):
    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        return {"loss": self._loss(self._inputs(batch)) * float("nan")}


class NonScalarLoss(GoodMethod):
    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        x = self._inputs(batch)
        return {"loss": self.encoder(x).pow(2).sum(1)}


class DetachedLoss(GoodMethod):
    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        return {"loss": self._loss(self._inputs(batch)).detach()}


class ZeroGradLoss(GoodMethod):
    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        return {"loss": (self.encoder(self._inputs(batch)) * 0.0).sum()}


class FloatEntry(GoodMethod):
    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        return {"loss": self._loss(self._inputs(batch)), "accuracy": 0.5}  # type: ignore[dict-item]


class NoLossKey(GoodMethod):
    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        return {"total": self._loss(self._inputs(batch))}


class UnusedParameter(GoodMethod):
    def __init__(self, in_dim: int = 4, out_dim: int = 3, noise_std: float = 0.1) -> None:
        super().__init__(in_dim, out_dim, noise_std)
        self.unused_head = nn.Linear(out_dim, out_dim)


class Silent(GoodMethod):
    """Accepts anything that broadcasts."""

    def _inputs(self, batch: Any) -> Tensor:
        if not isinstance(batch, Tensor):
            return torch.zeros(2, self.in_dim)
        return batch[:, : self.in_dim]


class WrongErrorType(GoodMethod):
    def _inputs(self, batch: Any) -> Tensor:
        if not isinstance(batch, Tensor) or batch.shape[-1] != self.in_dim:
            raise TypeError("bad batch")
        return batch


class InPlace(GoodMethod):
    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        x = self._inputs(batch)
        x.mul_(2.0)
        return {"loss": self._loss(x)}


class HiddenState(GoodMethod):
    """Loss depends on a random tensor that is not in the state dict."""

    def __init__(self, in_dim: int = 4, out_dim: int = 3, noise_std: float = 0.1) -> None:
        super().__init__(in_dim, out_dim, noise_std)
        self.register_buffer("scale", torch.rand(()) + 0.5, persistent=False)

    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        return {"loss": self.scale * self._loss(self._inputs(batch))}


class RandomEmbed(GoodMethod):
    def embed(self, batch: Any) -> Tensor:
        x = self._inputs(batch)
        return self.encoder(x + torch.randn_like(x))


class FlatEmbed(GoodMethod):
    def embed(self, batch: Any) -> Tensor:
        return self.encoder(self._inputs(batch)).sum(1)


class NoEmbed(GoodMethod):
    embed = Method.embed


class WrongModality(GoodMethod):
    modality = "vision"


class UntypedConstructor(GoodMethod):
    def __init__(self, in_dim=4, **kwargs: Any) -> None:
        super().__init__(in_dim)


class NotAMethod(nn.Module):
    modality = "toy"

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Linear(4, 3)

    def training_losses(self, batch: Tensor) -> dict[str, Tensor]:
        return {"loss": self.encoder(batch).pow(2).mean()}


class ToyContract(MethodContract):
    """Not collected itself (no ``Test`` prefix); subclasses pick the method."""

    method_cls = GoodMethod
    modality = "toy"

    def make_method(self) -> Method:
        return self.method_cls()  # type: ignore[misc]

    def make_batch(self, generator: torch.Generator) -> Tensor:
        return torch.randn(6, 4, generator=generator)

    def malformed_batches(self) -> list[tuple[Any, str]]:
        return [(torch.randn(6, 5), r"shape \(B, 4\)"), ("not a tensor", "expects a tensor")]

    def make_embed_inputs(self, generator: torch.Generator) -> tuple[Any, int | None]:
        return self.make_batch(generator), 6

    def make_encoder_inputs(self, generator: torch.Generator) -> tuple[Any, ...]:
        return (self.make_batch(generator),)


class TestGoodMethodPassesEveryCheck(ToyContract):
    """Collected by pytest: the full suite on the good method."""


def _contract(method: type[nn.Module]) -> MethodContract:
    return type(f"Contract{method.__name__}", (ToyContract,), {"method_cls": method})()


BROKEN = [
    (NaNLoss, "test_training_losses_are_finite_scalars", r"not finite"),
    (NonScalarLoss, "test_training_losses_are_finite_scalars", r"0-dim scalar.*\(6,\)"),
    (FloatEntry, "test_training_losses_are_finite_scalars", r"\['accuracy'\] must be a tensor"),
    (NoLossKey, "test_training_losses_are_finite_scalars", r"'loss' entry"),
    (DetachedLoss, "test_training_losses_are_finite_scalars", r"does not require grad"),
    (DetachedLoss, "test_backward_gives_finite_gradients", r"does not require grad"),
    (NaNLoss, "test_backward_gives_finite_gradients", r"NaN/inf gradients"),
    (ZeroGradLoss, "test_backward_gives_finite_gradients", r"every gradient is zero"),
    (UnusedParameter, "test_backward_gives_finite_gradients", r"unused_head\.weight"),
    (Silent, "test_malformed_batches_raise", r"accepted silently"),
    (WrongErrorType, "test_malformed_batches_raise", r"raised TypeError"),
    (InPlace, "test_batch_is_not_modified_in_place", r"modified the batch in place"),
    (HiddenState, "test_state_dict_round_trip", r"losses differ after a state-dict round trip"),
    (RandomEmbed, "test_embed_is_deterministic_in_eval_mode", r"different features"),
    (FlatEmbed, "test_embed_returns_finite_matrix", r"\(B, D\)"),
    (WrongModality, "test_is_a_method", r"modality is 'vision', expected 'toy'"),
    (NotAMethod, "test_is_a_method", r"must subclass selfsup\.experiment\.method\.Method"),
    (UntypedConstructor, "test_constructor_is_configurable", r"in_dim has no type annotation"),
    (NoExport, "test_encoder_export_round_trip", r"does not implement export_encoder"),
    (NotExportable, "test_encoder_export_round_trip", r"Linear, which is not @selfsup"),
]


@pytest.mark.parametrize(
    ("method", "check", "message"), BROKEN, ids=[f"{m.__name__}-{c[5:]}" for m, c, _ in BROKEN]
)
def test_broken_method_fails_its_check(method: type, check: str, message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        getattr(_contract(method), check)()


def test_good_method_passes_when_called_directly() -> None:
    contract = _contract(GoodMethod)
    for name in dir(contract):
        if name.startswith("test_"):
            getattr(contract, name)()


def test_malformed_regex_must_match() -> None:
    class WrongRegex(ToyContract):
        def malformed_batches(self) -> list[tuple[Any, str]]:
            return [(torch.randn(6, 5), r"something else")]

    with pytest.raises(AssertionError, match=r"does not match 'something else'"):
        WrongRegex().test_malformed_batches_raise()


def test_no_malformed_cases_is_a_failure() -> None:
    class NoCases(ToyContract):
        def malformed_batches(self) -> list[tuple[Any, str]]:
            return []

    with pytest.raises(AssertionError, match="returned no cases"):
        NoCases().test_malformed_batches_raise()


def test_missing_hooks_say_what_to_set() -> None:
    class Bare(MethodContract):
        pass

    with pytest.raises(AssertionError, match="must set method_cls"):
        Bare().test_is_a_method()
    with pytest.raises(NotImplementedError, match="must implement make_batch"):
        Bare().make_batch(torch.Generator())


def test_unused_parameters_can_be_allowed() -> None:
    contract = _contract(UnusedParameter)
    type(contract).unused_parameters = ("unused_head.*",)
    contract.test_backward_gives_finite_gradients()


def test_embed_check_is_skipped_when_not_implemented() -> None:
    with pytest.raises(pytest.skip.Exception, match="does not implement embed"):
        _contract(NoEmbed).test_embed_returns_finite_matrix()


# --------------------------------------------------------------------------- override guard
def test_override_without_xfail_fails_the_guard() -> None:
    class Overrides(ToyContract):
        def test_state_dict_round_trip(self) -> None:
            pass

    with pytest.raises(AssertionError, match=r"Overrides\.test_state_dict_round_trip overrides"):
        Overrides().test_no_overrides_DO_NOT_OVERRIDE()


def test_deleting_a_check_fails_the_guard() -> None:
    class Deletes(ToyContract):
        test_state_dict_round_trip = None  # type: ignore[assignment]

    with pytest.raises(AssertionError, match="deletes the standard check"):
        Deletes().test_no_overrides_DO_NOT_OVERRIDE()


def test_xfail_without_reason_fails_the_guard() -> None:
    class NoReason(ToyContract):
        @pytest.mark.xfail
        def test_state_dict_round_trip(self) -> None:
            pass

    with pytest.raises(AssertionError, match="without @pytest.mark.xfail"):
        NoReason().test_no_overrides_DO_NOT_OVERRIDE()


def test_xfail_with_reason_satisfies_the_guard() -> None:
    class WithReason(ToyContract):
        @pytest.mark.xfail(reason="this method keeps a host-side RNG")
        def test_state_dict_round_trip(self) -> None:
            pass

    WithReason().test_no_overrides_DO_NOT_OVERRIDE()


def test_guard_covers_plugin_contract() -> None:
    class Overrides(PluginContract):
        plugin_name, distribution, modality = "toy", "selfsup-toy", "toy"

        def test_components_resolve(self) -> None:
            pass

    with pytest.raises(AssertionError, match="test_components_resolve overrides"):
        Overrides().test_no_overrides_DO_NOT_OVERRIDE()


# --------------------------------------------------------------------------- plugin contract
def _write_package(root: Path, name: str, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / name / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


@pytest.fixture
def fake_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Uninstalled plugin packages on sys.path: a light one, a heavy one and an eager one."""
    plugin_py = """
        from selfsup.plugins import Plugin
        {extra}
        PLUGIN = Plugin(
            name="{name}", modality="toy", distribution="selfsup-{name}",
            description="a toy plugin",
            components={{"method": "selfsup_{name}.methods:ToyMethod"}},
        )
    """
    methods_py = """
        import torch_fake_heavy
        from selfsup.experiment.method import Method

        class ToyMethod(Method):
            modality = "{modality}"

            def training_losses(self, batch):
                raise NotImplementedError
    """
    (tmp_path / "torch_fake_heavy.py").write_text("LOADED = True\n")
    for name, extra, modality in [
        ("toylight", "", "toy"),
        ("toyheavy", "import torch_fake_heavy", "toy"),
        ("toyeager", "from selfsup_toyeager import methods", "toy"),
        ("toymodal", "", "vision"),
    ]:
        _write_package(
            tmp_path,
            f"selfsup_{name}",
            {
                "__init__.py": '__version__ = "0.1.0"\n',
                "plugin.py": plugin_py.format(name=name, extra=extra),
                "methods.py": methods_py.format(modality=modality),
            },
        )
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def _plugin_contract(name: str) -> PluginContract:
    from importlib import import_module

    class Local(PluginContract):
        plugin_name, distribution, modality = name, f"selfsup-{name}", "toy"
        heavy_modules = ("torch_fake_heavy",)

        def load_plugin(self) -> Plugin:
            return import_module(f"selfsup_{name}.plugin").PLUGIN

        def plugin_module(self) -> str:
            return f"selfsup_{name}.plugin"

    return Local()


def test_light_plugin_passes_the_source_checks(fake_plugins: Path) -> None:
    contract = _plugin_contract("toylight")
    contract.test_plugin_is_frozen_and_valid()
    contract.test_components_resolve()
    contract.test_plugin_module_is_light()
    contract.test_import_selfsup_is_light()


def test_heavy_plugin_module_fails(fake_plugins: Path) -> None:
    with pytest.raises(AssertionError, match=r"loads heavy libraries \['torch_fake_heavy'\]"):
        _plugin_contract("toyheavy").test_plugin_module_is_light()


def test_eager_plugin_module_fails(fake_plugins: Path) -> None:
    with pytest.raises(AssertionError, match=r"imports component modules \['selfsup_toyeager"):
        _plugin_contract("toyeager").test_plugin_module_is_light()


def test_component_with_other_modality_fails(fake_plugins: Path) -> None:
    with pytest.raises(AssertionError, match=r"modality 'vision' != plugin modality 'toy'"):
        _plugin_contract("toymodal").test_components_resolve()


def test_plugin_fields_must_match_the_contract(fake_plugins: Path) -> None:
    contract = _plugin_contract("toylight")
    type(contract).modality = "audio"
    with pytest.raises(AssertionError, match=r"'modality': 'toy'"):
        contract.test_plugin_is_frozen_and_valid()


def test_broken_component_is_reported(fake_plugins: Path) -> None:
    contract = _plugin_contract("toylight")
    good = contract.load_plugin()
    broken = Plugin(
        name=good.name,
        modality="toy",
        distribution=good.distribution,
        description="x",
        components={"gone": "selfsup_toylight.methods:Missing"},
    )
    type(contract).load_plugin = lambda self: broken  # type: ignore[method-assign]
    with pytest.raises(AssertionError, match=r"gone -> selfsup_toylight\.methods:Missing"):
        contract.test_components_resolve()


def test_uninstalled_plugin_fails_discovery_checks() -> None:
    class Missing(PluginContract):
        plugin_name, distribution, modality = "notinstalled", "selfsup-notinstalled", "toy"

    with pytest.raises(
        AssertionError, match=r"no installed selfsup plugin is named 'notinstalled'"
    ):
        Missing().test_plugin_is_frozen_and_valid()
    with pytest.raises(AssertionError, match=r"exactly one entry point 'notinstalled'"):
        Missing().test_entry_point_declared()
    with pytest.raises(AssertionError, match=r"'selfsup-notinstalled' is not installed"):
        Missing().test_distribution_metadata()


def test_unset_attributes_are_reported() -> None:
    class Unset(PluginContract):
        pass

    with pytest.raises(AssertionError, match="plugin_name, distribution, modality"):
        Unset().test_plugin_is_frozen_and_valid()


def test_imported_modules_sees_the_child_interpreter() -> None:
    mods = imported_modules("import json")
    assert "json" in mods
    with pytest.raises(AssertionError, match="failed in a fresh interpreter"):
        imported_modules("raise SystemExit(3)")


# --------------------------------------------------------------------------- pytest collection
_COLLECTION_TEST = """
from typing import Any

import pytest
import torch
from torch import nn

from selfsup.experiment.method import MalformedBatchError, Method
from selfsup.testing import MethodContract, PluginContract


class Lin(Method):
    modality = "toy"

    def __init__(self, dim: int = 4) -> None:
        super().__init__()
        self.dim = dim
        self.lin = nn.Linear(dim, 2)

    def training_losses(self, batch: Any) -> dict:
        if not isinstance(batch, torch.Tensor) or batch.shape[-1] != self.dim:
            raise MalformedBatchError("bad batch")
        return {"loss": self.lin(batch).pow(2).mean()}


class Base(MethodContract):
    method_cls = Lin
    modality = "toy"
    exports_encoder = False  # a toy with no registered encoder

    def make_batch(self, generator):
        return torch.randn(3, 4, generator=generator)

    def malformed_batches(self):
        return [(torch.zeros(3, 5), "bad batch")]


class TestLin(Base):
    pass


class TestLinOverride(Base):
    def test_state_dict_round_trip(self):
        pass


class TestLinXfail(Base):
    @pytest.mark.xfail(reason="documented deviation", strict=True)
    def test_state_dict_round_trip(self):
        raise AssertionError("known")
"""


def test_pytest_collects_subclasses_but_not_the_bases(tmp_path: Path) -> None:
    (tmp_path / "test_generated.py").write_text(_COLLECTION_TEST)
    report = tmp_path / "report.xml"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            f"--junitxml={report}",
            str(tmp_path / "test_generated.py"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        timeout=300,
    )
    outcomes: dict[tuple[str, str], str] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        cls = case.get("classname", "").rpartition(".")[2]
        status = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                status = child.tag
        outcomes[(cls, case.get("name", ""))] = status
    classes = {cls for cls, _ in outcomes}
    assert classes == {"TestLin", "TestLinOverride", "TestLinXfail"}, proc.stdout
    checks = {name for cls, name in outcomes if cls == "TestLin"}
    assert {
        "test_no_overrides_DO_NOT_OVERRIDE",
        "test_training_losses_are_finite_scalars",
        "test_state_dict_round_trip",
        "test_malformed_batches_raise",
    } <= checks
    assert outcomes[("TestLin", "test_training_losses_are_finite_scalars")] == "passed"
    assert outcomes[("TestLin", "test_embed_returns_finite_matrix")] == "skipped"  # no embed
    assert outcomes[("TestLinOverride", "test_no_overrides_DO_NOT_OVERRIDE")] == "failure"
    assert outcomes[("TestLinXfail", "test_no_overrides_DO_NOT_OVERRIDE")] == "passed"
    assert outcomes[("TestLinXfail", "test_state_dict_round_trip")] == "skipped"  # xfailed
    failed = sorted(k for k, v in outcomes.items() if v in ("failure", "error"))
    assert failed == [("TestLinOverride", "test_no_overrides_DO_NOT_OVERRIDE")], proc.stdout
    assert re.search(r"1 failed", proc.stdout), proc.stdout
