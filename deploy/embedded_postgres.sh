#!/usr/bin/env bash
# A private PostgreSQL cluster in a state directory, for the quickstart and local runs.
#
#   deploy/embedded_postgres.sh start DIR   # initdb on first use, start, print DATABASE_URL
#   deploy/embedded_postgres.sh stop DIR
#
# It listens on a unix socket inside DIR only (no TCP port to collide with). PostgreSQL refuses
# to run as root, so as root the cluster belongs to the `postgres` user.
set -euo pipefail

cmd=${1:?usage: embedded_postgres.sh start|stop DIR}
dir=$(mkdir -p "${2:?usage: embedded_postgres.sh start|stop DIR}" && cd "$2" && pwd)
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
as=()
if [ "$(id -u)" -eq 0 ]; then
  as=(runuser -u postgres --)
  chown postgres: "$dir"
fi

case "$cmd" in
  start)
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      "${as[@]}" "$bin/initdb" -D "$dir/data" -U nas -A trust -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 \
        || { echo "initdb failed; see $dir/initdb.log" >&2; exit 1; }
    fi
    if ! "${as[@]}" "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
      "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses='' -k $dir -c max_connections=200" start >/dev/null \
        || { echo "PostgreSQL did not start; see $dir/server.log" >&2; exit 1; }
    fi
    "${as[@]}" "$bin/psql" -h "$dir" -U nas -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'nas'" | grep -q 1 \
      || "${as[@]}" "$bin/createdb" -h "$dir" -U nas nas
    echo "host=$dir user=nas dbname=nas"
    ;;
  stop)
    if [ -f "$dir/data/PG_VERSION" ]; then
      "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    ;;
  *)
    echo "usage: embedded_postgres.sh start|stop DIR" >&2
    exit 2
    ;;
esac
