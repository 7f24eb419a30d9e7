#!/usr/bin/env bash
# One command from a fresh Debian machine to a running NAS service:
#   installs what is missing, builds, starts an embedded PostgreSQL (or uses $DATABASE_URL),
#   starts the controller, submits a search and shows it.
#
# Environment:
#   NAS_STATE_DIR      where the database, tokens and logs live (default: ./.nas-state)
#   DATABASE_URL       use this PostgreSQL instead of the embedded one
#   NAS_PORT           controller port (default 50051)
#   NAS_KEEP_RUNNING=1 leave the controller (and PostgreSQL) running afterwards
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
bazel build //services:nas-controller //services:nasctl 2>&1 | grep -E "^(ERROR|INFO: Build completed)" || true
controller=$root/bazel-bin/services/nas-controller
nasctl=$root/bazel-bin/services/nasctl
[ -x "$controller" ] && [ -x "$nasctl" ] || { echo "quickstart: the build failed" >&2; exit 1; }

embedded=0
if [ -z "${DATABASE_URL:-}" ]; then
  step "Starting the embedded PostgreSQL in $state/postgres"
  DATABASE_URL=$(deploy/embedded_postgres.sh start "$state/postgres")
  embedded=1
fi
export DATABASE_URL

controller_pid=""
cleanup() {
  if [ "${NAS_KEEP_RUNNING:-0}" = 1 ]; then
    echo "Left running: controller pid $controller_pid on 127.0.0.1:$port (log $state/controller.log)."
    return
  fi
  [ -n "$controller_pid" ] && kill "$controller_pid" 2>/dev/null && wait "$controller_pid" 2>/dev/null || true
  [ "$embedded" = 1 ] && deploy/embedded_postgres.sh stop "$state/postgres"
  true
}
trap cleanup EXIT

step "Starting nas-controller on 127.0.0.1:$port"
"$controller" --listen="127.0.0.1:$port" --database_url="$DATABASE_URL" \
  --worker_token_file="$state/worker.token" --admin_token_file="$state/admin.token" \
  >"$state/controller.log" 2>&1 &
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

step "Hardware profiles"
"$nasctl" profiles

step "Submitting a search"
search=$("$nasctl" submit --json --name=quickstart --space=mobilenetv2 \
  --profiles=host-cpu,rpi4-cortex-a72,cortex-m7 --objectives=accuracy,latency \
  --candidates=12 --parallel=2 --epochs=1 | sed -n 's/.*"id":"\{0,1\}\([0-9]*\).*/\1/p' | head -n 1)
"$nasctl" get "$search"

step "Candidates the strategy queued"
"$nasctl" candidates "$search"

cat <<MSG

The controller is up and healthy, and search $search is queued in PostgreSQL.
No trainer worker exists yet (the LibTorch trainer is the next issue), so the candidates
wait in state 'queued'; once nas-trainer lands this script runs the whole search and
prints the Pareto fronts.

Try, while it runs (NAS_KEEP_RUNNING=1 deploy/quickstart.sh keeps it up):
  export NAS_SERVER=$NAS_SERVER NAS_TOKEN=\$(cat $state/admin.token)
  bazel-bin/services/nasctl list
  bazel-bin/services/nasctl watch $search
  bazel-bin/services/nasctl pareto $search
MSG
