#!/usr/bin/env bash
# cluster/add-node.sh PORT [NODE_ID]: one more node; the balancer routes to it once it is active.
source "$(dirname "$0")/lib.sh"
start_node "$1" "${2:-n_$1}"
