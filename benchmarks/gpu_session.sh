#!/usr/bin/env bash
# One GPU session for every benchmark that needs a GPU, sized to about nine minutes.
#
#   DATA=/path/holding/cifar10-jpg+planetoid OUT=dir [STEPS="tests graph sweeps vision"] \
#     bash benchmarks/gpu_session.sh
#
# Steps (STEPS picks; default all but "verify" and "protocol"):
#   tests   the CUDA kernel tests (GPU shared with "graph").
#   graph   GraphMAE2 on Cora, five seeds as five processes (small graphs share the GPU well).
#   sweeps  Triton tile sweeps at N = 65536 for D = 128 and 512 (kernels compiled into Triton's cache
#           at N = 32768 during "tests"), the naive comparison at N = 4096 / 16384, N = 262144.
#   verify  the contrastive benchmark with the default tiles at N = 16384 / 65536, D = 128 / 256 / 512.
#   vision  SimCLR, BYOL and Barlow Twins on CIFAR-10 (ResNet-18, bf16 autocast), 45 s each.
#   protocol  the 2-core CPU protocol's settings grid (benchmarks/vision/grids/cpu_protocol.txt)
#           replayed on the GPU, eight runs at a time (runs after phase A, before the timed steps).
# Timed steps (sweeps, verify, vision) run with the GPU to themselves. Everything lands in
# $OUT/results.tgz (re-packed after each step) and a summary on stdout.
#
# The device machine has no network: data and missing wheels travel with the working tree, e.g.
#   (cd ../shared/data && tar -cf - cifar10-jpg/train cifar10-jpg/test planetoid | xz -T2 > .devdata/data.tar.xz)
#   pip download --no-deps --only-binary=:all: -d .whl jsonargparse docstring_parser typeshed_client
# then on the machine: tar -xJf .devdata/data.tar.xz -C /tmp/data; pip install --target /tmp/site .whl/*.whl;
#   PYTHONPATH=/tmp/site DATA=/tmp/data bash benchmarks/gpu_session.sh
set -u
DATA=${DATA:-../shared/data}
OUT=${OUT:-/tmp/selfsup-gpu}
BUDGET=${BUDGET:-560}  # seconds for the whole script
STEPS=${STEPS:-tests graph sweeps vision}
has() { case " $STEPS " in *" $1 "*) return 0 ;; esac; return 1; }
R=/tmp/selfsup-gpu-results
mkdir -p "$OUT" "$R"
START=$(date +%s)
left() { echo $((BUDGET - ($(date +%s) - START))); }
pack() { tar -czf "$OUT/results.tgz" -C "$(dirname "$R")" "$(basename "$R")"; }
stamp() { echo "[$(($(date +%s) - START)) s] $*"; }
export PYTHONPATH=core/src:plugins/graph/src:plugins/vision/src${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1
unset TRITON_INTERPRET
KB=benchmarks/kernels/contrastive.py
# Tile candidates, block_m,block_n,num_warps,num_stages[,max_block_d]; the first is the default.
C128="128,64,8,3;64,64,8,2;128,128,8,3;128,128,8,2;64,64,4,2;128,64,4,3;64,128,4,3;128,32,4,3"
C512="128,64,8,2,128;64,64,4,2,256;128,64,4,3,128;64,64,4,2,128;128,64,8,2,256;128,128,8,2,128;64,64,4,3,128;64,128,4,2,128"

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$R/device.txt"
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)" \
  | tee -a "$R/device.txt"

stamp "phase A"
GRAPH_PIDS=""
has graph && for s in 0 1 2 3 4; do
  XDG_CACHE_HOME=/tmp/xdg$s OMP_NUM_THREADS=2 python3 benchmarks/graph/graphmae_planetoid.py \
    --data-root "$DATA" --dataset Cora --seeds "$s," --graphmae2 --machine "$(head -c 40 "$R/device.txt")" \
    > "$R/graph_seed$s.json" 2> "$R/graph_seed$s.log" &
  GRAPH_PIDS="$GRAPH_PIDS $!"
done
WARM=""
if has sweeps; then
  timeout 120 python3 "$KB" --sizes 32768 --dims 128 --paths triton --repeats 1 --warmup 1 \
    --triton-configs "$C128" > /dev/null 2> "$R/warm128.txt" &
  WARM="$WARM $!"
  timeout 120 python3 "$KB" --sizes 32768 --dims 512 --paths triton --repeats 1 --warmup 1 \
    --triton-configs "$C512" > /dev/null 2> "$R/warm512.txt" &
  WARM="$WARM $!"
fi
if has tests; then
  timeout 150 python3 -m pytest -q -p no:cacheprovider -k "not interpreter" \
    core/tests/kernels/test_contrastive_cuda.py core/tests/kernels/test_topk.py \
    core/tests/kernels/test_masking_kernels.py > "$R/tests.txt" 2>&1
  tail -n 4 "$R/tests.txt"
fi
[ -n "$WARM" ] && wait $WARM
stamp "warm-up compiled"
# The graph runs must not overlap the timed sweeps: give them until 200 s into the script.
for pid in $GRAPH_PIDS; do
  while kill -0 "$pid" 2> /dev/null && [ $(($(date +%s) - START)) -lt 200 ]; do sleep 2; done
done
GRAPH_LEFT=$(for pid in $GRAPH_PIDS; do kill -0 "$pid" 2> /dev/null && echo "$pid"; done | wc -l)
stamp "graph processes still running: $GRAPH_LEFT"
pack

has protocol && {
  stamp "protocol grid"
  reserve=20
  has verify && reserve=150  # the kernel timings after it
  timeout $(($(left) - reserve)) python3 benchmarks/vision/grid.py \
    --grid "${GRID:-benchmarks/vision/grids/cpu_protocol.txt}" --parallel 8 --threads-per-run 2 \
    --timeout 240 --output "$R/protocol.jsonl" --log-dir "$R/protocol-logs" -- \
    --data-root "$DATA/cifar10-jpg" --train-subset 10000 --epochs 6 --batch-size 64 --lr 1e-3 \
    --precision bf16 --no-baselines --time-budget 10 > "$R/protocol.json" 2> "$R/protocol.txt"
  stamp "protocol grid done: $(tail -c 600 "$R/protocol.json")"
  pack
}

stamp "phase B"
has sweeps && {
timeout 80 python3 "$KB" --sizes 65536 --dims 128 --paths triton --repeats 5 \
  --triton-configs "$C128" > "$R/sweep128.json" 2> "$R/sweep128.txt"
timeout 80 python3 "$KB" --sizes 65536 --dims 512 --paths triton --repeats 3 \
  --triton-configs "$C512" > "$R/sweep512.json" 2> "$R/sweep512.txt"
timeout 60 python3 "$KB" --sizes 4096,16384 --dims 128,256,512 --paths naive,triton \
  --repeats 10 > "$R/small.json" 2> "$R/small.txt"
timeout 60 python3 "$KB" --sizes 262144 --dims 128,256,512 --paths triton --repeats 2 \
  --warmup 1 > "$R/n262144.json" 2> "$R/n262144.txt"
}
has verify && [ "$(left)" -gt 60 ] && timeout $(($(left) - 20 > 120 ? 120 : $(left) - 20)) python3 "$KB" --sizes 16384,65536 --dims 128,256,512 --paths triton \
  --repeats 5 > "$R/verify.json" 2> "$R/verify.txt"
stamp "phase B done"
pack

stamp "phase C"
V="python3 benchmarks/vision/cifar10.py --data-root $DATA/cifar10-jpg --epochs 15 --batch-size 512
   --precision bf16 --time-budget 0.75"
for m in simclr byol barlow; do
  has vision || break
  if [ "$(left)" -lt 110 ]; then stamp "skip $m: $(left) s left"; continue; fi
  extra="--no-baselines"
  [ "$m" = simclr ] && extra="--temperature 0.2"
  timeout $(($(left) - 10)) $V --method $m $extra --output "$R/vision_$m.json" \
    > /dev/null 2> "$R/vision_$m.log"
  stamp "$m: $(tail -n 2 "$R/vision_$m.log" | head -n 1)"
  pack
done
wait
pack

echo "=== summary"
cat "$R/device.txt"
grep -h '"acc_mean"' "$R"/graph_seed*.json | cut -c1-400
for f in sweep128 sweep512 small n262144 verify; do
  [ -f "$R/$f.txt" ] || continue
  grep -E "^(info_nce|nt_xent)" "$R/$f.txt" | awk '{printf "%s %s %s %s %s %s\n",$1,$2,$3,$4,$5,$6}'
done
for m in simclr byol barlow; do [ -f "$R/vision_$m.json" ] && cut -c1-300 "$R/vision_$m.json"; done
stamp "end"
