#!/usr/bin/env bash
# Memory per idle connection: RSS delta of the echo server (VmRSS from
# /proc/PID/status) after N connections that each made one request, divided
# by N. Connections come from 127.0.0.1..127.0.0.8 so 50,000 fit in the
# ephemeral port range. Needs RLIMIT_NOFILE (hard) above N for both sides.
#   bench/net/idle_memory.sh [BUILD_DIR=build/bench] [COUNTS="10000 50000"]
set -euo pipefail
BUILD=${1:-build/bench}
COUNTS=${2:-"10000 50000"}
BIN=$BUILD/bin
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hard=$(ulimit -Hn)

servers="sluice"
[[ -x $BIN/uv-echo-server ]] && servers="$servers libuv"
[[ -x $BIN/event-echo-server ]] && servers="$servers libevent"
echo "| server | idle connections | RSS before (KiB) | RSS after (KiB) | bytes per connection |"
echo "|---|---:|---:|---:|---:|"
for n in $COUNTS; do
  if [[ $hard != unlimited && $hard -lt $((n + 100)) ]]; then
    echo "| all | $n | - | - | skipped: hard RLIMIT_NOFILE is $hard |"
    continue
  fi
  for s in $servers; do
    port=$(free_port)
    case $s in
      sluice) "$BIN/echo-server" --listen "127.0.0.1:$port" --threads 1 >/dev/null & ;;
      libuv) "$BIN/uv-echo-server" "$port" >/dev/null & ;;
      libevent) "$BIN/event-echo-server" "$port" >/dev/null & ;;
    esac
    pid=$!
    for _ in $(seq 100); do ss -ltn "( sport = :$port )" | grep -q LISTEN && break; sleep 0.02; done
    # Warm up: one connection made and closed, so first-use allocations are
    # in the baseline.
    "$BIN/idle-client" "$port" 1 1 < /dev/null >/dev/null
    sleep 0.2
    before=$(rss_kib "$pid")
    coproc CLIENT { "$BIN/idle-client" "$port" "$n" 8; }
    read -r ready <&"${CLIENT[0]}"
    sleep 0.5
    after=$(rss_kib "$pid")
    exec {CLIENT[1]}>&-
    wait "$CLIENT_PID" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    echo "| $s | $n | $before | $after | $(( (after - before) * 1024 / n )) |"
  done
done
