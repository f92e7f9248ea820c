// Short-lived JWTs for the API, kept in memory only (never in localStorage).
//
// `TokenSource` gets a JWT from Sigil (`authClient.token()`, i.e. GET /api/auth/token with the
// session cookie), renews it before it expires (60 s before, or a third of the lifetime for short
// tokens, timed on this browser's clock from the token's own lifetime, so a skewed clock does not
// matter), and once more when the API answers 401. When Sigil refuses (the session ended) it
// reports `null` and the page goes to sign-in.

import { authClient } from './auth-client';

function claimsOf(jwt) {
  const payload = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
  return JSON.parse(atob(payload.padEnd(payload.length + ((4 - (payload.length % 4)) % 4), '=')));
}

export class TokenSource {
  constructor() {
    this.jwt = null;
    this.claims = null;
    this.timer = null;
    this.pending = null;
    this.onSignedOut = () => {};
  }

  /** The current JWT, fetching one if there is none. */
  async get() {
    return this.jwt ?? this.refresh();
  }

  /** A new JWT from Sigil (one request at a time); `null` when the session is gone. */
  refresh() {
    if (!this.pending) {
      this.pending = (async () => {
        try {
          const { data, error } = await authClient.token();
          if (error || !data?.token) {
            this.clear();
            this.onSignedOut();
            return null;
          }
          this.jwt = data.token;
          this.claims = claimsOf(data.token);
          this.schedule();
          return this.jwt;
        } finally {
          this.pending = null;
        }
      })();
    }
    return this.pending;
  }

  schedule() {
    clearTimeout(this.timer);
    const lifetime = Math.max(1, this.claims.exp - (this.claims.iat ?? this.claims.exp - 900));
    const ahead = Math.min(60, lifetime / 3);
    this.timer = setTimeout(() => this.refresh(), Math.max(1, lifetime - ahead) * 1000);
  }

  clear() {
    clearTimeout(this.timer);
    this.jwt = null;
    this.claims = null;
  }
}
