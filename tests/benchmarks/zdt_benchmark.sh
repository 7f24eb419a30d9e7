#!/usr/bin/env bash
# NSGA-II of search/nsga2.h against DEAP's (python3-deap) on ZDT1-3, side by side in one run:
# the same algorithm, population, generations and seeds. See docs/benchmarks.md.
#
#   tests/benchmarks/zdt_benchmark.sh [GENERATIONS] [SEEDS]      # default 250 5
set -euo pipefail
cd "$(dirname "$0")/../.."
generations=${1:-250}
seeds=${2:-5}
if ! /usr/bin/python3 -c "import deap" 2>/dev/null; then
  echo "zdt_benchmark: installing python3-deap (the peer)" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-deap >/dev/null
fi
bazel build //tests/benchmarks:zdt_benchmark >/dev/null 2>&1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bazel-bin/tests/benchmarks/zdt_benchmark --generations="$generations" --seeds="$seeds" > "$tmp/ours"
/usr/bin/python3 tests/benchmarks/zdt_deap.py "$generations" "$seeds" > "$tmp/deap"
echo "| problem | evaluations | ours: final population | ours: archive of all evaluated | DEAP: final population | ours: s a run | DEAP: s a run | DEAP / ours, time |"
echo "|---|---|---|---|---|---|---|---|"
for p in zdt1 zdt2 zdt3; do
  awk -v p="$p" -v ours="$tmp/ours" -v deap="$tmp/deap" '
    function stats(file, sum, sumsq, t, n, e) {
      while ((getline line < file) > 0) {
        split(line, f, " ")
        if (f[1] != p) continue
        n++; sum += f[3]; sumsq += f[3] * f[3]; t += f[5]; e = f[4]
        asum += f[6]; asumsq += f[6] * f[6]
      }
      close(file)
      mean = sum / n; sd = sqrt(sumsq / n - mean * mean); secs = t / n; evals = e
      amean = asum / n; asd = sqrt(asumsq / n - amean * amean); if (asd != asd) asd = 0
      if (sd != sd) sd = 0
    }
    BEGIN {
      stats(ours); om = mean; os = sd; ot = secs; oe = evals; oa = amean; oas = asd
      stats(deap); dm = mean; ds = sd; dt = secs
      printf "| %s | %d | %.3f +- %.3f | **%.3f** +- %.3f | %.3f +- %.3f | %.4f | %.2f | **%.0fx** |\n", p, oe, om, os, oa, oas, dm, ds, ot, dt, dt / ot
    }'
done
