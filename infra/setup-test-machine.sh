#!/usr/bin/env bash
# System packages the tests need beyond the virtualenv. Idempotent; installs only what is missing.
set -euo pipefail
SDK=${CLOUDSDK_ROOT:-/usr/lib/google-cloud-sdk}
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing: ${need[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "missing system packages: ${need[*]} (run as root or: sudo apt-get install ${need[*]})" >&2
    exit 1
  fi
fi
if [ "${SOUL_SKIP_EMULATORS:-0}" != 1 ]; then
  for jar in "$SDK/platform/cloud-firestore-emulator/cloud-firestore-emulator.jar" \
             "$SDK"/platform/pubsub-emulator/lib/cloud-pubsub-emulator-*-all.jar; do
    if [ ! -f "$jar" ]; then
      echo "Cloud SDK emulator JAR missing: $jar — the gcp contract tests need the Google Cloud SDK with the" >&2
      echo "Firestore and Pub/Sub emulators (or set SOUL_SKIP_EMULATORS=1 to skip those tests)." >&2
      exit 1
    fi
  done
  command -v java >/dev/null 2>&1 || { echo "java (17+) is missing: the emulators need it" >&2; exit 1; }
fi
