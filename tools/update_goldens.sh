#!/usr/bin/env bash
# Regenerates the expected `dicomtap analyze` outputs (golden files, captures/expected/) for every
# sample capture in captures/.
#
#   tools/update_goldens.sh           show what would change (diff -u per golden file), change nothing
#   tools/update_goldens.sh --write   the same, then replace the golden files that changed
#
# The new outputs are written to a temporary folder first. A run of analyze that fails (non-zero
# exit status) or prints nothing stops the script before any golden file is touched: a golden must
# never be a failed run. The goldens only pin the output; that it is right is checked against the
# reference reader and tshark (Tests/DICOMCaptureTests/ReferenceReaderTests.swift), so review the
# diff before accepting it.
#
# DICOMTAP=/path/to/dicomtap uses that executable; otherwise .build/debug/dicomtap, built first.
set -euo pipefail
cd "$(dirname "$0")/.."

write=0
for arg in "$@"; do
  case "$arg" in
    --write) write=1 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: tools/update_goldens.sh [--write]" >&2; exit 2 ;;
  esac
done

if [[ -n "${DICOMTAP:-}" ]]; then
  dicomtap=$DICOMTAP
else
  swift build --product dicomtap >/dev/null
  dicomtap=.build/debug/dicomtap
fi
if [[ ! -x "$dicomtap" ]]; then
  echo "error: $dicomtap is not an executable (build it, or set DICOMTAP)" >&2
  exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/dicomtap-goldens.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/expected"

shopt -s nullglob
captures=(captures/*.pcap captures/*.pcapng)
if (( ${#captures[@]} == 0 )); then
  echo "error: no captures in captures/" >&2
  exit 1
fi

failed=0
for f in "${captures[@]}"; do
  name=$(basename "$f")
  for format in text json; do
    ext=$([[ $format == json ]] && echo json || echo txt)
    out="$tmp/expected/$name.$ext"
    status=0
    "$dicomtap" analyze --format "$format" "$f" >"$out" 2>"$tmp/stderr" || status=$?
    if (( status != 0 )); then
      echo "error: dicomtap analyze --format $format $f exited with status $status:" >&2
      sed 's/^/  /' "$tmp/stderr" >&2
      failed=1
    elif [[ ! -s "$out" ]]; then
      echo "error: dicomtap analyze --format $format $f printed nothing" >&2
      failed=1
    fi
  done
done
if (( failed )); then
  echo "No golden file was changed." >&2
  exit 1
fi

changed=()
for new in "$tmp"/expected/*; do
  golden="captures/expected/$(basename "$new")"
  if [[ -f "$golden" ]]; then
    status=0
    diff -u --label "a/$golden" --label "b/$golden" "$golden" "$new" || status=$?
    if (( status == 1 )); then changed+=("$golden"); elif (( status > 1 )); then exit 1; fi
  else
    diff -u --label /dev/null --label "b/$golden" /dev/null "$new" || true
    changed+=("$golden")
  fi
done
# Goldens of captures that are gone.
stale=()
for golden in captures/expected/*; do
  [[ -e "$tmp/expected/$(basename "$golden")" ]] || stale+=("$golden")
done
for golden in "${stale[@]}"; do
  echo "note: $golden has no capture any more (remove it by hand if the capture was removed on purpose)"
done

total=$(( ${#captures[@]} * 2 ))
if (( ${#changed[@]} == 0 )); then
  echo "All $total golden files are up to date."
  exit 0
fi
if (( write )); then
  for golden in "${changed[@]}"; do
    cp "$tmp/expected/$(basename "$golden")" "$golden"
  done
  echo "Updated ${#changed[@]} of $total golden files:"
  printf '  %s\n' "${changed[@]}"
else
  echo "${#changed[@]} of $total golden files would change:"
  printf '  %s\n' "${changed[@]}"
  echo "Review the diff above; to accept it: tools/update_goldens.sh --write"
fi
