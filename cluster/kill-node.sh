#!/usr/bin/env bash
# cluster/kill-node.sh NODE_ID [SIGNAL]: SIGKILL (a crash, the default) or SIGTERM (a drain).
source "$(dirname "$0")/lib.sh"
id=$1 signal=${2:-KILL}
kill "-$signal" "$(cat "$CLUSTER_DIR/pids/$id")" && rm -f "$CLUSTER_DIR/pids/$id"
echo "sent SIG$signal to $id"
