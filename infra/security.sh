#!/usr/bin/env bash
# Security scans for Soul. Usage: infra/security.sh bandit|audit|fuzz|all
#   bandit  static analysis of our packages; fails on any HIGH-severity finding (medium/low are listed).
#   audit   pip-audit of the virtualenv against the PyPI/OSV vulnerability DB. Needs network to it:
#           when the DB cannot be reached the audit is reported as NOT DONE (exit 0, or exit 2 with
#           SOUL_REQUIRE_AUDIT=1, as CI should set). Documented exceptions: infra/pip-audit-ignore.txt.
#   fuzz    schemathesis against /openapi.json in-process, SOUL_FUZZ_EXAMPLES per operation (default
#           1000: >= 10,000 requests), about a third of them hostile (nested past the depth limit,
#           lone surrogates, invalid UTF-8 in bodies and query strings; tests/fuzz/test_api_fuzz.py).
#           Derandomized (CI profile) unless HYPOTHESIS_PROFILE=random; summary in test-artifacts/fuzz-summary.json.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY=$VENV/bin/python

run_bandit() {
  "$VENV/bin/bandit" -q -r shared functions gpu_jobs infra --severity-level high
  echo "bandit: no HIGH-severity findings (medium/low: $VENV/bin/bandit -r shared functions gpu_jobs infra)"
}

run_audit() {
  local ignores=() out
  if [[ -f infra/pip-audit-ignore.txt ]]; then
    while read -r id _; do [[ -n "$id" && "$id" != \#* ]] && ignores+=(--ignore-vuln "$id"); done < infra/pip-audit-ignore.txt
  fi
  out=$(mktemp)
  set +e
  "$VENV/bin/pip-audit" --progress-spinner off -f json -o "$out" "${ignores[@]}" 2>/dev/null
  local rc=$?
  set -e
  "$PY" - "$out" "$rc" <<'PY'
import json, os, sys
path, rc = sys.argv[1], int(sys.argv[2])
try:
    deps = json.load(open(path)).get("dependencies", [])
except (OSError, ValueError):
    deps = []
audited = [d for d in deps if "skip_reason" not in d]
vulns = [(d["name"], d["version"], v["id"]) for d in audited for v in d.get("vulns", [])]
if not audited:
    print("pip-audit: NOT DONE - the vulnerability database could not be reached from this machine")
    sys.exit(2 if os.environ.get("SOUL_REQUIRE_AUDIT") == "1" else 0)
for name, version, vid in vulns:
    print(f"pip-audit: {name} {version}: {vid} (fix it, or document it in infra/pip-audit-ignore.txt)")
print(f"pip-audit: {len(audited)} packages audited, {len(deps) - len(audited)} skipped, {len(vulns)} findings")
sys.exit(1 if vulns or rc not in (0, 1) else 0)
PY
}

run_fuzz() {
  SOUL_FUZZ_EXAMPLES=${SOUL_FUZZ_EXAMPLES:-1000} HYPOTHESIS_PROFILE=${HYPOTHESIS_PROFILE:-ci} \
    "$PY" -m pytest -q -p no:randomly tests/fuzz --timeout 3600
  "$PY" -c "import json; d=json.load(open('test-artifacts/fuzz-summary.json')); print('fuzz: requests sent:', d['requests'], '(hostile:', d['hostile_requests'], ')')"
}

case "${1:-all}" in
  bandit) run_bandit ;;
  audit) run_audit ;;
  fuzz) run_fuzz ;;
  all) run_bandit; run_audit ;;
  *) echo "usage: $0 bandit|audit|fuzz|all" >&2; exit 64 ;;
esac
