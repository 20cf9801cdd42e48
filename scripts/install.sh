#!/usr/bin/env bash
# Install photoedit and what its tests use: Python packages (CPU torch pinned) and exiftool.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q -r requirements.txt
python3 -m pip install -q --no-deps -e .
# exiftool reads our XMP sidecars back in the tests (Debian: libimage-exiftool-perl).
if ! command -v exiftool >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -q && apt-get install -y -q libimage-exiftool-perl) >/dev/null 2>&1 \
      || echo "install.sh: could not install exiftool; XMP round-trip tests will be skipped" >&2
  else
    echo "install.sh: exiftool not found (sudo apt-get install libimage-exiftool-perl); XMP round-trip tests will be skipped" >&2
  fi
fi
