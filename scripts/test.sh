#!/usr/bin/env bash
# README command 2's test run (make test; .ci/run): the suite in a few pytest processes.
# The modules that keep a JVM (pyjnius) busy for minutes run each in a process of their own: a long-lived
# process that hosts both the JVM and torch has crashed intermittently with a segmentation fault in CPython's
# garbage collector (seen at tests/test_reproduce_runs.py when the whole suite shared one process).
# Every group runs even when an earlier one fails; the exit status is non-zero if any failed, and the last
# line sums the groups' pytest summaries.
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
isolated=(tests/test_reproduce_runs.py tests/test_study.py tests/test_pyserini_cli.py)
ignore=()
for f in "${isolated[@]}"; do ignore+=("--ignore=$f"); done
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
group() {
  local out
  out="$(mktemp)"
  "$PY" -m pytest -q -p no:cacheprovider "$@" 2>&1 | tee "$out"
  local rc=${PIPESTATUS[0]}
  grep -E " in [0-9.]+s" "$out" | tail -1 >> "$log"  # the group's closing summary line only
  rm -f "$out"
  if [ "$rc" -eq 5 ]; then echo "no tests collected in: $*"; rc=1; fi
  if [ "$rc" -ne 0 ]; then status=1; fi
}
group tests "${ignore[@]}"
for f in "${isolated[@]}"; do group "$f"; done
sum() { grep -Eo "[0-9]+ $1" "$log" | awk '{s += $1} END {print s + 0}'; }
passed=$(sum passed); failed=$(sum failed); errors=$(sum error)
echo "all groups: $passed passed, $((failed + errors)) failed"
exit "$status"
