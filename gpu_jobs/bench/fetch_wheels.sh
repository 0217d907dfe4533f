#!/usr/bin/env bash
# Downloads, HERE (a machine with PyPI), the wheels the device machine lacks for the GPU checks, into
# build/device-wheels/ (git-ignored), for Python 3.12 on x86-64 Linux: the device image has torch,
# transformers, huggingface_hub, safetensors, numpy, pillow and pytest, but not diffusers, pydantic or
# torchao. Then `run` carries the folder and device_check.sh installs it (see README.md).
# Usage: bash gpu_jobs/bench/fetch_wheels.sh [--list]   (--list: print the pins, download nothing)
set -euo pipefail
cd "$(dirname "$0")/../.."
PINS=(
  diffusers==0.42.1
  pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5
  torchao==0.18.0
)
if [[ "${1:-}" == "--list" ]]; then printf '%s\n' "${PINS[@]}"; exit 0; fi
DEST=build/device-wheels
mkdir -p "$DEST"
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
  -d "$DEST" "${PINS[@]}"
ls -la "$DEST"
du -sh "$DEST"
