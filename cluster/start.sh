#!/usr/bin/env bash
# cluster/start.sh [NODES] [PORT]: a balancer on PORT (default 8080) and NODES (default 3) nodes on
# PORT+1…, over one store in $TSUNAGU_CLUSTER_DIR (created with a demo admin on first use).
source "$(dirname "$0")/lib.sh"
nodes=${1:-3}
port=${2:-8080}
if [ ! -f "$CLUSTER_DIR/master.key" ]; then  # a new cluster: its store gets the demo admin
  password=${TSUNAGU_ADMIN_PASSWORD:-cluster-demo-password}
  echo "$password" | "$TSUNAGU" admin bootstrap "${STORE_ARGS[@]}" --org "Cluster Demo" \
    --email admin@cluster.test --password-stdin
  echo "admin: admin@cluster.test / $password"
fi
for i in $(seq 1 "$nodes"); do start_node $((port + i)); done
"$TSUNAGU" balance "${STORE_ARGS[@]}" --listen "127.0.0.1:$port" >"$CLUSTER_DIR/logs/balancer.log" 2>&1 &
echo $! >"$CLUSTER_DIR/pids/balancer"
echo "balancer on 127.0.0.1:$port (pid $!)"
