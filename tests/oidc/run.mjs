#!/usr/bin/env node
// Social sign-in end to end against a real OpenID Connect provider (panva's certified
// `oidc-provider`, tests/oidc/idp.mjs), driven by the official `better-auth` client, and the
// same flows against a real Better Auth 1.7.25 server configured with the same provider
// (its generic-OAuth plugin, which 1.7 serves through /sign-in/social and /callback/{id}).
// The two transcripts must be equal.
//
//   node tests/oidc/run.mjs --sigil target/debug/sigil [--only sigil|better-auth] [--verbose]
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { isDeepStrictEqual } from "node:util";

const HERE = dirname(fileURLToPath(import.meta.url));
if (!existsSync(join(HERE, "node_modules", "oidc-provider", "package.json"))) {
  console.log("oidc: installing the test's npm dependencies (npm ci)");
  const r = spawnSync("npm", ["ci", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: HERE, stdio: "inherit" });
  if (r.status !== 0) process.exit(2);
}
process.env.BETTER_AUTH_TELEMETRY = "0";
const { startIdp, authorizeAs } = await import("./idp.mjs");
const { SECRET, deadline, device, freePort, startSigil } = await import("./lib.mjs");
const { createAuthClient } = await import("better-auth/client");
const { jwtClient } = await import("better-auth/client/plugins");

const { values } = parseArgs({
  options: {
    sigil: { type: "string" },
    only: { type: "string" },
    verbose: { type: "boolean", default: false },
  },
});
const log = (...a) => values.verbose && console.log(...a);
deadline(120000);
const client = (origin, dev) =>
  createAuthClient({ baseURL: origin, plugins: [jwtClient()], fetchOptions: { customFetchImpl: dev.fetch } });

/** Starts Better Auth 1.7.25 in this process with the same provider (generic OAuth). */
async function startBetterAuth(port, idp) {
  const { betterAuth } = await import("better-auth");
  const { memoryAdapter } = await import("better-auth/adapters/memory");
  const { bearer, jwt, genericOAuth } = await import("better-auth/plugins");
  const { toNodeHandler } = await import("better-auth/node");
  const origin = `http://127.0.0.1:${port}`;
  const discoveryUrl = `${idp.issuer}/.well-known/openid-configuration`;
  const auth = betterAuth({
    baseURL: origin,
    secret: SECRET,
    database: memoryAdapter({ user: [], session: [], account: [], verification: [], jwks: [] }),
    telemetry: { enabled: false },
    rateLimit: { enabled: false },
    emailAndPassword: { enabled: true },
    logger: { disabled: !values.verbose },
    plugins: [
      jwt(),
      bearer(),
      genericOAuth({
        config: [
          { providerId: "local", discoveryUrl, clientId: "local-client", clientSecret: "local-secret-0123456789", scopes: ["openid", "email", "profile"], pkce: true },
          { providerId: "partner", discoveryUrl, clientId: "partner-client", clientSecret: "partner-secret-0123456789", scopes: ["openid", "email", "profile"], pkce: true },
        ],
      }),
    ],
  });
  const server = createServer(toNodeHandler(auth));
  await new Promise((r) => server.listen(port, "127.0.0.1", r));
  return { origin, stop: () => server.close() };
}

function redirectOf(res) {
  const loc = res.headers.get("location") ?? "";
  const u = new URL(loc, "http://x");
  return { status: res.status, path: u.pathname, error: u.searchParams.get("error") };
}

/** One provider round trip: the client's authorization URL, the provider's pages, the callback. */
let lastBack = "";
async function roundTrip(origin, dev, url, login, provider, tamper) {
  let back = await authorizeAs(url, login, `${origin}/api/auth/callback/${provider}`);
  if (tamper) back = tamper(back);
  lastBack = back;
  return redirectOf(await dev.fetch(back));
}

/** The flows, run identically against both servers; returns a transcript of outcomes. */
async function scenario(origin) {
  const t = {};
  const dev = device();
  const c = client(origin, dev);

  // Sign-up through the provider.
  const start = await c.signIn.social({ provider: "local", callbackURL: "/tasks", newUserCallbackURL: "/welcome", disableRedirect: true });
  t.start = { error: start.error?.code ?? null, redirect: start.data?.redirect, hasUrl: typeof start.data?.url === "string" };
  const auth = new URL(start.data.url);
  t.authParams = ["response_type", "client_id", "code_challenge_method", "scope"].map((k) => [k, auth.searchParams.get(k)]);
  t.authHasStateNonceChallenge = ["state", "nonce", "code_challenge"].every((k) => (auth.searchParams.get(k) ?? "").length >= 32 || (k === "code_challenge" && auth.searchParams.get(k)?.length === 43));
  t.signUp = await roundTrip(origin, dev, start.data.url, "ada", "local");
  const session = await c.getSession();
  t.session = session.data ? { email: session.data.user.email, name: session.data.user.name, emailVerified: session.data.user.emailVerified } : null;
  const token = await c.token();
  const claims = token.data?.token ? JSON.parse(Buffer.from(token.data.token.split(".")[1], "base64url")) : {};
  t.jwt = { sub: claims.sub === session.data?.user.id, email: claims.email ?? null };
  const accounts1 = await c.listAccounts();
  t.accountsAfterSignUp = (accounts1.data ?? []).map((a) => [a.providerId, a.accountId, [...a.scopes].sort()]);

  // Sign-in again: the same user, callbackURL.
  const dev2 = device();
  const c2 = client(origin, dev2);
  const again = await c2.signIn.social({ provider: "local", callbackURL: "/tasks", newUserCallbackURL: "/welcome", disableRedirect: true });
  t.signIn = await roundTrip(origin, dev2, again.data.url, "ada", "local");
  const usedCallback = lastBack;
  t.sameUser = (await c2.getSession()).data?.user.id === session.data?.user.id;

  // Link a second provider, then unlink it; the last account stays.
  const link = await c.linkSocial({ provider: "partner", callbackURL: "/account", disableRedirect: true });
  t.link = await roundTrip(origin, dev, link.data.url, "ada", "partner");
  const accounts2 = (await c.listAccounts()).data ?? [];
  t.accountsAfterLink = accounts2.map((a) => a.providerId).sort();
  const partner = accounts2.find((a) => a.providerId === "partner");
  const unlink = await c.unlinkAccount({ accountId: partner?.id ?? "none" });
  t.unlink = unlink.data ?? unlink.error?.code;
  const local = accounts2.find((a) => a.providerId === "local");
  const last = await c.unlinkAccount({ accountId: local?.id ?? "none" });
  t.unlinkLast = last.error ? [last.error.status, last.error.code] : last.data;
  t.accountsAfterUnlink = ((await c.listAccounts()).data ?? []).map((a) => a.providerId);

  // A tampered state: refused, no session.
  const dev3 = device();
  const c3 = client(origin, dev3);
  const s3 = await c3.signIn.social({ provider: "local", callbackURL: "/tasks", disableRedirect: true });
  t.tamperedState = await roundTrip(origin, dev3, s3.data.url, "grace", "local", (u) => u.replace(/state=([^&]+)/, "state=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
  t.tamperedSession = (await c3.getSession()).data;

  // State from another browser (login CSRF): the victim's browser lacks the state cookie.
  const attacker = device();
  const ca = client(origin, attacker);
  const sa = await ca.signIn.social({ provider: "local", callbackURL: "/tasks", disableRedirect: true });
  const attackerBack = await authorizeAs(sa.data.url, "grace", `${origin}/api/auth/callback/local`);
  const victim = device();
  t.foreignBrowser = redirectOf(await victim.fetch(attackerBack));
  t.foreignSession = (await client(origin, victim).getSession()).data;

  // Replayed callback (state and code already used), from the browser that used it.
  t.replay = redirectOf(await dev2.fetch(usedCallback));

  // An unverified email at the provider does not take over an existing account.
  const dv = device();
  const cv = client(origin, dv);
  await cv.signUp.email({ name: "Victim", email: "victim@example.com", password: "victim password 123" });
  const dm = device();
  const cm = client(origin, dm);
  const sm = await cm.signIn.social({ provider: "local", callbackURL: "/tasks", disableRedirect: true });
  t.takeover = await roundTrip(origin, dm, sm.data.url, "mallory", "local");
  t.takeoverSession = (await cm.getSession()).data;
  t.victimAccounts = ((await cv.listAccounts()).data ?? []).map((a) => a.providerId);

  // Unknown provider, untrusted callback.
  const bad = await c3.signIn.social({ provider: "nope", disableRedirect: true });
  t.unknownProvider = [bad.error?.status, bad.error?.code];
  const evil = await c3.signIn.social({ provider: "local", callbackURL: "https://evil.example/steal", disableRedirect: true });
  t.untrustedCallback = [evil.error?.status, evil.error?.code];

  // Sign-out ends the social session.
  await c.signOut();
  t.afterSignOut = (await c.getSession()).data;
  return t;
}

const tmp = mkdtempSync(join(tmpdir(), "sigil-oidc-"));
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));
const targets = values.only ? [values.only] : ["better-auth", "sigil"];
if (targets.includes("sigil") && !values.sigil) {
  console.error("oidc: --sigil PATH is required");
  process.exit(2);
}
const transcripts = {};
let failed = false;
for (const target of targets) {
  const idpPort = await freePort();
  const port = await freePort();
  const clients = ["local", "partner"].map((p) => ({ id: `${p}-client`, secret: `${p}-secret-0123456789`, redirect: `http://127.0.0.1:${port}/api/auth/callback/${p}` }));
  const idp = await startIdp({ port: idpPort, clients });
  const dir = mkdtempSync(join(tmp, `${target}-`));
  const server = target === "sigil" ? await startSigil(values.sigil, port, idp, dir) : await startBetterAuth(port, idp);
  try {
    transcripts[target] = await scenario(server.origin);
    log(target, JSON.stringify(transcripts[target], null, 2));
  } catch (e) {
    console.error(`oidc: ${target}: ${e.stack}`);
    if (server.output) console.error(server.output());
    failed = true;
  } finally {
    server.stop();
    await idp.close();
  }
}

// What the flows must show on each server (the security properties), then Sigil == Better Auth.
const expect = {
  start: { error: null, redirect: false, hasUrl: true },
  authParams: [["response_type", "code"], ["client_id", "local-client"], ["code_challenge_method", "S256"], ["scope", "openid email profile"]],
  authHasStateNonceChallenge: true,
  signUp: { status: 302, path: "/welcome", error: null },
  session: { email: "ada@example.com", name: "Ada Lovelace", emailVerified: true },
  signIn: { status: 302, path: "/tasks", error: null },
  sameUser: true,
  link: { status: 302, path: "/account", error: null },
  accountsAfterLink: ["local", "partner"],
  unlink: { status: true },
  unlinkLast: [400, "FAILED_TO_UNLINK_LAST_ACCOUNT"],
  accountsAfterUnlink: ["local"],
  tamperedSession: null,
  foreignSession: null,
  takeoverSession: null,
  victimAccounts: ["credential"],
  unknownProvider: [404, "PROVIDER_NOT_FOUND"],
  afterSignOut: null,
};
for (const [target, t] of Object.entries(transcripts)) {
  for (const [k, v] of Object.entries(expect)) {
    if (!isDeepStrictEqual(t[k], v)) {
      console.error(`oidc: ${target}: ${k} is ${JSON.stringify(t[k])}, expected ${JSON.stringify(v)}`);
      failed = true;
    }
  }
  for (const k of ["tamperedState", "foreignBrowser", "replay", "takeover"]) {
    if (t[k]?.status !== 302 || !t[k]?.error) {
      console.error(`oidc: ${target}: ${k} was not refused: ${JSON.stringify(t[k])}`);
      failed = true;
    }
  }
}
if (transcripts.sigil && transcripts["better-auth"]) {
  for (const k of new Set([...Object.keys(transcripts.sigil), ...Object.keys(transcripts["better-auth"])])) {
    if (!isDeepStrictEqual(transcripts.sigil[k], transcripts["better-auth"][k])) {
      console.error(`oidc: Sigil and Better Auth differ on ${k}:\n  better-auth ${JSON.stringify(transcripts["better-auth"][k])}\n  sigil       ${JSON.stringify(transcripts.sigil[k])}`);
      failed = true;
    }
  }
}
if (failed) process.exit(1);
console.log(`oidc: ${targets.join(" and ")} passed every social flow against oidc-provider${targets.length > 1 ? ", with the same results" : ""}`);
process.exit(0);
