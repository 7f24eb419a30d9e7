#!/usr/bin/env bash
# bf16 mixed-precision training against fp32, ours and python3-torch's, side by side in one run
# (docs/precision.md): ResNet-18 (CIFAR-style stem, the compression headline's reference), the
# large ResNet and MobileNetV2 1.0, at 1 and 2 threads, batch 128, on real Fashion-MNIST.
#
#   tests/benchmarks/bf16_speed_benchmark.sh [BATCHES] [THREADS...]     # default: 6 1 2
#   NETS="large_resnet mobilenetv2-1.0" tests/benchmarks/bf16_speed_benchmark.sh   # some rows
#
# Per row: the trainer in fp32 and bf16 (trainer/benchmarks/training_benchmark), python3-torch
# under torch.autocast("cpu", dtype=torch.bfloat16) with channels-last and tcmalloc (the
# trainer's layout and allocator: tests/benchmarks/training_speed_peer.py --bf16), bf16 / fp32,
# ours / PyTorch's, and the achieved GFLOP/s against the machine's bf16 matmul peak on as many
# threads (a 1024 x 1024 bf16 matrix product in LibTorch, which oneDNN runs on AVX512-BF16).
set -euo pipefail
cd "$(dirname "$0")/../.."
batches=${1:-6}
shift || true
threads_list=("${@:-1}")
[ $# -eq 0 ] && threads_list=(1 2)
bazel build //trainer/benchmarks:training_benchmark >/dev/null 2>&1
bin=bazel-bin/trainer/benchmarks/training_benchmark
tcmalloc=$(ls /usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 /usr/lib/*/libtcmalloc_minimal.so.4 2>/dev/null | head -1)
peer=tests/benchmarks/training_speed_peer.py
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
grep -o -m1 'avx512_bf16\|amx_bf16' /proc/cpuinfo >/dev/null \
  && echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-) (bf16 instructions: yes)" \
  || echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-) (bf16 instructions: NO: bf16 is emulated)"
echo
echo "| network | threads | MACs | ours fp32 | ours bf16 | **bf16 / fp32** | PyTorch bf16 | ours / PyTorch (bf16) | ours bf16 GFLOP/s | bf16 matmul peak | % of peak |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for net in ${NETS:-resnet18 large_resnet mobilenetv2-1.0}; do
  case $net in
    resnet18) what=(--arch=tests/benchmarks/compression/resnet18.textproto) ;;
    large_resnet) what=(--arch=tests/benchmarks/large_resnet.textproto) ;;
    *) what=(--preset="$net") ;;
  esac
  "$bin" "${what[@]}" --print_json >"$tmp/$net.json"
  for threads in "${threads_list[@]}"; do
    export OPENBLAS_NUM_THREADS=$threads
    read -r fp32 _ _ macs < <("$bin" "${what[@]}" --batches="$batches" --threads="$threads" --precision=fp32)
    read -r bf16 gflops peak _ < <("$bin" "${what[@]}" --batches="$batches" --threads="$threads" --precision=bf16)
    py=$(LD_PRELOAD="$tcmalloc" /usr/bin/python3 "$peer" "$tmp/$net.json" "$batches" 128 "$threads" --channels-last --bf16)
    awk -v n="$net" -v t="$threads" -v m="$macs" -v f="$fp32" -v b="$bf16" -v p="$py" -v g="$gflops" -v k="$peak" \
      'BEGIN { printf "| %s | %d | %.0fM | %.1f | %.1f | **%.2fx** | %.1f | %.2fx | %.1f | %.1f GFLOP/s | %.0f%% |\n", n, t, m / 1e6, f, b, b / f, p, b / p, g, k, 100 * g / k }'
  done
done
