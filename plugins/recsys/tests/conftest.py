"""Tiny CPU tensors: one intra-op thread avoids thread start-up costs on a loaded machine."""

import torch

torch.set_num_threads(1)
