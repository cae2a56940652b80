#!/usr/bin/env bash
# cluster/stop.sh: drains every node (SIGTERM), then stops the balancer.
source "$(dirname "$0")/lib.sh"
for pidfile in "$CLUSTER_DIR"/pids/n_*; do
  [ -f "$pidfile" ] || continue
  kill -TERM "$(cat "$pidfile")" 2>/dev/null || true
done
for pidfile in "$CLUSTER_DIR"/pids/n_*; do
  [ -f "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$pidfile"
done
[ -f "$CLUSTER_DIR/pids/balancer" ] && kill -TERM "$(cat "$CLUSTER_DIR/pids/balancer")" 2>/dev/null || true
rm -f "$CLUSTER_DIR/pids/balancer"
echo "stopped"
