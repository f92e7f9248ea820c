// Turns a raw exchange into a normalized observation: everything that should be equal between two
// conforming servers, with the values that differ per run (ids, tokens, dates, ports) replaced by
// placeholders that still say what *kind* of value was there.

import { parseSetCookie } from "./browser.mjs";

const JWT = /^eyJ[A-Za-z0-9_-]*\.eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+$/;
const JWT_IN = /eyJ[A-Za-z0-9_-]*\.eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+/g;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const HTTP_DATE = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/;
const SIGNED = /^([A-Za-z0-9_!-]+)\.([A-Za-z0-9+/]{43}=)$/;
// twoFactor plugin values: backup codes (xxxxx-xxxxx), challenge ids (2fa-…), trust-device values (mac!trust-device-…).
const BACKUP_CODE = /^[A-Za-z0-9]{5}-[A-Za-z0-9]{5}$/;
const ALNUM = /^[A-Za-z0-9]{16,}$/;
const B64URL = /^[A-Za-z0-9_-]{40,}$/;

/**
 * Whether a long token-alphabet string is a random value rather than a fixed word: error codes
 * (UPPER_SNAKE_CASE) and runs of one repeated character (test passwords like "ppp…") are not.
 */
function looksRandom(s) {
  if (/^[A-Z][A-Z0-9_]*$/.test(s) && s.includes("_")) return false;
  if (/^(.)\1*$/.test(s)) return false;
  return true;
}

/** Replaces the run-specific origin (it carries a random port) with <origin>. */
function stripOrigin(s, origin) {
  return origin ? s.split(origin).join("<origin>") : s;
}

/** A placeholder for a signed cookie/bearer value `<token>.<base64 HMAC>`, or null. */
function signedPlaceholder(s) {
  const m = SIGNED.exec(s);
  if (!m) return null;
  const h = m[1];
  let head;
  if (h === "true") head = "true";
  else if (/^[A-Za-z0-9]+$/.test(h)) head = `<alnum${h.length}>`;
  else if (/^2fa-[A-Za-z0-9_-]+$/.test(h)) head = "2fa-<id>";
  else if (/^[A-Za-z0-9_-]{43}!trust-device-[A-Za-z0-9_-]+$/.test(h)) head = "<b64url43>!trust-device-<id>";
  else return null;
  return `${head}.<hmac-b64>`;
}

/** Redacts one string value. */
export function redactString(s, origin) {
  if (typeof s !== "string") return s;
  if (s === "") return s;
  if (JWT.test(s)) return "<jwt>";
  // Better Auth sends JS Date.toJSON(): milliseconds and "Z". Other ISO-8601 forms parse in the client but
  // are labelled differently so that the comparison shows them.
  if (ISO_DATE.test(s)) return /\.\d{3}Z$/.test(s) ? "<date>" : "<date-other-iso-form>";
  if (HTTP_DATE.test(s)) return "<http-date>";
  if (BACKUP_CODE.test(s)) return "<backup-code>";
  const signed = signedPlaceholder(s);
  if (signed) return signed;
  if (s.includes("%")) {
    try {
      const decoded = decodeURIComponent(s);
      const signedEnc = signedPlaceholder(decoded);
      if (signedEnc && decoded !== s) return `${signedEnc.replace("<hmac-b64>", "<hmac-b64-urlencoded>")}`;
    } catch {
      /* not URL-encoded */
    }
  }
  // 43 characters = 32 bytes in base64url (an Ed25519 "x", a SHA-256): whether such a value happens to
  // contain "-" or "_" is chance, so it is always labelled base64url.
  if (s.length === 43 && B64URL.test(s) && looksRandom(s)) return "<b64url43>";
  // 22 characters = 16 bytes in base64url (a WebAuthn credential id or user handle): likewise.
  if (s.length === 22 && /^[A-Za-z0-9_-]{22}$/.test(s) && looksRandom(s) && !/^[a-z]+$/.test(s)) return "<b64url22>";
  if (ALNUM.test(s) && looksRandom(s)) return `<alnum${s.length}>`;
  if (B64URL.test(s) && looksRandom(s)) return `<b64url${s.length}>`;
  let out = stripOrigin(s, origin);
  out = out.replace(JWT_IN, "<jwt>");
  // tokens embedded in URLs: /reset-password/<token>, ?token=<token>
  out = out.replace(/([/=])([A-Za-z0-9]{16,})(?=$|[?&#])/g, (all, lead, tok) => (looksRandom(tok) ? `${lead}<alnum${tok.length}>` : all));
  return out;
}

/** Deep-redacts a parsed JSON value. */
export function redact(value, origin) {
  if (Array.isArray(value)) return value.map((v) => redact(v, origin));
  if (value && typeof value === "object") {
    const out = {};
    for (const k of Object.keys(value).sort()) out[k] = redact(value[k], origin);
    return out;
  }
  return redactString(value, origin);
}

/** Sorted key paths: nested objects as a.b, arrays through their first element as a[].b. */
export function keyPaths(value, prefix = "") {
  const out = new Set();
  const walk = (v, p) => {
    if (Array.isArray(v)) {
      if (v.length) walk(v[0], `${p}[]`);
      return;
    }
    if (v && typeof v === "object") {
      for (const k of Object.keys(v)) {
        const path = p ? `${p}.${k}` : k;
        out.add(path);
        walk(v[k], path);
      }
    }
  };
  walk(value, prefix);
  return [...out].sort();
}

function mediaType(ct) {
  return ct ? ct.split(";")[0].trim().toLowerCase() : undefined;
}

/** Parses a response body as JSON when it is JSON; returns {kind, json?}. */
export function parseBody(ex) {
  const ct = mediaType(ex.headers["content-type"]);
  if (ex.bodyText === "") return { kind: "empty" };
  if (ct === "application/json" || /^[[{"]|^(null|true|false)$/.test(ex.bodyText.trim())) {
    try {
      return { kind: "json", json: JSON.parse(ex.bodyText) };
    } catch {
      return { kind: "text" };
    }
  }
  if (ct === "text/html") return { kind: "html" };
  return { kind: "text" };
}

const OBSERVED_HEADERS = [
  "content-type",
  "cache-control",
  "pragma",
  "set-auth-token",
  "set-auth-jwt",
  "access-control-expose-headers",
  "x-retry-after",
  "location",
];

/** Normalizes one Set-Cookie line: attribute names lower-cased, order dropped, run-specific values redacted. */
export function normalizeCookie(line, origin) {
  const c = parseSetCookie(line);
  const attributes = {};
  for (const [k, v] of c.attributes) {
    const key = k.toLowerCase();
    let val = v;
    if (key === "samesite" && typeof v === "string") val = v.toLowerCase();
    if (key === "expires") val = "<http-date>";
    attributes[key] = val;
  }
  return { name: c.name, value: c.value === "" ? "" : redactString(c.value, origin), attributes };
}

/** Normalizes header values that carry run-specific data. */
function normalizeHeader(name, value, origin) {
  switch (name) {
    case "content-type":
      return value.toLowerCase().replace(/\s+/g, "");
    case "access-control-expose-headers":
      return [...new Set(value.split(",").map((s) => s.trim().toLowerCase()).filter(Boolean))].sort().join(", ");
    case "x-retry-after":
      return /^\d+$/.test(value) ? "<int>" : value;
    case "set-auth-token":
    case "set-auth-jwt":
    case "location":
      return redactString(value, origin);
    default:
      return value;
  }
}

/**
 * The observation of one step: what the comparison looks at.
 * @param {string} step
 * @param {object} ex raw exchange from the Recorder
 * @param {string} origin
 */
export function observe(step, ex, origin) {
  const url = new URL(ex.url);
  const body = parseBody(ex);
  const headers = {};
  for (const h of OBSERVED_HEADERS) if (ex.headers[h] !== undefined) headers[h] = normalizeHeader(h, ex.headers[h], origin);
  const cookies = {};
  for (const line of ex.setCookies) {
    const c = normalizeCookie(line, origin);
    const entry = { value: c.value, attributes: c.attributes };
    if (cookies[c.name]) {
      // the same cookie set twice in one response: keep all, in order
      cookies[c.name] = [].concat(cookies[c.name], entry);
    } else cookies[c.name] = entry;
  }
  const obs = {
    step,
    request: { method: ex.method, path: redactString(url.pathname, origin) },
    status: ex.status,
    bodyKind: body.kind,
  };
  if (body.kind === "json") {
    const j = body.json;
    if (j && typeof j === "object" && !Array.isArray(j)) {
      if (typeof j.code === "string") obs.code = j.code;
      if (typeof j.message === "string") obs.message = redactString(j.message, origin);
    }
    obs.keys = keyPaths(j);
    obs.body = redact(j, origin);
  }
  obs.headers = headers;
  obs.cookies = cookies;
  return obs;
}

/** A redacted copy of a raw exchange, for the human-readable catalogue. */
export function redactExchange(ex, origin) {
  const url = new URL(ex.url);
  const body = parseBody(ex);
  const reqHeaders = {};
  for (const [k, v] of Object.entries(ex.requestHeaders)) {
    if (k === "cookie") reqHeaders[k] = v.split(";").map((p) => {
      const [n, ...rest] = p.trim().split("=");
      return `${n}=${redactString(rest.join("="), origin)}`;
    }).join("; ");
    else if (k === "authorization") {
      const [scheme, ...rest] = v.split(" ");
      reqHeaders[k] = `${scheme} ${redactString(rest.join(" "), origin)}`;
    } else reqHeaders[k] = stripOrigin(v, origin);
  }
  let reqBody = ex.requestBody;
  if (typeof reqBody === "string") {
    try {
      reqBody = JSON.stringify(redactJsonKeepOrder(JSON.parse(reqBody), origin));
    } catch {
      reqBody = redactString(reqBody, origin);
    }
  }
  const headers = {};
  for (const [k, v] of Object.entries(ex.headers)) {
    if (["date", "connection", "keep-alive", "transfer-encoding", "content-length"].includes(k)) continue;
    headers[k] = k === "x-retry-after" ? v : redactString(v, origin);
  }
  const setCookies = ex.setCookies.map((line) => {
    const c = parseSetCookie(line);
    const v = c.value === "" ? "" : redactString(c.value, origin);
    return [`${c.name}=${v}`, ...c.attributes.map(([k, val]) => (val === true ? k : `${k}=${k.toLowerCase() === "expires" ? "<http-date>" : val}`))].join("; ");
  });
  let bodyOut;
  if (body.kind === "json") bodyOut = JSON.stringify(redactJsonKeepOrder(body.json, origin));
  else if (body.kind === "html") bodyOut = `<html page, ${ex.bodyText.length} bytes>`;
  else bodyOut = ex.bodyText === "" ? "" : redactString(ex.bodyText, origin);
  return {
    device: ex.device,
    request: `${ex.method} ${redactString(url.pathname, origin)}${redactString(url.search, origin)}`,
    requestHeaders: reqHeaders,
    requestBody: reqBody,
    status: ex.status,
    statusText: ex.statusText,
    headers,
    setCookies,
    body: bodyOut,
  };
}

/** Like redact() but keeps the server's key order (the catalogue shows bodies as sent). */
function redactJsonKeepOrder(value, origin) {
  if (Array.isArray(value)) return value.map((v) => redactJsonKeepOrder(v, origin));
  if (value && typeof value === "object") {
    const out = {};
    for (const k of Object.keys(value)) out[k] = redactJsonKeepOrder(value[k], origin);
    return out;
  }
  return redactString(value, origin);
}
