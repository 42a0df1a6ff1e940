#!/usr/bin/env bash
# Installs what DICOMTap's build and tests need on a fresh Debian machine of this kind.
# Idempotent: installs only what is missing. Needs root (or sudo) for apt-get.
set -euo pipefail

SUDO=""
if [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

# Debian packages: zlib, libpcap and SQLite headers for the build; DCMTK and tshark as real peers in tests;
# socat as the plain TCP relay tools/bench_proxy.sh compares the proxy with; the sqlite3 shell for the tests that
# damage store files with another program than ours.
need=()
for pkg in zlib1g-dev libpcap-dev libsqlite3-dev sqlite3 dcmtk tshark socat; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if ((${#need[@]})); then
  echo "setup: installing ${need[*]}"
  $SUDO apt-get update -qq
  # tshark asks whether non-root users may capture; answer no without a prompt.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# Python peers: pydicom (fixture generator, reference JSON) and pynetdicom (network peer).
PY=${PYTHON:-python3}
if ! "$PY" -c 'import pydicom, pynetdicom, sys
sys.exit(0 if (pydicom.__version__, pynetdicom.__version__) == ("3.0.2", "3.0.4") else 1)' 2>/dev/null; then
  echo "setup: installing pydicom 3.0.2 and pynetdicom 3.0.4"
  "$PY" -m pip install -q --disable-pip-version-check --root-user-action=ignore pydicom==3.0.2 pynetdicom==3.0.4
fi
