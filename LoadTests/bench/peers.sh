#!/usr/bin/env bash
# Tsunagu vs Node ws vs nchan on one machine, one session (see docs/benchmarks.md,
# "Peers: Node ws and nchan"). Every run is bounded (<= 60 s). Loopback only.
#   swift build -c release --scratch-path .build-release   (at the repository root)
#   LoadTests/bench/peers.sh   # env: SAT_RATES="40 100 200" LAT_DURATION=30 IDLE_N=5000 OUT=dir
#                              #      TESTS="idle latency saturation tsunagu-load" SERVERS="tsunagu tsunagu3 ws nchan"
# tsunagu3 = three nodes on one store behind `tsunagu balance`, clients through the balancer;
# its CPU and RSS figures are the sum over the four processes.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
B=${B:-$(cd "$HERE/../.." && pwd)/.build-release/release}
export NODE_PATH=${NODE_PATH:-/usr/share/nodejs}
RUN=$HERE/run; OUT=${OUT:-$RUN/results}; mkdir -p "$OUT"; : > "$OUT/all.jsonl"
SAT_RATES=${SAT_RATES:-"40 100 200"}; TESTS=${TESTS:-"idle latency saturation tsunagu-load"}; SERVERS=${SERVERS:-"tsunagu tsunagu3 ws nchan"}; LAT_DURATION=${LAT_DURATION:-30}; IDLE_N=${IDLE_N:-5000}
WS_PORT=9101; NCHAN_PORT=9102; TSU_PORT=9103; TSU3_PORT=9110
PW=cluster-demo-password; EMAIL=admin@bench.test
ulimit -n 20000
rss_kb() { local t=0; for p in ${1//,/ }; do t=$((t + $(awk '/^VmRSS/{print $2}' /proc/$p/status))); done; echo $t; }
log() { echo "[$(date +%T)] $*" >&2; }

start_server() { # $1 = ws|nchan|tsunagu ; sets SPID (the process to measure) and KPID (to stop)
  case $1 in
    ws) node "$HERE/ws-broadcast.js" $WS_PORT 2>"$RUN/ws.log" & KPID=$!; sleep 1; SPID=$KPID; PORT=$WS_PORT ;;
    nchan) rm -rf "$RUN/nchan"; mkdir -p "$RUN/nchan/logs" "$RUN/nchan/tmp"
      nginx -p "$RUN/nchan" -c "$HERE/nchan.conf" 2>"$RUN/nchan.log" & KPID=$!; sleep 1
      SPID=$(pgrep -P $KPID | head -1); PORT=$NCHAN_PORT ;;
    tsunagu) rm -rf "$RUN/tsu"; mkdir -p "$RUN/tsu"
      echo "$PW" | "$B/tsunagu" admin bootstrap --store "$RUN/tsu/t.sqlite" --master-key-file "$RUN/tsu/k.key" \
        --org Bench --email $EMAIL --password-stdin >/dev/null 2>&1
      "$B/tsunagu" serve --store "$RUN/tsu/t.sqlite" --master-key-file "$RUN/tsu/k.key" \
        --listen 127.0.0.1:$TSU_PORT >"$RUN/tsu.log" 2>&1 & KPID=$!; sleep 2; SPID=$KPID; PORT=$TSU_PORT ;;
    tsunagu3) rm -rf "$RUN/tsu3"; mkdir -p "$RUN/tsu3"; local st=(--store "$RUN/tsu3/t.sqlite" --master-key-file "$RUN/tsu3/k.key")
      echo "$PW" | "$B/tsunagu" admin bootstrap "${st[@]}" --org Bench --email $EMAIL --password-stdin >/dev/null 2>&1
      KPID=""; SPID=""
      for i in 1 2 3; do
        "$B/tsunagu" serve "${st[@]}" --listen 127.0.0.1:$((TSU3_PORT + i)) --node-id n_$i >"$RUN/tsu3-$i.log" 2>&1 &
        KPID="$KPID $!"; SPID="$SPID${SPID:+,}$!"
      done
      sleep 2
      "$B/tsunagu" balance "${st[@]}" --listen 127.0.0.1:$TSU3_PORT >"$RUN/tsu3-b.log" 2>&1 &
      KPID="$KPID $!"; SPID="$SPID,$!"; sleep 3; PORT=$TSU3_PORT ;;
  esac
}
stop_server() { kill $KPID 2>/dev/null; wait $KPID 2>/dev/null; sleep 1; }
peer_target() { [ "${1%3}" = tsunagu ] && echo tsunagu || echo "$1"; }

client() { # $1 server, rest: peer-load.js flags
  local s; s=$(peer_target "$1"); shift
  local extra=(); [ "$s" = tsunagu ] && extra=(--email $EMAIL --password $PW)
  timeout 90 node "$HERE/peer-load.js" --target $s --port $PORT "${extra[@]}" "$@"
}

has() { [[ " $TESTS " == *" $1 "* ]]; }
for S in $SERVERS; do
  log "== $S"; start_server $S
  # (c) idle memory per connection: fresh server, 0 vs IDLE_N subscribed connections
  if has idle; then
  sleep 1; R0=$(rss_kb $SPID)
  client $S --idle --subs $IDLE_N --procs 2 --hold 8 > "$OUT/$S-idle.txt" &
  CP=$!
  for i in $(seq 1 55); do grep -q READY "$OUT/$S-idle.txt" 2>/dev/null && break; sleep 1; done
  sleep 3; R1=$(rss_kb $SPID); wait $CP
  echo "{\"target\":\"$S\",\"test\":\"idle\",\"n\":$IDLE_N,\"rss0_kb\":$R0,\"rss1_kb\":$R1,\"kb_per_conn\":$(echo "scale=3;($R1-$R0)/$IDLE_N" | bc),\"ready\":\"$(head -1 "$OUT/$S-idle.txt")\"}" | tee -a "$OUT/all.jsonl"
  sleep 2
  fi
  # (a) latency: 1,000 subscribers, 10 msg/s, LAT_DURATION s
  has latency && client $S --subs 1000 --rate 10 --duration $LAT_DURATION --grace 10 --server-pid $SPID --json \
    | sed 's/^{/{"test":"latency",/' | sed "s/\"target\":\"[a-z0-9]*\"/\"target\":\"$S\"/" | tee -a "$OUT/all.jsonl"
  # (b) saturation: 1,000 subscribers, rising rate, 10 s each; server CPU per delivery
  has saturation && for R in $SAT_RATES; do
    client $S --subs 1000 --publishers 4 --rate $R --duration 10 --grace 20 --server-pid $SPID --json \
      | sed 's/^{/{"test":"saturation",/' | sed "s/\"target\":\"[a-z0-9]*\"/\"target\":\"$S\"/" | tee -a "$OUT/all.jsonl"
  done
  if [ $S = tsunagu ] && has tsunagu-load; then # Tsunagu's own client, for comparison (CPU measured over the whole run)
    L=(--port $PORT --email $EMAIL --password $PW --create-timelines 1 --connections 1000 --json --quiet)
    timeout 90 "$B/tsunagu-load" "${L[@]}" --rate 10 --duration $LAT_DURATION --grace 10 2>/dev/null \
      | python3 -c 'import json,sys; r=json.load(sys.stdin); l=r["latency_us"]["publish_to_deliver"]; print(json.dumps(dict(target="tsunagu",test="latency-tsunagu-load",p50_ms=l["p50"]/1e3,p99_ms=l["p99"]/1e3,deliveries_per_s=r["deliveries_per_s"],passed=r["passed"])))' | tee -a "$OUT/all.jsonl"
    R=$(echo $SAT_RATES | awk '{print $NF}'); C0=$(awk '{print $14+$15}' /proc/$SPID/stat)
    timeout 90 "$B/tsunagu-load" "${L[@]}" --publishers 4 --rate $R --duration 10 --grace 20 2>/dev/null > "$OUT/tl-sat.json"
    C1=$(awk '{print $14+$15}' /proc/$SPID/stat)
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); c=(int(sys.argv[2])-int(sys.argv[3]))/100; l=r["latency_us"]["publish_to_deliver"]; print(json.dumps(dict(target="tsunagu",test="saturation-tsunagu-load",rate=float(sys.argv[4]),delivered=r["deliveries"],deliveries_per_s=r["deliveries_per_s"],server_cpu_s=c,server_cpu_us_per_delivery=round(c/max(r["deliveries"],1)*1e6,3),p50_ms=l["p50"]/1e3,passed=r["passed"])))' "$OUT/tl-sat.json" $C1 $C0 $R | tee -a "$OUT/all.jsonl"
  fi
  stop_server
done
python3 "$HERE/table.py" "$OUT/all.jsonl"
