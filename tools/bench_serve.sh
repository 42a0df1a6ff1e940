#!/usr/bin/env bash
# What `dicomtap serve` answers per second: Relevant Patient Information C-FINDs (General, TID 9007, one match
# each) from our own SCU (dicomtap-bench rpi-load, a fast client, so the figures are the server's), COUNT queries
# on one association and COUNT/10 with one association per query, against
#   dicomtap serve (SQLite store with the demo data) and the seed document's pynetdicom SCP
#   (tools/peers/seed_rpi_scp.py) serving the same data; the per-association cost (one C-ECHO per association)
#   of serve, DCMTK storescp and the pynetdicom SCP;
# the relay latency of dicomtap proxy and socat between these fast peers (our SCU and serve);
# then the seed's pynetdicom SCU (--count) against both, the figures a pynetdicom user would see.
# Everything on 127.0.0.1, ports chosen by the system, every process stopped by PID.
# Usage: tools/bench_serve.sh [COUNT]   (default 2000)
# Env: SCRATCH (swift build scratch path, default .build), PYTHON (python3 with pynetdicom; default: tools/python, the .venv tools/setup.sh makes).
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-2000}
per=$(( count / 10 ))
PY=tools/python
scratch=${SCRATCH:-.build}
swift build -c release --scratch-path "$scratch" --product dicomtap >/dev/null
swift build -c release --scratch-path "$scratch" --product dicomtap-bench >/dev/null
bin=$scratch/release

BENCH=bench_serve
source tools/bench_lib.sh

"$bin/dicomtap" serve --port 0 --host 127.0.0.1 --db "$work/rpi.sqlite" --import demo >"$work/serve.out" 2>&1 &
pids+=($!); disown $!
serve_port=$(wait_line "$work/serve.out" '^listening on' | sed -E 's/^listening on [^:]+:([0-9]+).*/\1/')
"$PY" tools/peers/seed_rpi_scp.py --port 0 --data demo >"$work/seed.out" 2>"$work/seed.err" &
pids+=($!); disown $!
seed_port=$(wait_line "$work/seed.out" 'listening' | awk '{print $NF}')

echo "== our SCU (dicomtap-bench rpi-load): queries on one association, then one association per query"
for name in serve seed; do
  port=$serve_port; label="dicomtap serve      "; n=$count
  # pynetdicom answers about 17 queries/s: give it a tenth of the work.
  [[ $name == seed ]] && { port=$seed_port; label="pynetdicom seed SCP "; n=$per; }
  "$bin/dicomtap-bench" rpi-load 127.0.0.1 "$port" 20 one PAT-0001 >/dev/null   # warm-up
  echo "$label $("$bin/dicomtap-bench" rpi-load 127.0.0.1 "$port" "$n" one PAT-0001)"
  echo "$label $("$bin/dicomtap-bench" rpi-load 127.0.0.1 "$port" "$per" per-query PAT-0001)"
done
echo "== per-association cost: $per associations with one C-ECHO each, from our SCU"
store_port=$(free_port)
/usr/bin/storescp --aetitle ANY-SCP "$store_port" >"$work/storescp.out" 2>&1 &
pids+=($!); disown $!
sleep 0.5
echo "dicomtap serve       $("$bin/dicomtap-bench" rpi-load 127.0.0.1 "$serve_port" "$per" echo -)"
echo "DCMTK storescp       $("$bin/dicomtap-bench" rpi-load 127.0.0.1 "$store_port" "$per" echo -)"
echo "pynetdicom seed SCP  $("$bin/dicomtap-bench" rpi-load 127.0.0.1 "$seed_port" "$per" echo -)"
echo "== relay latency with fast peers: our SCU -> (direct | socat | dicomtap proxy) -> dicomtap serve, $count queries"
socat_port=$(free_port)
/usr/bin/socat TCP-LISTEN:"$socat_port",bind=127.0.0.1,reuseaddr,fork,nodelay TCP:127.0.0.1:"$serve_port",nodelay &
pids+=($!); disown $!
proxy_port=$(free_port)
"$bin/dicomtap" proxy --listen "127.0.0.1:$proxy_port" --upstream "127.0.0.1:$serve_port" >"$work/proxy.out" 2>&1 &
pids+=($!); disown $!
wait_line "$work/proxy.out" 'listening on' >/dev/null
for target in direct socat proxy; do
  case $target in
    direct) port=$serve_port; label="direct              " ;;
    socat)  port=$socat_port; label="socat (TCP relay)   " ;;
    proxy)  port=$proxy_port; label="dicomtap proxy      " ;;
  esac
  "$bin/dicomtap-bench" rpi-load 127.0.0.1 "$port" 50 one PAT-0001 >/dev/null   # warm-up
  echo "$label $("$bin/dicomtap-bench" rpi-load 127.0.0.1 "$port" "$count" one PAT-0001)"
done
echo "== the seed's pynetdicom SCU, $per queries on one association"
for name in serve seed; do
  port=$serve_port; label="dicomtap serve      "
  [[ $name == seed ]] && { port=$seed_port; label="pynetdicom seed SCP "; }
  echo "$label $("$PY" tools/peers/seed_rpi_scu.py 127.0.0.1 "$port" --patient-id PAT-0001 --count "$per" | tail -1)"
done
