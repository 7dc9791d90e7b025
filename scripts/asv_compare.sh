#!/usr/bin/env bash
# Regression check between two commits, e.g.  scripts/asv_compare.sh main HEAD --factor 1.5
# Exits 1 when a benchmark is more than FACTOR times worse on HEAD; see asv_compare.py.
set -euo pipefail
exec python "$(dirname "$0")/asv_compare.py" "$@"
