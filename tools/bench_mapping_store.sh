#!/usr/bin/env bash
# C-FIND latency through the pseudonymizing proxy with the SQLite mapping store beside the PostgreSQL one
# (issue 21), on one machine: QUERIES Relevant Patient Information queries (`dicomtap query`, one association
# each) -> `dicomtap proxy --pseudonymize PatientID` -> `dicomtap serve`. Cold: every query a new Patient ID (a
# new pseudonym, committed to the store before the query goes on). Warm: the same IDs again (in the cache).
# Figures are printed, not asserted; each includes starting `dicomtap query` (the same in every column).
# Then the same without process starts, from our SCU (dicomtap-bench rpi-load distinct): SCU_QUERIES queries, each
# a new Patient ID, on one association and on 10 concurrent ones; queries rewritten per second and latency (send
# to final response), cold then warm.
# Usage: tools/bench_mapping_store.sh [QUERIES [SCU_QUERIES]]   (defaults 200, 5000)
# Env: DICOMTAP and DICOMTAP_BENCH (binaries; default: a release build into SCRATCH, default .build).
set -euo pipefail
cd "$(dirname "$0")/.."
queries=${1:-200}
scu_queries=${2:-5000}
PY=python3
scratch=${SCRATCH:-.build}
if [[ -z ${DICOMTAP:-} ]]; then
  swift build -c release --scratch-path "$scratch" --product dicomtap >/dev/null
  DICOMTAP=$scratch/release/dicomtap
fi
if [[ -z ${DICOMTAP_BENCH:-} ]]; then
  swift build -c release --scratch-path "$scratch" --product dicomtap-bench >/dev/null
  DICOMTAP_BENCH=$scratch/release/dicomtap-bench
fi
BENCH=bench_mapping_store
source tools/bench_lib.sh
pgdir=$(mktemp -d /tmp/bench_mapping_store_pg.XXXXXX)  # the server runs as postgres when root: not under $work (0700)
trap 'tools/pg_test_cluster.sh stop "$pgdir" >/dev/null 2>&1 || true; cleanup' EXIT
url=$(tools/pg_test_cluster.sh start "$pgdir")

head -c 32 /dev/urandom > "$work/key"
chmod 600 "$work/key"
scp_port=$(free_port)
"$DICOMTAP" serve --port "$scp_port" --db "$work/rpi.sqlite" >"$work/serve.out" 2>&1 &
pids+=($!)
wait_line "$work/serve.out" "listening" >/dev/null || true
sleep 0.5

ms_now() { date +%s%N | cut -c1-13; }
run_queries() {  # $1 = proxy port, $2 = ID prefix: prints the mean milliseconds per query
  local start end failed=0
  start=$(ms_now)
  for i in $(seq "$queries"); do
    "$DICOMTAP" query 127.0.0.1 "$1" --patient-id "$2-$i" --called-ae RPI-SCP >/dev/null 2>&1 || failed=$((failed + 1))
  done
  end=$(ms_now)
  ((failed == 0)) || echo "$BENCH: $failed queries failed" >&2
  awk -v t=$((end - start)) -v n="$queries" 'BEGIN { printf "%.1f", t / n }'
}

start_proxy() {  # $1 = kind: starts a proxy on that kind of store; sets port and pid
  local store="$work/map-$1.sqlite"
  [[ $1 == postgresql* ]] && store=$url
  port=$(free_port)
  "$DICOMTAP" proxy --listen "127.0.0.1:$port" --upstream "127.0.0.1:$scp_port" --pseudonymize PatientID \
    --key-file "$work/key" --mapping-store "$store" --allow DICOMTAP --allow BENCH >"$work/proxy-$1.out" 2>&1 &
  pid=$!
  pids+=("$pid")
  wait_line "$work/proxy-$1.out" "listening" >/dev/null
}

echo "dicomtap query (one process and association per query), $queries queries:"
printf "%-12s %14s %14s\n" "store" "cold ms/query" "warm ms/query"
for kind in sqlite postgresql; do
  start_proxy "$kind"
  cold=$(run_queries "$port" "COLD-$kind")
  warm=$(run_queries "$port" "COLD-$kind")
  printf "%-12s %14s %14s\n" "$kind" "$cold" "$warm"
  kill "$pid" 2>/dev/null || true
done

echo
echo "our SCU (dicomtap-bench rpi-load distinct), $scu_queries queries, each a new Patient ID the first time:"
for associations in 1 10; do
  for kind in sqlite postgresql; do
    start_proxy "$kind-$associations"
    for pass in cold warm; do
      out=$("$DICOMTAP_BENCH" rpi-load 127.0.0.1 "$port" "$scu_queries" distinct "SCU-$kind-$associations" "$associations")
      printf "%-11s %-5s %s\n" "$kind" "$pass" "$out"
    done
    kill "$pid" 2>/dev/null || true
  done
done
