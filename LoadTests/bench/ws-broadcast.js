#!/usr/bin/env node
// Minimal Node `ws` broadcast server for the peer benchmark (LoadTests/bench/peers.sh).
//
//   node ws-broadcast.js [PORT]        (default 9101; NODE_PATH=/usr/share/nodejs for Debian's node-ws)
//
// Clients connecting to /sub are subscribers; clients connecting to /pub are publishers.
// Every text message from a publisher is broadcast to all subscribers. No persistence,
// no compression (perMessageDeflate: false).
//
// Serialisation is done ONCE per message: the payload arrives as a Buffer from the publisher
// and that same Buffer is handed to client.send(buf, {binary: false}) for every subscriber.
// ws then writes a per-client 2..10-byte frame header and the shared payload Buffer
// (server frames are unmasked, so the payload is not copied or re-encoded per client);
// no JSON.stringify / string->Buffer conversion happens per subscriber.
'use strict';
const { WebSocketServer } = require('ws');
const port = parseInt(process.argv[2] || process.env.PORT || '9101', 10);
const subs = new Set();
const wss = new WebSocketServer({
  host: '127.0.0.1', port, perMessageDeflate: false, clientTracking: false, maxPayload: 64 * 1024,
});
wss.on('connection', (ws, req) => {
  if (req.url.startsWith('/pub')) {
    ws.on('message', (data, isBinary) => {
      const opts = { binary: isBinary };
      for (const c of subs) if (c.readyState === 1) c.send(data, opts);
    });
  } else {
    subs.add(ws);
    ws.on('close', () => subs.delete(ws));
  }
  ws.on('error', () => {});
});
wss.on('listening', () => console.error(`ws-broadcast listening on 127.0.0.1:${port} pid ${process.pid}`));
