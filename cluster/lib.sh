# Shared by the cluster scripts: where the store, key, logs and pid files live.
# TSUNAGU_CLUSTER_DIR (default ./tsunagu-cluster) holds tsunagu.sqlite, master.key, logs/ and pids/.
# TSUNAGU_STORE names another store for every command (a path, or a postgres:// URL where the
# build supports one); the master key stays in TSUNAGU_CLUSTER_DIR.
set -euo pipefail
CLUSTER_DIR=${TSUNAGU_CLUSTER_DIR:-./tsunagu-cluster}
TSUNAGU=${TSUNAGU:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && swift build --show-bin-path)/tsunagu}
# TSUNAGU_PEER_TLS_DIR (e.g. made by make-test-certs.sh DIR n_8081 n_8082 n_8083) turns on peer
# links over mutual TLS: each node gets DIR/peer-NODE_ID.pem/.key and DIR/cluster-ca.pem.
STORE=${TSUNAGU_STORE:-$CLUSTER_DIR/tsunagu.sqlite}
PEER_TLS_ARGS=()
if [ -n "${TSUNAGU_PEER_TLS_DIR:-}" ]; then
  PEER_TLS_ARGS=(--peer-tls-cert "$TSUNAGU_PEER_TLS_DIR/peer-{node}.pem" --peer-tls-key "$TSUNAGU_PEER_TLS_DIR/peer-{node}.key"
    --peer-tls-ca "$TSUNAGU_PEER_TLS_DIR/cluster-ca.pem")
fi
STORE_ARGS=(--store "$STORE" --master-key-file "$CLUSTER_DIR/master.key")
# Extra `serve` flags for every node, e.g. TSUNAGU_NODE_ARGS="--max-posts-per-user 0" for load
# runs that post as one user (docs/security.md, "Post rate").
read -r -a NODE_ARGS <<<"${TSUNAGU_NODE_ARGS:-}"
mkdir -p "$CLUSTER_DIR/logs" "$CLUSTER_DIR/pids"

# start_node PORT [NODE_ID]: a `tsunagu serve` in the background; waits until it listens.
start_node() {
  local port=$1 id=${2:-n_$1}
  "$TSUNAGU" serve "${STORE_ARGS[@]}" --listen "127.0.0.1:$port" --node-id "$id" ${PEER_TLS_ARGS[@]+"${PEER_TLS_ARGS[@]}"} ${NODE_ARGS[@]+"${NODE_ARGS[@]}"} \
    >"$CLUSTER_DIR/logs/$id.log" 2>&1 &
  echo $! >"$CLUSTER_DIR/pids/$id"
  for _ in $(seq 1 100); do
    grep -q "listening on" "$CLUSTER_DIR/logs/$id.log" 2>/dev/null && { echo "node $id on 127.0.0.1:$port (pid $(cat "$CLUSTER_DIR/pids/$id"))"; return 0; }
    sleep 0.1
  done
  echo "node $id did not start; see $CLUSTER_DIR/logs/$id.log" >&2
  return 1
}
