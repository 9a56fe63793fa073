"""templates/plugin, rendered for a new domain, is a working plugin that passes the contract suites.

Rendered with ``selfsup new-plugin``'s own code (``selfsup.cli.new_plugin.create_plugin``),
whose rules templates/plugin/README.md documents.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from selfsup.cli.new_plugin import create_plugin
from selfsup.plugins import Plugin
from selfsup.testing import MethodContract, PluginContract

TEMPLATE = Path(__file__).resolve().parents[3] / "templates" / "plugin"
NAME = "time_series"
PACKAGE = f"selfsup_{NAME}"

pytestmark = pytest.mark.skipif(
    not (TEMPLATE / "pyproject.toml").is_file(), reason="no templates/plugin in this checkout"
)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The rendered plugin, its ``src`` on ``sys.path`` for the duration of this module."""
    root = create_plugin(NAME, tmp_path_factory.mktemp("plugins"), TEMPLATE)
    src = str(root / "src")
    sys.path.insert(0, src)
    try:
        yield root
    finally:
        sys.path.remove(src)
        for mod in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[mod]
        sys.modules.pop("generated_test_contract", None)


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _run_checks(contract: object, skip: tuple[str, ...] = ()) -> list[str]:
    ran = []
    for name, _ in inspect.getmembers(type(contract), inspect.isfunction):
        if name.startswith("test_") and name not in skip:
            getattr(contract, name)()
            ran.append(name)
    return ran


def test_rendering_replaces_every_name(generated: Path) -> None:
    files = [p for p in generated.rglob("*") if p.is_file()]
    paths = [p.relative_to(generated).as_posix() for p in files]
    assert f"src/{PACKAGE}/plugin.py" in paths
    assert f"src/{PACKAGE}/methods/template_method.py" in paths
    for path in files:
        text = path.read_text()
        for token in ("selfsup_template", "selfsup-template", "Template"):
            assert token not in text, f"{token!r} left in {path}"
            assert token not in path.relative_to(generated).as_posix()
    pyproject = (generated / "pyproject.toml").read_text()
    assert f'{NAME} = "{PACKAGE}.plugin:PLUGIN"' in pyproject
    assert 'name = "selfsup-time-series"' in pyproject
    assert f'path = "src/{PACKAGE}/__init__.py"' in pyproject
    assert (
        "class TimeSeriesMethod(Method)"
        in (generated / "src" / PACKAGE / "methods" / "template_method.py").read_text()
    )


def test_generated_plugin_record(generated: Path) -> None:
    plugin = importlib.import_module(f"{PACKAGE}.plugin").PLUGIN
    assert isinstance(plugin, Plugin)
    assert (plugin.name, plugin.modality, plugin.distribution) == (
        NAME,
        NAME,
        "selfsup-time-series",
    )
    assert importlib.import_module(PACKAGE).__version__ == "0.1.0"


def test_generated_method_passes_the_method_contract(generated: Path) -> None:
    module = _load(generated / "tests" / "test_contract.py", "generated_test_contract")
    contract_cls = module.TestTimeSeriesMethod
    assert issubclass(contract_cls, MethodContract)
    # the export round trip resolves the encoder through the installed plugin: checked by
    # test_generated_plugin_installs_registers_and_passes_its_tests
    ran = _run_checks(contract_cls(), skip=("test_encoder_export_round_trip",))
    assert "test_state_dict_round_trip" in ran and "test_no_overrides_DO_NOT_OVERRIDE" in ran


def test_generated_plugin_passes_the_source_checks(generated: Path) -> None:
    """Everything but the checks that need an installed distribution (entry point, metadata)."""
    module = _load(generated / "tests" / "test_contract.py", "generated_test_contract")
    base = module.TestTimeSeriesPlugin
    assert issubclass(base, PluginContract)

    class FromSource(base):  # type: ignore[misc, valid-type]
        def load_plugin(self) -> Plugin:
            return importlib.import_module(f"{PACKAGE}.plugin").PLUGIN

        def plugin_module(self) -> str:
            return f"{PACKAGE}.plugin"

    ran = _run_checks(
        FromSource(), skip=("test_entry_point_declared", "test_distribution_metadata")
    )
    assert "test_plugin_module_is_light" in ran and "test_components_resolve" in ran


def test_generated_unit_tests_pass(generated: Path) -> None:
    module = _load(generated / "tests" / "test_template_method.py", "generated_test_method")
    try:
        for name, func in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("test_") and func.__module__ == module.__name__:
                func()
    finally:
        sys.modules.pop("generated_test_method", None)


def test_generated_config_runs_one_step(
    generated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from selfsup.cli import main

    monkeypatch.chdir(tmp_path)
    config = generated / "src" / PACKAGE / "configs" / "template_method.yaml"
    assert main(["fit", "--config", str(config), "--trainer.fast_dev_run=true"]) == 0


def test_generated_plugin_installs_registers_and_passes_its_tests(
    generated: Path, tmp_path: Path
) -> None:
    """The contributor's path: pip install the new plugin, see it listed, run its tests.

    Installed with ``--target`` into a temporary folder (put on ``PYTHONPATH`` of the child
    processes only), so the environment running this test is left untouched.
    """
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site)]
        + [str(generated)],
        check=True,
    )
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])
    )
    listed = subprocess.run(
        [sys.executable, "-m", "selfsup.cli", "plugins"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"{NAME} (selfsup-{NAME.replace('_', '-')}" in listed.stdout
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(generated / "tests")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-3000:]
    assert " passed" in tests.stdout
