"""``selfsup configs``: the configs shipped inside the installed packages."""

from __future__ import annotations

import argparse

from selfsup.plugins import FIRST_PARTY, discover
from selfsup.plugins.configs import find_config, shipped_configs

__all__ = ["configs_main", "format_configs"]


def format_configs(owner: str | None = None) -> str:
    """One line per shipped config: ``owner:name``, description, plugins it still needs."""
    plugins = discover()
    catalog = [c for c in shipped_configs(plugins) if owner is None or c.owner == owner]
    if not catalog:
        return f"No shipped configs{f' for {owner!r}' if owner else ''}."
    width = max(len(c.qualified) for c in catalog)
    lines = []
    for config in catalog:
        line = f"{config.qualified:<{width}}  {config.description}"
        missing = [n for n in config.needs if n not in plugins]
        if missing:
            hint = " ".join(FIRST_PARTY.get(n, f"<plugin {n}>") for n in missing)
            line += f"  [needs: pip install {hint}]"
        lines.append(line)
    lines.append("")
    lines.append(
        "Run one: selfsup fit --config OWNER:NAME   (see it: selfsup configs --show OWNER:NAME)"
    )
    return "\n".join(lines)


def configs_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="selfsup configs",
        description="List the configs shipped with selfsup-core and the installed plugins.",
    )
    parser.add_argument("owner", nargs="?", help="only this plugin's configs ('selfsup' for core)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--show", metavar="NAME", help="print a config's YAML (to copy and edit)")
    group.add_argument("--path", metavar="NAME", help="print a config's file path")
    args = parser.parse_args(argv)
    if args.show or args.path:
        path = find_config(args.show or args.path)
        print(
            path.read_text(encoding="utf-8") if args.show else path, end="" if args.show else "\n"
        )
        return 0
    print(format_configs(args.owner))
    return 0
