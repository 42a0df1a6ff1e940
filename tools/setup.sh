#!/usr/bin/env bash
# Installs what DICOMTap's build and tests need on a fresh Debian machine of this kind.
# Idempotent: installs only what is missing. Needs root (or sudo) for apt-get.
#
# Debian packages: zlib, libpcap and SQLite headers for the build; DCMTK and tshark as real peers in tests, and
# wireshark-common's dumpcap (which tshark depends on) to record DCMTK's C-MOVE and its sub-association on lo;
# socat as the plain TCP relay tools/bench_proxy.sh compares the proxy with; the sqlite3 shell for the tests that
# damage store files with another program than ours; python3, python3-venv and python3-pip for the Python peers;
# time (/usr/bin/time) for the peak memory the tests and benchmarks read; orthanc (1.10.1), the real PACS the
# end-to-end pseudonymization test stores to and queries through the proxy (the tests start their own instance on
# free ports; the Debian service is not used); chromium and fonts-dejavu-core, the headless browser that loads
# `analyze --format html` reports in the tests and tools/render_report.sh (with a font for its text); openssl, with
# which the TLS tests make their throwaway CA and certificates (never committed keys); stunnel4, the TLS bridge
# tools/bench_proxy.sh's TLS case compares the proxy with; postgresql, the server of the PostgreSQL mapping store's
# tests (tools/pg_test_cluster.sh starts a throwaway cluster; the Debian service is not used); haproxy, the TCP
# balancer in front of two proxies in the failover test (the test runs its own; the Debian service is not used).
# Python packages: pydicom 3.0.2 and pynetdicom 3.0.4 in a project virtual environment, .venv (ignored by git),
# made from Debian's /usr/bin/python3 whatever other python comes first on PATH (Debian's own python refuses
# `pip install` outside a virtual environment, PEP 668). The tests and tools/ use .venv/bin/python3.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

need=()
for pkg in zlib1g-dev libpcap-dev libsqlite3-dev sqlite3 dcmtk tshark wireshark-common socat python3 python3-venv python3-pip \
           time orthanc chromium fonts-dejavu-core openssl stunnel4 postgresql haproxy; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if ((${#need[@]})); then
  echo "setup: installing ${need[*]}"
  $SUDO apt-get update -qq
  # tshark asks whether non-root users may capture; answer no without a prompt.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# Python peers: pydicom (fixture generator, reference JSON) and pynetdicom (network peer), in .venv.
VENV=.venv
versions_ok() {
  "$VENV/bin/python3" -c 'import pydicom, pynetdicom, sys
sys.exit(0 if (pydicom.__version__, pynetdicom.__version__) == ("3.0.2", "3.0.4") else 1)' 2>/dev/null
}
if ! versions_ok; then
  if ! "$VENV/bin/python3" -m pip --version >/dev/null 2>&1; then
    echo "setup: creating the Python virtual environment $VENV (from /usr/bin/python3)"
    rm -rf "$VENV"
    /usr/bin/python3 -m venv "$VENV"
  fi
  echo "setup: installing pydicom 3.0.2 and pynetdicom 3.0.4 into $VENV"
  "$VENV/bin/python3" -m pip install -q --disable-pip-version-check pydicom==3.0.2 pynetdicom==3.0.4
  versions_ok || { echo "setup: $VENV/bin/python3 still lacks pydicom 3.0.2 / pynetdicom 3.0.4" >&2; exit 1; }
fi
