#!/usr/bin/env bash
# cluster/status.sh: the membership registry.
source "$(dirname "$0")/lib.sh"
"$TSUNAGU" nodes list "${STORE_ARGS[@]}" --all
