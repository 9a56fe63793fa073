"""Modality-agnostic data modules (paired samples of two modalities)."""

from selfsup.data.paired import PairedDataset, PairedManifestDataModule, load_array

__all__ = ["PairedDataset", "PairedManifestDataModule", "load_array"]
