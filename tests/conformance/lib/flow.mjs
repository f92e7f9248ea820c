// The step runner shared by every scenario: devices (cookie jars), official clients bound to them, steps
// that record one normalized observation each, and assertions about what the client relies on.
import { createAuthClient } from "better-auth/client";
import { adminClient, jwtClient, twoFactorClient } from "better-auth/client/plugins";
import { passkeyClient } from "@better-auth/passkey/client";
import { SoftAuthenticator } from "./authenticator.mjs";
import { Browser, Recorder } from "./browser.mjs";
import { Outbox } from "./mail.mjs";
import { observe, parseBody, redactExchange } from "./observe.mjs";

export class Flow {
  /**
   * @param {object} o
   * @param {string} o.origin server origin, e.g. http://127.0.0.1:1234 (the API is at origin + /api/auth)
   * @param {string} o.mailFile the SIGIL_MAIL_FILE of that server
   * @param {string} o.scenario scenario name, prefixed to every step name
   * @param {(line: string) => void} [o.log]
   */
  constructor({ origin, mailFile, scenario, log, travel, promote }) {
    this.origin = origin.replace(/\/+$/, "");
    this.api = `${this.origin}/api/auth`;
    this.scenario = scenario;
    this.recorder = new Recorder();
    this.outbox = new Outbox(mailFile);
    this.steps = [];
    this.assertions = [];
    this.exchanges = [];
    this.log = log ?? (() => {});
    this.devices = 0;
    this.failedInARow = 0;
    this.travelImpl = travel;
    this.promoteImpl = promote;
    /** The software authenticator this flow's "browser" answers WebAuthn calls with (lib/authenticator.mjs). */
    this.authenticator = new SoftAuthenticator();
    this.authenticator.origin = this.origin;
  }

  /**
   * Gives the user with `email` the role `role` out of band: `sigil users set-role` on Sigil's database, the
   * memory adapter's row on the reference (what an operator does for the first administrator).
   */
  async promote(email, role = "admin") {
    if (!this.promoteImpl) throw new Error("this run cannot promote users");
    await this.promoteImpl(email, role);
    this.log(`  (${email} is now ${role})`);
  }

  /**
   * Sets the server's clock to `hours` after the scenario's start (scenarios marked `faketime`: the server
   * runs under libfaketime, reading its offset from a file this rewrites).
   */
  async travel(hours) {
    if (!this.travelImpl) throw new Error("this scenario's server does not run under libfaketime");
    await this.travelImpl(hours);
    this.log(`  (server clock now at +${hours} h)`);
  }

  /** A new device: its own cookie jar. */
  device(name, opts = {}) {
    this.devices += 1;
    return new Browser(this.recorder, this.origin, { name: name ?? `device${this.devices}`, ...opts });
  }

  /** The official client bound to a device. `fetchOptions` are merged in (e.g. {auth: {type: "Bearer", token}}). */
  client(device, fetchOptions = {}) {
    return createAuthClient({
      baseURL: this.origin,
      plugins: [jwtClient(), adminClient(), twoFactorClient()],
      fetchOptions: { customFetchImpl: device.fetch, ...fetchOptions },
    });
  }

  /** The official client with `passkeyClient()` (and `twoFactorClient()`) bound to a device. */
  passkeyClient(device) {
    return createAuthClient({
      baseURL: this.origin,
      plugins: [twoFactorClient(), passkeyClient()],
      fetchOptions: { customFetchImpl: device.fetch },
    });
  }

  /** A device with no cookies and the official client sending `Authorization: Bearer <token>`. */
  bearerClient(name, token) {
    const device = this.device(name, { cookies: false });
    return { device, client: this.client(device, { auth: { type: "Bearer", token: () => token } }) };
  }

  /** A raw request to origin + /api/auth + path through a device. */
  raw(device, path, init = {}) {
    return device.fetch(`${this.api}${path}`, init);
  }

  /** A raw JSON POST through a device. */
  post(device, path, body, init = {}) {
    return this.raw(device, path, {
      method: "POST",
      ...init,
      headers: { "content-type": "application/json", ...(init.headers ?? {}) },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
  }

  /**
   * Runs one step. `fn` makes the request(s) (client call or raw fetch); the first request it makes is
   * observed. Returns {ex, json, data, error, result} for the flow to use.
   */
  async step(name, fn, { observeAll = false } = {}) {
    const full = `${this.scenario}/${name}`;
    const before = this.recorder.length;
    let result;
    let thrown;
    try {
      result = await fn();
    } catch (e) {
      thrown = e;
    }
    const made = this.recorder.since(before);
    if (!made.length) {
      const cause = thrown?.cause?.code ?? thrown?.name;
      const obs = { step: full, error: `no request was made${thrown ? `: ${thrown.message}${cause ? ` (${cause})` : ""}` : ""}` };
      this.steps.push(obs);
      this.log(`  ${full}: ${obs.error}`);
      this.failedInARow += 1;
      if (this.failedInARow >= 3) throw new Error(`three steps in a row got no answer (last: ${obs.error}); scenario aborted`);
      return { ex: null, json: undefined, data: null, error: thrown ?? null, result };
    }
    this.failedInARow = 0;
    const ex = made[0];
    const obs = observe(full, ex, this.origin);
    if (thrown) obs.clientError = String(thrown.message ?? thrown);
    this.steps.push(obs);
    // A client call that makes several requests (a passkey ceremony: options, then verification) can have
    // each observed, as `<step>#<last path segment>`.
    if (observeAll) {
      for (const later of made.slice(1)) {
        const more = observe(`${full}#${new URL(later.url).pathname.split("/").pop()}`, later, this.origin);
        this.steps.push(more);
      }
    }
    this.exchanges.push({ step: full, exchanges: made.map((e) => redactExchange(e, this.origin)) });
    const parsed = parseBody(ex);
    this.log(`  ${full}: ${ex.status}${obs.code ? ` ${obs.code}` : ""}`);
    return {
      ex,
      json: parsed.kind === "json" ? parsed.json : undefined,
      data: result && typeof result === "object" && "data" in result ? result.data : undefined,
      error: result && typeof result === "object" && "error" in result ? result.error : undefined,
      result,
    };
  }

  /** Records an observation that was not one HTTP exchange (e.g. decoded JWT claims). */
  record(name, observation) {
    const full = `${this.scenario}/${name}`;
    this.steps.push({ step: full, ...observation });
  }

  /** An assertion about behaviour the client relies on. */
  assert(name, ok, detail) {
    const full = `${this.scenario}/${name}`;
    const entry = { name: full, ok: !!ok };
    if (!ok && detail !== undefined) entry.detail = typeof detail === "string" ? detail : JSON.stringify(detail);
    this.assertions.push(entry);
    if (!ok) this.log(`  ASSERTION FAILED ${full}${entry.detail ? `: ${entry.detail}` : ""}`);
    return !!ok;
  }

  transcript() {
    return { scenario: this.scenario, steps: this.steps, assertions: this.assertions };
  }
}

/** The value of a cookie named `name` set by this exchange, or undefined. */
export function setCookieValue(ex, name) {
  if (!ex) return undefined;
  for (const line of ex.setCookies) {
    const [pair] = line.split(";");
    const i = pair.indexOf("=");
    if (pair.slice(0, i).trim() === name) return pair.slice(i + 1).trim();
  }
  return undefined;
}

/** Whether this exchange expires the cookie `name` (Max-Age=0). */
export function expiresCookie(ex, name) {
  if (!ex) return false;
  return ex.setCookies.some((line) => {
    const [pair, ...attrs] = line.split(";");
    return pair.split("=")[0].trim() === name && attrs.some((a) => /^\s*max-age\s*=\s*0\s*$/i.test(a));
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
