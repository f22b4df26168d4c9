#!/usr/bin/env bash
# Run the standard scenarios (bench/scenarios/standard.yml) and write bench/report/
# (report.json, report.md, latency.png). Extra options go to `plait bench`, e.g.
#   bash bench/run_standard.sh --duration 3s --warmup 1s
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
PLAIT="${PLAIT:-plait}"
command -v "$PLAIT" > /dev/null || PLAIT="python3 -m plait"
exec $PLAIT bench --scenario "$HERE/scenarios/standard.yml" "$@"
