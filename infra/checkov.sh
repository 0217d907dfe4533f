#!/usr/bin/env bash
# Static security checks of terraform/ with checkov, offline. checkov lives in its own virtualenv
# (its pins clash with the project's); skipped checks carry `#checkov:skip=CKV_...:reason` in the .tf.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${CHECKOV_VENV:-/tmp/checkov-venv}"
if [ ! -x "$VENV/bin/checkov" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "checkov>=3.2,<4"
fi
exec "$VENV/bin/checkov" --directory terraform --framework terraform --compact --quiet --skip-download
