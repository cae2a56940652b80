#!/usr/bin/env bash
# LoadTests/bench/hub.sh: the hub's own targets of docs/benchmarks.md ("Hub targets"), each a
# bounded run of tsunagu-load against fresh release-build nodes on loopback. One JSON line per
# test on stdout (and in $OUT/hub.jsonl); logs and full reports in $OUT.
#
#   swift build -c release --scratch-path .build-release   (at the repository root)
#   LoadTests/bench/hub.sh                 # TESTS="handshakes posts fanout5k fanout15k idle"
#
# handshakes  connections/s (WebSocket upgrade + auth + subscribe) on one node, and on 3 nodes
# posts       acknowledged durable posts/s, 3 nodes on one store (group commit, synchronous=FULL)
# fanout1k    1,000 subscribers of one timeline, 10 posts/s, on 1 node and across 3 nodes (the
#             publisher on one, subscribers round robin): publish→deliver p50/p99
# fanout5k    5,000 subscribers of one timeline, 10 msg/s: publish→deliver p99
# fanout15k   15,000 subscribers of one timeline, one message per second: p99
# idle        node RSS per idle authenticated, subscribed connection (15,000 connections)
# pgbench     (STORE=postgres only) PostgreSQL's own durable-commit baseline on the same server
#
# STORE=postgres runs the nodes on a throwaway PostgreSQL server (initdb under $OUT/pg as the
# postgres user, fsync=on, synchronous_commit=on, loopback port PGPORT) instead of one SQLite file:
#   STORE=postgres TESTS="posts pgbench" LoadTests/bench/hub.sh
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
B=${B:-$ROOT/.build-release/release}
OUT=${OUT:-$HERE/run/hub}; mkdir -p "$OUT"; : > "$OUT/hub.jsonl"
TESTS=${TESTS:-"handshakes posts fanout5k fanout15k idle"}
PW=cluster-demo-password; EMAIL=admin@bench.test; BASE=9500
ulimit -n 20000
log() { echo "[$(date +%T)] $*" >&2; }
has() { [[ " $TESTS " == *" $1 "* ]]; }
NODE_PIDS=()
STORE=${STORE:-sqlite}; PGPORT=${PGPORT:-9499}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
as_postgres() { if [ "$(id -u)" = 0 ]; then setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; else "$@"; fi; }

# start_postgres: a fresh server under $OUT/pg on PGPORT (stopped by stop_postgres).
start_postgres() {
  stop_postgres; rm -rf "$OUT/pg"; mkdir -p "$OUT/pg"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$OUT/pg"
  as_postgres "$PGBIN/initdb" -D "$OUT/pg/data" -U postgres -A trust -E UTF8 >/dev/null
  as_postgres "$PGBIN/pg_ctl" -D "$OUT/pg/data" -l "$OUT/pg/server.log" -w start -o \
    "-p $PGPORT -k $OUT/pg -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on -c max_connections=300" >/dev/null
}
stop_postgres() { [ -f "$OUT/pg/data/postmaster.pid" ] && as_postgres "$PGBIN/pg_ctl" -D "$OUT/pg/data" -m fast -w stop >/dev/null; true; }

# start_nodes N: a fresh store and N nodes on BASE+1…; sets TOKEN (an admin session).
start_nodes() {
  stop_nodes; rm -rf "$OUT/store"; mkdir -p "$OUT/store"
  local store=(--store "$OUT/store/t.sqlite" --master-key-file "$OUT/store/k.key")
  if [ "$STORE" = postgres ]; then
    start_postgres
    "$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres hub
    store=(--store "postgres://postgres@127.0.0.1:$PGPORT/hub" --master-key-file "$OUT/store/k.key")
  fi
  echo "$PW" | "$B/tsunagu" admin bootstrap "${store[@]}" --org Bench --email $EMAIL --password-stdin >/dev/null 2>&1
  for i in $(seq 1 "$1"); do
    # In $OUT: a node without SMTP writes its mail under ./outbox.
    (cd "$OUT" && exec "$B/tsunagu" serve "${store[@]}" --listen 127.0.0.1:$((BASE + i)) --node-id n_$((BASE + i)) \
      --max-posts-per-user 0 >"$OUT/node$i.log" 2>&1) &
    NODE_PIDS+=($!)
  done
  for i in $(seq 1 "$1"); do
    for _ in $(seq 1 100); do curl -sf 127.0.0.1:$((BASE + i))/readyz >/dev/null && break; sleep 0.1; done
  done
  TOKEN=$(curl -sf -XPOST 127.0.0.1:$((BASE + 1))/v1/sessions -d "{\"email\":\"$EMAIL\",\"password\":\"$PW\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
}
stop_nodes() { for p in "${NODE_PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait "${NODE_PIDS[@]}" 2>/dev/null; NODE_PIDS=(); }
trap 'stop_nodes; stop_postgres' EXIT
cpu_ticks() { local t=0; for p in "${NODE_PIDS[@]}"; do t=$((t + $(awk '{print $14+$15}' /proc/$p/stat))); done; echo $t; }
# PostgreSQL's CPU (the postmaster and its backends), 0 on SQLite. A backend that exits during a
# run takes its ticks with it; the nodes' connections live through every run.
store_ticks() {
  local pm t=0; pm=$(head -1 "$OUT/pg/data/postmaster.pid" 2>/dev/null) || { echo 0; return; }
  for p in "$pm" $(pgrep -P "$pm"); do t=$((t + $(awk '{print $14+$15}' /proc/$p/stat 2>/dev/null || echo 0))); done
  echo $t
}
rss_kb() { awk '/^VmRSS/{print $2}' /proc/$1/status; }

# load NAME [tsunagu-load flags…]: runs it with the session token, keeps the report, prints a line.
load() {
  local name=$1; shift
  local c0 s0; c0=$(cpu_ticks); s0=$(store_ticks)
  timeout 300 "$B/tsunagu-load" --token="$TOKEN" --json --quiet --plot "$OUT/$name.html" "$@" \
    >"$OUT/$name.json" 2>"$OUT/$name.log"
  local c1 s1; c1=$(cpu_ticks); s1=$(store_ticks)
  python3 - "$OUT/$name.json" "$name" $((c1 - c0)) $((s1 - s0)) <<'EOF' | tee -a "$OUT/hub.jsonl"
import json, sys
path, name, ticks, store_ticks = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
try:
    r = json.load(open(path))
except Exception as e:
    print(json.dumps(dict(test=name, error=f"no report: {e}"))); sys.exit()
lat = r["latency_us"]
ms = lambda h, p: round(h.get(p, 0) / 1e3, 2)
conns = r["connections"]
print(json.dumps(dict(
    test=name, passed=r["passed"], loss_check=r["loss_check"]["passed"],
    connections=conns["subscribed"], connect_s=conns["connect_s"],
    connections_per_s=round(conns["subscribed"] / conns["connect_s"], 1) if conns["connect_s"] else None,
    connect_auth_p50_ms=ms(lat["connect_and_auth"], "p50"), connect_auth_p99_ms=ms(lat["connect_and_auth"], "p99"),
    posts_acked=r["posts"]["acked"], posts_per_s=r["posts"]["per_s"],
    post_ack_p50_ms=ms(lat["post_to_ack"], "p50"), post_ack_p99_ms=ms(lat["post_to_ack"], "p99"),
    deliveries=r["deliveries"], deliveries_per_s=r["deliveries_per_s"],
    deliver_p50_ms=ms(lat["publish_to_deliver"], "p50"), deliver_p99_ms=ms(lat["publish_to_deliver"], "p99"),
    deliver_max_ms=ms(lat["publish_to_deliver"], "max"),
    server_cpu_s=ticks / 100,
    server_cpu_us_per_delivery=round(ticks / 100 / r["deliveries"] * 1e6, 2) if r["deliveries"] else None,
    store_cpu_s=store_ticks / 100)))
EOF
}

# Connections come from 4 source addresses: with every connect from 127.0.0.1 to one node port,
# the kernel's search for a free ephemeral port (__inet_hash_connect) took a third of the load
# client's CPU on this machine, CPU the node then did not get.
SOURCES=127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5
if has handshakes; then
  log "handshakes: 1 node, 15,000 connections as fast as they come"
  start_nodes 1
  load handshakes-1node --port $((BASE + 1)) --create-timelines 10 --connections 15000 --ramp 50000 \
    --publishers 0 --rate 0 --duration 1 --processes 2 --source-addresses $SOURCES
  log "handshakes: 3 nodes (connections round robin over their ports), 30,000 connections"
  start_nodes 3
  load handshakes-3nodes --ports $((BASE + 1))-$((BASE + 3)) --create-timelines 10 --connections 30000 --ramp 50000 \
    --publishers 0 --rate 0 --duration 1 --processes 3 --source-addresses $SOURCES
fi
if has posts; then
  log "posts: 3 nodes on one store, 48 publishers with 16 posts in flight each, 20 s"
  start_nodes 3
  load posts-3nodes --ports $((BASE + 1))-$((BASE + 3)) --create-timelines 48 --connections 48 \
    --publishers 48 --window 16 --duration 20 --grace 10
  log "posts: 1 node, the same load"
  start_nodes 1
  load posts-1node --port $((BASE + 1)) --create-timelines 48 --connections 48 \
    --publishers 48 --window 16 --duration 20 --grace 10
fi
if has fanout5k; then
  log "fanout5k: 5,000 subscribers of one timeline, 10 msg/s for 30 s, one node"
  start_nodes 1
  load fanout5k --port $((BASE + 1)) --create-timelines 1 --connections 5000 --ramp 5000 \
    --publishers 1 --rate 10 --duration 30 --grace 10
fi
if has fanout1k; then
  log "fanout1k: 1,000 subscribers of one timeline, 10 posts/s for 30 s: on 1 node, then across 3 nodes"
  start_nodes 1
  load fanout1k-1node --port $((BASE + 1)) --create-timelines 1 --connections 1000 --ramp 5000 \
    --publishers 1 --rate 10 --duration 30 --grace 10
  start_nodes 3
  load fanout1k-3nodes --ports $((BASE + 1))-$((BASE + 3)) --create-timelines 1 --connections 1000 --ramp 5000 \
    --publishers 1 --rate 10 --duration 30 --grace 10
fi
if has fanout15k; then
  log "fanout15k: 15,000 subscribers of one timeline, 1 msg/s for 10 s, one node"
  start_nodes 1
  load fanout15k --port $((BASE + 1)) --create-timelines 1 --connections 15000 --ramp 5000 --processes 2 \
    --publishers 1 --rate 1 --duration 10 --grace 10
fi
if has idle; then
  # From several source addresses, as handshakes: one address may hold a quarter of a node's
  # connections (--max-connections-per-source, docs/security.md).
  log "idle: RSS of a fresh node before and with 15,000 idle subscribed connections"
  start_nodes 1
  sleep 1; r0=$(rss_kb "${NODE_PIDS[0]}")
  timeout 120 "$B/tsunagu-load" --token="$TOKEN" --port $((BASE + 1)) --create-timelines 1 --connections 15000 \
    --ramp 5000 --publishers 0 --rate 0 --duration 8 --processes 2 --source-addresses $SOURCES >"$OUT/idle.json" 2>"$OUT/idle.log" &
  lp=$!
  for _ in $(seq 1 240); do grep -q "^subscribed" "$OUT/idle.log" && break; sleep 0.5; done
  sleep 2; r1=$(rss_kb "${NODE_PIDS[0]}"); wait $lp
  echo "{\"test\":\"idle\",\"connections\":15000,\"rss0_kb\":$r0,\"rss1_kb\":$r1,\"kb_per_conn\":$(echo "scale=2;($r1-$r0)/15000" | bc)}" |
    tee -a "$OUT/hub.jsonl"
fi
if has pgbench && [ "$STORE" = postgres ]; then
  log "pgbench: PostgreSQL's own durable commits/s on the same server, 48 clients, 20 s"
  stop_nodes; start_postgres
  "$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres bench
  "$PGBIN/pgbench" -h 127.0.0.1 -p "$PGPORT" -U postgres -i -s 10 -q bench >/dev/null 2>&1
  # -N: the simple-update transaction (three statements and a commit), the closest to one post.
  "$PGBIN/pgbench" -h 127.0.0.1 -p "$PGPORT" -U postgres -N -c 48 -j 2 -T 20 bench >"$OUT/pgbench.log" 2>&1
  tps=$(awk '/^tps/ {print $3; exit}' "$OUT/pgbench.log")
  echo "{\"test\":\"pgbench\",\"store\":\"postgres\",\"tps\":${tps:-null}}" | tee -a "$OUT/hub.jsonl"
fi
stop_nodes
