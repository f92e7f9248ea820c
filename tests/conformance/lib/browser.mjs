// A minimal "browser" for Node: a per-device cookie jar, an Origin header on unsafe requests (as a browser
// sends it), and a recorder that keeps every request/response pair so that the flow can observe exactly what
// went over the wire. Its `fetch` is handed to the official client as `customFetchImpl`.

import http from "node:http";

/** A request that gets no answer within this time fails (the step records the error) instead of hanging the run. */
export const REQUEST_TIMEOUT_MS = 10000;

/** Shared log of every exchange made by every Browser of one flow run. */
export class Recorder {
  constructor() {
    this.exchanges = [];
  }
  get length() {
    return this.exchanges.length;
  }
  since(index) {
    return this.exchanges.slice(index);
  }
}

/** Parses one Set-Cookie line into {name, value, attributes: [[key, value|true], ...]} (attribute order kept). */
export function parseSetCookie(line) {
  const parts = line.split(";");
  const first = parts.shift();
  const eq = first.indexOf("=");
  const name = (eq < 0 ? first : first.slice(0, eq)).trim();
  const value = eq < 0 ? "" : first.slice(eq + 1).trim();
  const attributes = [];
  for (const part of parts) {
    const p = part.trim();
    if (!p) continue;
    const i = p.indexOf("=");
    if (i < 0) attributes.push([p, true]);
    else attributes.push([p.slice(0, i).trim(), p.slice(i + 1).trim()]);
  }
  return { name, value, attributes };
}

function attr(cookie, key) {
  const hit = cookie.attributes.find(([k]) => k.toLowerCase() === key);
  return hit ? hit[1] : undefined;
}

/** Whether a Set-Cookie deletes the cookie (Max-Age <= 0 or an Expires in the past). */
export function isExpiring(cookie) {
  const maxAge = attr(cookie, "max-age");
  if (maxAge !== undefined && Number(maxAge) <= 0) return true;
  const expires = attr(cookie, "expires");
  if (expires !== undefined && typeof expires === "string" && Date.parse(expires) <= Date.now()) return true;
  return false;
}

/**
 * One HTTP/1.1 request through node:http with exactly the given headers (plus Host and Content-Length),
 * for the cases where Node's fetch would add its own (it always sends `sec-fetch-mode: cors`, `accept`,
 * `accept-language`, `accept-encoding` and `user-agent: node`). Resolves to a Response-like record.
 */
export function exactRequest(url, { method = "GET", headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const payload = body === undefined ? undefined : typeof body === "string" ? Buffer.from(body) : Buffer.from(body);
    const h = { ...headers };
    if (payload) h["content-length"] = String(payload.length);
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers: h }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const headersOut = {};
        let setCookies = [];
        for (const [k, v] of Object.entries(res.headers)) {
          if (k === "set-cookie") setCookies = v;
          else headersOut[k] = Array.isArray(v) ? v.join(", ") : v;
        }
        resolve({ status: res.statusCode, statusText: res.statusMessage, headers: headersOut, setCookies, bodyText: Buffer.concat(chunks).toString("utf8") });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    if (payload) req.write(payload);
    req.end();
  });
}

export class Browser {
  /**
   * @param {Recorder} recorder
   * @param {string} origin e.g. http://127.0.0.1:1234
   * @param {object} [opts]
   * @param {string} [opts.name] device label, kept in the log
   * @param {boolean} [opts.cookies=true] keep and send cookies
   * @param {boolean} [opts.sendOrigin=true] send Origin on non-GET/HEAD requests, like a browser
   */
  constructor(recorder, origin, opts = {}) {
    this.recorder = recorder;
    this.origin = origin;
    this.name = opts.name ?? "device";
    this.useCookies = opts.cookies ?? true;
    this.sendOrigin = opts.sendOrigin ?? true;
    this.jar = new Map();
    this.fetch = this.fetch.bind(this);
  }

  cookieHeader() {
    return [...this.jar.entries()].map(([k, v]) => `${k}=${v}`).join("; ");
  }

  store(setCookieLines) {
    for (const line of setCookieLines) {
      const c = parseSetCookie(line);
      if (isExpiring(c) || c.value === "") this.jar.delete(c.name);
      else this.jar.set(c.name, c.value);
    }
  }

  /**
   * fetch(input, init) with the jar applied. Extra init fields understood here:
   *  - `noJar: true`      do not send the jar's cookies (the response still updates the jar unless noStore)
   *  - `noStore: true`    do not store the response's cookies
   *  - `noOrigin: true`   do not add an Origin header
   *  - `exact: true`      send through node:http with only these headers (no fetch-added ones)
   */
  async fetch(input, init = {}) {
    const isRequest = typeof input === "object" && !(input instanceof URL);
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    const method = String(init.method ?? (isRequest ? input.method : undefined) ?? "GET").toUpperCase();
    const headers = new Headers(init.headers ?? (isRequest ? input.headers : undefined));
    if (this.useCookies && !init.noJar && this.jar.size && !headers.has("cookie")) headers.set("cookie", this.cookieHeader());
    if (this.sendOrigin && !init.noOrigin && method !== "GET" && method !== "HEAD" && !headers.has("origin")) {
      headers.set("origin", this.origin);
    }
    const { noJar, noStore, noOrigin, exact, ...rest } = init;
    const started = Date.now();
    let res;
    let text;
    let setCookies;
    const resHeaders = {};
    if (exact) {
      const r = await exactRequest(url, { method, headers: Object.fromEntries(headers.entries()), body: rest.body });
      ({ bodyText: text, setCookies } = r);
      Object.assign(resHeaders, r.headers);
      const h = new Headers();
      for (const [k, v] of Object.entries(r.headers)) h.set(k, v);
      for (const c of r.setCookies) h.append("set-cookie", c);
      res = new Response([101, 204, 205, 304].includes(r.status) ? null : text, { status: r.status, statusText: r.statusText, headers: h });
    } else {
      const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
      const signal = rest.signal ? AbortSignal.any([rest.signal, timeout]) : timeout;
      res = await globalThis.fetch(url, { ...rest, signal, method, headers, redirect: init.redirect ?? "manual" });
      text = await res.clone().text();
      setCookies = res.headers.getSetCookie();
      for (const [k, v] of res.headers.entries()) if (k !== "set-cookie") resHeaders[k] = v;
    }
    if (this.useCookies && !noStore) this.store(setCookies);
    let reqBody = rest.body ?? undefined;
    if (reqBody instanceof Uint8Array) reqBody = new TextDecoder().decode(reqBody);
    else if (reqBody !== undefined && typeof reqBody !== "string") reqBody = String(reqBody);
    this.recorder.exchanges.push({
      device: this.name,
      method,
      url,
      requestHeaders: Object.fromEntries(headers.entries()),
      requestBody: reqBody,
      status: res.status,
      statusText: res.statusText,
      headers: resHeaders,
      setCookies,
      bodyText: text,
      ms: Date.now() - started,
    });
    return res;
  }
}
