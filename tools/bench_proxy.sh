#!/usr/bin/env bash
# What `dicomtap proxy` costs: C-STORE throughput of a large data set (DCMTK storescu ->
# storescp, COPIES stores of an MB-sized Secondary Capture on one association) and C-FIND
# round-trip latency (median and p99 over QUERIES Relevant Patient Information queries on one
# association, pynetdicom SCU -> pynetdicom SCP, TCP_NODELAY on both), each
#   direct, through socat (a plain TCP relay), through the proxy with dumps off, with
#   dumps on (--log-dir and --record), and with rewriting on (--pseudonymize PatientID with a
#   key file: each command set gathered, its data set streamed element by element through the
#   rewriter (large values without a rule passed through as they arrive) and fragmented again
#   for the receiver; C-FIND responses mapped back).
# Everything on 127.0.0.1 with ports chosen by the system; every process is stopped by PID.
# Usage: tools/bench_proxy.sh [MB [COPIES [QUERIES]]]   (defaults 50, 4, 1000)
# Env: SCRATCH (swift build scratch path, default .build), DICOMTAP (a dicomtap binary to use
# instead of building one), PYTHON (python3 with pynetdicom; default: tools/python, the .venv tools/setup.sh makes).
set -euo pipefail
cd "$(dirname "$0")/.."
mb=${1:-50}
copies=${2:-4}
queries=${3:-1000}
PY=tools/python
peer=Tests/DICOMProxyTests/Peers/peer.py
scratch=${SCRATCH:-.build}

for tool in /usr/bin/storescu /usr/bin/storescp /usr/bin/socat; do
  [[ -x $tool ]] || { echo "bench_proxy: $tool missing (tools/setup.sh installs it)" >&2; exit 2; }
done
if [[ -z ${DICOMTAP:-} ]]; then
  swift build -c release --scratch-path "$scratch" --product dicomtap >/dev/null
  DICOMTAP=$scratch/release/dicomtap
fi

BENCH=bench_proxy
source tools/bench_lib.sh

wait_port() {  # wait until something listens on $1 (10 s at most)
  for _ in $(seq 100); do
    "$PY" -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $1)))" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "bench_proxy: nothing listens on port $1" >&2; exit 1
}
first_line() {  # the first line of file $1 (a server's port), 15 s at most
  for _ in $(seq 150); do
    [[ -s $1 ]] && head -1 "$1" | grep -q . && { head -1 "$1"; return 0; }
    sleep 0.1
  done
  echo "bench_proxy: no port in $1" >&2; exit 1
}

# Secret key for the rewriting run.
head -c 32 /dev/urandom > "$work/key"
chmod 600 "$work/key"

# Data set: rows x columns x 16 bits of pixel data, about MB megabytes.
columns=4096
rows=$(( mb * 1024 * 1024 / (columns * 2) ))
dataset=$work/large.dcm
"$PY" "$peer" dataset "$dataset" --rows "$rows" --columns "$columns" >/dev/null
size=$(stat -c %s "$dataset")
files=()
for _ in $(seq "$copies"); do files+=("$dataset"); done

# Peers: storescp (discards what it receives) and a pynetdicom SCP.
scp_store_port=$(free_port)
/usr/bin/storescp --ignore --max-pdu 131072 "$scp_store_port" >/dev/null 2>&1 &
pids+=($!)
"$PY" "$peer" --lifetime 3600 scp --nodelay --until-killed > "$work/scp.out" 2>"$work/scp.err" </dev/null &
pids+=($!)
scp_find_port=$(first_line "$work/scp.out")
wait_port "$scp_store_port"

# One relay (socat or the proxy) per setup, in front of both peers.
start_relay() {  # $1 = kind (socat | proxy | proxy-dumps), $2 = upstream port; prints the listening port
  local port
  port=$(free_port)
  case $1 in
    socat) /usr/bin/socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork,nodelay" "TCP:127.0.0.1:$2,nodelay" & ;;
    proxy) "$DICOMTAP" proxy --listen "127.0.0.1:$port" --upstream "127.0.0.1:$2" >"$work/proxy-$port.out" 2>&1 & ;;
    proxy-rewrite) "$DICOMTAP" proxy --listen "127.0.0.1:$port" --upstream "127.0.0.1:$2" \
                   --pseudonymize PatientID --key-file "$work/key" --mapping-store "$work/map-$port.sqlite" \
                   >"$work/proxy-$port.out" 2>&1 & ;;
    proxy-dumps) "$DICOMTAP" proxy --listen "127.0.0.1:$port" --upstream "127.0.0.1:$2" \
                   --log-dir "$work/logs-$port" --record "$work/rec-$port" >"$work/proxy-$port.out" 2>&1 & ;;
  esac
  pids+=($!)
  relay_pid=$!
  wait_port "$port"
  relay_port=$port
}
stop_relay() { kill -INT "$relay_pid" 2>/dev/null || true; wait "$relay_pid" 2>/dev/null || true; }

store_mbps() {  # $1 = port: COPIES C-STOREs of the data set on one association
  local start end
  start=$(date +%s.%N)
  /usr/bin/storescu --max-pdu 131072 127.0.0.1 "$1" "${files[@]}" >/dev/null 2>&1 || { echo "storescu failed" >&2; exit 1; }
  end=$(date +%s.%N)
  "$PY" -c "print(f'{$size * $copies / 1e6 / ($end - $start):8.1f}')"
}
find_latency() {  # $1 = port
  "$PY" "$peer" --lifetime 600 findbench "$1" --count "$queries" \
    | "$PY" -c 'import json,sys; r=json.load(sys.stdin); print("%.3f %.3f" % (r["median_ms"], r["p99_ms"]))'
}

echo "C-STORE: $copies x $(( size / 1000000 )) MB data set (storescu -> storescp --ignore, max PDU 131072)"
echo "C-FIND:  $queries RPI queries on one association (pynetdicom -> pynetdicom, TCP_NODELAY)"
echo "dicomtap: $DICOMTAP"
printf '%-34s %12s %12s %12s\n' setup "C-STORE MB/s" "FIND med ms" "FIND p99 ms"
for setup in direct socat proxy proxy-dumps proxy-rewrite; do
  case $setup in
    direct) store_port=$scp_store_port; find_port=$scp_find_port; label="direct" ;;
    *)
      start_relay "$setup" "$scp_store_port"; store_port=$relay_port; store_relay=$relay_pid
      start_relay "$setup" "$scp_find_port"; find_port=$relay_port
      case $setup in
        socat) label="socat (TCP relay)" ;;
        proxy) label="dicomtap proxy, dumps off" ;;
        proxy-dumps) label="dicomtap proxy, --log-dir --record" ;;
        proxy-rewrite) label="dicomtap proxy, --pseudonymize" ;;
      esac ;;
  esac
  mbps=$(store_mbps "$store_port")
  latency=$(find_latency "$find_port")
  printf '%-34s %12s %12s %12s\n' "$label" "$mbps" ${latency}
  if [[ $setup != direct ]]; then
    stop_relay
    relay_pid=$store_relay
    stop_relay
  fi
done
