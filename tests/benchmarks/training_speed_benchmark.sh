#!/usr/bin/env bash
# Training throughput of nas-trainer's own training path against python3-torch on the same
# architecture, recipe, data, batch and threads, side by side in one run. See docs/benchmarks.md.
#
#   tests/benchmarks/training_speed_benchmark.sh [BATCHES] [THREADS]
#
# Three runs per architecture: the trainer (trainer/benchmarks/training_benchmark, nas::Train on real
# Fashion-MNIST), PyTorch as a user runs it (default allocator and layout), and PyTorch given
# the trainer's two speed-ups (tcmalloc preloaded, channels-last).
set -euo pipefail
cd "$(dirname "$0")/../.."
batches=${1:-30}
threads=${2:-1}
# OpenBLAS sizes its own thread pool when it loads; LibTorch's set_num_threads cannot reach it.
export OPENBLAS_NUM_THREADS=$threads
bazel build //trainer/benchmarks:training_benchmark >/dev/null 2>&1
bin=bazel-bin/trainer/benchmarks/training_benchmark
tcmalloc=$(ls /usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 /usr/lib/*/libtcmalloc_minimal.so.4 2>/dev/null | head -1)
peer=tests/benchmarks/training_speed_peer.py
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "| architecture | MACs | trainer samples/s | PyTorch samples/s | trainer / PyTorch | PyTorch + tcmalloc + channels-last | trainer / that | trainer GFLOP/s | % of matmul peak |"
echo "|---|---|---|---|---|---|---|---|---|"
for arch in tests/benchmarks/{large_resnet,mobilenet,small_resnet}.textproto; do
  name=$(basename "$arch" .textproto)
  "$bin" --arch="$arch" --print_json > "$tmp/$name.json"
  read -r cpp gflops peak macs < <("$bin" --arch="$arch" --batches="$batches" --threads="$threads")
  py=$(/usr/bin/python3 "$peer" "$tmp/$name.json" "$batches" 128 "$threads")
  tuned=$(LD_PRELOAD="$tcmalloc" /usr/bin/python3 "$peer" "$tmp/$name.json" "$batches" 128 "$threads" --channels-last)
  awk -v n="$name" -v m="$macs" -v c="$cpp" -v p="$py" -v t="$tuned" -v g="$gflops" -v k="$peak" \
    'BEGIN { printf "| %s | %d | %.0f | %.0f | **%.2fx** | %.0f | %.2fx | %.1f | %.0f%% (peak %.1f GFLOP/s) |\n", n, m, c, p, c / p, t, c / t, g, 100 * g / k, k }'
done
