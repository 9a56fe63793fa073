"""Stochastic views of this plugin's inputs."""

from selfsup_template.augment.noise import gaussian_noise_views

__all__ = ["gaussian_noise_views"]
