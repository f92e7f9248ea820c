// Shared by run.mjs (the official client) and browser.mjs (Chromium): ports, cookie jars, and
// Sigil started with a providers file naming the local OpenID Connect provider.
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createServer as createNetServer } from "node:net";
import { join, resolve } from "node:path";

export const SECRET = "sigil-oidc-test-secret-0123456789abcdefghijklmnop";
const children = new Set();
const killAll = () => children.forEach((c) => c.kill("SIGKILL"));
process.on("exit", killAll);

/** A hard ceiling for a whole run, so that a hung server never hangs the test script. */
export function deadline(ms) {
  setTimeout(() => {
    console.error(`oidc: run exceeded ${ms / 1000} s`);
    process.exit(1);
  }, ms).unref();
}

export function freePort() {
  return new Promise((res, rej) => {
    const s = createNetServer();
    s.on("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

/** A device: a cookie jar and a fetch that uses it (redirects not followed). */
export function device() {
  const jar = new Map();
  const doFetch = async (input, init = {}) => {
    const url = typeof input === "string" ? input : input.url ?? String(input);
    const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
    if (jar.size) headers.set("cookie", [...jar].map(([k, v]) => `${k}=${v}`).join("; "));
    if (!headers.has("origin") && (init.method ?? "GET") !== "GET") headers.set("origin", new URL(url).origin);
    const res = await fetch(url, { ...init, headers, redirect: "manual" });
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const i = pair.indexOf("=");
      const name = pair.slice(0, i);
      if (/max-age=0/i.test(line) || pair.slice(i + 1) === "") jar.delete(name);
      else jar.set(name, pair.slice(i + 1));
    }
    return res;
  };
  return { jar, fetch: doFetch };
}


/** Starts Sigil with the providers file; resolves with its origin. */
export async function startSigil(sigilPath, port, idp, dir) {
  const providers = {
    providers: [
      { id: "local", type: "oidc", name: "Local IdP", issuer: idp.issuer, client_id: "local-client", client_secret_env: "OIDC_LOCAL_SECRET" },
      { id: "partner", type: "oidc", name: "Partner", issuer: idp.issuer, client_id: "partner-client", client_secret_env: "OIDC_PARTNER_SECRET" },
    ],
  };
  const file = join(dir, "providers.json");
  writeFileSync(file, JSON.stringify(providers));
  const origin = `http://127.0.0.1:${port}`;
  const child = spawn(resolve(sigilPath), ["serve", "--addr", `127.0.0.1:${port}`, "--base-url", origin, "--database-url", `sqlite://${join(dir, "sigil.db")}?mode=rwc`], {
    cwd: dir,
    env: { ...process.env, SIGIL_SECRET: SECRET, SIGIL_SOCIAL_PROVIDERS_FILE: file, OIDC_LOCAL_SECRET: "local-secret-0123456789", OIDC_PARTNER_SECRET: "partner-secret-0123456789", SIGIL_RATE_LIMIT: "off", RUST_LOG: process.env.RUST_LOG ?? "warn" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  let out = "";
  child.stderr.on("data", (d) => (out += d));
  await new Promise((res, rej) => {
    child.stdout.on("data", (d) => {
      out += d;
      if (/listening on/i.test(out)) res();
    });
    child.on("exit", (code) => rej(new Error(`sigil exited ${code}\n${out}`)));
    setTimeout(() => rej(new Error(`sigil did not start\n${out}`)), 30000);
  });
  return { origin, stop: () => child.kill("SIGTERM"), output: () => out };
}

