// Login and the activation page of the invitation link.
import { h, field, errorBox, showError } from './dom.js';
import { t } from './i18n.js';
import { api } from './api.js';
import { app } from './state.js';

export function loginScreen(root) {
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const error = errorBox();
  const notice = h('p', { class: 'notice', role: 'status', hidden: !app.notice }, app.notice);
  const form = h('form', { class: 'card narrow', id: 'login-form' },
    h('h1', {}, t('loginTitle')), notice, error,
    field(t('email'), email), field(t('password'), password),
    h('button', { type: 'submit', class: 'primary' }, t('loginButton')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    showError(error, '');
    try {
      const session = await api('POST', '/v1/sessions', { email: email.value, password: password.value });
      password.value = '';
      await app.loggedIn(session.token);
    } catch (e) {
      showError(error, e.code === 'client_certificate_required' ? t('certRequired')
        : e.status === 429 ? `${t('loginLocked')} ${e.message}` : e.status === 401 ? t('loginFailed') : t('error') + e.message);
    }
  });
  const resetEmail = h('input', { type: 'email', name: 'reset-email', autocomplete: 'email', required: true });
  const resetNote = h('p', { class: 'notice', role: 'status', hidden: true });
  const reset = h('form', { class: 'card narrow' }, h('h2', {}, t('forgot')), field(t('email'), resetEmail),
    h('button', { type: 'submit' }, t('sendLink')), resetNote);
  reset.addEventListener('submit', async (event) => {
    event.preventDefault();
    try { await api('POST', '/v1/registrations', { email: resetEmail.value }); } catch { /* same answer for all */ }
    resetNote.textContent = t('linkSent'); resetNote.hidden = false;
  });
  root.append(form, reset);
  email.focus();
}

export function activationScreen(root) {
  // The token arrives in the fragment (never sent to any server); it is kept in memory and
  // taken out of the address bar at once.
  const match = /token=([^&]+)/.exec(location.hash);
  const linkToken = match ? decodeURIComponent(match[1]) : (activationScreen.token || '');
  activationScreen.token = linkToken;
  if (match) history.replaceState(null, '', '/activate');
  const name = h('input', { type: 'text', name: 'name', autocomplete: 'name', required: true, maxlength: 200 });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'new-password', required: true });
  const again = h('input', { type: 'password', name: 'password2', autocomplete: 'new-password', required: true });
  const error = errorBox();
  const done = h('p', { class: 'notice', role: 'status', hidden: true });
  const form = h('form', { class: 'card narrow', id: 'activate-form' },
    h('h1', {}, t('activateTitle')), h('p', {}, t('activateIntro')),
    h('p', { class: 'policy', id: 'policy' }, t('policy')), error,
    field(t('name'), name), field(t('newPassword'), password, ''), field(t('confirmPassword'), again),
    h('button', { type: 'submit', class: 'primary' }, t('activateButton')), done);
  password.setAttribute('aria-describedby', 'policy');
  if (!linkToken) showError(error, t('noToken'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    showError(error, '');
    if (password.value !== again.value) return showError(error, t('mismatch'));
    try {
      await api('POST', '/v1/registrations/complete', { token: linkToken, name: name.value, password: password.value });
      activationScreen.token = '';
      app.notice = t('activated');
      history.replaceState(null, '', '/');
      app.navigate('#/login');
    } catch (e) {
      showError(error, e.status === 404 ? t('linkUnknown') : e.status === 409 ? t('linkUsed') : t('refused') + e.message);
    }
  });
  root.append(form);
  name.focus();
}
