"""Optional fused kernels (Triton) and their PyTorch reference paths."""
