// One WebSocket per signed-in tab (docs/protocol.md §2–3). After any drop it reconnects (through
// the balancer, to whichever node), authenticates again and resubscribes every timeline with
// `since` = the last seq it delivered: the server sends exactly what was missed, in order, and
// anything at or below that seq is dropped here, so nothing is lost or shown twice. Unsent
// posts are kept and sent again with their original `client_msg_id`, which the server answers
// with the original seq instead of a second post.

export class Realtime {
  constructor(token, handlers) {
    this.token = token;
    this.handlers = handlers;          // onEvent, onReceipt, onStatus(online|offline), onRevoked, onReset
    this.last = new Map();             // timeline → last seq delivered
    this.outbox = new Map();           // client_msg_id → {timeline, body, resolve, reject}
    this.pending = new Map();          // request id → {resolve, reject}
    this.nextID = 1;
    this.ws = null;
    this.ready = false;
    this.stopped = false;
    this.attempt = 0;
  }

  start() { this.connect(); }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000);
  }

  connect() {
    if (this.stopped) return;
    const url = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/v1/ws`;
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.onopen = () => this.send({ type: 'auth', token: this.token }).then((reply) => {
      document.documentElement.dataset.node = reply.node;   // which node serves this page (for operators and tests)
      this.authenticated();
    }, (error) => {
      if (error.code === 'unauthenticated' || error.code === 'client_certificate_required') this.revoked();
    });
    ws.onmessage = (message) => this.receive(message.data);
    ws.onclose = (event) => this.closed(ws, event);
  }

  authenticated() {
    this.ready = true;
    this.attempt = 0;
    for (const [timeline, since] of this.last) this.subscribeNow(timeline, since);
    for (const [clientMsgID, post] of this.outbox) this.sendPost(clientMsgID, post);
    this.handlers.onStatus?.('online');
  }

  closed(ws, event) {
    if (ws !== this.ws) return;
    this.ready = false;
    for (const { reject } of this.pending.values()) reject({ code: 'unavailable' });
    this.pending.clear();
    if (this.stopped) return;
    if (event.code === 4003) return this.revoked();
    this.handlers.onStatus?.('offline');
    // 0.3 s, 0.6 s, 1.2 s … up to 5 s, spread at random so a node's clients do not return at once.
    const delay = Math.min(5000, 300 * 2 ** this.attempt++) * (0.5 + Math.random() / 2);
    this.timer = setTimeout(() => this.connect(), this.reconnectAfter ?? delay);
    this.reconnectAfter = undefined;
  }

  revoked() {
    this.stopped = true;
    this.handlers.onRevoked?.();
  }

  receive(text) {
    let message;
    try { message = JSON.parse(text); } catch { return; }
    if (message.re !== undefined && this.pending.has(message.re)) {
      const { resolve, reject } = this.pending.get(message.re);
      this.pending.delete(message.re);
      if (message.type === 'ok') resolve(message); else reject(message);
      return;
    }
    switch (message.type) {
      case 'event': {
        const last = this.last.get(message.timeline);
        if (last === undefined || message.seq <= last) return;   // not subscribed, or already delivered
        this.last.set(message.timeline, message.seq);
        this.handlers.onEvent?.(message);
        break;
      }
      case 'receipt': this.handlers.onReceipt?.(message); break;
      case 'reconnect': this.reconnectAfter = message.after_ms; break;
      case 'error':
        if (message.code === 'forbidden' && message.timeline) {
          this.last.delete(message.timeline);
          this.handlers.onForbidden?.(message.timeline);
        }
        break;
      default: break;
    }
  }

  send(request) {
    return new Promise((resolve, reject) => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return reject({ code: 'unavailable' });
      const id = this.nextID++;
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ ...request, id }));
    });
  }

  /** Follows a timeline from `since` (the last seq the caller holds). */
  subscribe(timeline, since) {
    if (this.last.has(timeline)) return;
    this.last.set(timeline, since);
    if (this.ready) this.subscribeNow(timeline, since);
  }

  subscribeNow(timeline, since) {
    this.send({ type: 'subscribe', timeline, since }).then((reply) => {
      if (reply.reset) {
        this.last.set(timeline, reply.head);
        this.handlers.onReset?.(timeline, reply.head);
      }
      this.handlers.onSubscribed?.(timeline, reply);
    }, () => {});
  }

  /** Posts; resolves with {seq, at} once the store has it, however many reconnects that takes. */
  post(timeline, body, clientMsgID) {
    return new Promise((resolve, reject) => {
      const post = { timeline, body, resolve, reject };
      this.outbox.set(clientMsgID, post);
      if (this.ready) this.sendPost(clientMsgID, post);
    });
  }

  sendPost(clientMsgID, post) {
    this.send({ type: 'post', timeline: post.timeline, body: post.body, client_msg_id: clientMsgID }).then((reply) => {
      this.outbox.delete(clientMsgID);
      post.resolve(reply);
    }, (error) => {
      if (error.code === 'unavailable') return;     // sent again after the reconnect
      this.outbox.delete(clientMsgID);
      post.reject(error);
    });
  }

  react(timeline, targetSeq, reaction, op) {
    return this.send({ type: 'react', timeline, target_seq: targetSeq, reaction, op });
  }

  read(timeline, seq) { return this.send({ type: 'read', timeline, seq }); }

  call(timeline, callID, op) { return this.send({ type: 'call', timeline, call_id: callID, op }); }
}
