#!/usr/bin/env bash
# Runs every test of the project: installs what is missing, builds everything, runs the unit
# tests and the integration tests (each starts a real PostgreSQL of its own), and ends with the
# line "N passed, N failed" counting test cases.
set -uo pipefail
cd "$(dirname "$0")/.."

deploy/install-deps.sh || { echo "0 passed, 1 failed"; exit 1; }

log=$(mktemp)
trap 'rm -f "$log"' EXIT
bazel build //... 2>&1 | tee "$log"
if [ "${PIPESTATUS[0]}" -ne 0 ]; then
  echo "tests/run.sh: the build failed (above)"
  echo "0 passed, 1 failed"
  exit 1
fi

bazel test //... 2>&1 | tee "$log"
bazel_rc=${PIPESTATUS[0]}

# Count test cases from each target's JUnit XML; a target that failed without a failing case
# (a crash, a timeout) counts as one failure.
passed=0
failed=0
while read -r target status; do
  pkg=${target#//}
  pkg=${pkg%%:*}
  name=${target##*:}
  xml="bazel-testlogs/$pkg/$name/test.xml"
  tests=0
  failures=0
  if [ -f "$xml" ]; then
    head=$(grep -m1 -o '<testsuites[^>]*>' "$xml" || true)
    tests=$(sed -n 's/.* tests="\([0-9]*\)".*/\1/p' <<<"$head")
    failures=$(sed -n 's/.* failures="\([0-9]*\)".*/\1/p' <<<"$head")
    errors=$(sed -n 's/.* errors="\([0-9]*\)".*/\1/p' <<<"$head")
    tests=${tests:-0}
    failures=$(( ${failures:-0} + ${errors:-0} ))
  fi
  if [ "$status" = PASSED ]; then
    passed=$(( passed + (tests > 0 ? tests - failures : 1) ))
  else
    [ "$failures" -eq 0 ] && failures=1
    failed=$(( failed + failures ))
    passed=$(( passed + (tests > failures ? tests - failures : 0) ))
  fi
done < <(grep -E '^//[^ ]+ +(\(cached\) )?(PASSED|FAILED|TIMEOUT|FLAKY|NO STATUS|INCOMPLETE)' "$log" \
         | sed -E 's/\(cached\) //' | awk '{print $1, $2}')

if [ "$bazel_rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
