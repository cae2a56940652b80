#!/usr/bin/env python3
"""Summarise peers.sh results (JSON lines) into the comparison table."""
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith('{')]
S = [s for s in ['tsunagu', 'tsunagu3', 'ws', 'nchan'] if any(r['target'] == s for r in rows)]
res = {}
for s in S:
    lat = [r for r in rows if r['target'] == s and r['test'] == 'latency']
    sat = [r for r in rows if r['target'] == s and r['test'] == 'saturation']
    idle = [r for r in rows if r['target'] == s and r['test'] == 'idle']
    best = max(sat, key=lambda r: r['deliveries_per_s']) if sat else None
    res[s] = dict(p50=lat[0]['p50_ms'] if lat else None, p99=lat[0]['p99_ms'] if lat else None,
                  dps=best['deliveries_per_s'] if best else None, rate=best['rate'] if best else None,
                  cpu=best['server_cpu_us_per_delivery'] if best else None,
                  kb=idle[0]['kb_per_conn'] if idle else None)
    print(f"# {s} saturation: " + ', '.join(f"{r['rate']:g}/s -> {r['deliveries_per_s']} dlv/s, {r['server_cpu_us_per_delivery']} us/dlv, missing {r['missing']}" for r in sat))
def ratio(x, y):
    return f'{x / y:.2f}×' if x and y else '–'
t = res['tsunagu']
print('| server | p50 ms (1k×10/s) | p99 ms | peak deliveries/s (rate) | CPU µs/delivery at peak | KB RSS / idle conn | Tsunagu CPU ratio | Tsunagu KB ratio |')
print('|---|---:|---:|---:|---:|---:|---:|---:|')
for s in S:
    r = res[s]
    own = s.startswith('tsunagu')
    print(f"| {s} | {r['p50']} | {r['p99']} | {r['dps']} ({r['rate']}) | {r['cpu']} | {r['kb']} | "
          f"{'' if own else ratio(t['cpu'], r['cpu'])} | {'' if own else ratio(t['kb'], r['kb'])} |")
for r in rows:
    if r['test'].endswith('tsunagu-load'):
        print('#', json.dumps(r))
