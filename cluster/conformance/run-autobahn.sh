#!/usr/bin/env bash
# Runs the Autobahn TestSuite cases (via kosoku, a Python 3 / Rust port of Autobahn's fuzzing
# client: `pip install kosoku`) against a WebSocket *echo* endpoint and prints a verdict summary.
#
#   cluster/conformance/run-autobahn.sh URL [CASES...]
#     URL    ws:// echo endpoint, e.g. ws://127.0.0.1:9001/v1/echo
#     CASES  case ids or globs (1.1.1, 9.*, 12.1.*); default: the whole suite
#
# Environment:
#   AUTOBAHN_OUT          report directory (default: a new temporary directory; kept)
#   AUTOBAHN_PARALLELISM  cases run in parallel (default 2)
#   AUTOBAHN_EXCLUDE      space-separated case globs to leave out
#   AUTOBAHN_REQUIRE_COMPRESSION=1  count UNIMPLEMENTED (permessage-deflate declined) as failure
#
# Verdicts (Autobahn semantics): a case passes when its behavior is OK, NON-STRICT (diverges
# from a SHOULD, still conformant) or INFORMATIONAL (the spec leaves it open), and its closing
# behavior is OK or INFORMATIONAL. UNIMPLEMENTED only occurs for the optional permessage-deflate
# cases (12.x, 13.x) when the server declines the extension: acceptable unless
# AUTOBAHN_REQUIRE_COMPRESSION=1. FAILED, WRONG CODE, UNCLEAN, FAILED BY CLIENT and cases that
# produced no result make the script exit 1.
set -euo pipefail

if [[ $# -lt 1 || "$1" == "-h" || "$1" == "--help" ]]; then
    sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
url="$1"
shift

if ! command -v kosoku >/dev/null 2>&1; then
    echo "run-autobahn: kosoku not found on PATH; install it with: pip install kosoku" >&2
    exit 2
fi

out="${AUTOBAHN_OUT:-$(mktemp -d -t autobahn.XXXXXX)}"
mkdir -p "$out"
args=("$url" -p "${AUTOBAHN_PARALLELISM:-2}" -o "$out")
for case_glob in "$@"; do args+=(-i "$case_glob"); done
for case_glob in ${AUTOBAHN_EXCLUDE:-}; do args+=(-x "$case_glob"); done

echo "run-autobahn: kosoku ${args[*]}"
started=$(date +%s)
# kosoku exits 1 when any case did not pass, but always writes index.json: judge from that.
kosoku_status=0
kosoku "${args[@]}" >"$out/kosoku.log" 2>&1 || kosoku_status=$?
echo "run-autobahn: kosoku exited $kosoku_status after $(( $(date +%s) - started ))s; reports in $out"

python3 - "$out/index.json" "${AUTOBAHN_REQUIRE_COMPRESSION:-0}" <<'PY'
import collections, json, sys

path, require_compression = sys.argv[1], sys.argv[2] == "1"
try:
    index = json.load(open(path))
except (OSError, ValueError) as error:
    print(f"run-autobahn: no usable report ({error})", file=sys.stderr)
    sys.exit(1)

ACCEPTED = {"OK", "NON-STRICT", "INFORMATIONAL"}
ACCEPTED_CLOSE = {"OK", "INFORMATIONAL"}

def key(case_id):
    return [int(part) for part in case_id.split(".")]

verdicts = collections.Counter()
groups = collections.defaultdict(collections.Counter)
failures, notes = [], []
for agent, cases in index.items():
    for case_id in sorted(cases, key=key):
        result = cases[case_id]
        behavior, close = result["behavior"], result["behaviorClose"]
        verdict = behavior if close in ACCEPTED_CLOSE or behavior not in ACCEPTED else f"{behavior}/{close}"
        verdicts[verdict] += 1
        groups[case_id.split(".")[0]][verdict] += 1
        optional = case_id.split(".")[0] in ("12", "13")
        if behavior == "UNIMPLEMENTED" and optional and not require_compression:
            notes.append(f"{case_id}: UNIMPLEMENTED (permessage-deflate not negotiated)")
        elif behavior not in ACCEPTED or close not in ACCEPTED_CLOSE:
            failures.append(f"{case_id}: behavior={behavior} close={close} remoteCloseCode={result.get('remoteCloseCode')}")
        elif behavior != "OK" or close != "OK":
            notes.append(f"{case_id}: {behavior} / close {close}")

total = sum(verdicts.values())
print(f"Autobahn verdicts over {total} cases: " + ", ".join(f"{v} {n}" for v, n in sorted(verdicts.items())))
for group in sorted(groups, key=int):
    print(f"  {group:>2}.*  " + ", ".join(f"{v} {n}" for v, n in sorted(groups[group].items())))
for note in notes[:40]:
    print(f"  note: {note}")
if len(notes) > 40:
    print(f"  note: … {len(notes) - 40} more")
for failure in failures:
    print(f"  FAIL: {failure}")
if total == 0:
    print("run-autobahn: no case ran", file=sys.stderr)
    sys.exit(1)
print(f"{total - len(failures)} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
PY
