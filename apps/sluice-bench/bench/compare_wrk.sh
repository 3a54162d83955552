#!/bin/sh
# sluice-bench vs wrk against nginx (docs/bench.md). Run as:
#   apps/sluice-bench/bench/compare_wrk.sh build/release/bin/sluice-bench [seconds] [runs] [cases]
# nginx 1 worker pinned to CPU 1, the load generator to CPU 0, A/B alternated.
# Prints one line per run: tool case req/s client-us/req server-us/req errors.
set -eu
BIN=$1
SECS=${2:-5}
RUNS=${3:-3}
CASES=${4:-"c100 c1000 p16"}
DIR=$(mktemp -d /tmp/sluice-bench-nginx.XXXXXX)
PORT=18081
cat > "$DIR/nginx.conf" <<CONF
worker_processes 1;
daemon on;
pid $DIR/nginx.pid;
error_log $DIR/error.log;
worker_rlimit_nofile 70000;
events { worker_connections 20000; }
http {
  access_log off;
  keepalive_requests 100000000;
  server {
    listen 127.0.0.1:$PORT backlog=65535;
    location / { return 200 "Hello, World!"; }
  }
}
CONF
# The pipelined wrk run: 16 copies of the request in one write.
cat > "$DIR/pipeline16.lua" <<'LUA'
init = function(args)
  local batch = {}
  for i = 1, 16 do batch[i] = wrk.format() end
  pipelined = table.concat(batch)
end
request = function() return pipelined end
LUA
nginx -c "$DIR/nginx.conf" -p "$DIR/"
trap 'kill $(cat "$DIR/nginx.pid") 2>/dev/null; rm -rf "$DIR"' EXIT
sleep 0.5
for p in $(pgrep -f "nginx.*$DIR" ; pgrep -P "$(cat "$DIR/nginx.pid")"); do taskset -pc 1 "$p" >/dev/null; done
WORKER=$(pgrep -P "$(cat "$DIR/nginx.pid")")
URL=http://127.0.0.1:$PORT/
ticks() { awk '{print $14 + $15}' "/proc/$WORKER/stat"; }
HZ=$(getconf CLK_TCK)

one() {  # tool case args...
  tool=$1; name=$2; shift 2
  t0=$(ticks)
  if [ "$tool" = wrk ]; then
    out=$( { /usr/bin/time -f "CPU %U %S" taskset -c 0 wrk "$@" "$URL"; } 2>&1 )
    rps=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    errs=$(echo "$out" | awk '/Socket errors|Non-2xx/ {print}' | tr '\n' ' ')
  else
    out=$( { /usr/bin/time -f "CPU %U %S" taskset -c 0 "$BIN" --no-progress "$@" "$URL"; } 2>&1 )
    rps=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
    reqs=$(echo "$out" | awk '/^Requests:/ {print $3}')
    errs=$(echo "$out" | awk '/^Errors:/ {print $3+$5+$7+$9+$11}')" non2xx=$(echo "$out" | awk '/^Status:/ {print $11}')"
  fi
  t1=$(ticks)
  cpu=$(echo "$out" | awk '/^CPU/ {print $2 + $3}')
  echo "$tool $name rps=$rps client_us_per_req=$(echo "$cpu $reqs" | awk '{printf "%.2f", $1 * 1e6 / $2}') server_us_per_req=$(echo "$t0 $t1 $HZ $reqs" | awk '{printf "%.2f", ($2 - $1) / $3 * 1e6 / $4}') errors=[$errs]"
}

# warm-up
taskset -c 0 wrk -t1 -c100 -d1s "$URL" >/dev/null
for case in $CASES; do
  case $case in
    c100) W="-t1 -c100 -d${SECS}s"; S="-t1 -c100 -d${SECS}s" ;;
    c1000) W="-t1 -c1000 -d${SECS}s"; S="-t1 -c1000 -d${SECS}s" ;;
    p16) W="-t1 -c256 -d${SECS}s -s $DIR/pipeline16.lua"; S="-t1 -c256 --pipeline 16 -d${SECS}s" ;;
  esac
  i=0
  while [ $i -lt "$RUNS" ]; do
    # shellcheck disable=SC2086
    one sluice-bench $case $S
    # shellcheck disable=SC2086
    one wrk $case $W
    i=$((i + 1))
  done
done
