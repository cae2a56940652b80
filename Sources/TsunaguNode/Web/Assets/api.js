// The public HTTP API (docs/protocol.md §5). The session token lives in sessionStorage (this tab
// only, gone when it closes), exactly as the API issued it; it is never logged and never put
// in a URL, and logout removes it.

const TOKEN_KEY = 'tsunagu.token';

export function token() { try { return sessionStorage.getItem(TOKEN_KEY); } catch { return null; } }
export function setToken(value) {
  try { if (value) sessionStorage.setItem(TOKEN_KEY, value); else sessionStorage.removeItem(TOKEN_KEY); } catch { /* ignore */ }
}

export class APIError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  const bearer = token();
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
                                   cache: 'no-store', credentials: 'same-origin' });
  } catch {
    throw new APIError(0, 'unavailable', 'network');
  }
  if (response.status === 204) return null;
  let json = null;
  try { json = await response.json(); } catch { /* not JSON */ }
  if (!response.ok) {
    const error = new APIError(response.status, json?.code || 'internal', json?.message || String(response.status));
    if (response.status === 401 && bearer && path !== '/v1/sessions') window.dispatchEvent(new CustomEvent('tsunagu:revoked'));
    throw error;
  }
  return json;
}
