#!/usr/bin/env bash
# Training throughput of nas-trainer's C++ path against python3-torch on the same architecture,
# batch, step and threads, side by side in one run. See docs/benchmarks.md.
#
#   tests/training_speed_benchmark.sh [BATCHES] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
batches=${1:-30}
threads=${2:-1}
# OpenBLAS sizes its own thread pool when it loads; LibTorch's set_num_threads cannot reach it.
export OPENBLAS_NUM_THREADS=$threads
bazel build //trainer:training_benchmark >/dev/null 2>&1
bin=bazel-bin/trainer/training_benchmark
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "| architecture | MACs | C++ samples/s | PyTorch samples/s | C++ / PyTorch | C++ GFLOP/s | % of matmul peak |"
echo "|---|---|---|---|---|---|---|"
for arch in tests/benchmarks/*.textproto; do
  name=$(basename "$arch" .textproto)
  "$bin" --arch="$arch" --print_json > "$tmp/$name.json"
  read -r cpp gflops peak macs < <("$bin" --arch="$arch" --batches="$batches" --threads="$threads")
  py=$(/usr/bin/python3 tests/benchmarks/training_speed_peer.py "$tmp/$name.json" "$batches" 128 "$threads")
  awk -v n="$name" -v m="$macs" -v c="$cpp" -v p="$py" -v g="$gflops" -v k="$peak" \
    'BEGIN { printf "| %s | %d | %.0f | %.0f | %.2fx | %.1f | %.0f%% (peak %.1f GFLOP/s) |\n", n, m, c, p, c / p, g, 100 * g / k, k }'
done
