#!/usr/bin/env bash
# Every test suite, against the real broker and the real Postgres+pgvector.
# Each service's tests run in a pytest process of their own: every service has top-level modules
# called handlers/, services/ and config_loader, exactly as it has when it runs, so two services
# cannot share one interpreter. Exit code 5 ("no tests collected") counts as a failure.
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
failed=()

run_suite() {
  echo "=== pytest $*"
  "$PY" -m pytest -q "$@"
  local rc=$?
  if [ $rc -eq 5 ]; then
    echo "!!! no tests were collected in $*: that is a failure, not a pass"
  fi
  [ $rc -eq 0 ] || failed+=("$* (exit $rc)")
}

suites=(libs/contracts/tests libs/common-py/tests)
for lib in libs/vision-common libs/matching; do
  [ -d "$lib/tests" ] && suites+=("$lib/tests")
done
run_suite "${suites[@]}" tests/repo
for svc in services/*/; do
  if ls "$svc"tests/test_*.py >/dev/null 2>&1; then
    run_suite "${svc}tests"
  else
    echo "!!! ${svc} has no tests"
    failed+=("${svc}tests (missing)")
  fi
done
[ -d tests/infra ] && run_suite tests/infra
[ -d tests/ops ] && run_suite tests/ops
[ -d tests/e2e ] && run_suite tests/e2e
# the analyst's side: the web UI in headless Chromium and the n8n workflow in real n8n, on one stack
[ -d tests/ui ] && run_suite tests/ui
# fault injection on a stack of its own (the quick experiments; `make chaos` runs them all)
[ -d tests/chaos ] && run_suite tests/chaos

if [ ${#failed[@]} -gt 0 ]; then
  echo
  echo "FAILED suites:"
  printf '  %s\n' "${failed[@]}"
  exit 1
fi
echo
echo "all test suites passed"
