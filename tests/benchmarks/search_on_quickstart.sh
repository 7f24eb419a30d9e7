# Sourced by the benchmarks that run one real search through deploy/quickstart.sh
# (int8_benchmark.sh, compression/compression_benchmark.sh):
#
#   source tests/benchmarks/search_on_quickstart.sh
#   run_search_on_quickstart SPEC_FILE 50151     # embedded PostgreSQL, controller, workers
#   "$nasctl" candidates "$search" ...           # NAS_SERVER and NAS_TOKEN are exported
#
# It sets `state` (NAS_STATE_DIR, default a new temporary directory; the quickstart's log is
# $state/quickstart.log), `nasctl`, `search` and `search_seconds` (the quickstart's wall time),
# and stops every process and the database when the calling script exits. NAS_PORT overrides
# the port.
state=${NAS_STATE_DIR:-$(mktemp -d)}
mkdir -p "$state"
nasctl=bazel-bin/cli/nasctl

stop_quickstart() {
  if [ -f "$state/pids" ]; then
    # shellcheck disable=SC2046
    kill $(cat "$state/pids") 2>/dev/null || true
    sleep 2
  fi
  deploy/embedded_postgres.sh stop "$state/postgres" >/dev/null 2>&1 || true
}
trap stop_quickstart EXIT

run_search_on_quickstart() {
  local spec=$1 port=${NAS_PORT:-$2} start
  start=$(date +%s)
  NAS_STATE_DIR=$state NAS_PORT=$port NAS_KEEP_RUNNING=1 NAS_SPEC=$spec \
    deploy/quickstart.sh >"$state/quickstart.log" 2>&1 \
    || { tail -n 30 "$state/quickstart.log" >&2; exit 1; }
  search_seconds=$(( $(date +%s) - start ))
  export NAS_SERVER=127.0.0.1:$port NAS_TOKEN
  NAS_TOKEN=$(cat "$state/admin.token")
  search=$(cat "$state/search.id")
}
