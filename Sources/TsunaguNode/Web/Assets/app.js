// The web client's entry: the shell (header, language switch, reconnect banner), the router
// (hash routes; the invitation link is the path /activate) and the signed-in state.
import { h, clear } from './dom.js';
import { t, setLanguage, language } from './i18n.js';
import { api, token, setToken } from './api.js';
import { Realtime } from './realtime.js';
import { loginScreen, activationScreen } from './auth.js';
import { timelineListScreen, timelineScreen } from './timelines.js';
import { accountScreen, adminScreen } from './account.js';
import { app } from './state.js';

function emit(kind, payload) { for (const listener of app.listeners) listener(kind, payload); }

const main = () => document.getElementById('main');

function navigate(hash) {
  // A changed hash routes through 'hashchange'; otherwise route here, once.
  if (location.pathname === '/' && location.hash !== hash) { location.hash = hash; return; }
  if (location.pathname !== '/') history.replaceState(null, '', '/' + hash);
  route();
}

function renderHeader() {
  const top = clear(document.getElementById('top'));
  const nav = h('nav', { 'aria-label': 'main' });
  if (app.me) {
    nav.append(h('a', { href: '#/timelines' }, t('navTimelines')), h('a', { href: '#/account' }, t('navAccount')));
    if (app.me.role === 'admin') nav.append(h('a', { href: '#/admin' }, t('navAdmin')));
    nav.append(h('button', { type: 'button', class: 'link', id: 'logout', onclick: logout }, t('logout')));
  }
  top.append(h('span', { class: 'brand' }, t('appName')), nav,
    h('button', { type: 'button', class: 'lang', id: 'lang', 'aria-label': t('languageLabel'),
                  onclick: () => { setLanguage(language() === 'ja' ? 'en' : 'ja'); renderHeader(); route(); } },
      t('language')));
}

function banner(state) {
  const el = document.getElementById('banner');
  clearTimeout(banner.timer);
  if (state === 'offline') {
    el.textContent = t('offline'); el.className = 'banner offline'; el.hidden = false;
  } else if (state === 'online' && !el.hidden) {
    el.textContent = t('online'); el.className = 'banner online';
    banner.timer = setTimeout(() => { el.hidden = true; }, 1500);
  }
}

async function signIn() {
  app.me = await api('GET', '/v1/me');
  const { timelines } = await api('GET', '/v1/timelines');
  app.realtime = new Realtime(token(), {
    onEvent: (event) => { noteEvent(event); emit('event', event); },
    onReceipt: (receipt) => emit('receipt', receipt),
    onStatus: (state) => { banner(state); emit('status', state); },
    onRevoked: () => signedOut(t('loggedOutRevoked')),
    onForbidden: (timeline) => { app.timelines.delete(timeline); emit('forbidden', timeline); },
    onReset: (timeline, head) => {
      const entry = app.timelines.get(timeline);
      if (entry) Object.assign(entry, { head, latest: null });
      emit('reset', timeline);
    },
  });
  for (const timeline of timelines) track(timeline);
  app.realtime.start();
  renderHeader();
  // The latest event of each timeline, for the list (one small history page each).
  await Promise.all(timelines.map(async (timeline) => {
    if (timeline.head === 0) return;
    try {
      const page = await api('GET', `/v1/timelines/${encodeURIComponent(timeline.id)}/events?after=${timeline.head - 1}&limit=1`);
      const entry = app.timelines.get(timeline.id);
      if (entry && page.events[0] && !(entry.latest && entry.latest.seq > page.events[0].seq)) entry.latest = page.events[0];
    } catch { /* shown without it */ }
  }));
}

/** Follows a timeline live from its head. */
function track(timeline) {
  app.timelines.set(timeline.id, { ...timeline, latest: null });
  app.realtime.subscribe(timeline.id, timeline.head);
}

function noteEvent(event) {
  const entry = app.timelines.get(event.timeline);
  if (!entry) return;
  entry.head = Math.max(entry.head, event.seq);
  entry.latest = event;
  if (event.kind === 'message' && event.author.id !== app.me.id) entry.unread += 1;
}

async function logout() {
  try { await api('DELETE', '/v1/sessions/current'); } catch { /* the token is dropped anyway */ }
  signedOut('');
}

function signedOut(notice) {
  app.realtime?.stop();
  app.realtime = null;
  app.me = null;
  app.timelines.clear();
  setToken(null);
  app.notice = notice;
  renderHeader();
  navigate('#/login');
}

async function loggedIn(newToken) {
  setToken(newToken);
  app.notice = '';
  await signIn();
  navigate('#/timelines');
}

async function route() {
  app.listeners.clear();
  const root = clear(main());
  if (location.pathname === '/activate') return activationScreen(root);
  const hash = location.hash || '#/timelines';
  if (!app.me) {
    if (token()) {
      try { await signIn(); } catch { setToken(null); }
    }
    if (!app.me) return loginScreen(root);
  }
  const [, section, id] = hash.split('/');
  switch (section) {
    case 't': return timelineScreen(root, decodeURIComponent(id || ''));
    case 'account': return accountScreen(root);
    case 'admin': return adminScreen(root);
    case 'login': if (!app.me) return loginScreen(root); return navigate('#/timelines');
    default: return timelineListScreen(root);
  }
}

Object.assign(app, { navigate, loggedIn, logout, track });
window.addEventListener('hashchange', () => { if (location.pathname === '/') route(); });
window.addEventListener('tsunagu:revoked', () => { if (app.me) signedOut(t('loggedOutRevoked')); });
setLanguage(language());
renderHeader();
route();
