#!/usr/bin/env bash
# cluster/drain-node.sh NODE_ID: zero-loss drain through the registry; returns when the node left.
source "$(dirname "$0")/lib.sh"
"$TSUNAGU" nodes drain "${STORE_ARGS[@]}" "$1"
rm -f "$CLUSTER_DIR/pids/$1"
