#!/usr/bin/env bash
# The one-shot GPU check (issues 15 and 25), run on the device machine from the repository root in ONE
# call of at most 590 s (README.md has the exact `run` call). Ordered so a late overrun cannot lose the
# headline: install (versions printed), SDXL batch 4 (cheap eager rows first, the one static compile
# last, its compile time in its own `_setup` row), SVD eager rows (one rep), the gpu tests without
# compile. Each step runs under its own timeout; JSON lines are flushed as they come. In $OUT:
#   summary.jsonl          one line per step (start, rc, timed_out, seconds) and the versions
#   <step>.out <step>.err  each step's stdout (the benchmarks' JSON rows) and stderr, apart
#   --dry-run  print the steps, run nothing   --smoke  every step on tiny CPU models, no wheels
# Env: INSTALL_TIMEOUT_S, SDXL_TIMEOUT_S, SVD_TIMEOUT_S, GPU_TESTS_TIMEOUT_S, SDXL_ROWS, SVD_ROWS.
# CPU tests: tests/unit/test_device_check.py (--dry-run, the time budget, --smoke).
set -uo pipefail
cd "$(dirname "$0")/../.."
DRY=0 SMOKE=0
[[ "${1:-}" == "--dry-run" ]] && DRY=1
[[ "${1:-}" == "--smoke" ]] && SMOKE=1
OUT="${OUT:-/tmp/soul-device-check}"
WHEELS="${SOUL_DEVICE_WHEELS:-build/device-wheels}"
PY="${PYTHON:-python3}"
KILL_AFTER_S=5
INSTALL_S="${INSTALL_TIMEOUT_S:-40}" SDXL_S="${SDXL_TIMEOUT_S:-330}" SVD_S="${SVD_TIMEOUT_S:-130}"
TESTS_S="${GPU_TESTS_TIMEOUT_S:-60}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TORCHINDUCTOR_CACHE_DIR=/tmp/soul-inductor

note() { echo "$1" >>"$OUT/summary.jsonl"; echo "$1"; }

step() {  # step NAME TIMEOUT_S COMMAND...: stdout to $OUT/NAME.out, stderr to $OUT/NAME.err
  local name=$1 limit=$2 started=$SECONDS rc
  shift 2
  note "{\"what\": \"step\", \"step\": \"$name\", \"timeout_s\": $limit, \"kill_after_s\": $KILL_AFTER_S, \"cmd\": \"$*\"}"
  if ((DRY)); then return 0; fi
  timeout --kill-after="$KILL_AFTER_S" "$limit" "$@" >"$OUT/$name.out" 2>"$OUT/$name.err"
  rc=$?
  note "{\"what\": \"step_done\", \"step\": \"$name\", \"rc\": $rc, \"timed_out\": $([[ $rc == 124 || $rc == 137 ]] && echo true || echo false), \"s\": $((SECONDS - started))}"
}

install() {  # the carried wheels into /tmp/site, then the versions this run measures with
  if ((!SMOKE)); then
    ls "$WHEELS"/*.whl >/dev/null 2>&1 || { echo "no wheels in $WHEELS: run gpu_jobs/bench/fetch_wheels.sh" >&2; return 2; }
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
      "$WHEELS"/*.whl >&2 || return 2
  fi
  "$PY" -m gpu_jobs.bench.versions
}

export -f install
export SMOKE WHEELS PY
if ((!SMOKE)); then export PYTHONPATH="/tmp/site:$PWD"; fi
BENCH=("$PY" -m gpu_jobs.bench.gpu --compile-mode default --no-first-call)
SDXL_REPS=3
if ((SMOKE)); then BENCH+=(--smoke); SDXL_REPS=1; fi
step install "$INSTALL_S" bash -c install
if ((!DRY)) && [[ -s "$OUT/install.out" ]]; then note "$(tail -n 1 "$OUT/install.out")"; fi
# The headline: stock and Soul's eager rows at batch 4 (minutes), then one static compile of batch 4.
step sdxl "$SDXL_S" "${BENCH[@]}" sdxl --batches 4 --reps "$SDXL_REPS" \
  --rows "${SDXL_ROWS:-stock,soul,soul_cfg,soul_cache,soul_compile}"
step svd "$SVD_S" "${BENCH[@]}" svd --reps 1 --rows "${SVD_ROWS:-stock,soul,soul_cfg,soul_cache}"
# Correctness on this GPU (tiny models, the production plan), eager only: compiles cost minutes here.
# --noconftest: tests/conftest.py wires the whole service (flask, emulators), absent on the device.
step gpu_tests "$TESTS_S" env SOUL_GPU_TESTS=1 "$PY" -m pytest -m gpu tests/gpu -q --noconftest -k "not compiled"
note "{\"what\": \"done\", \"s\": $SECONDS}"
