#!/usr/bin/env bash
# One command from a fresh Debian machine to a real search:
#   installs what is missing, builds, starts an embedded PostgreSQL (or uses $DATABASE_URL),
#   the controller and LibTorch trainer workers (each serving Prometheus /metrics), measures a
#   latency lookup table of this CPU with nas-profile, runs a search on Fashion-MNIST while
#   showing its progress, prints its Pareto fronts, plots them, checks the best model, and
#   fetches the Cortex-M7 front's model as int8 and fp32 ONNX and classifies the test set with
#   both outside our code.
#
# Environment:
#   NAS_STATE_DIR      where the database, tokens and logs live (default: ./.nas-state)
#   DATABASE_URL       use this PostgreSQL instead of the embedded one
#   NAS_PORT           controller port (default 50051); /metrics on NAS_PORT+1000 (controller)
#                      and NAS_PORT+1001... (trainers)
#   NAS_TRAINERS       trainer workers to start (default 2, one thread each)
#   NAS_CANDIDATES     the search's budget (default 8)
#   NAS_SPACE          mobilenetv2 (default) or resnet
#   NAS_SPEC           submit this SearchSpec file (text proto or JSON) instead of the default
#                      search (the cortex-m7 steps need cortex-m7 among its profiles)
#   NAS_KEEP_RUNNING=1 leave the controller, workers and PostgreSQL running afterwards (their
#                      pids in $NAS_STATE_DIR/pids, the search's id in $NAS_STATE_DIR/search.id)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
state=${NAS_STATE_DIR:-$root/.nas-state}
port=${NAS_PORT:-50051}
mkdir -p "$state"

step() { printf '\n==> %s\n' "$*"; }

step "Installing missing Debian packages (apt)"
deploy/install-deps.sh

step "Building with Bazel (offline)"
bazel build //services:nas-controller //cli:nasctl //trainer:nas-trainer \
  //trainer:nas-profile 2>&1 \
  | grep -E "^(ERROR|INFO: Build completed)" || true
controller=$root/bazel-bin/services/nas-controller
nasctl=$root/bazel-bin/cli/nasctl
trainer=$root/bazel-bin/trainer/nas-trainer
profiler=$root/bazel-bin/trainer/nas-profile
[ -x "$controller" ] && [ -x "$nasctl" ] && [ -x "$trainer" ] && [ -x "$profiler" ] \
  || { echo "quickstart: the build failed" >&2; exit 1; }
metrics_port=$((port + 1000))

embedded=0
if [ -z "${DATABASE_URL:-}" ]; then
  step "Starting the embedded PostgreSQL in $state/postgres"
  DATABASE_URL=$(deploy/embedded_postgres.sh start "$state/postgres")
  embedded=1
fi
export DATABASE_URL

controller_pid=""
trainer_pids=()
cleanup() {
  if [ "${NAS_KEEP_RUNNING:-0}" = 1 ]; then
    echo "Left running: controller pid $controller_pid on 127.0.0.1:$port, trainers ${trainer_pids[*]:-none} (logs in $state)."
    echo "$controller_pid ${trainer_pids[*]:-}" >"$state/pids"
    return
  fi
  for pid in "${trainer_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${trainer_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ -n "$controller_pid" ] && kill "$controller_pid" 2>/dev/null && wait "$controller_pid" 2>/dev/null || true
  [ "$embedded" = 1 ] && deploy/embedded_postgres.sh stop "$state/postgres"
  true
}
trap cleanup EXIT

step "Starting nas-controller on 127.0.0.1:$port"
"$controller" --listen="127.0.0.1:$port" --database_url="$DATABASE_URL" \
  --worker_token_file="$state/worker.token" --admin_token_file="$state/admin.token" \
  --metrics_listen="127.0.0.1:$metrics_port" >"$state/controller.log" 2>&1 &
controller_pid=$!
export NAS_SERVER=127.0.0.1:$port
for _ in $(seq 1 60); do
  if "$nasctl" health >/dev/null 2>&1; then break; fi
  if ! kill -0 "$controller_pid" 2>/dev/null; then
    echo "quickstart: the controller exited; its log:" >&2
    tail -n 20 "$state/controller.log" >&2
    exit 1
  fi
  sleep 0.5
done
"$nasctl" health
export NAS_TOKEN=$(cat "$state/admin.token")
echo "admin token: $state/admin.token; worker credential: $state/worker.token"

step "Measuring a latency lookup table of this CPU (nas-profile), registered as host-lut"
# Every operator of the MobileNetV2 space, timed on this machine with one thread, like the
# workers; candidates' latency on host-lut is then predicted, and compared with what the
# workers measure for host-cpu (the controller's nas_latency_prediction_error_ratio).
if [ ! -s "$state/host.lut" ]; then
  OPENBLAS_NUM_THREADS=1 "$profiler" --space=mobilenetv2 --threads=1 --out="$state/host.lut.tmp" \
    2>&1 | grep -E "operators of|wrote" || true
  mv "$state/host.lut.tmp" "$state/host.lut"
fi
"$nasctl" profiles get host-lut >/dev/null 2>&1 \
  || "$nasctl" profiles register --lut="$state/host.lut" --name=host-lut --device_tag=host-cpu

step "Hardware profiles"
"$nasctl" profiles

trainers=${NAS_TRAINERS:-2}
step "Starting $trainers nas-trainer workers (LibTorch, 1 thread each)"
for i in $(seq 1 "$trainers"); do
  # OpenBLAS sizes its own thread pool at load time: keep it to the worker's one thread.
  OPENBLAS_NUM_THREADS=1 "$trainer" --controller="127.0.0.1:$port" --worker_token_file="$state/worker.token" \
    --device_tag=host-cpu --threads=1 --metrics_listen="127.0.0.1:$((metrics_port + i))" \
    >"$state/trainer-$i.log" 2>&1 &
  trainer_pids+=($!)
done
echo "logs: $state/trainer-*.log; Prometheus metrics: http://127.0.0.1:$metrics_port/metrics (controller), ports $((metrics_port + 1))-$((metrics_port + trainers)) (trainers)"

step "Submitting a search and watching it (it ends with the Pareto front on each profile)"
if [ -n "${NAS_SPEC:-}" ]; then
  submitted=$("$nasctl" submit --json --spec="$NAS_SPEC" --parallel="$trainers")
else
  submitted=$("$nasctl" submit --json --name=quickstart --space="${NAS_SPACE:-mobilenetv2}" \
    --profiles=host-cpu,host-lut,rpi4-cortex-a72,cortex-m7 --objectives=accuracy,latency \
    --candidates="${NAS_CANDIDATES:-8}" --parallel="$trainers" --epochs=1 --train_subset=10000)
fi
search=$(sed -n 's/.*"id":"\{0,1\}\([0-9]*\).*/\1/p' <<<"$submitted" | head -n 1)
[ -n "$search" ] || { echo "quickstart: the search was not submitted" >&2; exit 1; }
echo "$search" >"$state/search.id"
"$nasctl" watch "$search" | grep -vE "leased to worker|candidate [0-9]+: epoch" || true
"$nasctl" get "$search"

step "Plotting the fronts of search $search (open the SVG in a browser)"
"$nasctl" pareto "$search" --plot="$state/pareto.svg" | tail -n 1

step "Fetching the most accurate model on the host-cpu front"
# (A search from NAS_SPEC may not target host-cpu or cortex-m7: those steps are then skipped.)
best=$("$nasctl" pareto "$search" --profile=host-cpu --json 2>/dev/null \
  | sed -n 's/.*"members":\[{"candidate_id":"\{0,1\}\([0-9]*\).*/\1/p' || true)
if [ -n "$best" ]; then
  "$nasctl" fetch "$best" --out="$state/best-model.pt"
  step "Classifying the Fashion-MNIST test set with it in python3-torch"
  # tcmalloc makes PyTorch several times faster here (docs/benchmarks.md); optional for users.
  tcmalloc=$(ls /usr/lib/*/libtcmalloc_minimal.so.4 2>/dev/null | head -n 1)
  LD_PRELOAD="$tcmalloc" /usr/bin/python3 deploy/check_model.py "$state/best-model.pt"
fi

step "Fetching the most accurate model of the cortex-m7 front as int8 ONNX (and fp32 ONNX)"
small=$("$nasctl" pareto "$search" --profile=cortex-m7 --json 2>/dev/null \
  | sed -n 's/.*"members":\[{"candidate_id":"\{0,1\}\([0-9]*\).*/\1/p' || true)
if [ -n "$small" ]; then
  # --profile=cortex-m7 picks that device's format: onnx-int8 (int8 weights, QDQ).
  "$nasctl" fetch "$small" --profile=cortex-m7 --out="$state/cortex-m7.int8.onnx"
  "$nasctl" fetch "$small" --format=onnx-fp32 --out="$state/cortex-m7.onnx" | head -n 1
  step "Classifying the test set with both, run outside our code (a numpy ONNX evaluator)"
  /usr/bin/python3 deploy/check_onnx.py "$state/cortex-m7.onnx" "$state/cortex-m7.int8.onnx"
fi

cat <<MSG
Every candidate above was trained on Fashion-MNIST by nas-trainer and measured on this CPU
(host-cpu, latency measured), predicted from this CPU's lookup table (host-lut) and modelled
for a Raspberry Pi 4 and a Cortex-M7 (roofline). Plot: $state/pareto.svg
Every finished model is stored as TorchScript, ONNX fp32 and ONNX int8 (QDQ, opset 13), batch
norm folded: each takes N x 1 x 28 x 28 floats in [0, 1] (it normalises and resizes itself) and
returns 10 logits; the JSON beside each file states that contract and the measured accuracies.
  model: $state/best-model.pt   metadata: $state/best-model.pt.json
  for the Cortex-M7: $state/cortex-m7.int8.onnx (int8) and $state/cortex-m7.onnx (fp32)

Try (NAS_KEEP_RUNNING=1 deploy/quickstart.sh keeps everything up):
  export NAS_SERVER=$NAS_SERVER NAS_TOKEN=\$(cat $state/admin.token)
  bazel-bin/cli/nasctl list
  bazel-bin/cli/nasctl candidates $search --state=evaluated
  bazel-bin/cli/nasctl pareto $search --profile=cortex-m7
  curl -s http://127.0.0.1:$metrics_port/metrics | grep nas_search_hypervolume
MSG
