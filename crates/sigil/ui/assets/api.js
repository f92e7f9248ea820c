// Sigil's HTTP clients for the browser: the identity service (same origin, session cookie) and the
// tasks API (this origin or SIGIL_API_URL, JWT in `Authorization: Bearer`, never a cookie).
//
// The front-end flow of the spec:
// * the session lives in the HttpOnly cookie that `/api/auth/*` sets; scripts never see it;
// * a JWT comes from `GET /api/auth/token` and is kept in this module's memory only (not in
//   localStorage or sessionStorage, where an injected script or another tab could read it);
// * it is refreshed shortly before it expires (a timer, and a check before every call), and once
//   more after a 401 from the API, and the call is retried once with the new token;
// * when `/api/auth/token` answers 401 the session is gone: the browser goes to sign-in.

const apiMeta = document.querySelector('meta[name="sigil-api"]');
/** Where the tasks API lives: '' for this origin, else e.g. `https://api.example.com`. */
export const API_BASE = (apiMeta ? apiMeta.content : '').replace(/\/+$/, '');

/** Refresh this long before `exp`, at most (a third of the lifetime for short-lived tokens). */
const REFRESH_MARGIN_MS = 60_000;
/** After a failed background refresh (network), try again after this long. */
const RETRY_MS = 15_000;

/** An error answer (or no answer) from a Sigil endpoint. */
export class ApiError extends Error {
  constructor(status, code, message, retryAfter = null) {
    super(message || code);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

/** The session ended (signed out, revoked, expired): the page is leaving for sign-in. */
export class SessionGone extends Error {
  constructor() {
    super('The session has ended');
    this.name = 'SessionGone';
  }
}

async function readBody(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function errorOf(response, body) {
  const fromBody = body && typeof body === 'object' ? body : {};
  const code = fromBody.code || (response.status === 429 ? 'TOO_MANY_REQUESTS' : `HTTP_${response.status}`);
  const retry = Number(response.headers.get('x-retry-after') || response.headers.get('retry-after'));
  return new ApiError(response.status, code, fromBody.message || response.statusText, Number.isFinite(retry) && retry > 0 ? retry : null);
}

async function send(url, { method = 'GET', body, headers = {}, credentials }) {
  const init = { method, headers: { Accept: 'application/json', ...headers }, credentials, cache: 'no-store' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  try {
    return await fetch(url, init);
  } catch (cause) {
    throw new ApiError(0, 'NETWORK_ERROR', String(cause && cause.message || cause));
  }
}

// ---------------------------------------------------------------------------------------------
// Identity service: `/api/auth/*` on this origin, with the session cookie.

async function authCall(path, options = {}) {
  const response = await send(`/api/auth${path}`, { ...options, credentials: 'same-origin' });
  const body = await readBody(response);
  if (!response.ok) throw errorOf(response, body);
  return body;
}

const post = (path, body = {}) => authCall(path, { method: 'POST', body });

export const auth = {
  signUp: (name, email, password) => post('/sign-up/email', { name, email, password }),
  signIn: (email, password, rememberMe) => post('/sign-in/email', { email, password, rememberMe }),
  signOut: () => post('/sign-out'),
  /** `{session, user}` or `null`. */
  getSession: () => authCall('/get-session'),
  listSessions: () => authCall('/list-sessions'),
  revokeSession: (token) => post('/revoke-session', { token }),
  revokeSessions: () => post('/revoke-sessions'),
  revokeOtherSessions: () => post('/revoke-other-sessions'),
  updateUser: (fields) => post('/update-user', fields),
  changePassword: (currentPassword, newPassword, revokeOtherSessions) =>
    post('/change-password', { currentPassword, newPassword, revokeOtherSessions }),
  requestPasswordReset: (email) => post('/request-password-reset', { email, redirectTo: '/reset-password' }),
  resetPassword: (token, newPassword) => post('/reset-password', { token, newPassword }),
  sendVerificationEmail: (email) => post('/send-verification-email', { email, callbackURL: '/verify-email' }),
  signInSocial: (body) => post('/sign-in/social', body),
  linkSocial: (body) => post('/link-social', body),
  listAccounts: () => authCall('/list-accounts'),
  unlinkAccount: (accountId) => post('/unlink-account', { accountId }),
  // Passkeys: Better Auth's passkey plugin routes (passkeys.js makes the WebAuthn calls).
  passkeyRegisterOptions: (name) =>
    authCall(`/passkey/generate-register-options${name ? `?name=${encodeURIComponent(name)}` : ''}`),
  passkeyVerifyRegistration: (response, name) => post('/passkey/verify-registration', { response, name }),
  passkeyAuthenticateOptions: () => authCall('/passkey/generate-authenticate-options'),
  passkeyVerifyAuthentication: (response) => post('/passkey/verify-authentication', { response }),
  listPasskeys: () => authCall('/passkey/list-user-passkeys'),
  renamePasskey: (id, name) => post('/passkey/update-passkey', { id, name }),
  deletePasskey: (id) => post('/passkey/delete-passkey', { id }),
  twoFactor: {
    enable: (password) => post('/two-factor/enable', { password }),
    disable: (password) => post('/two-factor/disable', { password }),
    generateBackupCodes: (password) => post('/two-factor/generate-backup-codes', { password }),
    verifyTotp: (code, trustDevice) => post('/two-factor/verify-totp', { code, trustDevice }),
    verifyBackupCode: (code, trustDevice) => post('/two-factor/verify-backup-code', { code, trustDevice }),
    sendOtp: () => post('/two-factor/send-otp'),
    verifyOtp: (code, trustDevice) => post('/two-factor/verify-otp', { code, trustDevice }),
  },
};

/** The modules of a QR code for `text`, made by this server (nothing leaves for another site). */
export async function qrCode(text) {
  const response = await send('/ui/qr', { method: 'POST', body: { text }, credentials: 'same-origin' });
  const body = await readBody(response);
  if (!response.ok) throw errorOf(response, body);
  return body;
}

// ---------------------------------------------------------------------------------------------
// The JWT: in memory, refreshed before it expires.

let current = null; // { jwt, claims, refreshAt } — refreshAt on this browser's clock
let inflight = null;
let timer = null;
let leaving = false;

function decodeClaims(jwt) {
  const part = jwt.split('.')[1] || '';
  const binary = atob(part.replace(/-/g, '+').replace(/_/g, '/'));
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

const leaveHooks = [];

/** Runs `hook` just before the page leaves for sign-in (to keep what the user typed). */
export function beforeSignIn(hook) {
  leaveHooks.push(hook);
}

/** The user id of the current JWT, if any. */
export function currentUserId() {
  return current ? current.claims.sub : null;
}

/** Leaves for sign-in, remembering where the user was. */
export function goToSignIn(reason = 'session-ended') {
  if (leaving) return;
  leaving = true;
  for (const hook of leaveHooks) {
    try {
      hook();
    } catch {
      // Keeping a draft is best effort; leaving is not.
    }
  }
  clearTimeout(timer);
  current = null;
  const here = location.pathname + location.search;
  const next = here.startsWith('/sign-in') ? '' : `&next=${encodeURIComponent(here)}`;
  location.replace(`/sign-in?reason=${reason}${next}`);
}

async function fetchToken() {
  const response = await send('/api/auth/token', { credentials: 'same-origin' });
  const body = await readBody(response);
  if (response.status === 401) {
    goToSignIn();
    throw new SessionGone();
  }
  if (!response.ok || !body || typeof body.token !== 'string') throw errorOf(response, body);
  const claims = decodeClaims(body.token);
  // Measure the lifetime from the token itself and count it on this browser's clock, so a skewed
  // clock does not make the page refresh too late.
  const lifetime = Math.max(0, (claims.exp - claims.iat) * 1000);
  const margin = Math.min(REFRESH_MARGIN_MS, lifetime / 3);
  current = { jwt: body.token, claims, refreshAt: Date.now() + lifetime - margin };
  schedule(current.refreshAt - Date.now());
  return current;
}

function schedule(delay) {
  clearTimeout(timer);
  timer = setTimeout(() => {
    refreshToken().catch((error) => {
      if (!(error instanceof SessionGone)) schedule(RETRY_MS);
    });
  }, Math.max(1000, delay));
}

/** Gets a new JWT from `/api/auth/token` (one request at a time). */
export function refreshToken() {
  if (!inflight) {
    inflight = fetchToken().finally(() => {
      inflight = null;
    });
  }
  return inflight;
}

/** The current JWT, refreshed first when it is close to expiry. */
export async function token() {
  if (!current || Date.now() >= current.refreshAt) return refreshToken();
  return current;
}

// When a hidden tab comes back, timers may have been throttled: check at once.
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && current && Date.now() >= current.refreshAt) {
    refreshToken().catch(() => {});
  }
});

// ---------------------------------------------------------------------------------------------
// Tasks API: `/api/{user_id}/tasks`, Bearer JWT, no cookies (cross-origin in split deployments).

async function apiCall(path, options = {}) {
  let used = await token();
  const call = (t) =>
    send(`${API_BASE}/api/${encodeURIComponent(t.claims.sub)}/tasks${path}`, {
      ...options,
      credentials: 'omit',
      headers: { Authorization: `Bearer ${t.jwt}` },
    });
  let response = await call(used);
  if (response.status === 401) {
    // Expired or revoked token: get a new one once (another call may have done it already) and
    // retry. If the session itself is gone, refreshToken leaves for sign-in.
    used = current && current !== used ? current : await refreshToken();
    response = await call(used);
    if (response.status === 401) {
      // The session is live (the refresh worked) but the API refuses its tokens: a
      // configuration problem (issuer, audience, keys), not something signing in again fixes.
      throw new ApiError(401, 'TOKEN_REFUSED', 'The tasks API refused a fresh token');
    }
  }
  const body = await readBody(response);
  if (!response.ok) throw errorOf(response, body);
  return body;
}

export const tasks = {
  list: (status = 'all') => apiCall(`?status=${encodeURIComponent(status)}`),
  get: (id) => apiCall(`/${encodeURIComponent(id)}`),
  create: (title, description) => apiCall('', { method: 'POST', body: { title, description } }),
  replace: (id, fields) => apiCall(`/${encodeURIComponent(id)}`, { method: 'PUT', body: fields }),
  setCompleted: (id, completed) =>
    apiCall(`/${encodeURIComponent(id)}/complete`, { method: 'PATCH', body: { completed } }),
  remove: (id) => apiCall(`/${encodeURIComponent(id)}`, { method: 'DELETE' }),
};
