"""Encoders of this plugin: modules from inputs to features, exportable to a folder."""

from selfsup_template.encoders.template_encoder import TemplateEncoder

__all__ = ["TemplateEncoder"]
