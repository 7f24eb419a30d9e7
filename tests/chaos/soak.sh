#!/usr/bin/env bash
# The 30-minute soak (not in CI): random faults every 20-60 s under load, figures at the end.
#   tests/chaos/soak.sh                 # 30 minutes, output in soak.log as well
#   tests/chaos/soak.sh --minutes=5     # any flag of tests/chaos/soak.cc
set -euo pipefail
cd "$(dirname "$0")/../.."
deploy/install-deps.sh
bazel build //tests/chaos:soak //services:nas-controller
cd bazel-bin/tests/chaos/soak.runfiles/nas
./tests/chaos/soak "$@" 2>&1 | tee "$OLDPWD/soak.log"
