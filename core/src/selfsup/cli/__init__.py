"""The ``selfsup`` command line.

``selfsup fit|validate|test|predict --config CONFIG`` run experiments through
LightningCLI (``class_path``/``init_args`` configs, ``--print_config``); CONFIG is a
YAML file or a shipped config's name (``graph:graphmae_cora``). ``selfsup configs``
lists the shipped configs, ``selfsup embed`` turns data into vectors with a trained
checkpoint, ``selfsup export`` writes its encoder to a folder, ``selfsup rankme`` ranks
checkpoints by RankMe, ``selfsup plugins`` lists plugins and ``selfsup new-plugin NAME``
starts a domain.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["main"]

_LIGHTNING = ("fit", "validate", "test", "predict")

USAGE = """\
usage: selfsup COMMAND [ARGS]

Self-supervised learning across domains on one shared core.

Train and evaluate (LightningCLI; `selfsup fit --help` for every option):
  fit         train:            selfsup fit --config graph:graphmae_cora
  validate    run validation:   selfsup validate --config CONFIG --ckpt_path RUN.ckpt
  test        run the test set: selfsup test --config CONFIG --ckpt_path RUN.ckpt
  predict     Lightning's predict loop over the config's data

Use a trained model:
  embed       data -> ids + vectors (Parquet or .npy):
              selfsup embed --config CONFIG --ckpt_path RUN.ckpt --output emb.parquet
  export      encoder -> folder (model.safetensors + config.json):
              selfsup export --config CONFIG --ckpt_path RUN.ckpt --output encoder/
  rankme      rank checkpoints or runs by RankMe of their embeddings (no labels):
              selfsup rankme --config CONFIG --ckpt_path A.ckpt B.ckpt

Find things:
  configs     configs shipped with the installed packages (selfsup configs --show NAME)
  plugins     installed plugins, their components, install hints
  new-plugin  start a domain plugin from the template (in a selfsup checkout)

Options:
  -h, --help  this help;  --version  the installed selfsup packages

CONFIG is a YAML file or a shipped config name (owner:name). Data folders are given in
the config (root/data_root/path) or by the environment variable SELFSUP_DATA.
"""


def _version() -> str:
    from importlib.metadata import distributions

    from selfsup import __version__

    plugins = sorted(
        f"{d.metadata['Name']} {d.version}"
        for d in distributions()
        if (d.metadata["Name"] or "").lower().startswith("selfsup-")
        and (d.metadata["Name"] or "").lower() != "selfsup-core"
    )
    extra = f" ({', '.join(plugins)})" if plugins else ""
    return f"selfsup-core {__version__}{extra}"


def _plugins(argv: list[str]) -> int:
    argparse.ArgumentParser(prog="selfsup plugins", description="List selfsup plugins.").parse_args(
        argv
    )
    from selfsup.cli.plugins_command import format_plugins

    print(format_plugins())
    return 0


def _configs(argv: list[str]) -> int:
    from selfsup.cli.configs_command import configs_main

    return configs_main(argv)


def _embed(argv: list[str]) -> int:
    from selfsup.cli.embed import embed_main

    return embed_main(argv)


def _export(argv: list[str]) -> int:
    from selfsup.cli.embed import export_main

    return export_main(argv)


def _rankme(argv: list[str]) -> int:
    from selfsup.cli.rankme_command import rankme_main

    return rankme_main(argv)


def _new_plugin(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="selfsup new-plugin", description="Create plugins/NAME from templates/plugin."
    )
    parser.add_argument("name", help="lowercase identifier, e.g. timeseries")
    parser.add_argument("--dest", type=Path, default=Path("plugins"), help="parent folder")
    parser.add_argument("--template", type=Path, default=None, help="template folder")
    args = parser.parse_args(argv)
    from selfsup.cli.new_plugin import create_plugin

    try:
        path = create_plugin(args.name, args.dest, args.template)
    except (ValueError, FileExistsError, FileNotFoundError) as err:
        print(f"selfsup new-plugin: {err}", file=sys.stderr)
        return 2
    print(f"created {path}; next: pip install -e {path} && pytest {path / 'tests'}")
    return 0


def _lightning(argv: list[str]) -> int:
    from selfsup.cli.lightning import run_lightning_cli

    run_lightning_cli(argv)
    return 0


_COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "configs": _configs,
    "embed": _embed,
    "export": _export,
    "plugins": _plugins,
    "rankme": _rankme,
    "new-plugin": _new_plugin,
}


def _dispatch(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return 0 if argv else 2
    if argv[0] in ("--version", "-V"):
        print(_version())
        return 0
    command = _COMMANDS.get(argv[0])
    if command is not None:
        return command(argv[1:])
    if argv[0] in _LIGHTNING:
        return _lightning(argv)
    if argv[0].startswith("-"):  # `selfsup --config x.yaml ...`: LightningCLI's own error
        return _lightning(argv)
    import difflib

    known = [*_LIGHTNING, *_COMMANDS]
    close = difflib.get_close_matches(argv[0], known, n=1)
    hint = f" Did you mean `selfsup {close[0]}`?" if close else ""
    print(f"selfsup: unknown command {argv[0]!r}.{hint} See `selfsup --help`.", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``selfsup`` console script."""
    from selfsup.cli.config_checks import ConfigTypeError
    from selfsup.data.roots import DataRootError
    from selfsup.export.pretrained import ExportError
    from selfsup.plugins import PluginNotFoundError

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _dispatch(argv)
    except (
        PluginNotFoundError,
        DataRootError,
        ExportError,
        ConfigTypeError,
        FileExistsError,
    ) as err:
        print(f"selfsup: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # `selfsup configs | head`: the reader left; say nothing more and exit quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
