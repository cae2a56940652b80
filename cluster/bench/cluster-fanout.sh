#!/usr/bin/env bash
# cluster/bench/cluster-fanout.sh: cross-node publish→deliver latency through the balancer, and
# WebSocket fan-out through the Tsunagu balancer vs HAProxy (tcp, roundrobin) in front of the
# same 3 nodes, in one run on this machine. Needs a release build and Debian's haproxy:
#   swift build -c release --scratch-path .build-release && apt-get install -y haproxy
# Output: one line per run (target, pass/fail, deliveries/s, acked posts/s, p50/p99) and the
# JSON reports in $OUT.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${BIN:-$(cd "$here/../.." && pwd)/.build-release/release}
export TSUNAGU=$bin/tsunagu
OUT=${OUT:-$(mktemp -d /tmp/tsunagu-bench.XXXXXX)}
mkdir -p "$OUT"
export TSUNAGU_CLUSTER_DIR=$OUT/cluster
PORT=${PORT:-20080}
HAPROXY_PORT=$((PORT + 10))
DURATION=${DURATION:-15}
trap '"$here/../stop.sh" >/dev/null 2>&1 || true; [ -f "$OUT/haproxy.pid" ] && kill "$(cat "$OUT/haproxy.pid")" 2>/dev/null || true' EXIT

"$here/../start.sh" 3 "$PORT" >"$OUT/start.log"
sleep 2
"$TSUNAGU" balance --store "$TSUNAGU_CLUSTER_DIR/tsunagu.sqlite" --master-key-file "$TSUNAGU_CLUSTER_DIR/master.key" \
  --listen "127.0.0.1:$HAPROXY_PORT" --emit-config haproxy |
  sed 's/maxconn 100000/maxconn 9000\n    nbthread 2/' >"$OUT/haproxy.cfg"   # 20,000 open files per process here
haproxy -f "$OUT/haproxy.cfg" -D -p "$OUT/haproxy.pid"
sleep 1

run() {  # run NAME PORT CONNECTIONS RATE
  "$bin/tsunagu-load" --port "$2" --email admin@cluster.test --password cluster-demo-password \
    --create-timelines 3 --connections "$3" --publishers 3 --rate "$4" --duration "$DURATION" --json --quiet \
    >"$OUT/$1.json" 2>"$OUT/$1.err" || true
  python3 - "$OUT/$1.json" "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); l = d["latency_us"]["publish_to_deliver"]
print(f'{sys.argv[2]:28} {"passed" if d["passed"] else "FAILED":7} deliveries/s {d["deliveries_per_s"]:9.0f}  '
      f'acked/s {d["posts"]["per_s"]:6.1f}  p50 {l["p50"]/1000:8.1f} ms  p99 {l["p99"]/1000:8.1f} ms')
PY
}

run moderate-balancer "$PORT" 300 100
for round in 1 2; do
  run "fanout-balancer-$round" "$PORT" 1500 100
  run "fanout-haproxy-$round" "$HAPROXY_PORT" 1500 100
done
for round in 1 2; do
  run "saturated-balancer-$round" "$PORT" 1500 300
  run "saturated-haproxy-$round" "$HAPROXY_PORT" 1500 300
done
echo "reports in $OUT"
