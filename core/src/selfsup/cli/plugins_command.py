"""``selfsup plugins``: installed plugins, their components, and what is missing."""

from __future__ import annotations

from selfsup.plugins import FIRST_PARTY, discover, install_hint

__all__ = ["format_plugins"]


def format_plugins() -> str:
    """A human-readable listing of installed and missing first-party plugins."""
    plugins = discover()
    lines: list[str] = []
    if not plugins:
        lines.append("No selfsup plugins installed.")
    for name, plugin in plugins.items():
        dist = plugin.distribution or FIRST_PARTY.get(name, "?")
        lines.append(f"{name} ({dist}, modality: {plugin.modality})")
        if plugin.description:
            lines.append(f"  {plugin.description}")
        for short, target in plugin.components.items():
            lines.append(f"  {short:<20} {target}")
    missing = [name for name in FIRST_PARTY if name not in plugins]
    if missing:
        lines.append("")
        lines.append("Not installed:")
        for name in missing:
            lines.append(f"  {name:<10} {install_hint(name)}")
    return "\n".join(lines)
