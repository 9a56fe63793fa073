"""Lightning data modules of this plugin: they read the paths they are given, nothing else."""

from selfsup_template.data.vectors import VectorFileDataModule

__all__ = ["VectorFileDataModule"]
