#!/usr/bin/env bash
# The control plane's throughput, side by side in one run on one PostgreSQL server: the
# controller benchmark with 1, 2 and 3 controllers on one database (simulated workers spread
# over them), and its peer, Optuna's RDB storage (tests/benchmarks/controller_peer_optuna.py).
# Each gets a fresh database on the same embedded server (deploy/embedded_postgres.sh).
#
#   tests/benchmarks/controllers_vs_optuna.sh            # WORKERS=64 RESULTS=5000 PEER_TRIALS=400
#
# Output: one table per run on stdout (docs/scaling.md collects them); the controllers' logs in
# $LOGS (default /tmp/controllers_vs_optuna).
set -euo pipefail
cd "$(dirname "$0")/../.."
WORKERS=${WORKERS:-64}
RESULTS=${RESULTS:-5000}
PEER_TRIALS=${PEER_TRIALS:-400}
CONTROLLERS=${CONTROLLERS:-"1 2 3"}
LOGS=${LOGS:-/tmp/controllers_vs_optuna}
mkdir -p "$LOGS"
dir=$(mktemp -d /tmp/nas-scaling.XXXXXX)
[ "$(id -u)" -eq 0 ] && chmod 755 "$dir"
trap 'deploy/embedded_postgres.sh stop "$dir/pg"; rm -rf "$dir"' EXIT
deploy/install-deps.sh
command -v python3 >/dev/null
/usr/bin/python3 -c "import optuna, psycopg2" 2>/dev/null || {
  echo "controllers_vs_optuna: installing the peer (python3-optuna, python3-psycopg2)" >&2
  apt-get install -y -qq --no-install-recommends python3-optuna python3-psycopg2 >/dev/null
}
bazel build -c opt //tests/benchmarks:controller_benchmark 2>"$LOGS/build.log"
deploy/embedded_postgres.sh start "$dir/pg" >/dev/null
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
as=()
[ "$(id -u)" -eq 0 ] && as=(runuser -u postgres --)
windows=$(for w in 1000 2000 5000 10000 50000 100000; do
  if [ "$w" -le "$RESULTS" ]; then printf '%s,' "$w"; fi
done)
for n in $CONTROLLERS; do
  "${as[@]}" "$bin/createdb" -h "$dir/pg" -U nas "bench$n"
  bazel-bin/tests/benchmarks/controller_benchmark --workers="$WORKERS" --candidates="$RESULTS" \
    --controllers="$n" --windows="${windows%,}" \
    --database_url="host=$dir/pg user=nas dbname=bench$n" 2>"$LOGS/controllers$n.log"
  echo
done
"${as[@]}" "$bin/createdb" -h "$dir/pg" -U nas optuna
/usr/bin/python3 tests/benchmarks/controller_peer_optuna.py --workers="$WORKERS" \
  --trials="$PEER_TRIALS" --url="postgresql+psycopg2://nas@/optuna?host=$dir/pg" \
  --windows="$(seq -s, 100 100 "$PEER_TRIALS")"
