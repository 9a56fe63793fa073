"""selfsup-template: a selfsup plugin.

Keep this file light: no torch, no domain library, no component imports, no side effects.
Components live in submodules (:mod:`selfsup_template.methods`) and load on demand.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
