"""The plugin record read by :func:`selfsup.plugins.discover`.

Import only :mod:`selfsup.plugins` here: discovery imports this module for every installed
plugin, so it must not load torch, domain libraries or components.
"""

from selfsup.plugins import Plugin

__all__ = ["MODALITY", "NAME", "PLUGIN"]

#: The plugin's short name: the package name without its ``selfsup_`` prefix. It must equal the
#: entry-point name in pyproject.toml. (Derived so that the template needs no extra renaming; a
#: literal string is fine too.)
NAME = __name__.partition(".")[0].removeprefix("selfsup_")

#: The data modality served; every method of this plugin declares it.
MODALITY = NAME

PLUGIN = Plugin(
    name=NAME,
    modality=MODALITY,
    components={
        # short name -> "module:Attribute"; point at the defining module so that resolving one
        # component imports only what it needs.
        "contrastive_mlp": "selfsup_template.methods.template_method:TemplateMethod",
        "encoder": "selfsup_template.encoders.template_encoder:TemplateEncoder",
    },
    description="Template: a contrastive MLP on feature vectors (replace with your domain).",
    distribution="selfsup-template",
    # YAML presets shipped in the wheel: `selfsup configs`, `selfsup fit --config <name>:<file>`
    configs="selfsup_template/configs",
)
