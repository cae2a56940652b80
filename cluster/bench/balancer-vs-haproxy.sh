#!/usr/bin/env bash
# Balancer vs HAProxy, on loopback, in one go.
#
# One backend (nginx answering GET /readyz with a static 200), then three ways to reach it:
# directly, through the Tsunagu balancer, and through HAProxy in `mode tcp` + `balance roundrobin`
# (the configuration `ExternalBalancerConfig.haproxy` generates, minus the health check, so both
# proxies do the same work per connection). wrk measures each:
#   1. added latency at low load: one connection, one thread, keep-alive (`-c 1 -t 1`);
#   2. new connections per second: every request on a new connection (`Connection: close`).
#
# Usage: BALANCER_BIN=path/to/balancer cluster/bench/balancer-vs-haproxy.sh
#   BALANCER_BIN  an executable that takes `--listen HOST:PORT --backend HOST:PORT` and runs
#                 TsunaguBalancer.BalancerServer over that one backend (a release build)
#   DURATION      per wrk run (default 10s); CONNS concurrency for the new-connection run (default 32)
#   BALANCER_THREADS  the balancer's event-loop threads (default 2, like HAProxy's nbthread 2)
# Needs haproxy, wrk and nginx (Debian: apt-get install haproxy wrk nginx-light); installs them
# when missing and run as root. Only 127.0.0.1 is used.
set -euo pipefail

BALANCER_BIN=${BALANCER_BIN:?set BALANCER_BIN to a release-built balancer executable}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
BACKEND_PORT=${BACKEND_PORT:-18080}
BALANCER_PORT=${BALANCER_PORT:-18081}
HAPROXY_PORT=${HAPROXY_PORT:-18082}

missing=()
for tool in haproxy wrk nginx; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if ((${#missing[@]})); then
    [[ $(id -u) == 0 ]] || { echo "missing: ${missing[*]}" >&2; exit 1; }
    apt-get update -qq && apt-get install -y -qq haproxy wrk nginx-light >/dev/null
fi

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    keepalive_requests 10000000;
    client_body_temp_path $work/nginx;
    proxy_temp_path $work/nginx;
    fastcgi_temp_path $work/nginx;
    uwsgi_temp_path $work/nginx;
    scgi_temp_path $work/nginx;
    server {
        listen 127.0.0.1:$BACKEND_PORT backlog=4096;
        location / { return 200 "ready\n"; }
    }
}
CONF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)

cat >"$work/haproxy.cfg" <<CONF
global
    # Fits the benchmark and a 20,000 file limit (HAProxy refuses to start if it cannot raise it).
    maxconn 8000
    nbthread 2
defaults
    mode tcp
    timeout connect 500ms
    timeout client 1h
    timeout server 1h
frontend tsunagu
    bind 127.0.0.1:$HAPROXY_PORT
    default_backend tsunagu_nodes
backend tsunagu_nodes
    balance roundrobin
    server node-a 127.0.0.1:$BACKEND_PORT
CONF
haproxy -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 &
pids+=($!)

"$BALANCER_BIN" --listen "127.0.0.1:$BALANCER_PORT" --backend "127.0.0.1:$BACKEND_PORT" --threads "${BALANCER_THREADS:-2}" \
    >"$work/balancer.log" 2>&1 &
pids+=($!)

for port in $BACKEND_PORT $BALANCER_PORT $HAPROXY_PORT; do
    for _ in $(seq 100); do
        wrk -t1 -c1 -d1s "http://127.0.0.1:$port/readyz" 2>/dev/null | grep -q 'Requests/sec' && break
        sleep 0.1
    done
done

# wrk prints "50%  123.00us" under --latency; normalise to microseconds.
percentile() { # $1 = wrk output, $2 = 50%|99%
    awk -v p="$2" '$1 == p {
        v = $2; unit = v; sub(/[0-9.]+/, "", unit); sub(/[a-z]+$/, "", v)
        if (unit == "ms") v *= 1000; else if (unit == "s") v *= 1000000
        printf "%.0f", v }' <<<"$1"
}
rate() { awk '/Requests\/sec/ { printf "%.0f", $2 }' <<<"$1"; }
errors() { awk '/Socket errors|Non-2xx/ { print }' <<<"$1" | tr '\n' ' '; }

printf '%-10s %10s %10s %12s  %s\n' target p50_us p99_us newconn_per_s notes
declare -A p50
for target in direct:$BACKEND_PORT tsunagu:$BALANCER_PORT haproxy:$HAPROXY_PORT; do
    name=${target%%:*}; port=${target##*:}
    url="http://127.0.0.1:$port/readyz"
    low=$(wrk -t1 -c1 -d"$DURATION" --latency "$url")
    sleep 2
    churn=$(wrk -t2 -c"$CONNS" -d"$DURATION" -H 'Connection: close' "$url")
    sleep 2
    p50[$name]=$(percentile "$low" 50%)
    printf '%-10s %10s %10s %12s  %s\n' "$name" "${p50[$name]}" "$(percentile "$low" 99%)" "$(rate "$churn")" "$(errors "$churn")"
done
echo "added p50: tsunagu $(( ${p50[tsunagu]} - ${p50[direct]} )) us, haproxy $(( ${p50[haproxy]} - ${p50[direct]} )) us"
