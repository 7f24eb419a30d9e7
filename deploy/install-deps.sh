#!/usr/bin/env bash
# Installs the Debian packages this project builds, tests and runs with, when any is missing.
# Works as root, or as a user with sudo. Safe to run again: it installs only what is missing.
set -euo pipefail

PACKAGES=(
  # Build: offline Bazel and the C++ toolchain.
  bazel-bootstrap bazel-rules-java bazel-platforms g++
  # The stack.
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libpqxx-dev prometheus-cpp-dev libgoogle-glog-dev libssl-dev libtorch-dev
  # Gloo's headers, which LibTorch's c10d process group includes (data-parallel supernet
  # epochs, trainer/gang.h); the library itself is linked into LibTorch.
  libgloo-dev
  # Debian's LibTorch calls the system BLAS (libblas.so.3); without this it is netlib's
  # reference BLAS, ~30x slower at matmul here. OpenBLAS takes over the alternative.
  libopenblas0-pthread
  # tcmalloc: every program that links LibTorch uses it instead of glibc malloc (see
  # third_party/BUILD); 3 to 6x faster training here.
  libtcmalloc-minimal4
  # Tests and benchmarks.
  libgtest-dev libgmock-dev libbenchmark-dev
  # tests/run.sh's checks: the repository's .clang-format (tools/check_format.sh) and clang's
  # -Wthread-safety over Abseil's annotations, which GCC ignores (tools/check_thread_safety.sh).
  clang-14 clang-format-14
  # The store and the data.
  postgresql dataset-fashion-mnist
  # Tests: python3-torch loads exported models; TLS tests make a self-signed certificate.
  python3-torch python3-numpy
  openssl
  # ONNX export (trainer/onnx_export.h): onnx.proto, the C++ checker and shape inference; the
  # tests read the files with python3-onnx and OpenCV's DNN module, which are not our code.
  libonnx-dev python3-onnx python3-opencv
  # tests/observability_test.py: a real Prometheus server (and promtool) scraping the service,
  # headless Chromium rendering nasctl's SVG plot, PyYAML to point the config at loopback.
  prometheus chromium python3-yaml
  # tests/k8s_manifests_test.py: Kubernetes' typed models, to load the rendered manifests.
  python3-kubernetes
  # The Python client (clients/python) and its test: gRPC and its optional helpers (frames,
  # progress bars, plots), and pip and setuptools to install it offline.
  python3-grpcio python3-protobuf python3-pandas python3-tqdm python3-matplotlib
  python3-pip python3-setuptools python3-wheel python3-venv
)
# ... and a kubectl to render them (`kubectl kustomize`): Debian's kubernetes-client, unless the
# machine has a kubectl already (another package's would conflict with it over /usr/bin/kubectl).
if ! command -v kubectl >/dev/null; then
  PACKAGES+=(kubernetes-client)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
echo "install-deps: installing ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
