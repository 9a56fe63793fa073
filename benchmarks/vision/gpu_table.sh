#!/usr/bin/env bash
# One row of the CIFAR-10 table next to lightly's, on one GPU, in under nine minutes.
#
#   METHOD=simclr DATA=/path/holding/cifar10-jpg OUT=dir bash benchmarks/vision/gpu_table.sh
#
# lightly's protocol (docs "Benchmarks", CIFAR-10): ResNet-18 with the CIFAR stem, batch 512,
# 200 epochs, blur off, SGD (momentum 0.9, lr 0.06 * batch / 128, weight decay 5e-4, cosine),
# kNN k = 200 (t = 0.1), best kNN over epochs. Ours differs in one declared way: the best epoch is
# chosen on a validation carve-out of the training folder (VAL images, stratified, never
# pre-trained on), and the test kNN of that epoch is the row's number; lightly's best-over-epochs
# test kNN is recorded next to it (test_knn_best_over_evals) only to compare with their table.
# The cosine schedule is planned for EPOCHS and shortened to what fits BUDGET_MIN minutes (timed
# on the second epoch; epochs_scheduled in the JSON), so a row says how far nine minutes got.
#
# Each run appends its JSON line to $OUT/lightly_table.jsonl (device name inside); fold it into
# benchmarks/vision/results/lightly_table.jsonl and render with benchmarks/vision/lightly_table.py.
# Settings per method: EXTRA adds or overrides cifar10.py flags (later flags win); PYTHON picks
# the interpreter (default python3).
#
# The device machine has no network: data and missing wheels travel with the working tree, e.g.
#   (cd ../shared/data && tar -cf - cifar10-jpg/train cifar10-jpg/test | xz -T2 > .devdata/cifar.tar.xz)
#   pip download --no-deps --only-binary=:all: -d .whl jsonargparse docstring_parser typeshed_client
# and DATA_TAR=.devdata/cifar.tar.xz WHEELS=.whl unpack/install them first (carry both paths).
set -euo pipefail
PY=${PYTHON:-python3}
METHOD=${METHOD:-simclr}
OUT=${OUT:-/tmp/selfsup-gpu}
EPOCHS=${EPOCHS:-200}
BUDGET_MIN=${BUDGET_MIN:-8}
BATCH=${BATCH:-512}
VAL=${VAL:-5000}
EVAL_EVERY=${EVAL_EVERY:-10}
SEED=${SEED:-0}
EXTRA=${EXTRA:-}
mkdir -p "$OUT"
if [ -n "${DATA_TAR:-}" ]; then
  DATA=${DATA:-/tmp/selfsup-data}
  mkdir -p "$DATA"
  [ -d "$DATA/cifar10-jpg/train" ] || tar -xJf "$DATA_TAR" -C "$DATA"
fi
DATA=${DATA:?set DATA to the folder holding cifar10-jpg/ (or DATA_TAR to its archive)}
if [ -n "${WHEELS:-}" ]; then
  pip install --quiet --no-deps --target /tmp/selfsup-site "$WHEELS"/*.whl
  export PYTHONPATH=/tmp/selfsup-site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=core/src:plugins/vision/src${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1
unset TRITON_INTERPRET
LR=$("$PY" -c "print(0.06 * $BATCH / 128)")
case "$METHOD" in
  simclr | dcl | byol | barlow | vicreg | directpred | mixed_barlow) ;;
  *) echo "METHOD must be a joint-embedding method of cifar10.py, got $METHOD" >&2; exit 2 ;;
esac
DEVICE=$( (nvidia-smi --query-gpu=name --format=csv,noheader 2> /dev/null || echo cpu) | head -n 1 | tr ' ' '_')
RUN="$OUT/${METHOD}_b${BATCH}_e${EPOCHS}_seed${SEED}_${DEVICE}"
# shellcheck disable=SC2086  # EXTRA is a flag list
"$PY" benchmarks/vision/cifar10.py --data-root "$DATA/cifar10-jpg" --method "$METHOD" \
  --backbone resnet18 --batch-size "$BATCH" --epochs "$EPOCHS" --optimizer sgd --lr "$LR" \
  --weight-decay 5e-4 --val-size "$VAL" --eval-every "$EVAL_EVERY" --fit-epochs-to-budget \
  --time-budget "$BUDGET_MIN" --precision bf16 --loader device --cudnn-benchmark \
  --threads 8 --seed "$SEED" --output "$RUN.json" $EXTRA > /dev/null 2> "$RUN.log" || { tail -n 20 "$RUN.log" >&2; exit 1; }
"$PY" - "$RUN.json" "$METHOD" "$EXTRA" >> "$OUT/lightly_table.jsonl" <<'PY'
import json, sys
row = json.load(open(sys.argv[1]))
row["table_method"], row["extra_args"], row["protocol"] = sys.argv[2], sys.argv[3], "lightly-cifar10"
print(json.dumps(row))
PY
tail -n 3 "$RUN.log"
