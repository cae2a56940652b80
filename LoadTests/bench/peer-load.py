#!/usr/bin/env python3
"""Small broadcast load client for the peer benchmark (LoadTests/bench/peers.sh).

Same workload for every server: N WebSocket subscribers of one channel, P publishers posting
text messages at a total --rate for --duration seconds; each message body starts with
"ts=<publisher wall clock ns> run=<run id>" and is padded to --size bytes. Every subscriber
measures publish->deliver latency (time.time_ns() at receipt minus ts; one clock, one machine).

Targets:
  ws       ws://HOST:PORT/sub and /pub           (ws-broadcast.js)
  nchan    ws://HOST:PORT/sub and /pub           (nchan.conf)
  tsunagu  ws://HOST:PORT/v1/ws, auth + subscribe one timeline; publishers send `post`
           (logs in with --email/--password, creates a group timeline unless --timeline)

Subscribers are spread over --procs worker processes (asyncio + websockets in each).
--server-pid PID: read utime+stime of PID (and its children's threads; whole process) from
/proc at publish start and after the last delivery, report server CPU s and us per delivery.
--idle: connect (and, for tsunagu, authenticate and subscribe) --subs connections, print
"READY n" on stdout, hold them --hold seconds, exit. Loopback only.
"""
import argparse, asyncio, json, multiprocessing as mp, os, sys, time, uuid, urllib.request
from array import array

import websockets

CLK = os.sysconf('SC_CLK_TCK')


def cpu_s(pid):
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK  # utime, stime (fields 14, 15)


def urls(a):
    base = f'ws://{a.host}:{a.port}'
    if a.target == 'tsunagu':
        return base + '/v1/ws', base + '/v1/ws'
    return base + '/sub', base + '/pub'


def http_json(a, method, path, body, token=None):
    req = urllib.request.Request(f'http://{a.host}:{a.port}{path}', method=method,
                                 data=json.dumps(body).encode(), headers={'Content-Type': 'application/json'})
    if token:
        req.add_header('Authorization', 'Bearer ' + token)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


async def request(ws, msg):
    await ws.send(json.dumps(msg))
    while True:
        m = json.loads(await ws.recv())
        if m.get('re') == msg['id']:
            if m.get('type') != 'ok':
                raise RuntimeError(f'{msg["type"]} failed: {m}')
            return m


async def connect(a, url, token, timeline):
    ws = await websockets.connect(url, compression=None, ping_interval=None, max_queue=None,
                                  max_size=2 ** 20, open_timeout=60, close_timeout=1)
    if a.target == 'tsunagu':
        await request(ws, {'type': 'auth', 'id': 1, 'token': token})
        if timeline:
            await request(ws, {'type': 'subscribe', 'id': 2, 'timeline': timeline})
    return ws


async def connect_many(a, n, token, timeline, url):
    sem = asyncio.Semaphore(a.concurrency)
    out = []

    async def one():
        async with sem:
            for attempt in range(5):
                try:
                    out.append(await connect(a, url, token, timeline))
                    return
                except Exception:
                    if attempt == 4:
                        raise
                    await asyncio.sleep(0.2 * (attempt + 1))
    await asyncio.gather(*(one() for _ in range(n)))
    return out


def worker(a, idx, n, token, timeline, run, ready, go, pub_end, sent_total, conn):
    async def main():
        sub_url, _ = urls(a)
        conns = await connect_many(a, n, token, timeline, sub_url)
        ready.release()
        if a.idle:
            await asyncio.sleep(a.hold + 5)
            return None
        lat = array('q')
        counts = [0] * len(conns)
        last = [0]
        tag = 'run=' + run

        async def reader(i, ws):
            ap = lat.append
            try:
                async for m in ws:
                    p = m.find('ts=')
                    if p < 0:
                        continue
                    q = m.find(' ', p)
                    if m.startswith(tag, q + 1):
                        now = time.time_ns()
                        ap(now - int(m[p + 3:q]))
                        counts[i] += 1
                        last[0] = now
            except websockets.ConnectionClosed:
                pass
        tasks = [asyncio.ensure_future(reader(i, w)) for i, w in enumerate(conns)]
        while True:
            await asyncio.sleep(0.05)
            pe = pub_end.value
            if pe > 0:
                st = sent_total.value
                if all(c >= st for c in counts) or time.time() > pe + a.grace:
                    break
        for t in tasks:
            t.cancel()
        return dict(lat=lat.tobytes(), counts=counts, last=last[0])
    res = asyncio.run(main())
    conn.send(res)
    conn.close()
    os._exit(0)


async def publish(a, token, timeline, run, sent_total):
    _, pub_url = urls(a)
    pubs = await connect_many(a, a.publishers, token, None, pub_url)
    pad_len = max(0, a.size - len(f'ts={time.time_ns()} run={run} '))
    pad = 'x' * pad_len
    sent = 0
    errors = [0]
    acked = [0]

    async def drain(ws):
        try:
            async for m in ws:
                if a.target == 'tsunagu':
                    if '"error"' in m:
                        errors[0] += 1
                    elif '"ok"' in m:
                        acked[0] += 1
        except websockets.ConnectionClosed:
            pass
    drains = [asyncio.ensure_future(drain(w)) for w in pubs]
    t0 = time.time()
    end = t0 + a.duration
    k = 0
    while True:
        due = t0 + k / a.rate
        if due >= end:
            break
        now = time.time()
        if due > now:
            await asyncio.sleep(due - now)
        ws = pubs[k % len(pubs)]
        body = f'ts={time.time_ns()} run={run} {pad}'
        if a.target == 'tsunagu':
            await ws.send(json.dumps({'type': 'post', 'id': k + 10, 'timeline': timeline,
                                      'body': body, 'client_msg_id': str(uuid.uuid4())}))
        else:
            await ws.send(body)
        k += 1
        sent += 1
        if k % 64 == 0:
            sent_total.value = sent  # let workers see progress
    sent_total.value = sent
    await asyncio.sleep(0.5 if a.target == 'tsunagu' else 0)
    return t0, time.time(), sent, pubs, drains, errors, acked


def pct(sorted_lat, p):
    if not sorted_lat:
        return float('nan')
    return sorted_lat[min(len(sorted_lat) - 1, int(p / 100 * len(sorted_lat)))] / 1e6


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--target', choices=['ws', 'nchan', 'tsunagu'], required=True)
    ap.add_argument('--host', default='127.0.0.1')
    ap.add_argument('--port', type=int, required=True)
    ap.add_argument('--subs', type=int, default=1000)
    ap.add_argument('--publishers', type=int, default=1)
    ap.add_argument('--rate', type=float, default=10)
    ap.add_argument('--duration', type=float, default=30)
    ap.add_argument('--grace', type=float, default=10)
    ap.add_argument('--size', type=int, default=200, help='message body bytes (default 200)')
    ap.add_argument('--procs', type=int, default=2)
    ap.add_argument('--concurrency', type=int, default=100, help='handshakes in flight per process')
    ap.add_argument('--email'); ap.add_argument('--password'); ap.add_argument('--timeline')
    ap.add_argument('--server-pid', type=int)
    ap.add_argument('--idle', action='store_true'); ap.add_argument('--hold', type=float, default=10)
    ap.add_argument('--json', action='store_true')
    a = ap.parse_args()
    if not (a.host.startswith('127.') or a.host in ('localhost', '::1')):
        sys.exit('loopback targets only')
    token = timeline = None
    if a.target == 'tsunagu':
        token = http_json(a, 'POST', '/v1/sessions', {'email': a.email, 'password': a.password})['token']
        timeline = a.timeline or http_json(a, 'POST', '/v1/timelines',
                                           {'title': 'peer-bench', 'kind': 'group'}, token)['id']
    run = uuid.uuid4().hex[:8]
    ctx = mp.get_context('fork')
    ready = ctx.Semaphore(0); go = ctx.Event()
    pub_end = ctx.Value('d', 0.0, lock=False); sent_total = ctx.Value('q', 1 << 60, lock=False)
    per = [a.subs // a.procs + (1 if i < a.subs % a.procs else 0) for i in range(a.procs)]
    procs, pipes = [], []
    tc = time.time()
    for i, n in enumerate(per):
        r, w = ctx.Pipe(False)
        p = ctx.Process(target=worker, args=(a, i, n, token, timeline, run, ready, go, pub_end, sent_total, w))
        p.start(); procs.append(p); pipes.append(r)
    for _ in per:
        ready.acquire()
    connect_s = time.time() - tc
    if a.idle:
        print(f'READY {a.subs} connect_s={connect_s:.1f}', flush=True)
        time.sleep(a.hold)
        for p in procs:
            p.kill()
        return
    time.sleep(0.5)
    cpu0 = cpu_s(a.server_pid) if a.server_pid else None

    async def pub():
        r = await publish(a, token, timeline, run, sent_total)
        pub_end.value = r[1]
        return r
    loop = asyncio.new_event_loop()
    t0, t1, sent, pubs, drains, errors, acked = loop.run_until_complete(pub())
    results = [r.recv() for r in pipes]
    cpu1 = cpu_s(a.server_pid) if a.server_pid else None
    for d in drains:
        d.cancel()
    for p in procs:
        p.join(5)
    lat = array('q')
    counts, last = [], 0
    for r in results:
        x = array('q'); x.frombytes(r['lat']); lat.extend(x)
        counts += r['counts']; last = max(last, r['last'])
    s = sorted(lat)
    delivered = len(s)
    span = max(last / 1e9 - t0, 1e-9)
    out = dict(target=a.target, subs=a.subs, publishers=a.publishers, rate=a.rate, duration=a.duration,
               size=a.size, sent=sent, delivered=delivered, expected=sent * a.subs,
               missing=sent * a.subs - delivered, deliveries_per_s=round(delivered / span),
               offered_deliveries_per_s=round(a.rate * a.subs), connect_s=round(connect_s, 1),
               p50_ms=round(pct(s, 50), 3), p90_ms=round(pct(s, 90), 3), p99_ms=round(pct(s, 99), 3),
               p999_ms=round(pct(s, 99.9), 3), max_ms=round(s[-1] / 1e6, 3) if s else None,
               publish_errors=errors[0], acks=acked[0] if a.target == 'tsunagu' else None)
    if cpu0 is not None:
        out['server_cpu_s'] = round(cpu1 - cpu0, 3)
        out['server_cpu_us_per_delivery'] = round((cpu1 - cpu0) / max(delivered, 1) * 1e6, 3)
    if a.json:
        print(json.dumps(out), flush=True)
    else:
        for k, v in out.items():
            print(f'{k:28} {v}')
    os._exit(0)


if __name__ == '__main__':
    main()
