#!/usr/bin/env bash
# What this machine allows under the benchmark rules, measured with nginx (C) in place of
# a gateway, beside Tailcall and plait in one run:
#   * Q3 {greet}: nginx answering the same constant (`return 200`) with 1 and 2 workers:
#     the most any server answers here, and the p99 a multi-process server that never
#     yields the CPU shows while it shares the cores with wrk (a scheduler slice).
#   * config B Q2: nginx as a pure reverse proxy, POST /graphql -> GET /posts on the same
#     static upstream over keep-alive (no JSON work at all, a bigger answer): the most any
#     gateway that fetches /posts for every request answers here.
#   bench/ceilings.sh            (needs wrk, nginx and ../shared; about 2 minutes)
# Prints one line per contender: NAME QUERY req/s p50 p99.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
SHARED="${SHARED:-$HERE/../../shared}"
export UPSTREAM_DIR="${UPSTREAM_DIR:-/tmp/plait-upstream-3000}"  # nginx runs unprivileged
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
WORK="$(mktemp -d /tmp/plait-ceilings.XXXXXX)"
PORT=8002

bash "$SHARED/bench/upstream.sh" start 3000 > /dev/null
cleanup() {
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2> /dev/null || true
  bash "$SHARED/bench/upstream.sh" stop 3000 > /dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

nginx_with() {  # WORKERS LOCATION-BODY: serve POST /graphql on $PORT until the next call
  [ -f "$WORK/nginx.pid" ] && { kill "$(cat "$WORK/nginx.pid")"; sleep 0.5; }
  cat > "$WORK/nginx.conf" <<CONF
worker_processes $1;
pid $WORK/nginx.pid;
error_log $WORK/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  upstream posts { server 127.0.0.1:3000; keepalive 64; }
  server {
    listen 127.0.0.1:$PORT;
    location = /graphql { $2 }
  }
}
CONF
  nginx -c "$WORK/nginx.conf"
  wait_port "$PORT"
}

GREET='default_type application/json; return 200 "{\"data\":{\"greet\":\"Hello World!\"}}";'
PROXY='proxy_pass http://posts/posts; proxy_method GET; proxy_pass_request_body off;
  proxy_set_header Content-Length ""; proxy_http_version 1.1; proxy_set_header Connection "";'
URL="http://127.0.0.1:$PORT/graphql"
for w in 1 2; do
  nginx_with "$w" "$GREET"
  measure "nginx-constant-w$w" "$URL" '{greet}'
  nginx_with "$w" "$PROXY"
  measure "nginx-proxy-w$w" "$URL" '{posts{title}}'
done
kill "$(cat "$WORK/nginx.pid")"; rm -f "$WORK/nginx.pid"

run_server() {  # NAME PORT QUERY COMMAND...: start COMMAND, measure QUERY on PORT, stop
  local name="$1" port="$2" query="$3"
  shift 3
  "$@" > /dev/null 2>&1 &
  local pid=$!
  wait_port "$port"
  measure "$name" "http://127.0.0.1:$port/graphql" "$query"
  kill -TERM "$pid"; wait "$pid" 2> /dev/null || true
}

A="$HERE/scenarios/tailcall-bench.graphql"
B="$HERE/scenarios/tailcall-bench-b.graphql"
run_server tailcall-A "$(config_port "$A")" '{greet}' bash "$SHARED/peers/tailcall.sh" start "$A"
run_server tailcall-B "$(config_port "$B")" '{posts{title}}' \
  bash "$SHARED/peers/tailcall.sh" start "$B"
for w in 1 2; do
  run_server "plait-A-w$w" 8001 '{greet}' plait start "$A" --port 8001 --workers "$w"
  run_server "plait-B-w$w" 8001 '{posts{title}}' plait start "$B" --port 8001 --workers "$w"
done
