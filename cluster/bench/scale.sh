#!/usr/bin/env bash
# cluster/bench/scale.sh: many connections across several nodes behind several balancer
# processes on this machine, and the reconnect storm. See docs/benchmarks.md ("Scale").
#
#   MODE=hold  cluster/bench/scale.sh   # CONNECTIONS (default 100000) held across NODES nodes
#   MODE=storm cluster/bench/scale.sh   # kill -9 one node (about 1/NODES of the clients) while
#                                       # posts go on; everyone must be back, nothing missing
#
# 25 processes share two cores here, so nodes and balancers run one event loop each.
# About 14,000 connections from one source address to one node address were possible here, so
# the balancers spread their node connections over 4 source addresses (--source-addresses).
# Why several balancer processes and load workers: one process may hold at most 20,000 open
# files here, a balancer holds two per client, and one (source, target) address pair has about
# 28,000 ephemeral ports. So: BALANCERS balancer processes on consecutive ports, the load tool's
# subscribers in PROCESSES worker processes, spread over those ports and 4 source addresses.
#
# DIRECT=1 connects straight to the nodes (to tell balancer limits from node limits).
# env: NODES=6 BALANCERS=12 PROCESSES=7 CONNECTIONS TIMELINES=100 RAMP=1000 RATE=20 DURATION
#      KILL_AFTER=5 (storm: seconds after everyone subscribed) OUT=dir (reports, logs)
#      BIN=dir with release `tsunagu` and `tsunagu-load` (default .build-release/release)
# Loopback only; every phase is bounded; everything started is stopped on exit.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${BIN:-$ROOT/.build-release/release}
MODE=${MODE:-hold}
NODES=${NODES:-6}
BALANCERS=${BALANCERS:-12}
PROCESSES=${PROCESSES:-7}
TIMELINES=${TIMELINES:-100}
RAMP=${RAMP:-1000}
RATE=${RATE:-20}
KILL_AFTER=${KILL_AFTER:-5}
if [ "$MODE" = storm ]; then CONNECTIONS=${CONNECTIONS:-90000}; DURATION=${DURATION:-40}
else CONNECTIONS=${CONNECTIONS:-100000}; DURATION=${DURATION:-30}; fi
OUT=${OUT:-$ROOT/cluster/bench/run/scale-$MODE}
NODE_BASE=9300 BAL_BASE=9200
PASSWORD=cluster-demo-password EMAIL=admin@scale.test
rm -rf "$OUT"; mkdir -p "$OUT/logs"
ulimit -n 20000
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT
log() { echo "[$(date +%T)] $*" >&2; }
store=(--store "$OUT/tsunagu.sqlite" --master-key-file "$OUT/master.key")

echo "$PASSWORD" | "$BIN/tsunagu" admin bootstrap "${store[@]}" --org Scale --email $EMAIL --password-stdin >/dev/null
declare -A NODE_PID; BAL_PIDS=()
for i in $(seq 1 "$NODES"); do
  port=$((NODE_BASE + i))
  "$BIN/tsunagu" serve "${store[@]}" --listen 127.0.0.1:$port --admin-listen 127.0.0.1:$((port + 1000)) --node-id n_$port --event-loops 1 >"$OUT/logs/n_$port.log" 2>&1 &
  NODE_PID[$port]=$!; PIDS+=($!)
done
for i in $(seq 1 "$BALANCERS"); do
  "$BIN/tsunagu" balance "${store[@]}" --listen 127.0.0.1:$((BAL_BASE + i)) --event-loops 1 \
    --source-addresses 127.0.0.1,127.0.0.6,127.0.0.7,127.0.0.8 >"$OUT/logs/b_$i.log" 2>&1 &
  PIDS+=($!); BAL_PIDS+=($!)
done
for _ in $(seq 1 100); do
  up=0; for i in $(seq 1 "$NODES"); do curl -sf 127.0.0.1:$((NODE_BASE + i))/readyz >/dev/null && up=$((up + 1)); done
  [ $up = "$NODES" ] && curl -sf 127.0.0.1:$((BAL_BASE + BALANCERS))/readyz >/dev/null 2>&1 && break; sleep 0.2
done
log "$NODES nodes and $BALANCERS balancers up"
TOKEN=$(curl -sf -XPOST 127.0.0.1:$((NODE_BASE + 1))/v1/sessions -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')

# a node's open connections, from its admin listener (client port + 1000)
connections_of() { curl -sf --max-time 2 127.0.0.1:$(($1 + 1000))/metrics | awk '/^tsunagu_websocket_connections /{print int($2)}'; }
rss_of() { awk '/^VmRSS/{print $2}' /proc/$1/status 2>/dev/null; }
node_rss_before=0; for p in "${NODE_PID[@]}"; do node_rss_before=$((node_rss_before + $(rss_of $p))); done

extra=(); [ "$MODE" = storm ] && extra=(--reconnect)
targets=$((BAL_BASE + 1))-$((BAL_BASE + BALANCERS))
[ -n "${DIRECT:-}" ] && targets=$((NODE_BASE + 1))-$((NODE_BASE + NODES))  # bypass the balancers (diagnosis)
"$BIN/tsunagu-load" --ports $targets --token="$TOKEN" \
  --source-addresses 127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5 --processes "$PROCESSES" \
  --create-timelines "$TIMELINES" --connections "$CONNECTIONS" --ramp "$RAMP" \
  --publishers 2 --rate "$RATE" --duration "$DURATION" --grace 30 "${extra[@]}" \
  --json --plot "$OUT/latency.html" >"$OUT/report.json" 2>"$OUT/load.log" &
LOAD=$!; PIDS+=($LOAD)

# Wait until every subscriber is connected (the nodes' gauges add up), at most 300 s.
start=$(date +%s.%N); total=0; most=0
for _ in $(seq 1 600); do
  total=0; for i in $(seq 1 "$NODES"); do total=$((total + $(connections_of $((NODE_BASE + i)) || echo 0))); done
  [ "$total" -gt "$most" ] && most=$total
  [ "$total" -ge "$CONNECTIONS" ] && break
  kill -0 $LOAD 2>/dev/null || break
  sleep 0.5
done
held=$(python3 -c "print(round($(date +%s.%N) - $start, 1))")
fds() { for p in "$@"; do ls /proc/$p/fd 2>/dev/null | wc -l; done | tr '\n' ' '; }
log "open files: nodes $(fds "${NODE_PID[@]}")| balancers $(fds "${BAL_PIDS[@]}")| load $(fds $LOAD $(pgrep -P $LOAD))"
per_node=(); node_rss=0
for i in $(seq 1 "$NODES"); do port=$((NODE_BASE + i)); per_node+=("$(connections_of $port)"); node_rss=$((node_rss + $(rss_of ${NODE_PID[$port]}))); done
log "connected: $total in ${held}s (most seen: $most); per node: ${per_node[*]}; node RSS $((node_rss / 1024)) MiB"

killed=""; killed_conns=0
if [ "$MODE" = storm ]; then
  sleep "$KILL_AFTER"
  port=$((NODE_BASE + 1)); killed_conns=$(connections_of $port)
  kill -9 "${NODE_PID[$port]}"; killed=n_$port
  log "killed $killed holding $killed_conns connections"
  sleep 12
  per_after=(); for i in $(seq 2 "$NODES"); do per_after+=("$(connections_of $((NODE_BASE + i)))"); done
  log "12 s later, per surviving node: ${per_after[*]}"
fi
wait $LOAD; status=$?
python3 - "$OUT/report.json" "$MODE" "$total" "$held" "$node_rss" "$node_rss_before" "$killed_conns" "${per_node[*]}" <<'EOF'
import json, sys
path, mode, total, held, rss, rss0, killed, per_node = sys.argv[1:9]
r = json.load(open(path))
lat = r["latency_us"]
row = dict(mode=mode, passed=r["passed"], connections=int(total), connect_s=float(held),
           per_node=[int(x) for x in per_node.split() if x], node_rss_kb_per_conn=round((int(rss) - int(rss0)) / max(int(total), 1), 2),
           loss_check=r["loss_check"], posts=r["posts"]["acked"], deliveries=r["deliveries"],
           publish_to_deliver_p50_ms=lat["publish_to_deliver"].get("p50", 0) / 1e3,
           publish_to_deliver_p99_ms=lat["publish_to_deliver"].get("p99", 0) / 1e3,
           connect_and_auth_p99_ms=lat["connect_and_auth"].get("p99", 0) / 1e3)
if mode == "storm":
    rc = r["reconnect"]
    row.update(killed_connections=int(killed), losses=rc["losses"], reconnects=rc["reconnects"],
               recovery_s=rc["recovery_s"], not_recovered=rc["not_recovered"],
               failed_attempts=rc["failed_attempts"], post_retries=rc["post_retries"],
               reconnect_p50_ms=lat.get("reconnect", {}).get("p50", 0) / 1e3,
               reconnect_p99_ms=lat.get("reconnect", {}).get("p99", 0) / 1e3)
print(json.dumps(row))
EOF
exit $status
