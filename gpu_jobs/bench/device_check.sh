#!/usr/bin/env bash
# Issue 15's one-shot GPU check, run on the device machine from the repository root (README.md has the
# exact `run` call). It installs the carried wheels, then runs the SDXL benchmark, the SVD benchmark
# and the `gpu` test marker, each under its own timeout, and writes JSON lines to $OUT:
#   summary.jsonl   one line per step (start, rc, elapsed) and the device
#   sdxl.jsonl / svd.jsonl   the benchmark rows (gpu_jobs/bench/gpu.py); *.log their stderr
#   gpu_tests.log   pytest's output
# A step that hits its timeout keeps the rows it printed (JSON lines are flushed one by one). Budget:
# about 8.5 minutes in all on one H100/H200.
#   --dry-run  print the steps, run nothing          (CPU: tests/unit/test_sdxl_svd_bench.py)
# Env: SDXL_TIMEOUT_S, SVD_TIMEOUT_S, GPU_TESTS_TIMEOUT_S, SDXL_ROWS, SVD_ROWS (gpu_jobs/bench/gpu.py rows).
#   --smoke    run every step here on tiny CPU models with the current Python env, no wheels
set -uo pipefail
cd "$(dirname "$0")/../.."
DRY=0 SMOKE=()
[[ "${1:-}" == "--dry-run" ]] && DRY=1
[[ "${1:-}" == "--smoke" ]] && SMOKE=(--smoke --reps 1)
OUT="${OUT:-/tmp/soul-device-check}"
WHEELS="${SOUL_DEVICE_WHEELS:-build/device-wheels}"
PY="${PYTHON:-python3}"
SDXL_S="${SDXL_TIMEOUT_S:-235}" SVD_S="${SVD_TIMEOUT_S:-160}" TESTS_S="${GPU_TESTS_TIMEOUT_S:-115}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TORCHINDUCTOR_CACHE_DIR=/tmp/soul-inductor

note() { echo "$1" >>"$OUT/summary.jsonl"; echo "$1"; }

step() {  # step NAME TIMEOUT_S OUTFILE COMMAND...
  local name=$1 limit=$2 out=$3 started=$SECONDS rc
  shift 3
  note "{\"what\": \"step\", \"step\": \"$name\", \"timeout_s\": $limit, \"cmd\": \"$*\"}"
  if ((DRY)); then return 0; fi
  timeout --kill-after=15 "$limit" "$@" >"$OUT/$out" 2>"$OUT/$name.log"
  rc=$?
  note "{\"what\": \"step_done\", \"step\": \"$name\", \"rc\": $rc, \"timed_out\": $([[ $rc == 124 || $rc == 137 ]] && echo true || echo false), \"s\": $((SECONDS - started))}"
}

if ((!DRY)) && ((${#SMOKE[@]} == 0)); then
  if ! ls "$WHEELS"/*.whl >/dev/null 2>&1; then
    note "{\"what\": \"error\", \"error\": \"no wheels in $WHEELS: run gpu_jobs/bench/fetch_wheels.sh here and carry the folder\"}"
    exit 2
  fi
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    "$WHEELS"/*.whl >"$OUT/install.log" 2>&1 || { note '{"what": "error", "error": "wheel install failed"}'; exit 2; }
  export PYTHONPATH="/tmp/site:$PWD"
  note "$("$PY" -c 'import json,torch;print(json.dumps({"what":"device","gpu":torch.cuda.get_device_name(),"capability":torch.cuda.get_device_capability(),"torch":torch.__version__}))' 2>>"$OUT/install.log")"
fi
BENCH=("$PY" -m gpu_jobs.bench.gpu --compile-mode default --compile-cache /tmp/soul-inductor --reps 3 ${SMOKE[@]+"${SMOKE[@]}"})
# First the correctness checks (tiny models: the production plan on this GPU, compiled, SVD starts).
# --noconftest: tests/conftest.py wires the whole service (flask, emulators), absent on the device.
step gpu_tests "$TESTS_S" gpu_tests.log env SOUL_GPU_TESTS=1 "$PY" -m pytest -m gpu tests/gpu -q --noconftest
# Eager Soul rows are left out to fit the time: the compiled rows run the same plan plus compile.
step sdxl "$SDXL_S" sdxl.jsonl "${BENCH[@]}" sdxl --batch 4 \
  --rows "${SDXL_ROWS:-stock,stock_compile,soul_compile,soul_compile_cfg,soul_compile_cache,soul_fp8_cfg}"
step svd "$SVD_S" svd.jsonl "${BENCH[@]}" svd --rows "${SVD_ROWS:-stock,stock_compile,soul_compile,soul_compile_cfg,soul_compile_cache}"
note "{\"what\": \"done\", \"s\": $SECONDS}"
