// The account screen and the organization admin screen.
import { h, clear, field, errorBox, showError } from './dom.js';
import { t, formatTime, professionLabel, professionNames, roleLabel, statusLabel } from './i18n.js';
import { api } from './api.js';
import { app } from './state.js';

export function accountScreen(root) {
  const me = app.me;
  const rows = [[t('name'), me.name], [t('email'), me.email], [t('org'), me.org.name],
    [t('orgRole'), roleLabel(me.role)], [t('profession'), professionLabel(me.profession)]];
  const passwordNote = h('p', { class: 'notice', role: 'status', hidden: true });
  const certNote = h('p', { class: 'notice', role: 'status', hidden: true });
  root.append(h('h1', {}, t('accountTitle')),
    h('dl', { class: 'card profile' }, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
    h('section', { class: 'card' }, h('h2', {}, t('passwordTitle')), h('p', {}, t('passwordHelp')),
      h('button', { type: 'button', id: 'password-link', onclick: async () => {
        try { await api('POST', '/v1/registrations', { email: me.email }); } catch { /* same answer */ }
        passwordNote.textContent = t('linkSent'); passwordNote.hidden = false;
      } }, t('sendLink')), passwordNote),
    h('section', { class: 'card' }, h('h2', {}, t('certTitle')), h('p', {}, t('certHelp')),
      h('button', { type: 'button', id: 'register-certificate', onclick: async () => {
        try {
          const reply = await api('POST', '/v1/me/certificates');
          certNote.textContent = t('certDone') + reply.fingerprint;
        } catch (e) { certNote.textContent = t('error') + e.message; }
        certNote.hidden = false;
      } }, t('certButton')), certNote),
    h('section', { class: 'card' }, h('h2', {}, t('sessionsTitle')), h('p', {}, t('sessionsNote')),
      h('button', { type: 'button', onclick: () => app.logout() }, t('logout'))));
}

function select(name, values, label, current) {
  return h('select', { name }, values.map((v) => h('option', { value: v, selected: v === current }, label(v))));
}

export async function adminScreen(root) {
  if (app.me.role !== 'admin') { root.append(h('p', { class: 'error', role: 'alert' }, t('forbidden'))); return; }
  const table = h('tbody', { id: 'users' });
  const pending = h('ul', { id: 'pending' });
  const error = errorBox();

  async function load() {
    const { users } = await api('GET', '/v1/admin/users');
    clear(table); clear(pending);
    for (const user of users) {
      const profession = select('profession', professionNames, professionLabel, user.profession);
      const role = select('role', ['member', 'admin'], roleLabel, user.role);
      profession.setAttribute('aria-label', `${t('profession')}: ${user.name}`);
      role.setAttribute('aria-label', `${t('orgRole')}: ${user.name}`);
      const save = h('button', { type: 'button', class: 'save', 'aria-label': `${t('save')}: ${user.name}`, onclick: () =>
        patch(user.id, { profession: profession.value, role: role.value }) }, t('save'));
      const disabled = user.status === 'disabled';
      const toggle = user.id === app.me.id ? null : h('button', { type: 'button', class: disabled ? 'enable' : 'disable',
        'aria-label': `${disabled ? t('enable') : t('disable')}: ${user.name}`,
        onclick: () => patch(user.id, { disabled: !disabled }) }, disabled ? t('enable') : t('disable'));
      table.append(h('tr', { dataset: { user: user.id, email: user.email } },
        h('td', {}, user.name), h('td', {}, user.email), h('td', {}, profession), h('td', {}, role),
        h('td', { class: 'status' }, statusLabel(user.status)), h('td', {}, save, ' ', toggle)));
      if (user.status === 'invited') pending.append(h('li', {}, `${user.name} <${user.email}> — ${professionLabel(user.profession)}`));
    }
    if (!pending.firstChild) pending.append(h('li', {}, t('none')));
  }

  async function patch(id, body) {
    showError(error, '');
    try { await api('PATCH', `/v1/admin/users/${encodeURIComponent(id)}`, body); await load(); }
    catch (e) { showError(error, t('error') + e.message); }
  }

  // Invite
  const email = h('input', { type: 'email', name: 'invite-email', required: true });
  const name = h('input', { type: 'text', name: 'invite-name', required: true, maxlength: 200 });
  const profession = select('invite-profession', professionNames, professionLabel, 'other');
  const role = select('invite-role', ['member', 'admin'], roleLabel, 'member');
  const inviteNote = h('p', { class: 'notice', role: 'status', hidden: true });
  const invite = h('form', { class: 'card inline-form', id: 'invite' }, h('h2', {}, t('invite')),
    field(t('email'), email), field(t('name'), name), field(t('profession'), profession), field(t('orgRole'), role),
    h('button', { type: 'submit', class: 'primary' }, t('inviteButton')), inviteNote);
  invite.addEventListener('submit', async (event) => {
    event.preventDefault();
    showError(error, '');
    try {
      const user = await api('POST', '/v1/admin/users', { email: email.value, name: name.value,
                                                          profession: profession.value, role: role.value });
      inviteNote.textContent = t('invited') + user.email; inviteNote.hidden = false;
      email.value = ''; name.value = '';
      await load();
    } catch (e) { showError(error, t('error') + e.message); }
  });

  // Security policy
  const minLength = h('input', { type: 'number', name: 'min-length', min: 8, max: 128 });
  const minClasses = h('input', { type: 'number', name: 'min-classes', min: 1, max: 4 });
  const requireCert = h('input', { type: 'checkbox', name: 'require-cert' });
  const policyNote = h('p', { class: 'notice', role: 'status', hidden: true });
  const policy = h('form', { class: 'card inline-form', id: 'policy' }, h('h2', {}, t('policyTitle')),
    field(t('minLength'), minLength), field(t('minClasses'), minClasses),
    h('div', { class: 'field check' }, requireCert, h('label', { for: (requireCert.id = 'require-cert') }, t('requireCert'))),
    h('button', { type: 'submit' }, t('save')), policyNote);
  function showPolicy(p) {
    minLength.value = p.password_min_length; minClasses.value = p.password_min_classes;
    requireCert.checked = p.require_client_certificate;
  }
  policy.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      showPolicy(await api('PATCH', '/v1/admin/organization', { password_min_length: Number(minLength.value),
        password_min_classes: Number(minClasses.value), require_client_certificate: requireCert.checked }));
      policyNote.textContent = t('saved');
    } catch (e) { policyNote.textContent = t('error') + e.message; }
    policyNote.hidden = false;
  });

  // Audit log, filtered and exported
  const from = h('input', { type: 'date', name: 'audit-from' });
  const to = h('input', { type: 'date', name: 'audit-to' });
  const action = h('input', { type: 'text', name: 'audit-action', placeholder: 'login.' });
  const auditBody = h('tbody', { id: 'audit' });
  let entries = [];
  const audit = h('form', { class: 'card', id: 'audit-form' }, h('h2', {}, t('auditTitle')),
    h('div', { class: 'inline-form' }, field(`${t('from')} (JST)`, from), field(`${t('to')} (JST)`, to), field(t('action'), action),
      h('button', { type: 'submit' }, t('show')),
      h('button', { type: 'button', onclick: () => download('audit.json', 'application/json', JSON.stringify(entries, null, 1)) }, t('exportJSON')),
      h('button', { type: 'button', onclick: () => download('audit.csv', 'text/csv', csv(entries)) }, t('exportCSV'))),
    h('div', { class: 'scroll' }, h('table', {}, h('thead', {}, h('tr', {}, [t('time'), t('action'), t('actor'), t('target'), t('source')].map((c) => h('th', { scope: 'col' }, c)))), auditBody)));
  async function loadAudit() {
    const query = new URLSearchParams({ limit: '1000' });
    if (from.value) query.set('from', `${from.value}T00:00:00+09:00`);
    if (to.value) query.set('to', `${to.value}T23:59:59+09:00`);
    const reply = await api('GET', `/v1/admin/audit?${query}`);
    entries = reply.entries.filter((e) => !action.value || e.action.startsWith(action.value));
    clear(auditBody);
    for (const e of entries.slice(-300).reverse()) {
      auditBody.append(h('tr', {}, h('td', {}, formatTime(e.at)), h('td', {}, e.action), h('td', {}, e.actor || 'cli'),
        h('td', {}, e.target || ''), h('td', {}, e.source || '')));
    }
  }
  audit.addEventListener('submit', (event) => { event.preventDefault(); loadAudit().catch((e) => showError(error, t('error') + e.message)); });

  root.append(h('h1', {}, t('adminTitle')), error,
    h('section', { class: 'card' }, h('h2', {}, t('members')),
      h('div', { class: 'scroll' }, h('table', { class: 'users' },
        h('thead', {}, h('tr', {}, [t('name'), t('email'), t('profession'), t('orgRole'), t('status'), ''].map((c) => h('th', { scope: 'col' }, c)))),
        table))),
    h('section', { class: 'card' }, h('h2', {}, t('pending')), pending), invite, policy, audit);
  try {
    await load();
    showPolicy(await api('GET', '/v1/admin/organization'));
    await loadAudit();
  } catch (e) { showError(error, t('error') + e.message); }
}

function csv(entries) {
  // Quoted, and a leading = + - @ defused, so a spreadsheet never runs a cell as a formula.
  const cell = (v) => `"${String(v ?? '').replace(/^[=+\-@]/, "'$&").replaceAll('"', '""')}"`;
  const columns = ['seq', 'at', 'action', 'actor', 'target', 'source', 'node', 'details'];
  return [columns.join(','), ...entries.map((e) => columns.map((c) => cell(e[c])).join(','))].join('\r\n');
}

function download(name, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h('a', { href: url, download: name });
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
