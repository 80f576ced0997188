#!/usr/bin/env bash
# The whole GPU check in one run: the tests marked cuda, the benchmark rows, the pages' compute latency.
#
#   bash scripts/gpu_check.sh [OUTDIR]            on a CUDA machine (a fresh copy of this repository)
#   bash scripts/gpu_check.sh --tiny [OUTDIR]     the same stages on tiny models, on any device (checks the script)
#
# OUTDIR defaults to $OUT, else artifacts/gpu_check. It receives gpu_check.log (everything printed) and ONE
# gpu_check.json: the machine (GPU, driver, torch, CUDA), each stage's exit code and seconds, the pytest summary,
# and the figures of every stage (bench JSONs and compute-latency JSONs inlined). Stages run in order of importance
# inside a time budget (GPU_CHECK_BUDGET_S, default 420 s): a stage that would start with less than its share left
# is skipped and recorded as skipped, so the JSON always comes back.
#
# Python: $PYTHON, else .venv/bin/python when present, else python3 (the GPU image's python3 holds torch, timm,
# transformers and pytest; Streamlit is not needed: scripts/compute_latency.py then calls the library the way the
# pages do).
set -uo pipefail
cd "$(dirname "$0")/.."

TINY=0
if [ "${1:-}" = "--tiny" ]; then TINY=1; shift; fi
OUTDIR="${1:-${OUT:-artifacts/gpu_check}}"
mkdir -p "$OUTDIR/parts"
LOG="$OUTDIR/gpu_check.log"
: >"$LOG"
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
BUDGET="${GPU_CHECK_BUDGET_S:-420}"
START=$SECONDS
STAGES="$OUTDIR/parts/stages.tsv"
: >"$STAGES"

# stage NAME MIN_SECONDS_LEFT TIMEOUT_S COMMAND...: run it unless less than MIN_SECONDS_LEFT of the budget is left
stage() {
  local name=$1 need=$2 limit=$3; shift 3
  local left=$((BUDGET - (SECONDS - START)))
  if [ "$left" -lt "$need" ]; then
    echo "== $name: skipped ($left s left, needs $need)" | tee -a "$LOG"
    printf '%s\tskipped\t0\n' "$name" >>"$STAGES"
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "== $name ($(date -u +%H:%M:%S), limit ${limit} s): $*" | tee -a "$LOG"
  local t0=$SECONDS
  timeout "$limit" "$@" 2>&1 | tee -a "$LOG"
  local rc=${PIPESTATUS[0]}
  printf '%s\t%s\t%s\n' "$name" "$rc" "$((SECONDS - t0))" >>"$STAGES"
  echo "== $name: exit $rc in $((SECONDS - t0)) s" | tee -a "$LOG"
}

P="$OUTDIR/parts"
if [ "$TINY" = 1 ]; then
  ROWS_A=(--quick --rows tiny-L16); ROWS_B=(--quick --rows tiny-L64); ROWS_SMALL=(--quick --rows tiny-L64)
  ROWS_BIG=(--quick --rows tiny-L64); REPEATS=2
  LAT=(--tiny --repeats 3)
else
  ROWS_A=(--rows B16-224,B8-224,L16-448); ROWS_B=(--rows L8-448,H14-448); ROWS_SMALL=(--rows B16-224,L16-448)
  ROWS_BIG=(--rows L8-448); REPEATS=20
  LAT=(--repeats 20)
fi

stage machine 0 60 bash -c "nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1; \
  $PY -c 'import torch, sys; print(\"torch\", torch.__version__, \"cuda\", torch.version.cuda, \"gpu\", \
  torch.cuda.get_device_name(0) if torch.cuda.is_available() else None, \"python\", sys.version.split()[0])'"
# 1. correctness on the GPU: no sync in the layer loop, bf16/tf32 fidelity, amp (tests marked cuda)
stage cuda_tests 30 150 "$PY" -m pytest -m cuda tests/test_precision.py tests/test_attention.py -q -p no:cacheprovider \
  -o addopts="" --junitxml="$P/cuda_tests.xml"
# 2. the bench in bf16: every row, ours / HF bf16 / HF fp32 / floor, 20 runs each (two stages: one JSON each)
stage bench_bf16_a 60 150 "$PY" -m mae_core bench --device auto --precision bf16 "${ROWS_A[@]}" --repeats "$REPEATS" \
  --in-process --quiet --out "$P/bench_bf16_a.json"
stage bench_bf16_b 60 180 "$PY" -m mae_core bench --device auto --precision bf16 "${ROWS_B[@]}" --repeats "$REPEATS" \
  --in-process --quiet --out "$P/bench_bf16_b.json"
# 3. the pages' compute for ViT-L/16 @448 in the default precision and in bf16
stage latency_auto 20 90 "$PY" scripts/compute_latency.py --device auto --precision auto "${LAT[@]}" \
  --json "$P/latency_auto.json"
stage latency_bf16 20 90 "$PY" scripts/compute_latency.py --device auto --precision bf16 "${LAT[@]}" \
  --json "$P/latency_bf16.json"
# 4. the default precision (tf32 on CUDA) on two rows, then bf16 with the compiled forward on the same rows
stage bench_auto 40 120 "$PY" -m mae_core bench --device auto --precision auto "${ROWS_SMALL[@]}" --repeats "$REPEATS" \
  --in-process --quiet --out "$P/bench_auto.json"
# 5. memory at L = 3136 with the analysis capped at 512 MB (whole-layer blocks against the 0.05x-of-HF memory bound)
stage bench_bf16_budget 40 120 "$PY" -m mae_core bench --device auto --precision bf16 "${ROWS_BIG[@]}" \
  --repeats "$REPEATS" --in-process --quiet --memory-budget-mb 512 --out "$P/bench_bf16_budget512.json"
stage bench_bf16_compiled 40 120 "$PY" -m mae_core bench --device auto --precision bf16 "${ROWS_SMALL[@]}" \
  --repeats "$REPEATS" --in-process --quiet --compile --out "$P/bench_bf16_compiled.json"

"$PY" - "$OUTDIR" <<'EOF' 2>&1 | tee -a "$LOG"
import json, sys, xml.etree.ElementTree as ET
from pathlib import Path
out = Path(sys.argv[1]); parts = out / "parts"
stages = []
for line in (parts / "stages.tsv").read_text().splitlines():
    name, rc, secs = line.split("\t")
    stages.append(dict(name=name, exit=rc, seconds=int(secs)))
result = dict(stages=stages, figures={})
for f in sorted(parts.glob("*.json")):
    result["figures"][f.stem] = json.loads(f.read_text())
xml = parts / "cuda_tests.xml"
if xml.exists():
    s = ET.parse(xml).getroot()
    s = s.find("testsuite") if s.tag == "testsuites" else s
    result["cuda_tests"] = {k: int(s.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    result["cuda_tests"]["failed"] = [c.get("classname", "") + "::" + c.get("name", "") for c in s.iter("testcase")
                                      if c.find("failure") is not None or c.find("error") is not None]
for key, b in result["figures"].items():
    if key.startswith("bench"):
        for t in b.get("targets", []):
            print(f"{key}: target {t['what']}: {t['value']} -> {t['status']}")
(out / "gpu_check.json").write_text(json.dumps(result, indent=2))
print(f"wrote {out / 'gpu_check.json'}: stages " + ", ".join(f"{s['name']}={s['exit']}" for s in stages))
EOF
echo "total $((SECONDS - START)) s" | tee -a "$LOG"
