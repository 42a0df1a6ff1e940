#!/usr/bin/env bash
# Regenerates the expected `dicomtap analyze` outputs (golden files) for every sample capture.
# Review the diff before committing: the tests compare the analyzer's output with these files.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --product dicomtap >/dev/null
mkdir -p captures/expected
for f in captures/*.pcap captures/*.pcapng; do
  name=$(basename "$f")
  .build/debug/dicomtap analyze "$f" > "captures/expected/$name.txt" || true
  .build/debug/dicomtap analyze --format json "$f" > "captures/expected/$name.json" || true
done
ls captures/expected | wc -l
