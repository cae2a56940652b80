#!/usr/bin/env node
// Broadcast load client for the peer benchmark (LoadTests/bench/peers.sh), in Node because a
// first Python/asyncio version cost ~45 us per delivery and dominated the latency at 1,000
// subscribers.
//
// N WebSocket subscribers of one channel (spread over --procs forked processes), P publishers
// (in the main process) sending text at a total --rate for --duration s. Each body starts with
// "ts=<CLOCK_MONOTONIC ns> run=<id> " padded to --size bytes; subscribers record
// monotonic-now minus ts (process.hrtime is system-wide CLOCK_MONOTONIC on Linux).
// Targets: ws / nchan (ws://HOST:PORT/sub and /pub), tsunagu (/v1/ws: auth, subscribe, post).
// --server-pid PID: server utime+stime from /proc at publish start and after the last delivery.
// --idle: connect --subs (tsunagu: authenticated + subscribed), print "READY n", hold --hold s.
'use strict';
const { fork } = require('child_process');
const fs = require('fs');
const os = require('os');
const crypto = require('crypto');
const WebSocket = require('ws');

function parseArgs(argv) {
  const a = { host: '127.0.0.1', subs: 1000, publishers: 1, rate: 10, duration: 30, grace: 10, size: 200,
    procs: 2, concurrency: 100, hold: 10, idle: false, json: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (k === 'idle' || k === 'json' || k === 'worker') { a[k] = true; continue; }
    const v = argv[++i];
    a[k] = /^[0-9.]+$/.test(v) ? Number(v) : v;
  }
  return a;
}
const now = () => Number(process.hrtime.bigint());
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const CLK = 100;
// PID may list several processes (a cluster: nodes and balancer), comma-separated: summed.
function cpuS(pids) {
  return String(pids).split(',').reduce((sum, pid) => {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(')').pop().trim().split(/\s+/);
    return sum + (Number(f[11]) + Number(f[12])) / CLK;
  }, 0);
}
function urls(a) {
  const b = `ws://${a.host}:${a.port}`;
  return a.target === 'tsunagu' ? [b + '/v1/ws', b + '/v1/ws'] : [b + '/sub', b + '/pub'];
}

function connectOne(a, url, token, timeline, onMsg) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 60000 });
    ws.on('error', reject);
    ws.on('open', () => {
      if (a.target !== 'tsunagu') { ws.on('message', onMsg); return resolve(ws); }
      ws.send(JSON.stringify({ type: 'auth', id: 1, token }));
      let stage = 1;
      const h = (d) => {
        const m = JSON.parse(d);
        if (m.re !== stage) return;
        if (m.type !== 'ok') { ws.terminate(); return reject(new Error(JSON.stringify(m))); }
        if (stage === 1 && timeline) { stage = 2; ws.send(JSON.stringify({ type: 'subscribe', id: 2, timeline })); return; }
        ws.off('message', h); ws.on('message', onMsg); resolve(ws);
      };
      ws.on('message', h);
    });
  });
}
async function connectMany(a, n, url, token, timeline, mkOnMsg) {
  const out = new Array(n); let next = 0;
  async function lane() {
    while (next < n) {
      const i = next++;
      for (let t = 0; ; t++) {
        try { out[i] = await connectOne(a, url, token, timeline, mkOnMsg(i)); break; } catch (e) {
          if (t >= 4) throw e; await sleep(200 * (t + 1));
        }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(a.concurrency, n) }, lane));
  return out;
}

async function worker() {
  const cfg = await new Promise((r) => process.once('message', r));
  const { a, n, token, timeline, run, file } = cfg;
  const lat = new Float64Array(Math.max(1024, Math.ceil(a.rate * a.duration * 1.05 + 100) * n));
  let nl = 0; let last = 0; const counts = new Array(n).fill(0);
  const tag = Buffer.from(' run=' + run + ' ');
  const TS = Buffer.from('ts=');
  const conns = await connectMany(a, n, urls(a)[0], token, timeline, (i) => (data) => {
    const t = now();
    const p = data.indexOf(TS); if (p < 0) return;
    let j = p + 3, v = 0; while (data[j] >= 48 && data[j] <= 57) { v = v * 10 + (data[j] - 48); j++; }
    if (data.compare(tag, 0, tag.length, j, j + tag.length) !== 0) return;
    if (nl < lat.length) lat[nl++] = t - v;
    counts[i]++; last = t;
  });
  process.send({ ready: true });
  const end = await new Promise((r) => process.once('message', r));
  if (a.idle) return;
  const deadline = Date.now() + end.grace * 1000;
  while (Date.now() < deadline && !counts.every((c) => c >= end.sent)) await sleep(20);
  fs.writeFileSync(file, Buffer.from(lat.buffer, 0, nl * 8));
  process.send({ done: true, last, delivered: counts.reduce((x, y) => x + y, 0) });
  for (const c of conns) c.terminate();
  setTimeout(() => process.exit(0), 100);
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  if (!/^127\.|^localhost$|^::1$/.test(a.host)) { console.error('loopback targets only'); process.exit(2); }
  let token = null, timeline = a.timeline || null;
  if (a.target === 'tsunagu') {
    const base = `http://${a.host}:${a.port}`;
    const s = await (await fetch(base + '/v1/sessions', { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: a.email, password: a.password }) })).json();
    token = s.token;
    if (!timeline) timeline = (await (await fetch(base + '/v1/timelines', { method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer ' + token },
      body: JSON.stringify({ title: 'peer-bench', kind: 'group' }) })).json()).id;
  }
  const run = crypto.randomBytes(4).toString('hex');
  const workers = [];
  const tc = Date.now();
  for (let i = 0; i < a.procs; i++) {
    const n = Math.floor(a.subs / a.procs) + (i < a.subs % a.procs ? 1 : 0);
    const w = fork(__filename, ['--worker']);
    const file = `${os.tmpdir()}/peerload-${run}-${i}.bin`;
    w.send({ a, n, token, timeline, run, file });
    workers.push({ w, file, ready: new Promise((r) => w.once('message', r)) });
  }
  await Promise.all(workers.map((x) => x.ready));
  const connectS = (Date.now() - tc) / 1000;
  if (a.idle) {
    console.log(`READY ${a.subs} connect_s=${connectS.toFixed(1)}`);
    await sleep(a.hold * 1000);
    for (const x of workers) x.w.kill('SIGKILL');
    process.exit(0);
  }
  await sleep(500);
  const cpu0 = a.serverPid ? cpuS(a.serverPid) : null;
  const pubs = await connectMany(a, a.publishers, urls(a)[1], token, null, () => (d) => {
    if (a.target === 'tsunagu') { const s = d.toString(); if (s.includes('"error"')) errors++; else if (s.includes('"ok"')) acks++; }
  });
  let errors = 0, acks = 0;
  const pad = 'x'.repeat(Math.max(0, a.size - `ts=${now()} run=${run} `.length));
  const t0 = now(); const endNs = t0 + a.duration * 1e9; let k = 0;
  while (true) {
    const due = t0 + k * 1e9 / a.rate;
    if (due >= endNs) break;
    const wait = (due - now()) / 1e6;
    if (wait > 1) await sleep(wait);
    const body = `ts=${now()} run=${run} ${pad}`;
    const ws = pubs[k % pubs.length];
    if (a.target === 'tsunagu') ws.send(JSON.stringify({ type: 'post', id: k + 10, timeline, body, client_msg_id: crypto.randomUUID() }));
    else ws.send(body);
    k++;
    if (k % 256 === 0) await new Promise(setImmediate);
  }
  const sent = k;
  const done = workers.map((x) => new Promise((r) => x.w.on('message', (m) => m.done && r(m))));
  for (const x of workers) x.w.send({ sent, grace: a.grace });
  const res = await Promise.all(done);
  const cpu1 = a.serverPid ? cpuS(a.serverPid) : null;
  const parts = workers.map((x) => { const b = fs.readFileSync(x.file); fs.unlinkSync(x.file);
    return new Float64Array(b.buffer, b.byteOffset, b.length / 8); });
  const all = new Float64Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0; for (const p of parts) { all.set(p, o); o += p.length; }
  all.sort();
  const delivered = res.reduce((s, r) => s + r.delivered, 0);
  const last = Math.max(...res.map((r) => r.last));
  const pc = (p) => all.length ? +(all[Math.min(all.length - 1, Math.floor(p / 100 * all.length))] / 1e6).toFixed(3) : null;
  const out = { target: a.target, subs: a.subs, publishers: a.publishers, rate: a.rate, duration: a.duration, size: a.size,
    sent, delivered, expected: sent * a.subs, missing: sent * a.subs - delivered,
    deliveries_per_s: Math.round(delivered / ((last - t0) / 1e9)), offered_deliveries_per_s: Math.round(a.rate * a.subs),
    connect_s: connectS, p50_ms: pc(50), p90_ms: pc(90), p99_ms: pc(99), p999_ms: pc(99.9),
    max_ms: all.length ? +(all[all.length - 1] / 1e6).toFixed(3) : null,
    publish_errors: errors, acks: a.target === 'tsunagu' ? acks : null };
  if (cpu0 !== null) { out.server_cpu_s = +(cpu1 - cpu0).toFixed(3); out.server_cpu_us_per_delivery = +((cpu1 - cpu0) / Math.max(delivered, 1) * 1e6).toFixed(3); }
  if (a.json) console.log(JSON.stringify(out)); else for (const [kk, v] of Object.entries(out)) console.log(kk.padEnd(28), v);
  for (const x of workers) x.w.kill();
  process.exit(0);
}
if (process.argv.includes('--worker')) worker(); else main();
