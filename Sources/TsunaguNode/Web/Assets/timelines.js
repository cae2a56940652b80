// The timeline list (unread counts, latest event, live) and one timeline: posts, acks, 既読 by
// profession, call log entries, the composer, mark-read while scrolling.
import { h, clear, field, errorBox, showError } from './dom.js';
import { t, formatTime, formatDuration, professionLabel, roleLabel, readSummary, professionNames } from './i18n.js';
import { api } from './api.js';
import { app } from './state.js';

function summary(event) {
  if (!event) return '';
  switch (event.kind) {
    case 'message': return `${event.author.name}: ${event.body}`;
    case 'reaction': return `${event.author.name}: ${event.reaction === 'ack' ? t('ack') : event.reaction}`;
    case 'call': return `${event.op === 'start' ? t('callStart') : t('callEnd')} (${event.author.name})`;
    case 'member': return `${event.user.name}${event.op === 'join' ? t('joined') : t('left')}`;
    default: return '';
  }
}

export function timelineListScreen(root) {
  const list = h('ul', { class: 'timelines', id: 'timeline-list' });
  function render() {
    clear(list);
    if (app.timelines.size === 0) list.append(h('li', { class: 'empty' }, t('noTimelines')));
    for (const entry of app.timelines.values()) {
      const unread = entry.unread > 0
        ? h('span', { class: 'badge', 'aria-label': `${t('unread')} ${entry.unread}` }, String(entry.unread)) : null;
      list.append(h('li', { dataset: { timeline: entry.id } },
        h('a', { href: `#/t/${encodeURIComponent(entry.id)}`, class: 'timeline-link' },
          h('span', { class: 'title' }, entry.title), h('span', { class: 'kind' }, t(entry.kind)), unread,
          h('span', { class: 'latest' }, summary(entry.latest)),
          entry.latest ? h('time', { datetime: entry.latest.at }, formatTime(entry.latest.at)) : null)));
    }
  }
  app.listeners.add((kind) => { if (kind === 'event' || kind === 'forbidden') render(); });
  const title = h('input', { type: 'text', name: 'title', required: true, maxlength: 200 });
  const kind = h('select', { name: 'kind' }, h('option', { value: 'patient' }, t('patient')), h('option', { value: 'group' }, t('group')));
  const error = errorBox();
  const create = h('form', { class: 'card inline-form' }, h('h2', {}, t('newTimeline')), error,
    field(t('title'), title), field(t('kind'), kind), h('button', { type: 'submit' }, t('create')));
  create.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const created = await api('POST', '/v1/timelines', { title: title.value, kind: kind.value });
      app.track({ ...created, head: 0 });
      app.navigate(`#/t/${encodeURIComponent(created.id)}`);
    } catch (e) { showError(error, t('error') + e.message); }
  });
  root.append(h('h1', {}, t('timelinesTitle')), list, create);
  render();
}

export async function timelineScreen(root, id) {
  const entry = app.timelines.get(id);
  if (!entry) { root.append(h('p', { class: 'error', role: 'alert' }, t('forbidden'))); return; }
  const events = new Map();        // seq → event (messages, calls, members)
  const nodes = new Map();         // seq → <li>
  const acks = new Map();          // target seq → Map user id → {seq, on}: the newest reaction wins, in any arrival order
  let members = new Map();         // user id → {user,name,profession,role,read_seq}
  const mine = () => members.get(app.me.id)?.read_seq ?? 0;
  let readSent = 0;
  const viewer = entry.role === 'viewer';

  const list = h('ol', { class: 'events', id: 'events', 'aria-live': 'polite' });
  const pendingList = h('ul', { class: 'pending', 'aria-live': 'polite' });
  const memberList = h('ul', { class: 'members', id: 'members' });

  async function loadMembers() {
    const list = await api('GET', `/v1/timelines/${encodeURIComponent(id)}/members`);
    members = new Map(list.map((m) => [m.user, m]));
    renderMembers();
    for (const seq of nodes.keys()) updateMeta(seq);
  }

  function renderMembers() {
    clear(memberList);
    for (const m of members.values()) {
      memberList.append(h('li', {}, h('span', { class: 'name' }, m.name), ' ',
        h('span', { class: 'profession' }, professionLabel(m.profession)), ' ', h('span', { class: 'role' }, roleLabel(m.role))));
    }
  }

  function readers(event) {
    const result = [];
    for (const m of members.values()) if (m.user !== event.author.id && m.read_seq >= event.seq) result.push(m.profession);
    return result;
  }

  function updateMeta(seq) {
    const event = events.get(seq), li = nodes.get(seq);
    if (!event || !li || event.kind !== 'message') return;
    const ackers = new Set([...(acks.get(seq) || new Map())].filter(([, r]) => r.on).map(([user]) => user));
    const names = [...ackers].map((u) => members.get(u)?.name || '').filter(Boolean).join(', ');
    li.querySelector('.acks').textContent = ackers.size ? `✓ ${t('acked')} ${ackers.size}` : '';
    li.querySelector('.acks').title = names;
    li.querySelector('.reads').textContent = readSummary(readers(event));
    const button = li.querySelector('button.ack');
    if (button) button.setAttribute('aria-pressed', ackers.has(app.me.id) ? 'true' : 'false');
  }

  function render(event) {
    if (event.kind === 'reaction') {
      if (event.reaction === 'ack') {
        const byUser = acks.get(event.target_seq) || new Map();
        const before = byUser.get(event.author.id);
        if (!before || before.seq < event.seq) byUser.set(event.author.id, { seq: event.seq, on: event.op === 'add' });
        acks.set(event.target_seq, byUser);
        updateMeta(event.target_seq);
      }
      return;
    }
    if (nodes.has(event.seq)) return;
    events.set(event.seq, event);
    list.querySelector('.empty')?.remove();
    let li;
    const who = h('span', { class: 'author' }, h('span', { class: 'name' }, event.author.name), ' ',
      h('span', { class: 'profession' }, professionLabel(event.author.profession)));
    const when = h('time', { datetime: event.at }, formatTime(event.at));
    if (event.kind === 'message') {
      const ack = viewer ? null : h('button', { type: 'button', class: 'ack', 'aria-pressed': 'false',
        'aria-label': `${t('ack')}: ${event.author.name} ${formatTime(event.at)}`, onclick: () => toggleAck(event.seq) }, `✓ ${t('ack')}`);
      li = h('li', { class: 'message', dataset: { seq: event.seq } }, h('div', { class: 'meta' }, who, when),
        h('p', { class: 'body' }, event.body),
        h('div', { class: 'footer' }, ack, h('span', { class: 'acks' }), h('span', { class: 'reads' })));
      removePending(event.client_msg_id);
    } else if (event.kind === 'call') {
      if (event.author.id === app.me.id) openCall = event.op === 'start' ? event.call_id : (openCall === event.call_id ? null : openCall);
      updateCallButton();
      const text = event.op === 'start' ? t('callStart')
        : `${t('callEnd')} · ${formatDuration(event.duration_s ?? 0)}`;
      li = h('li', { class: 'call', dataset: { seq: event.seq } }, h('span', { class: 'icon', 'aria-hidden': 'true' }, '📞'), ' ',
        text, ' — ', who, ' ', when);
    } else if (event.kind === 'member') {
      li = h('li', { class: 'member-event', dataset: { seq: event.seq } },
        `${event.user.name}${event.op === 'join' ? t('joined') : t('left')} (${roleLabel(event.role)}) `, when);
      loadMembers().catch(() => {});
    } else return;
    nodes.set(event.seq, li);
    // in seq order, whatever order history and live events came in
    const after = [...nodes.keys()].filter((s) => s > event.seq).sort((a, b) => a - b)[0];
    if (after !== undefined) list.insertBefore(li, nodes.get(after)); else list.append(li);
    updateMeta(event.seq);
    observer.observe(li);
  }

  async function toggleAck(seq) {
    const on = acks.get(seq)?.get(app.me.id)?.on === true;
    try { await app.realtime.react(id, seq, 'ack', on ? 'remove' : 'add'); } catch { /* shown by the banner */ }
  }

  // Mark read as entries scroll into view (most of an entry visible, the tab in front).
  let highest = 0, timer = null;
  const observer = new IntersectionObserver((entries) => {
    for (const e of entries) if (e.isIntersecting) highest = Math.max(highest, Number(e.target.dataset.seq));
    scheduleRead();
  }, { threshold: 0.6 });
  function scheduleRead() {
    if (timer || document.visibilityState !== 'visible') return;
    timer = setTimeout(async () => {
      timer = null;
      const seq = highest;
      if (seq <= Math.max(mine(), readSent)) return;
      readSent = seq;
      try {
        await app.realtime.read(id, seq);
        const me = members.get(app.me.id);
        if (me) me.read_seq = Math.max(me.read_seq, seq);
        const unread = [...events.values()].filter((e) => e.kind === 'message' && e.seq > seq && e.author.id !== app.me.id).length;
        entry.unread = unread;
      } catch { readSent = 0; }
    }, 250);
  }

  // Composer: a form; Ctrl/⌘+Enter sends. Each post keeps its client_msg_id across retries.
  const text = h('textarea', { name: 'body', rows: 3, required: true, maxlength: 16384 });
  const error = errorBox();
  const composer = h('form', { class: 'composer', id: 'composer' }, error,
    field(t('composer'), text, t('sendHint')), h('button', { type: 'submit', class: 'primary' }, t('send')));
  const pending = new Map();
  function removePending(clientMsgID) {
    const li = pending.get(clientMsgID);
    if (li) { li.remove(); pending.delete(clientMsgID); }
  }
  composer.addEventListener('submit', (event) => {
    event.preventDefault();
    const body = text.value.trim();
    if (!body) return;
    const clientMsgID = crypto.randomUUID();
    const li = h('li', { class: 'message pending' }, h('p', { class: 'body' }, body), h('span', { class: 'hint' }, t('sending')));
    pending.set(clientMsgID, li);
    pendingList.append(li);
    text.value = '';
    showError(error, '');
    app.realtime.post(id, body, clientMsgID).then(() => {}, (e) => {
      removePending(clientMsgID);
      showError(error, t('error') + (e.message || e.code));
      text.value = body;
    });
  });
  text.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) { event.preventDefault(); composer.requestSubmit(); }
  });

  // Calls: log the start and the end of a call (the server records who and how long).
  let openCall = null;
  const callButton = viewer ? null : h('button', { type: 'button', id: 'call', onclick: async () => {
    const op = openCall ? 'end' : 'start';
    const callID = openCall || crypto.randomUUID();
    try { await app.realtime.call(id, callID, op); } catch (e) { showError(error, t('error') + (e.message || e.code)); }
  } }, t('startCall'));
  function updateCallButton() { if (callButton) callButton.textContent = openCall ? t('endCall') : t('startCall'); }

  // Earlier history, a page at a time.
  let loadedFrom = 0;
  const earlier = h('button', { type: 'button', id: 'earlier', hidden: true, onclick: async () => {
    const after = Math.max(0, loadedFrom - 500);
    const page = await api('GET', `/v1/timelines/${encodeURIComponent(id)}/events?after=${after}&limit=${loadedFrom - after}`);
    for (const event of page.events) render(event);
    loadedFrom = after;
    earlier.hidden = loadedFrom === 0;
  } }, t('history'));

  // Owners add members of their organization by address.
  let addForm = null;
  if (entry.role === 'owner') {
    const email = h('input', { type: 'email', name: 'member-email', required: true });
    const role = h('select', { name: 'member-role' }, ['member', 'viewer', 'owner'].map((r) => h('option', { value: r }, roleLabel(r))));
    const addError = errorBox();
    addForm = h('form', { class: 'inline-form', id: 'add-member' }, h('h3', {}, t('addMember')), addError,
      field(t('email'), email), field(t('role'), role), h('button', { type: 'submit' }, t('add')));
    addForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      try {
        await api('POST', `/v1/timelines/${encodeURIComponent(id)}/members`, { email: email.value, role: role.value });
        email.value = ''; showError(addError, '');
      } catch (e) { showError(addError, t('error') + e.message); }
    });
  }

  root.append(h('a', { href: '#/timelines', class: 'back' }, t('back')),
    h('h1', {}, entry.title, ' ', h('span', { class: 'kind' }, t(entry.kind))),
    h('div', { class: 'timeline-layout' },
      h('section', { class: 'feed', 'aria-label': entry.title }, earlier, list, pendingList,
        viewer ? h('p', { class: 'hint' }, t('viewerNote')) : [composer, h('div', { class: 'actions' }, callButton)]),
      h('aside', { class: 'side' }, h('h2', {}, t('members')), memberList, addForm)));

  app.listeners.add((kind, payload) => {
    if (kind === 'event' && payload.timeline === id) { render(payload); scheduleRead(); }
    if (kind === 'receipt' && payload.timeline === id) {
      const m = members.get(payload.user);
      if (!m) return loadMembers().catch(() => {});
      m.read_seq = Math.max(m.read_seq, payload.seq);
      for (const seq of nodes.keys()) updateMeta(seq);
    }
    if (kind === 'status' && payload === 'online') loadMembers().catch(() => {});
    if (kind === 'forbidden' && payload === id) app.navigate('#/timelines');
    // The store was restored from an older backup: drop what is shown and load it again.
    if (kind === 'reset' && payload === id) app.navigate(location.hash);
  });

  try {
    await loadMembers();
    // The newest 500 entries by HTTP; the live subscription (from the list) delivers the rest.
    const after = Math.max(0, entry.head - 500);
    const page = await api('GET', `/v1/timelines/${encodeURIComponent(id)}/events?after=${after}&limit=1000`);
    for (const event of page.events) render(event);
    loadedFrom = after;
    earlier.hidden = after === 0;
    if (nodes.size === 0) list.append(h('li', { class: 'empty' }, t('noEvents')));
    list.lastElementChild?.scrollIntoView({ block: 'end' });
  } catch (e) {
    root.append(h('p', { class: 'error', role: 'alert' }, t('error') + e.message));
  }
  if (!viewer) text.focus();
}

export { professionNames };
