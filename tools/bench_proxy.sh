#!/usr/bin/env bash
# What `dicomtap proxy` costs, beside a plain TCP relay (socat) and beside no relay at all:
#
# 1. A study on one association: COPIES C-STOREs of an MB-sized image (DCMTK storescu -> storescp --ignore,
#    max PDU 131072): throughput and the relay's peak resident memory (VmHWM), direct, through socat, through
#    the proxy with dumps off, with --log-dir and --record, and with --pseudonymize PatientID (each data set
#    streamed through the rewriter, large values passed on as they arrive).
# 2. A deflated data set of about 1 MB that inflates to INFLATED_MB (pynetdicom storescu -> proxy ->
#    storescp), relayed and with --pseudonymize (which must inflate it and aborts that association past
#    --max-inflated-size): the proxy stays up, its peak memory.
# 3. C-FIND latency with the peers as they are (Nagle on, delayed ACKs): QUERIES Relevant Patient Information
#    queries, pynetdicom SCU -> pynetdicom SCP, and DCMTK findscu --repeat -> dcmqrscp, direct, through socat
#    and through the proxy (which asks for quick ACKs on both legs).
# 4. DICOM over TLS (PS3.15 B.12) beside stunnel4 doing the same bridging: the study of case 1 (DCMTK
#    storescu +tls / storescp +tls) TLS-to-TLS and plain-to-TLS, and the C-FIND latency of TLS termination (our
#    SCU, dicomtap-bench rpi-load over TLS -> terminator -> dicomtap serve, a fast peer on both sides).
# Everything on 127.0.0.1 with ports chosen by the system; every process is stopped by PID.
# Usage: tools/bench_proxy.sh [MB [COPIES [QUERIES [INFLATED_MB]]]]   (defaults 8, 64, 200, 1024: a 512 MB study)
# Env: SECTIONS (which cases to run, default "1 2 3 4"; e.g. SECTIONS=4 tools/bench_proxy.sh 8 25 for the TLS case
# with a 200 MB study), SCRATCH (swift build scratch path, default .build), DICOMTAP (a dicomtap binary to use
# instead of building one), PYTHON (python3 with pynetdicom; default: tools/python, the .venv tools/setup.sh makes).
set -euo pipefail
cd "$(dirname "$0")/.."
mb=${1:-8}
copies=${2:-64}
queries=${3:-200}
inflated_mb=${4:-1024}
PY=tools/python
peer=Tests/DICOMProxyTests/Peers/peer.py
memory_peer=Tests/DICOMProxyTests/Peers/memory_peer.py
scratch=${SCRATCH:-.build}

sections=${SECTIONS:-1 2 3 4}
runs() { [[ " $sections " == *" $1 "* ]]; }

for tool in storescu storescp findscu dcmqrscp socat stunnel4 openssl; do
  [[ -x /usr/bin/$tool ]] || { echo "bench_proxy: /usr/bin/$tool missing (tools/setup.sh installs it)" >&2; exit 2; }
done
if [[ -z ${DICOMTAP:-} ]]; then
  swift build -c release --scratch-path "$scratch" --product dicomtap >/dev/null
  DICOMTAP=$scratch/release/dicomtap
fi
if runs 4 && [[ -z ${DICOMTAP_BENCH:-} ]]; then
  swift build -c release --scratch-path "$scratch" --product dicomtap-bench >/dev/null
  DICOMTAP_BENCH=$scratch/release/dicomtap-bench
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
wait_listening() {  # like wait_port, from /proc/net/tcp without connecting: a probe connection through stunnel's
  # client side would open a TLS session to DCMTK's non-forking storescp and end it unfinished, which stops storescp.
  for _ in $(seq 100); do
    grep -qE "^ *[0-9]+: [0-9A-F]+:$(printf '%04X' "$1") [0-9A-F:]+ 0A " /proc/net/tcp && return 0
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
peak_mb() {  # peak resident memory of process $1, in MB ("-" when there is no process)
  [[ -r /proc/$1/status ]] || { echo "-"; return; }
  awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"
}

head -c 32 /dev/urandom > "$work/key"
chmod 600 "$work/key"

# One relay (socat or the proxy) per setup. Prints nothing; sets relay_port and relay_pid.
start_relay() {  # $1 = kind, $2 = upstream port, $3... = extra proxy options
  local kind=$1 upstream=$2 port
  shift 2
  port=$(free_port)
  case $kind in
    socat) /usr/bin/socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork,nodelay" "TCP:127.0.0.1:$upstream,nodelay" & ;;
    proxy) "$DICOMTAP" proxy --listen "127.0.0.1:$port" --upstream "127.0.0.1:$upstream" "$@" >"$work/proxy-$port.out" 2>&1 & ;;
    proxy-dumps) "$DICOMTAP" proxy --listen "127.0.0.1:$port" --upstream "127.0.0.1:$upstream" \
                   --log-dir "$work/logs-$port" --record "$work/rec-$port" "$@" >"$work/proxy-$port.out" 2>&1 & ;;
    proxy-rewrite) "$DICOMTAP" proxy --listen "127.0.0.1:$port" --upstream "127.0.0.1:$upstream" \
                   --log-dir "$work/logs-$port" --record "$work/rec-$port" \
                   --pseudonymize PatientID --key-file "$work/key" --mapping-store "$work/map-$port.sqlite" "$@" \
                   >"$work/proxy-$port.out" 2>&1 & ;;
  esac
  relay_pid=$!
  pids+=("$relay_pid")
  wait_port "$port"
  relay_port=$port
}
stop_relay() {  # SIGINT (the proxy's clean stop), then SIGTERM for a relay started with SIGINT ignored (stunnel4)
  kill -INT "$1" 2>/dev/null || true
  for _ in $(seq 30); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# --- 1. A study on one association
image=$work/image.dcm
"$PY" "$memory_peer" image "$image" --mb "$mb" >/dev/null
size=$(stat -c %s "$image")
files=()
for _ in $(seq "$copies"); do files+=("$image"); done
scp_store_port=$(free_port)
/usr/bin/storescp --ignore --max-pdu 131072 "$scp_store_port" >/dev/null 2>&1 &
pids+=($!)
wait_port "$scp_store_port"
store_mbps() {  # $1 = port: COPIES C-STOREs of the image on one association
  local start end
  start=$(date +%s.%N)
  /usr/bin/storescu --max-pdu 131072 127.0.0.1 "$1" "${files[@]}" >/dev/null 2>&1 || { echo "storescu failed" >&2; exit 1; }
  end=$(date +%s.%N)
  "$PY" -c "print(f'{$size * $copies / 1e6 / ($end - $start):8.1f}')"
}

if runs 1; then
echo "1. Study: $copies C-STOREs of $(( size / 1000000 )) MB ($(( size * copies / 1000000 )) MB) on one association"
echo "   (storescu -> storescp --ignore, max PDU 131072); peak RSS of the relay process"
echo "dicomtap: $DICOMTAP"
printf '%-40s %14s %14s %10s\n' setup "C-STORE MB/s" "peak RSS MB" "vs socat"
socat_mbps=""
for setup in direct socat proxy proxy-dumps proxy-rewrite; do
  case $setup in
    direct) port=$scp_store_port; label="direct"; rpid="" ;;
    *) start_relay "$setup" "$scp_store_port"; port=$relay_port; rpid=$relay_pid ;;
  esac
  case $setup in
    socat) label="socat (TCP relay)" ;;
    proxy) label="dicomtap proxy, dumps off" ;;
    proxy-dumps) label="dicomtap proxy, --log-dir --record" ;;
    proxy-rewrite) label="dicomtap proxy, dumps + --pseudonymize" ;;
  esac
  mbps=$(store_mbps "$port")
  peak=$([[ -n $rpid ]] && peak_mb "$rpid" || echo "-")
  [[ $setup == socat ]] && socat_mbps=$mbps
  ratio=$([[ -n $socat_mbps && $setup == proxy* ]] && "$PY" -c "print(f'{$mbps / $socat_mbps:.2f}x')" || echo "")
  printf '%-40s %14s %14s %10s\n' "$label" "$mbps" "$peak" "$ratio"
  [[ -n $rpid ]] && stop_relay "$rpid"
done

fi

# --- 2. A deflated data set that inflates to INFLATED_MB
if runs 2; then
bomb=$work/bomb.dcm
"$PY" "$memory_peer" bomb "$bomb" --inflated-mb "$inflated_mb" >/dev/null
bomb_port=$(free_port)
/usr/bin/storescp --ignore +xd "$bomb_port" >/dev/null 2>&1 &
pids+=($!)
wait_port "$bomb_port"
echo
echo "2. A deflated data set of $(( $(stat -c %s "$bomb") / 1000 )) KB inflating to $inflated_mb MB (pynetdicom -> proxy -> storescp)"
printf '%-40s %-44s %14s\n' setup "outcome" "peak RSS MB"
for setup in proxy proxy-rewrite; do
  start_relay "$setup" "$bomb_port" --log-dir "$work/bomb-logs-$setup"
  answer=$("$PY" "$memory_peer" store "$relay_port" "$bomb")
  sleep 0.5
  outcome=$("$PY" -c "import json,sys; a=json.loads(sys.argv[1]); print('aborted by the proxy' if a['aborted'] else 'stored, status ' + ','.join(hex(s) for s in a['statuses']))" "$answer")
  kill -0 "$relay_pid" 2>/dev/null || outcome="$outcome; THE PROXY DIED"
  label=$([[ $setup == proxy ]] && echo "dicomtap proxy (relays it, reports it)" || echo "dicomtap proxy --pseudonymize")
  printf '%-40s %-44s %14s\n' "$label" "$outcome" "$(peak_mb "$relay_pid")"
  stop_relay "$relay_pid"
done

fi

# --- 3. C-FIND latency with the peers as they are
if runs 3; then
"$PY" "$peer" --lifetime 3600 scp --until-killed > "$work/scp.out" 2>"$work/scp.err" </dev/null &
pids+=($!)
scp_find_port=$(first_line "$work/scp.out")
qr=$work/qr
mkdir -p "$qr/db"
qr_port=$(free_port)
cat > "$qr/dcmqrscp.cfg" <<CFG
NetworkTCPPort  = $qr_port
MaxPDUSize      = 16384
MaxAssociations = 16
HostTable BEGIN
HostTable END
VendorTable BEGIN
VendorTable END
AETable BEGIN
DCMQRSCP  $qr/db  RW (200, 1024mb)  ANY
AETable END
CFG
/usr/bin/dcmqrscp -c "$qr/dcmqrscp.cfg" >/dev/null 2>&1 &
pids+=($!)
wait_port "$qr_port"
/usr/bin/storescu -aec DCMQRSCP 127.0.0.1 "$qr_port" "$image" >/dev/null 2>&1
pynetdicom_ms() {  # $1 = port: median ms per query
  "$PY" "$peer" --lifetime 600 findbench "$1" --count "$queries" --default-socket \
    | "$PY" -c 'import json,sys; r=json.load(sys.stdin); print("%.2f" % r["median_ms"])'
}
findscu_ms() {  # $1 = port: ms per query, findscu --repeat on one association
  local start end
  start=$(date +%s.%N)
  /usr/bin/findscu -P -aec DCMQRSCP --repeat "$queries" -k QueryRetrieveLevel=PATIENT -k PatientName= -k PatientID= \
    127.0.0.1 "$1" >/dev/null 2>&1 || { echo "findscu failed" >&2; exit 1; }
  end=$(date +%s.%N)
  "$PY" -c "print(f'{($end - $start) * 1000 / $queries:.2f}')"
}
echo
echo "3. C-FIND latency, $queries queries on one association, peers as they are (Nagle on, delayed ACKs)"
printf '%-40s %22s %22s\n' setup "pynetdicom ms/query" "DCMTK findscu ms/query"
direct_py=""; direct_dcmtk=""
for setup in direct socat proxy; do
  case $setup in
    direct) py_port=$scp_find_port; qr_relay=$qr_port; label="direct"; rp=(); ;;
    *)
      start_relay "$setup" "$scp_find_port"; py_port=$relay_port; rp=("$relay_pid")
      start_relay "$setup" "$qr_port"; qr_relay=$relay_port; rp+=("$relay_pid")
      label=$([[ $setup == socat ]] && echo "socat (TCP relay)" || echo "dicomtap proxy") ;;
  esac
  py=$(pynetdicom_ms "$py_port")
  dc=$(findscu_ms "$qr_relay")
  if [[ $setup == direct ]]; then direct_py=$py; direct_dcmtk=$dc; fi
  py_ratio=$("$PY" -c "print(f'({$direct_py / $py:.1f}x direct)')")
  dc_ratio=$("$PY" -c "print(f'({$direct_dcmtk / $dc:.1f}x direct)')")
  printf '%-40s %10s %11s %10s %11s\n' "$label" "$py" "$py_ratio" "$dc" "$dc_ratio"
  for p in "${rp[@]}"; do stop_relay "$p"; done
done
fi

# --- 4. DICOM over TLS beside stunnel4
if runs 4; then
tls=$work/tls
mkdir -p "$tls"
(
  cd "$tls"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj "/CN=bench CA" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=localhost" \
    -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" 2>/dev/null
  openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -copy_extensions copy \
    -out server.crt 2>/dev/null
)
tls_store_port=$(free_port)
/usr/bin/storescp --ignore --max-pdu 131072 +tls "$tls/server.key" "$tls/server.crt" -ic "$tls_store_port" >"$work/storescp-tls.out" 2>&1 &
pids+=($!)
wait_port "$tls_store_port"
# DCMTK's TLS SCU: no certificate of its own (+tla), trusting the bench CA.
tls_store_mbps() {  # $1 = port: COPIES C-STOREs over TLS on one association
  local start end
  start=$(date +%s.%N)
  /usr/bin/storescu --max-pdu 131072 +tla +cf "$tls/ca.crt" 127.0.0.1 "$1" "${files[@]}" >/dev/null 2>&1 \
    || { echo "storescu over TLS failed" >&2; exit 1; }
  end=$(date +%s.%N)
  "$PY" -c "print(f'{$size * $copies / 1e6 / ($end - $start):8.1f}')"
}
# stunnel4 in the foreground, one process per setup. $1 = mode (tls-tls, plain-tls, tls-plain), $2 = upstream port.
start_stunnel() {
  local mode=$1 upstream=$2 port inner conf
  port=$(free_port); inner=$(free_port); conf=$work/stunnel-$port.conf
  {
    echo "foreground = yes"; echo "pid ="; echo "debug = 3"
    echo "socket = l:TCP_NODELAY=1"; echo "socket = r:TCP_NODELAY=1"
    case $mode in
      tls-tls) printf '[in]\naccept = 127.0.0.1:%s\nconnect = 127.0.0.1:%s\ncert = %s\nkey = %s\n' "$port" "$inner" "$tls/server.crt" "$tls/server.key"
               printf '[out]\nclient = yes\naccept = 127.0.0.1:%s\nconnect = 127.0.0.1:%s\nCAfile = %s\nverifyChain = yes\n' "$inner" "$upstream" "$tls/ca.crt" ;;
      plain-tls) printf '[out]\nclient = yes\naccept = 127.0.0.1:%s\nconnect = 127.0.0.1:%s\nCAfile = %s\nverifyChain = yes\n' "$port" "$upstream" "$tls/ca.crt" ;;
      tls-plain) printf '[in]\naccept = 127.0.0.1:%s\nconnect = 127.0.0.1:%s\ncert = %s\nkey = %s\n' "$port" "$upstream" "$tls/server.crt" "$tls/server.key" ;;
    esac
  } > "$conf"
  /usr/bin/stunnel4 "$conf" >"$work/stunnel-$port.out" 2>&1 &
  relay_pid=$!
  pids+=("$relay_pid")
  wait_listening "$port"
  relay_port=$port
}
proxy_tls=(--tls-cert "$tls/server.crt" --tls-key "$tls/server.key")
upstream_tls=(--upstream-tls --upstream-tls-ca "$tls/ca.crt")
start_tls_proxy() {  # $1 = mode, $2 = upstream port: sets relay_port and relay_pid
  local mode=$1 upstream=$2 port args
  port=$(free_port)
  case $mode in
    tls-tls) args=(--tls-listen "127.0.0.1:$port" "${proxy_tls[@]}" --upstream "127.0.0.1:$upstream" "${upstream_tls[@]}") ;;
    plain-tls) args=(--listen "127.0.0.1:$port" --upstream "127.0.0.1:$upstream" "${upstream_tls[@]}") ;;
    tls-plain) args=(--tls-listen "127.0.0.1:$port" "${proxy_tls[@]}" --upstream "127.0.0.1:$upstream") ;;
  esac
  "$DICOMTAP" proxy "${args[@]}" >"$work/proxy-$port.out" 2>&1 &
  relay_pid=$!
  pids+=("$relay_pid")
  wait_port "$port"
  relay_port=$port
}
echo
echo "4. DICOM over TLS: $copies C-STOREs of $(( size / 1000000 )) MB ($(( size * copies / 1000000 )) MB) on one association"
echo "   (storescu [+tls] -> bridge -> storescp +tls --ignore, max PDU 131072); peak RSS of the bridge"
printf '%-44s %14s %14s %12s\n' setup "C-STORE MB/s" "peak RSS MB" "vs stunnel"
direct_tls=$(tls_store_mbps "$tls_store_port")
printf '%-44s %14s %14s %12s\n' "direct, TLS (storescu +tls -> storescp +tls)" "$direct_tls" "-" ""
for mode in tls-tls plain-tls; do
  stunnel_mbps=""
  for bridge in stunnel proxy; do
    if [[ $bridge == stunnel ]]; then start_stunnel "$mode" "$tls_store_port"; else start_tls_proxy "$mode" "$tls_store_port"; fi
    if [[ $mode == tls-tls ]]; then mbps=$(tls_store_mbps "$relay_port"); else mbps=$(store_mbps "$relay_port"); fi
    peak=$(peak_mb "$relay_pid")
    [[ $bridge == stunnel ]] && stunnel_mbps=$mbps
    ratio=$([[ $bridge == proxy ]] && "$PY" -c "print(f'{$mbps / $stunnel_mbps:.2f}x')" || echo "")
    label="$([[ $bridge == stunnel ]] && echo "stunnel4" || echo "dicomtap proxy"), $([[ $mode == tls-tls ]] && echo "TLS to TLS" || echo "plain to TLS")"
    printf '%-44s %14s %14s %12s\n' "$label" "$mbps" "$peak" "$ratio"
    stop_relay "$relay_pid"
  done
done

# C-FIND latency added by TLS termination: our SCU over TLS -> terminator -> dicomtap serve (plain).
"$DICOMTAP" serve --port 0 --host 127.0.0.1 --db "$work/rpi.sqlite" --import demo >"$work/serve.out" 2>&1 &
pids+=($!)
serve_port=$(wait_line "$work/serve.out" '^listening on' | sed -E 's/^listening on [^:]+:([0-9]+).*/\1/')
find_ms() {  # $1 = port, $2 = "tls" or "": median and p99 ms per C-FIND (QUERIES on one association, after a warm-up)
  local ca=()
  [[ $2 == tls ]] && ca=(env "DICOMTAP_BENCH_TLS_CA=$tls/ca.crt")
  "${ca[@]}" "$DICOMTAP_BENCH" rpi-load 127.0.0.1 "$1" 50 one PAT-0001 >/dev/null
  "${ca[@]}" "$DICOMTAP_BENCH" rpi-load 127.0.0.1 "$1" "$queries" one PAT-0001 \
    | sed -E 's/.*median ([0-9.]+) ms, p99 ([0-9.]+) ms.*/\1 \2/'
}
echo
echo "   C-FIND latency, $queries queries on one association (dicomtap-bench rpi-load -> terminator -> dicomtap serve)"
printf '%-44s %12s %12s %16s\n' setup "median ms" "p99 ms" "added, median"
read -r plain_median plain_p99 < <(find_ms "$serve_port" "")
printf '%-44s %12s %12s %16s\n' "direct, plain" "$plain_median" "$plain_p99" ""
for bridge in stunnel proxy; do
  if [[ $bridge == stunnel ]]; then start_stunnel tls-plain "$serve_port"; else start_tls_proxy tls-plain "$serve_port"; fi
  read -r median p99 < <(find_ms "$relay_port" tls)
  added=$("$PY" -c "print(f'{($median - $plain_median) * 1000:.0f} µs')")
  label="$([[ $bridge == stunnel ]] && echo "stunnel4" || echo "dicomtap proxy"), TLS terminated to plain"
  printf '%-44s %12s %12s %16s\n' "$label" "$median" "$p99" "$added"
  stop_relay "$relay_pid"
done
fi
