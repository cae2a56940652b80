#!/usr/bin/env bash
# cluster/attack-run.sh: the scripted attack run of docs/security.md against real processes on
# loopback (two TLS nodes, the balancer). Needs a debug build (swift build) and a Python with the
# `websockets` package (PYTHON, default python3).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export TSUNAGU=${TSUNAGU:-$(cd "$here/.." && swift build --show-bin-path)/tsunagu}
python=${PYTHON:-python3}
exec timeout 120 "$python" "$here/attack-run.py"
