#!/usr/bin/env bash
# The compression headline: ResNet-18 (the reference) against the models a search finds in its
# family, on Fashion-MNIST's test split, side by side in one run (docs/compression.md).
#
#   tests/benchmarks/compression/compression_benchmark.sh      # the quick run: ~1 h, 2 cores
#   # The headline (docs/compression.md), with its random-sampling baseline, ~2.5 h:
#   COMPRESSION_CANDIDATES=40 COMPRESSION_EPOCHS=2 COMPRESSION_TRAIN_SUBSET=10000 \
#     COMPRESSION_FINALISTS=2 COMPRESSION_FINAL_EPOCHS=8 COMPRESSION_FINAL_SUBSET=0 \
#     COMPRESSION_BASELINE=random tests/benchmarks/compression/compression_benchmark.sh
#
# The recipe is SGD with Nesterov momentum, COMPRESSION_SCHEDULE (default one_cycle: warm-up,
# then anneal) peaking at COMPRESSION_LR (default 0.2), label smoothing 0.1, random crops, in
# COMPRESSION_PRECISION (default auto: bf16 where the workers' CPU has it and it pays,
# docs/precision.md). COMPRESSION_SPACE (default resnet18, ResNet-18's own family) is the space
# searched; ResNet-18 is the reference whatever the space (a reference of another family is
# trained and compared alike, docs/compression.md). COMPRESSION_STRATEGY (default nsga2).
# COMPRESSION_BASELINE (e.g. random; default none) adds a second search: the same spec under
# that strategy, submitted to the same service when the first search's search phase ends, so
# that it reuses ResNet-18's training and keeps the workers busy while ResNet-18's final
# training holds one of them; the report puts the two side by side.
#
# Runs deploy/quickstart.sh with resnet18_search.textproto (embedded PostgreSQL, the
# controller, NAS_TRAINERS workers). The search phase's budget and recipe come from
# COMPRESSION_CANDIDATES, COMPRESSION_EPOCHS, COMPRESSION_TRAIN_SUBSET and
# COMPRESSION_WALL_SECONDS (0, the default: no limit; a wall-clock budget covers final
# training too); then final training trains COMPRESSION_FINALISTS
# members of each front and ResNet-18 alike, COMPRESSION_FINAL_EPOCHS epochs on
# COMPRESSION_FINAL_SUBSET examples (0: all 50,000 left beside the validation split). The
# report (report.py, which can be run again on a kept state) reads the finalists' test
# accuracies: the reference; the smallest model within 1 point of it, with its ratios; the
# most accurate Cortex-M7 model (int8, within 256 KB of peak activations and 1 MB of int8
# weights); and each phase's worker-hours, from the leases. NAS_STATE_DIR keeps the
# state (default: a new temporary directory).
set -euo pipefail
cd "$(dirname "$0")/../../.."
# shellcheck source=tests/benchmarks/search_on_quickstart.sh
source tests/benchmarks/search_on_quickstart.sh
spec=$state/search.textproto
{
  grep -vE '^(budget|recipe|final_training|space|strategy) ' tests/benchmarks/compression/resnet18_search.textproto
  echo "space { name: \"${COMPRESSION_SPACE:-resnet18}\" resolutions: [28] }"
  echo "strategy { name: \"${COMPRESSION_STRATEGY:-nsga2}\" seed: 20 }"
  echo "budget { max_candidates: ${COMPRESSION_CANDIDATES:-8} max_wall_seconds: ${COMPRESSION_WALL_SECONDS:-0} }"
  schedule=$(echo "${COMPRESSION_SCHEDULE:-one_cycle}" | tr a-z A-Z)
  precision=$(echo "${COMPRESSION_PRECISION:-auto}" | tr a-z A-Z)
  echo "recipe { epochs: ${COMPRESSION_EPOCHS:-1} train_subset: ${COMPRESSION_TRAIN_SUBSET:-4000}" \
       "validation_examples: ${COMPRESSION_VALIDATION:-2000} augment_crop: true" \
       "schedule: LR_SCHEDULE_${schedule} learning_rate: ${COMPRESSION_LR:-0.2} label_smoothing: 0.1" \
       "precision: PRECISION_${precision} }"
  echo "final_training { finalists_per_profile: ${COMPRESSION_FINALISTS:-2}" \
       "epochs: ${COMPRESSION_FINAL_EPOCHS:-1} train_subset: ${COMPRESSION_FINAL_SUBSET:-8000} }"
} >"$spec"

# The baseline (COMPRESSION_BASELINE=random): the same spec, budget and recipe under another
# strategy, submitted to the same service as soon as the main search's search phase ends, so
# that it reuses the reference's training (both phases) and runs on the workers while the
# reference's long final training holds one of them. Each search's cost is read from its own
# leases, so sharing the workers charges neither for the other's work (report.py).
submit_baseline_after_search_phase() {
  local baseline_spec=$1 port=${NAS_PORT:-50161} id progress submitted
  until [ -s "$state/search.id" ] && [ -s "$state/admin.token" ]; do sleep 10; done
  id=$(cat "$state/search.id")
  while :; do
    progress=$(NAS_SERVER=127.0.0.1:$port NAS_TOKEN=$(cat "$state/admin.token") \
      "$nasctl" get "$id" --json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
s = json.load(sys.stdin)
print("go" if s.get("progress", {}).get("finalists", 0) > 0
      or s.get("state") != "SEARCH_STATE_RUNNING" else "wait")' 2>/dev/null || echo wait)
    [ "$progress" = go ] && break
    sleep 20
  done
  submitted=$(NAS_SERVER=127.0.0.1:$port NAS_TOKEN=$(cat "$state/admin.token") \
    "$nasctl" submit --json --spec="$baseline_spec" --parallel="${NAS_TRAINERS:-2}")
  sed -n 's/.*"id":"\{0,1\}\([0-9]*\).*/\1/p' <<<"$submitted" | head -n 1 >"$state/baseline.id"
  echo "compression_benchmark: baseline search $(cat "$state/baseline.id") submitted" >&2
}

baseline_pid=""
baseline=""
if [ -n "${COMPRESSION_BASELINE:-}" ]; then
  sed -E -e "s/^strategy \{ name: \"[^\"]*\"/strategy { name: \"${COMPRESSION_BASELINE}\"/" \
    -e "s/^display_name: \"(.*)\"/display_name: \"\\1 (${COMPRESSION_BASELINE} baseline)\"/" \
    "$spec" >"$state/baseline.textproto"
  submit_baseline_after_search_phase "$state/baseline.textproto" &
  baseline_pid=$!
fi
echo "compression_benchmark: searching (log: $state/quickstart.log; spec: $spec)" >&2
run_search_on_quickstart "$spec" 50161
if [ -n "$baseline_pid" ]; then
  wait "$baseline_pid"
  baseline=$(cat "$state/baseline.id")
  echo "compression_benchmark: waiting for the baseline, search $baseline" >&2
  "$nasctl" watch "$baseline" >"$state/baseline-watch.log" 2>&1 || true
fi
"$nasctl" candidates "$search" --state=evaluated | head -n 40 >&2
tests/benchmarks/compression/report.py "$state" "$search" $baseline
