"""Self-supervised methods of this plugin."""

from selfsup_template.methods.template_method import TemplateMethod

__all__ = ["TemplateMethod"]
