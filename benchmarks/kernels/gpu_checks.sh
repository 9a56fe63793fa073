#!/usr/bin/env bash
# One GPU session's checks for the kernels: CUDA tests, then the three kernel benchmarks.
# Usage (repo root, on a CUDA machine): OUT=dir bash benchmarks/kernels/gpu_checks.sh
# Each step has its own time limit so a slow step cannot starve the others.
set -u
OUT=${OUT:-/tmp/selfsup-gpu}
mkdir -p "$OUT"
export PYTHONPATH=core/src PYTHONUNBUFFERED=1
unset TRITON_INTERPRET
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$OUT/device.txt"
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)" | tee -a "$OUT/device.txt"
timeout 170 python3 -m pytest -q -k "not interpreter" --durations=10 \
  core/tests/kernels/test_contrastive_cuda.py core/tests/losses/test_chunked_softmax.py \
  core/tests/kernels/test_topk.py core/tests/kernels/test_masking_kernels.py \
  core/tests/metrics/test_knn.py core/tests/masking/test_token.py > "$OUT/tests.txt" 2>&1
tail -n 25 "$OUT/tests.txt"
timeout 150 python3 benchmarks/kernels/contrastive.py --quick --sizes 4096,16384,65536 \
  > "$OUT/contrastive.json" 2> "$OUT/contrastive.txt"
tail -n 40 "$OUT/contrastive.txt"
timeout 45 python3 benchmarks/kernels/masking.py --rep-ms 50 > "$OUT/masking.json" 2> "$OUT/masking.txt"
tail -n 15 "$OUT/masking.txt"
timeout 50 python3 benchmarks/kernels/topk.py --chunks 1024x32768 > "$OUT/topk.json" 2> "$OUT/topk.txt"
tail -n 15 "$OUT/topk.txt"
