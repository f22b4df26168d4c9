# Shared by the bench shell scripts (source it): wrk runs by the rules of ../shared/bench.
#   measure NAME URL QUERY  a warm-up run (WARMUP), then a measured one (DURATION) with
#                           wrk -t2 -c100; prints "NAME QUERY req/s p50=.. p99=.."
#   wait_port PORT          wait (up to 10 s) until something listens on 127.0.0.1:PORT
#   config_port CONFIG      the port a config's @server asks for (where a peer listens)
DURATION="${DURATION:-10s}"
WARMUP="${WARMUP:-4s}"

measure() {  # NAME URL QUERY
  QUERY="$3" wrk -t2 -c100 -d"$WARMUP" -s "$SHARED/bench/post.lua" "$2" > /dev/null 2>&1
  QUERY="$3" wrk -t2 -c100 -d"$DURATION" --latency -s "$SHARED/bench/post.lua" "$2" 2>&1 |
    awk -v name="$1" -v q="$3" '/Requests\/sec/{r=$2} /^ +50%/{p50=$2} /^ +99%/{p99=$2}
      /Non-2xx/{bad=" (" $0 ")"} END{printf "%s %s %s p50=%s p99=%s%s\n", name, q, r, p50, p99, bad}'
}

config_port() {  # CONFIG
  python3 -c "import plait,sys; print(plait.load_config(sys.argv[1]).server.port)" "$1"
}

wait_port() {  # PORT
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2
  return 1
}
