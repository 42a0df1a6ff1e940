#!/usr/bin/env bash
# Renders `dicomtap analyze --format html` of captures and loads it in headless Chromium, as the tests
# (Tests/DICOMCaptureTests/HTMLReportTests.swift) and the README's screenshot do.
#
#   tools/render_report.sh [--width W] [--height H] [--png PATH] OUT_DIR CAPTURE...
#   tools/render_report.sh [--width W] [--height H] [--png PATH] --html PAGE OUT_DIR
#
# With --html, PAGE (an HTML report already written, e.g. by `dicomtap replay --format html`) is loaded instead
# of analyze's report of captures: it is copied to OUT_DIR/report.html and the rest is the same.
#
# Writes OUT_DIR/report.html (the report), OUT_DIR/report.dom.html (the DOM after Chromium loaded it and ran
# its script: what the tests read) and OUT_DIR/report.png (a W x H screenshot, default 1280 x 2000; --png puts
# it elsewhere), then prints one line: `png W H DISTINCT` where DISTINCT is how many different byte values the
# PNG's decompressed image data holds (a blank page has a handful; a report, hundreds).
#
# DICOMTAP=/path/to/dicomtap uses that executable (default .build/debug/dicomtap); CHROMIUM that browser
# (default: chromium on PATH; tools/setup.sh installs Debian's). Chromium runs with --no-sandbox (root in CI).
set -euo pipefail
width=1280
height=2000
png=""
page=""
while (( $# )); do
  case "$1" in
    --width) width=$2; shift 2 ;;
    --height) height=$2; shift 2 ;;
    --png) png=$2; shift 2 ;;
    --html) page=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) break ;;
  esac
done
if (( $# < (${#page} ? 1 : 2) )); then
  echo "usage: tools/render_report.sh [--width W] [--height H] [--png PATH] {OUT_DIR CAPTURE... | --html PAGE OUT_DIR}" >&2
  exit 2
fi
out=$1; shift
root=$(cd "$(dirname "$0")/.." && pwd)
dicomtap=${DICOMTAP:-$root/.build/debug/dicomtap}
chromium=${CHROMIUM:-$(command -v chromium || true)}
[[ -n "$page" || -x "$dicomtap" ]] || { echo "error: no dicomtap at $dicomtap (swift build, or set DICOMTAP)" >&2; exit 1; }
[[ -n "$chromium" ]] || { echo "error: no chromium on PATH (tools/setup.sh installs it, or set CHROMIUM)" >&2; exit 1; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
png=${png:-$out/report.png}
if [[ -n "$page" ]]; then
  [[ -s "$page" ]] || { echo "error: no page at $page" >&2; exit 1; }
  [[ "$(cd "$(dirname "$page")" && pwd)/$(basename "$page")" == "$out/report.html" ]] || cp "$page" "$out/report.html"
else
  "$dicomtap" analyze --format html "$@" >"$out/report.html"
fi

# A profile of its own per run: parallel runs do not share (or lock) one, and nothing is left in $HOME.
profile=$(mktemp -d "${TMPDIR:-/tmp}/dicomtap-chromium.XXXXXX")
trap 'rm -rf "$profile"' EXIT
browser=("$chromium" --headless --no-sandbox --disable-gpu --no-first-run --disable-extensions
         --user-data-dir="$profile" --hide-scrollbars --force-device-scale-factor=1)
"${browser[@]}" --dump-dom "file://$out/report.html" >"$out/report.dom.html" 2>"$out/chromium.log"
"${browser[@]}" --window-size="$width,$height" --screenshot="$png" "file://$out/report.html" >>"$out/chromium.log" 2>&1
[[ -s "$png" ]] || { echo "error: chromium wrote no screenshot (see $out/chromium.log)" >&2; exit 1; }

python3 - "$png" <<'PY'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, size = 8, b"", (0, 0)
while pos < len(data):
    length, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + length]
    if kind == b"IHDR":
        size = struct.unpack(">II", body[:8])
    elif kind == b"IDAT":
        idat += body
    pos += 12 + length
print("png", size[0], size[1], len(set(zlib.decompress(idat))))
PY
