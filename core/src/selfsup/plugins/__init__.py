"""The plugin registry: domain packages announce themselves through entry points.

A plugin is a distribution (``selfsup-graph``) that declares, in its
``pyproject.toml``::

    [project.entry-points."selfsup.plugins"]
    graph = "selfsup_graph.plugin:PLUGIN"

``PLUGIN`` is a :class:`Plugin`: a name, a modality and a mapping of short
component names to import strings. :func:`discover` imports only those light
``plugin.py`` modules; a component's own module (and its heavy libraries) is
imported the first time :func:`resolve` is asked for it.
"""

from selfsup.plugins.registry import (
    ENTRY_POINT_GROUP,
    FIRST_PARTY,
    Plugin,
    PluginNotFoundError,
    component_path,
    discover,
    install_hint,
    resolve,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "FIRST_PARTY",
    "Plugin",
    "PluginNotFoundError",
    "component_path",
    "discover",
    "install_hint",
    "resolve",
]
