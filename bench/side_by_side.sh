#!/usr/bin/env bash
# Q1/Q2/Q3 under wrk against `plait start` and Tailcall 1.6.14, side by side, in one run.
#   bench/side_by_side.sh [CONFIG] [WORKERS...]
#     CONFIG   default bench/scenarios/tailcall-bench.graphql (config A; -b.graphql is B)
#     WORKERS  plait worker counts to measure (default: 1 2)
# Rules of ../shared/bench: wrk -t2 -c100, a warm-up run then a 10 s measured run, nginx
# static upstream on 127.0.0.1:3000 (../shared/bench/upstream.sh). Needs wrk, nginx and
# ../shared (the peer script); prints one line per contender and query:
#   NAME QUERY req/s p50 p99
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
SHARED="${SHARED:-$HERE/../../shared}"
CONFIG="${1:-$HERE/scenarios/tailcall-bench.graphql}"
shift || true
WORKERS=("${@:-1 2}")
[ ${#WORKERS[@]} -eq 1 ] && read -r -a WORKERS <<< "${WORKERS[0]}"
QUERIES=('{greet}' '{posts{title}}' '{posts{id userId title user{id name email}}}')
export UPSTREAM_DIR="${UPSTREAM_DIR:-/tmp/plait-upstream-3000}"  # nginx runs unprivileged
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

bash "$SHARED/bench/upstream.sh" start 3000 > /dev/null
trap 'bash "$SHARED/bench/upstream.sh" stop 3000 > /dev/null' EXIT

PEER_PORT="$(config_port "$CONFIG")"
bash "$SHARED/peers/tailcall.sh" start "$CONFIG" > /dev/null 2>&1 &
PEER=$!
wait_port "$PEER_PORT"
for q in "${QUERIES[@]}"; do measure tailcall "http://127.0.0.1:$PEER_PORT/graphql" "$q"; done
kill "$PEER"; wait "$PEER" 2> /dev/null || true

for w in "${WORKERS[@]}"; do
  plait start "$CONFIG" --port 8001 --workers "$w" > /dev/null 2>&1 &
  PLAIT=$!
  wait_port 8001
  for q in "${QUERIES[@]}"; do measure "plait-w$w" http://127.0.0.1:8001/graphql "$q"; done
  kill -TERM "$PLAIT"; wait "$PLAIT" 2> /dev/null || true
done
