#!/usr/bin/env bash
# The controller benchmark of an earlier revision and of this tree, built side by side and run
# alternately (ABBA) in one script on one machine: each run's round trips/s, and the ratio of
# the means (after / before; above 1 is faster).
#
#   tests/benchmarks/controller_before_after.sh REV [ROUNDS] [-- BENCHMARK FLAGS]
#   tests/benchmarks/controller_before_after.sh cb16bff 3 -- --workers=64 --candidates=5000
#
# Runs as root (the benchmark starts its own PostgreSQL with runuser). About 2 minutes per run
# at the default flags, plus a build of the earlier revision in a worktree.
set -euo pipefail
rev=${1:?usage: $0 REV [ROUNDS] [-- benchmark flags]}
rounds=${2:-3}
shift $(( $# >= 2 ? 2 : 1 ))
[ "${1:-}" = "--" ] && shift
flags=("$@")
[ ${#flags[@]} -eq 0 ] && flags=(--workers=64 --candidates=5000 --windows=1000,5000)

root=$(git rev-parse --show-toplevel)
cd "$root"
work=$(mktemp -d /tmp/before_after.XXXXXX)
git worktree add -q --detach "$work/before" "$rev"
cleanup() {
  (cd "$work/before" && bazel --output_base="$work/ob" shutdown >/dev/null 2>&1) || true
  git worktree remove --force "$work/before" || true
  rm -rf "$work"
}
trap cleanup EXIT

# The benchmark moved to tests/benchmarks/ in issue 18; older revisions have it in tests/.
label() {
  if [ -f "$1/tests/benchmarks/controller_benchmark.cc" ]; then
    echo //tests/benchmarks:controller_benchmark
  else
    echo //tests:controller_benchmark
  fi
}
before_label=$(label "$work/before")
after_label=$(label "$root")
echo "building $rev ($before_label) and this tree ($after_label)" >&2
(cd "$work/before" && bazel --output_base="$work/ob" build "$before_label" >&2)
cp "$work/before/bazel-bin/$(echo "${before_label#//}" | tr : /)" "$work/before.bin"
bazel build "$after_label" >&2
cp "bazel-bin/$(echo "${after_label#//}" | tr : /)" "$work/after.bin"

declare -A sum=([before]=0 [after]=0)
echo "| round | side | round trips/s | report p50 ms | errors |"
echo "|---|---|---|---|---|"
# ABBA order (before, after; then after, before; ...): neither side always runs second.
for i in $(seq "$rounds"); do
  order="before after"
  [ $((i % 2)) -eq 0 ] && order="after before"
  for side in $order; do
    out="$work/$side.$i.txt"
    "$work/$side.bin" "${flags[@]}" >"$out" 2>"$work/$side.$i.err" || {
      echo "the $side benchmark failed:" >&2; tail -20 "$work/$side.$i.err" >&2; exit 1; }
    # The first table row: | results | wall s | round trips/s | lease p50 | report p50 | p99 | errors |
    row=$(grep -m1 -E '^\| [0-9]' "$out")
    rt=$(echo "$row" | awk -F'|' '{gsub(/ /, "", $4); print $4}')
    p50=$(echo "$row" | awk -F'|' '{gsub(/ /, "", $6); print $6}')
    errors=$(echo "$row" | awk -F'|' '{gsub(/ /, "", $8); print $8}')
    echo "| $i | $side | $rt | $p50 | $errors |"
    sum[$side]=$(awk -v a="${sum[$side]}" -v b="$rt" 'BEGIN { print a + b }')
  done
done
awk -v b="${sum[before]}" -v a="${sum[after]}" -v n="$rounds" -v rev="$rev" -v f="${flags[*]}" \
  'BEGIN { printf "\nmean round trips/s: before %.1f, after %.1f; after / before = %.3f (%s, %d rounds, %s)\n", b / n, a / n, a / b, rev, n, f }'

