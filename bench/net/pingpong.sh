#!/usr/bin/env bash
# Ping-pong throughput: Sluice's echo-server (1 thread) against small echo
# servers written on libuv and libevent, 16 KiB messages, server pinned to
# CPU 1 and client to CPU 0. Servers alternate within each run (A B C A B C).
# Prints a markdown table of medians (min-max) over RUNS runs.
#   bench/net/pingpong.sh [BUILD_DIR=build/bench] [SECONDS=4] [RUNS=3] [CONNS="1 100 1000 10000"]
set -euo pipefail
BUILD=${1:-build/bench}
SECS=${2:-4}
RUNS=${3:-3}
CONNS=${4:-"1 100 1000 10000"}
BIN=$BUILD/bin
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_server() {  # name port -> pid
  case $1 in
    sluice) taskset -c 1 "$BIN/echo-server" --listen "127.0.0.1:$2" --threads 1 >/dev/null & ;;
    libuv) taskset -c 1 "$BIN/uv-echo-server" "$2" >/dev/null & ;;
    libevent) taskset -c 1 "$BIN/event-echo-server" "$2" >/dev/null & ;;
  esac
  local pid=$!
  for _ in $(seq 100); do
    if ss -ltn "( sport = :$2 )" | grep -q LISTEN; then break; fi
    sleep 0.02
  done
  echo "$pid"
}

servers="sluice"
[[ -x $BIN/uv-echo-server ]] && servers="$servers libuv"
[[ -x $BIN/event-echo-server ]] && servers="$servers libevent"

for c in $CONNS; do
  for run in $(seq "$RUNS"); do
    for s in $servers; do
      port=$(free_port)
      pid=$(start_server "$s" "$port")
      line=$(taskset -c 0 "$BIN/pingpong-client" "$port" "$c" "$SECS" 16384 "$pid" || echo "connections=$c mib_per_s=0 errors=1")
      kill -TERM "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      echo "$s $line" | tee -a "$OUT" >&2
    done
  done
done

python3 - "$OUT" <<'PY'
import collections, re, statistics, sys
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    name, rest = line.split(" ", 1)
    kv = dict(re.findall(r"(\w+)=([\d.]+)", rest))
    rows[(int(kv["connections"]), name)].append(
        (float(kv["mib_per_s"]), float(kv.get("server_cpu_us_per_mib", "nan")), int(kv["errors"])))
def med(v): return statistics.median(v)
print("| connections | server | MiB/s median (min-max) | server CPU us/MiB median | errors | Sluice / best peer |")
print("|---:|---|---:|---:|---:|---:|")
for c in sorted({k[0] for k in rows}):
    names = [n for (cc, n) in rows if cc == c]
    peers = [med([r[0] for r in rows[(c, n)]]) for n in names if n != "sluice"]
    for n in ["sluice", "libuv", "libevent"]:
        if (c, n) not in rows: continue
        rs = rows[(c, n)]
        tp = [r[0] for r in rs]
        ratio = ""
        if n == "sluice" and peers:
            ratio = "%.2fx" % (med(tp) / max(peers))
        print("| %d | %s | %.0f (%.0f-%.0f) | %.0f | %d | %s |" % (
            c, n, med(tp), min(tp), max(tp), med([r[1] for r in rs]), sum(r[2] for r in rs), ratio))
PY
