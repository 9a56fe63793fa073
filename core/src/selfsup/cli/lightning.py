"""The LightningCLI behind ``selfsup fit|validate|test``."""

from __future__ import annotations

from lightning.pytorch.cli import LightningCLI

from selfsup.cli.config_resolution import resolved_config_args
from selfsup.experiment.module import SSLModule

__all__ = ["SelfsupCLI", "run_lightning_cli"]


class SelfsupCLI(LightningCLI):
    """LightningCLI over :class:`~selfsup.experiment.SSLModule`.

    The model brings its own data (each task's data module), so there is no
    ``--data`` group; optimisers are configured through
    ``model.init_args.optimizer``.
    """

    def _add_instantiators(self) -> None:
        # LightningCLI hooks every LightningDataModule instantiation to record the
        # top-level "data" group's hyper-parameters; our data modules live inside
        # tasks and there is no such group, so only the model hook applies.
        from lightning.pytorch.cli import _get_module_type, _InstantiatorFn

        self.parser.add_instantiator(
            _InstantiatorFn(cli=self, key="model"),
            _get_module_type(self._model_class),
            subclasses=self.subclass_mode_model,
        )


def run_lightning_cli(argv: list[str], run: bool = True) -> SelfsupCLI:
    """Run ``fit``/``validate``/``test`` (or ``--help``) with short names resolved.

    With ``run=False`` no subcommand is expected: the CLI only builds ``cli.model``
    and ``cli.trainer`` from the config (used by benchmarks to run a shipped config).
    """
    with resolved_config_args(argv) as args:
        return SelfsupCLI(
            SSLModule,
            datamodule_class=None,
            subclass_mode_model=False,
            auto_configure_optimizers=False,
            save_config_kwargs={"overwrite": True},
            args=args,
            run=run,
        )
