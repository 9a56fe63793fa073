"""The LightningCLI behind ``selfsup fit|validate|test|predict``."""

from __future__ import annotations

import contextlib
import inspect
import sys
from collections.abc import Iterator
from typing import Any

from lightning.pytorch.cli import LightningCLI

from selfsup.cli.config_checks import check_config_types
from selfsup.cli.config_resolution import resolved_config_args
from selfsup.experiment.module import SSLModule

__all__ = ["SelfsupCLI", "run_lightning_cli"]


class SelfsupCLI(LightningCLI):
    """LightningCLI over :class:`~selfsup.experiment.SSLModule`.

    The model brings its own data (each task's data module), so there is no
    ``--data`` group; optimisers are configured through
    ``model.init_args.optimizer``. Where Lightning offers it (2.5.2 and later), built
    with ``load_from_checkpoint_support=False``: ``SSLModule`` does not save
    hyper-parameters (a checkpoint is read back with the config that trained it), so
    LightningCLI's hooks that record them are not needed.

    Before anything is instantiated, every ``class_path`` of the parsed config must name
    a class, and the optimiser and scheduler slots a class of that kind
    (:func:`~selfsup.cli.config_checks.check_config_types`).
    """

    def before_instantiate_classes(self) -> None:
        config = self.config.get(self.subcommand) if self.subcommand else self.config
        check_config_types(config.as_dict())


def _optional_kwargs() -> dict[str, Any]:
    accepted = inspect.signature(LightningCLI.__init__).parameters
    return (
        {"load_from_checkpoint_support": False}
        if "load_from_checkpoint_support" in accepted
        else {}
    )


@contextlib.contextmanager
def _argv(args: list[str]) -> Iterator[None]:
    # LightningCLI reads sys.argv when args is None; handing it the rewritten arguments this way
    # keeps its "args given beside a command line" warning for the cases it was meant for.
    saved = sys.argv
    sys.argv = [saved[0] if saved else "selfsup", *args]
    try:
        yield
    finally:
        sys.argv = saved


def run_lightning_cli(argv: list[str], run: bool = True) -> SelfsupCLI:
    """Run ``fit``/``validate``/``test``/``predict`` (or ``--help``) with short names resolved.

    ``--config`` takes a file or a shipped config's name (``graph:graphmae_cora``; see
    ``selfsup configs``). With ``run=False`` no subcommand is expected: the CLI only builds
    ``cli.model`` and ``cli.trainer`` from the config (used by ``selfsup embed``/``export``
    and by benchmarks that run a shipped config).
    """
    with resolved_config_args(argv) as args, _argv(args):
        return SelfsupCLI(
            SSLModule,
            datamodule_class=None,
            subclass_mode_model=False,
            auto_configure_optimizers=False,
            save_config_kwargs={"overwrite": True},
            run=run,
            **_optional_kwargs(),
        )
