#!/usr/bin/env bash
# Train family members at the same time, one process each, sharing one GPU (or the CPU), each resumable.
#
#   bash scripts/train_family.sh OUT STEPS BATCH DATA MEMBER...   (extra train flags in $TRAIN_FLAGS)
#
# The embedded family shipped in assets/checkpoints was trained on a GPU with
#   python -m mae_core data pack --out photos512            # 197 photographs, short side 512, JPEG q95
#   TRAIN_FLAGS="--snapshot-every 500 --workers 2" \
#     bash scripts/train_family.sh out 5000 128 photos512 p16-m1 p8-m1 p8-m2 p4-m4
# Each member logs to OUT/<member>.log; rerunning the same command continues unfinished runs.
set -euo pipefail
out=$1 steps=$2 batch=$3 data=$4
shift 4
mkdir -p "$out"
# the project venv when there is one (bash run.sh makes it), else python3 (a GPU machine's own torch)
root=$(cd "$(dirname "$0")/.." && pwd)
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"  # python -m mae_core from any folder
if [ -x "$root/.venv/bin/python" ]; then py=${PYTHON:-$root/.venv/bin/python}; else py=${PYTHON:-python3}; fi
warmup=$(( steps / 20 ))
for m in "$@"; do
  # shellcheck disable=SC2086
  setsid nohup "$py" -m mae_core train --preset "$m" --data "$data" --steps "$steps" --batch-size "$batch" \
      --warmup-steps "$warmup" --ckpt-every 250 --out "$out" ${TRAIN_FLAGS:-} >"$out/$m.log" 2>&1 &
done
echo "started $* -> $out (logs: $out/<member>.log)"
