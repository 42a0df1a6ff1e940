#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests of the PostgreSQL mapping store (issue 21).
#
#   tools/pg_test_cluster.sh start DIR    initdb into DIR/data, start it on a free loopback port (socket in DIR),
#                                         create the database dicomtap_test; prints the URL and writes it to DIR/url
#   tools/pg_test_cluster.sh pause DIR    stop the server, keeping its data (the tests' "database down")
#   tools/pg_test_cluster.sh resume DIR   start it again on the same port
#   tools/pg_test_cluster.sh stop DIR     stop the server and delete DIR
#
# .ci/run starts one for the whole suite and exports its URL as DICOMTAP_TEST_POSTGRES_URL. As root (CI), the
# server runs as the postgres user (initdb refuses root). Authentication is trust, on 127.0.0.1 only.
set -euo pipefail
cmd=${1:-}; dir=${2:-}
[[ -n "$cmd" && -n "$dir" ]] || { echo "usage: $0 start|pause|resume|stop DIR" >&2; exit 2; }
dir=$(realpath -m "$dir")
# PostgreSQL's programs change directory to find one another: from a folder the postgres user cannot enter (a
# checkout under /root, as root in CI) they fail. Run from /.
cd /

bin=""
for v in 17 16 15 14 13; do
  if [[ -x /usr/lib/postgresql/$v/bin/initdb ]]; then bin=/usr/lib/postgresql/$v/bin; break; fi
done
[[ -n "$bin" ]] || { echo "pg_test_cluster: no PostgreSQL server (Debian package postgresql; tools/setup.sh)" >&2; exit 1; }

as_owner() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

server_start() {
  local port; port=$(cat "$dir/port")
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
}

case "$cmd" in
  start)
    mkdir -p "$dir"
    if [[ $(id -u) -eq 0 ]]; then chown postgres: "$dir"; fi
    as_owner "$bin/initdb" -D "$dir/data" -A trust -U dicomtap --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    free_port >"$dir/port"
    server_start
    as_owner "$bin/createdb" -h 127.0.0.1 -p "$(cat "$dir/port")" -U dicomtap dicomtap_test
    echo "postgresql://dicomtap@127.0.0.1:$(cat "$dir/port")/dicomtap_test?sslmode=disable" >"$dir/url"
    chmod a+r "$dir/url"
    cat "$dir/url"
    ;;
  pause)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null
    ;;
  resume)
    server_start
    ;;
  stop)
    if [[ -d "$dir/data" ]]; then as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true; fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start|pause|resume|stop DIR" >&2; exit 2 ;;
esac
