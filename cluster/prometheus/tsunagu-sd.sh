#!/usr/bin/env bash
# Keeps Prometheus's file_sd target list in step with the Tsunagu membership registry
# (docs/operations.md, "What to watch"). Runs on a machine that can open the store and the key,
# next to Prometheus; rewrites the file atomically only when it changes.
#
#   cluster/prometheus/tsunagu-sd.sh [OUTPUT] [INTERVAL_SECONDS] -- [tsunagu flags: --store … --master-key-file …]
#
# Example: cluster/prometheus/tsunagu-sd.sh cluster/prometheus/targets/tsunagu-nodes.json 15 -- \
#            --store ./tsunagu-data/tsunagu.sqlite --master-key-file ./tsunagu-data/master.key
# With ONCE=1 it writes the file once and exits.
set -euo pipefail
output=${1:-"$(dirname "$0")/targets/tsunagu-nodes.json"}
interval=${2:-15}
shift $(( $# >= 2 ? 2 : $# ))
[[ "${1:-}" == "--" ]] && shift
tsunagu=${TSUNAGU:-tsunagu}
mkdir -p "$(dirname "$output")"
while true; do
    if targets=$("$tsunagu" nodes list --json --prometheus-sd "$@"); then
        if [[ ! -f "$output" ]] || [[ "$targets" != "$(cat "$output")" ]]; then
            printf '%s\n' "$targets" > "$output.tmp"
            mv "$output.tmp" "$output"
        fi
    else
        echo "tsunagu-sd: nodes list failed; keeping the previous targets" >&2
    fi
    [[ "${ONCE:-0}" == "1" ]] && exit 0
    sleep "$interval"
done
