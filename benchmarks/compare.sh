#!/usr/bin/env bash
# Regression check between two commits, e.g.  benchmarks/compare.sh main HEAD --factor 1.5
# Exits 1 when a benchmark is more than FACTOR times worse on HEAD; see compare.py.
set -euo pipefail
exec python "$(dirname "$0")/compare.py" "$@"
