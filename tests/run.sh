#!/usr/bin/env bash
# Runs every test of the project: installs what is missing, builds everything, runs the unit
# tests and the integration tests (each starts a real PostgreSQL of its own), and ends with the
# line "N passed, N failed" counting test cases.
#
#   tests/run.sh            # everything
#   tests/run.sh --list     # each suite with its duration in the last run here, slowest first
#
# Each run keeps the suites' durations (as bazel reports them) in .test-durations.
set -uo pipefail
cd "$(dirname "$0")/.."
durations=.test-durations

if [ "${1:-}" = --list ]; then
  # Every test target, with the seconds it took when it last ran (not when it was cached).
  { bazel query 'tests(//...)' 2>/dev/null | sort; echo tools/check_format.sh;
    echo tools/check_thread_safety.sh; } | while read -r target; do
    line=$(grep -m1 "^$target	" "$durations" 2>/dev/null || true)
    if [ -n "$line" ]; then
      echo "$line"
    else
      printf '%s\t-\t-\tnever run here\n' "$target"
    fi
  done | sort -t "$(printf '\t')" -k2,2gr \
    | awk -F '\t' '{ printf "%-48s %8s s  %s  %s\n", $1, $2, $3, $4; if ($2 != "-") total += $2 }
                   END { printf "%-48s %8.1f s  (the suites one after another; bazel runs them 2 at a time)\n", "total", total }'
  exit 0
fi

deploy/install-deps.sh || { echo "0 passed, 1 failed"; exit 1; }

# The checks that are not Bazel tests, each one case of the tally: the repository's own
# .clang-format on every C++ file, and clang's -Wthread-safety over the annotated code (after
# the build, which generates the headers it reads).
checks_passed=0
checks_failed=0
check() {
  local started=$SECONDS
  if "$@"; then checks_passed=$((checks_passed + 1)); status=PASSED; else
    checks_failed=$((checks_failed + 1)); status=FAILED; fi
  printf '%s\t%s\t%s\t%s\n' "$1" "$((SECONDS - started))" "$status" "$(date -u +%Y-%m-%dT%H:%MZ)" \
    >>"$durations.checks"
}
rm -f "$durations.checks"
check tools/check_format.sh

log=$(mktemp)
trap 'rm -f "$log"' EXIT
bazel build //... 2>&1 | tee "$log"
if [ "${PIPESTATUS[0]}" -ne 0 ]; then
  echo "tests/run.sh: the build failed (above)"
  echo "0 passed, 1 failed"
  exit 1
fi

check tools/check_thread_safety.sh

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

# The durations of the suites that ran (a cached one keeps the duration of its last real run).
{
  grep -E '^//[^ ]+ +(PASSED|FAILED|FLAKY|TIMEOUT) in [0-9.]+s' "$log" \
    | awk -v when="$(date -u +%Y-%m-%dT%H:%MZ)" '{ t = $4; sub(/s$/, "", t); print $1 "\t" t "\t" $2 "\t" when }'
  cat "$durations.checks"
  [ -f "$durations" ] && cat "$durations"
} | awk -F '\t' '!seen[$1]++' >"$durations.new" && mv "$durations.new" "$durations"

if [ "$bazel_rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1
fi
passed=$((passed + checks_passed))
failed=$((failed + checks_failed))
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
