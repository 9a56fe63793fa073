"""The ``selfsup`` command line.

``selfsup fit|validate|test --config file.yaml`` run experiments through
LightningCLI (``class_path``/``init_args`` configs, ``--print_config``);
``selfsup plugins`` lists plugins; ``selfsup new-plugin NAME`` starts a domain.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["main"]


def _plugins(argv: list[str]) -> int:
    argparse.ArgumentParser(prog="selfsup plugins", description="List selfsup plugins.").parse_args(
        argv
    )
    from selfsup.cli.plugins_command import format_plugins

    print(format_plugins())
    return 0


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


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``selfsup`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "plugins":
        return _plugins(argv[1:])
    if argv and argv[0] == "new-plugin":
        return _new_plugin(argv[1:])
    from selfsup.cli.lightning import run_lightning_cli
    from selfsup.plugins import PluginNotFoundError

    try:
        run_lightning_cli(argv)
    except PluginNotFoundError as err:
        print(f"selfsup: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
