#!/usr/bin/env node
// Drives the official better-auth client (better-auth/client + jwtClient) through every email/password
// endpoint against one running server, and writes a transcript of normalized observations.
//
//   node client-flow.mjs --base-url http://127.0.0.1:PORT --mail-file /path/mail.jsonl \
//        --scenario main|email-verification|rate-limit [--out transcript.json] [--raw raw.json]
//
// Each scenario expects the server to have been started with the environment listed in SCENARIOS below
// (run.mjs does that). The transcript holds one observation per step and the assertions' results.
import { createHmac } from "node:crypto";
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { withAuthenticator } from "./lib/authenticator.mjs";
import { Flow, expiresCookie, setCookieValue, sleep } from "./lib/flow.mjs";

export const SESSION_COOKIE = "better-auth.session_token";
export const DONT_REMEMBER_COOKIE = "better-auth.dont_remember";
export const TRUSTED_EXTRA_ORIGIN = "http://trusted.example";
const EVIL_ORIGIN = "https://evil.example";

const PW = "correct-horse-battery-1";
const PW2 = "correct-horse-battery-2";
const PW3 = "correct-horse-battery-3";

const typeOf = (v) => (v === null ? "null" : Array.isArray(v) ? "array" : typeof v);

/** Decodes the JOSE header and claims of a compact JWT without verifying it. */
function decodeJwt(token) {
  const [h, p] = token.split(".");
  return {
    header: JSON.parse(Buffer.from(h, "base64url").toString("utf8")),
    payload: JSON.parse(Buffer.from(p, "base64url").toString("utf8")),
  };
}

/** A shape record of a JWT (types only; values vary per run), for the transcript. */
function jwtShape(token) {
  const { header, payload } = decodeJwt(token);
  const types = (o) => Object.fromEntries(Object.keys(o).sort().map((k) => [k, typeOf(o[k])]));
  return {
    header: types(header),
    headerAlg: header.alg,
    payload: types(payload),
    lifetimeSeconds: typeof payload.exp === "number" && typeof payload.iat === "number" ? payload.exp - payload.iat : null,
  };
}

/** Verifies a JWT against the server's JWKS with iss = aud = origin; returns {ok, payload|error}. */
async function verifyJwt(flow, token) {
  try {
    const jwks = createRemoteJWKSet(new URL(`${flow.api}/jwks`));
    const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer: flow.origin, audience: flow.origin });
    return { ok: true, payload, protectedHeader };
  } catch (e) {
    return { ok: false, error: `${e.code ?? ""} ${e.message}` };
  }
}

// ---------------------------------------------------------------------------------------------------------
// Scenario "main": email verification not required, rate limiting off.
// ---------------------------------------------------------------------------------------------------------
async function mainScenario(flow) {
  const f = flow;
  const A = f.device("A");
  const a = f.client(A);
  const freshClient = (name, opts) => {
    const d = f.device(name, opts);
    return { d, c: f.client(d) };
  };

  // --- liveness and the error page
  await f.step("ok", () => a.$fetch("/ok"));
  await f.step("error-page", () => f.raw(A, "/error"));
  await f.step("error-page-with-code", () => f.raw(A, "/error?error=INVALID_TOKEN&error_description=x"));

  // --- signed out
  let r = await f.step("get-session/signed-out", () => a.getSession());
  f.assert("get-session/signed-out is null", r.ex?.status === 200 && r.json === null && r.data === null, r.ex?.bodyText);
  await f.step("token/signed-out", () => a.token());
  await f.step("list-sessions/signed-out", () => a.listSessions());
  await f.step("update-user/signed-out", () => a.updateUser({ name: "Nobody" }));
  await f.step("change-password/signed-out", () => a.changePassword({ currentPassword: PW, newPassword: PW2 }));
  await f.step("change-email/signed-out", () => a.changeEmail({ newEmail: "nobody@example.com" }));
  await f.step("delete-user/signed-out", () => a.deleteUser({ password: PW }));
  await f.step("revoke-session/signed-out", () => a.revokeSession({ token: "x".repeat(32) }));
  await f.step("revoke-sessions/signed-out", () => a.revokeSessions());
  await f.step("revoke-other-sessions/signed-out", () => a.revokeOtherSessions());
  await f.step("sign-out/signed-out", () => a.signOut());

  // --- sign-up
  const aliceEmail = "alice.example@example.com";
  r = await f.step("sign-up/ok", () => a.signUp.email({ name: "Alice", email: "Alice.Example@Example.COM", password: PW }));
  const signUpToken = r.data?.token;
  const aliceId = r.data?.user?.id;
  f.assert("sign-up/ok returns a session token", typeof signUpToken === "string" && signUpToken.length > 0, r.json);
  f.assert("sign-up/ok lower-cases user.email", r.data?.user?.email === aliceEmail, r.data?.user?.email);
  f.assert("sign-up/ok user.emailVerified is false", r.data?.user?.emailVerified === false, r.data?.user);
  f.assert("sign-up/ok user.createdAt parses as a Date", r.data?.user?.createdAt instanceof Date, typeOf(r.data?.user?.createdAt));
  const cookie = setCookieValue(r.ex, SESSION_COOKIE);
  f.assert("sign-up/ok sets the session cookie", !!cookie, r.ex?.setCookies);
  const setAuthToken = r.ex?.headers["set-auth-token"];
  f.assert(
    "sign-up/ok set-auth-token = decoded cookie value = token.signature",
    setAuthToken && cookie && decodeURIComponent(cookie) === setAuthToken && setAuthToken.startsWith(`${signUpToken}.`),
    { setAuthToken, cookie },
  );

  const dup = freshClient("dup");
  await f.step("sign-up/duplicate", () => dup.c.signUp.email({ name: "Alice Again", email: aliceEmail, password: PW }));
  await f.step("sign-up/duplicate-other-case", () => dup.c.signUp.email({ name: "Alice Again", email: "ALICE.EXAMPLE@example.com", password: PW }));
  await f.step("sign-up/bad-email", () => dup.c.signUp.email({ name: "Bad", email: "not-an-email", password: PW }));
  await f.step("sign-up/password-too-short", () => dup.c.signUp.email({ name: "Short", email: "short@example.com", password: "1234567" }));
  await f.step("sign-up/password-too-long", () => dup.c.signUp.email({ name: "Long", email: "long@example.com", password: "p".repeat(129) }));
  await f.step("sign-up/missing-name", () => dup.c.signUp.email({ email: "noname@example.com", password: PW }));
  await f.step("sign-up/missing-email", () => dup.c.signUp.email({ name: "No Email", password: PW }));
  await f.step("sign-up/missing-password", () => dup.c.signUp.email({ name: "No Password", email: "nopassword@example.com" }));
  await f.step("sign-up/empty-password", () => dup.c.signUp.email({ name: "Empty", email: "emptypw@example.com", password: "" }));
  await f.step("sign-up/name-not-a-string", () => dup.c.signUp.email({ name: 42, email: "num@example.com", password: PW }));

  const minLen = freshClient("minlen");
  r = await f.step("sign-up/password-exactly-8", () => minLen.c.signUp.email({ name: "Eight", email: "eight@example.com", password: "12345678" }));
  f.assert("sign-up/password-exactly-8 accepted", r.ex?.status === 200, r.ex?.status);
  const maxLen = freshClient("maxlen");
  r = await f.step("sign-up/password-exactly-128", () => maxLen.c.signUp.email({ name: "Max", email: "max@example.com", password: "p".repeat(128) }));
  f.assert("sign-up/password-exactly-128 accepted", r.ex?.status === 200, r.ex?.status);

  const mallory = freshClient("mallory");
  r = await f.step("sign-up/mass-assignment", () =>
    mallory.c.signUp.email({
      name: "Mallory",
      email: "mallory@example.com",
      password: PW,
      emailVerified: true,
      id: "attacker-chosen-id-000000000000",
      createdAt: "2000-01-01T00:00:00.000Z",
    }),
  );
  const mu = r.data?.user;
  f.assert("sign-up/mass-assignment: emailVerified stays false", mu?.emailVerified === false, mu);
  f.assert("sign-up/mass-assignment: id is server-chosen", mu && mu.id !== "attacker-chosen-id-000000000000", mu?.id);
  f.assert("sign-up/mass-assignment: role user, not banned", mu?.role === "user" && mu?.banned === false, mu);
  // The admin plugin's fields are refused outright (input: false), not ignored.
  r = await f.step("sign-up/forged-role", () =>
    freshClient("forger").c.signUp.email({ name: "Forger", email: "forger@example.com", password: PW, role: "admin" }),
  );
  f.assert("sign-up/forged-role: 400 FIELD_NOT_ALLOWED", r.ex?.status === 400 && r.error?.code === "FIELD_NOT_ALLOWED", r.error);
  r = await f.step("sign-up/forged-banned", () =>
    freshClient("forger2").c.signUp.email({ name: "Forger", email: "forger2@example.com", password: PW, banned: false }),
  );
  f.assert("sign-up/forged-banned: ignored, not banned", r.data?.user?.banned === false, r.data);
  f.assert(
    "sign-up/mass-assignment: createdAt is server-chosen",
    mu?.createdAt instanceof Date && mu.createdAt.getUTCFullYear() !== 2000,
    mu?.createdAt,
  );
  const malloryAfter = await f.step("get-session/mass-assignment-user", () => mallory.c.getSession());
  f.assert("get-session/mass-assignment-user: emailVerified false", malloryAfter.data?.user?.emailVerified === false, malloryAfter.json);

  const imageUser = freshClient("imageuser");
  r = await f.step("sign-up/with-image", () =>
    imageUser.c.signUp.email({ name: "Imogen", email: "imogen@example.com", password: PW, image: "https://img.example/i.png" }),
  );
  f.assert("sign-up/with-image echoes image", r.data?.user?.image === "https://img.example/i.png", r.data?.user);
  await f.step("sign-up/with-callback-url", () =>
    freshClient("cb").c.signUp.email({ name: "Cal", email: "cal@example.com", password: PW, callbackURL: "/welcome" }),
  );
  await f.step("sign-up/untrusted-callback-url", () =>
    freshClient("cb2").c.signUp.email({ name: "Cal", email: "cal2@example.com", password: PW, callbackURL: "https://evil.example/x" }),
  );
  // An empty callbackURL is no callbackURL (issue 9, item 3).
  await f.step("sign-up/empty-callback-url", () =>
    freshClient("cb3").c.signUp.email({ name: "Cal", email: "cal3@example.com", password: PW, callbackURL: "" }),
  );
  await f.step("sign-up/remember-me-false", () =>
    freshClient("rm").c.signUp.email({ name: "Remy", email: "remy@example.com", password: PW, rememberMe: false }),
  );

  // Bob: a second user used by later steps.
  const bobEmail = "bob@example.com";
  const Bdev = freshClient("bob");
  await f.step("sign-up/second-user", () => Bdev.c.signUp.email({ name: "Bob", email: bobEmail, password: PW }));

  // --- sign-in
  const B = f.device("B");
  const b = f.client(B);
  r = await f.step("sign-in/ok", () => b.signIn.email({ email: aliceEmail, password: PW }));
  f.assert("sign-in/ok: redirect false", r.data?.redirect === false, r.json);
  f.assert("sign-in/ok: token string", typeof r.data?.token === "string", r.json);
  f.assert("sign-in/ok: user.id matches sign-up", r.data?.user?.id === aliceId, r.data?.user?.id);
  f.assert("sign-in/ok: sets session cookie", !!setCookieValue(r.ex, SESSION_COOKIE), r.ex?.setCookies);
  const tokenB = r.data?.token;
  await f.step("sign-in/email-other-case", () => freshClient("case").c.signIn.email({ email: "ALICE.example@EXAMPLE.com", password: PW }));
  await f.step("sign-in/wrong-password", () => freshClient("wp").c.signIn.email({ email: aliceEmail, password: "wrong-password-123" }));
  await f.step("sign-in/unknown-email", () => freshClient("ue").c.signIn.email({ email: "nobody@example.com", password: PW }));
  await f.step("sign-in/bad-email", () => freshClient("be").c.signIn.email({ email: "not-an-email", password: PW }));
  await f.step("sign-in/password-too-long", () => freshClient("tl").c.signIn.email({ email: aliceEmail, password: "p".repeat(129) }));
  await f.step("sign-in/missing-password", () => freshClient("mp").c.signIn.email({ email: aliceEmail }));
  await f.step("sign-in/empty-body", () => f.post(f.device("eb"), "/sign-in/email", {}));
  r = await f.step("sign-in/callback-url", () => freshClient("cbu").c.signIn.email({ email: aliceEmail, password: PW, callbackURL: "/dashboard" }));
  f.assert("sign-in/callback-url: redirect true and url", r.data?.redirect === true && r.data?.url === "/dashboard", r.json);
  await f.step("sign-in/untrusted-callback-url", () =>
    freshClient("ucb").c.signIn.email({ email: aliceEmail, password: PW, callbackURL: "https://evil.example/x" }),
  );
  r = await f.step("sign-in/empty-callback-url", () => freshClient("ecb").c.signIn.email({ email: aliceEmail, password: PW, callbackURL: "" }));
  f.assert("sign-in/empty-callback-url: redirect false, url empty", r.data?.redirect === false && r.data?.url === "", r.json);
  const C = f.device("C");
  const c = f.client(C);
  r = await f.step("sign-in/remember-me-false", () => c.signIn.email({ email: aliceEmail, password: PW, rememberMe: false }));
  f.assert("sign-in/remember-me-false: dont_remember cookie set", !!setCookieValue(r.ex, DONT_REMEMBER_COOKIE), r.ex?.setCookies);
  const tokenC = r.data?.token;

  // --- get-session, bearer, JWT
  r = await f.step("get-session/cookie", () => a.getSession());
  f.assert("get-session/cookie: has session and user", !!r.data?.session && !!r.data?.user, r.json);
  f.assert("get-session/cookie: session.token is the sign-up token", r.data?.session?.token === signUpToken, r.data?.session?.token);
  f.assert("get-session/cookie: session.expiresAt parses as a Date", r.data?.session?.expiresAt instanceof Date, r.json?.session?.expiresAt);
  f.assert(
    "get-session/cookie: expiresAt about 7 days ahead",
    r.data?.session?.expiresAt instanceof Date && Math.abs(r.data.session.expiresAt - Date.now() - 7 * 86400e3) < 120e3,
    r.json?.session?.expiresAt,
  );
  f.assert("get-session/cookie: user.email lower-case", r.data?.user?.email === aliceEmail, r.data?.user?.email);
  f.assert("get-session/cookie: cache-control no-store", /no-store/.test(r.ex?.headers["cache-control"] ?? ""), r.ex?.headers);
  const headerJwt = r.ex?.headers["set-auth-jwt"];
  f.assert("get-session/cookie: set-auth-jwt header", typeof headerJwt === "string" && headerJwt.split(".").length === 3, r.ex?.headers);
  if (headerJwt) {
    const v = await verifyJwt(f, headerJwt);
    f.assert("get-session/cookie: set-auth-jwt verifies with jose (iss/aud = origin)", v.ok, v.error);
    f.assert("get-session/cookie: set-auth-jwt sub = user id", v.payload?.sub === aliceId, v.payload);
  }

  r = await f.step("get-session/remember-me-false", () => c.getSession());
  f.assert(
    "get-session/remember-me-false: expiresAt about 1 day ahead",
    r.data?.session?.expiresAt instanceof Date && Math.abs(r.data.session.expiresAt - Date.now() - 86400e3) < 120e3,
    r.json?.session?.expiresAt,
  );

  const bearerSigned = f.bearerClient("bearer-signed", setAuthToken);
  r = await f.step("get-session/bearer-signed", () => bearerSigned.client.getSession());
  f.assert("get-session/bearer-signed: resolves the user", r.data?.user?.id === aliceId, r.json);
  f.assert("get-session/bearer-signed: set-auth-jwt header", !!r.ex?.headers["set-auth-jwt"], r.ex?.headers);
  const bearerRaw = f.bearerClient("bearer-raw", signUpToken);
  r = await f.step("get-session/bearer-raw-token", () => bearerRaw.client.getSession());
  const bearerBad = f.bearerClient("bearer-bad", "abc.def");
  r = await f.step("get-session/bearer-invalid", () => bearerBad.client.getSession());
  f.assert("get-session/bearer-invalid is null", r.ex?.status === 200 && r.json === null, r.ex?.bodyText);
  const tampered = f.device("tampered");
  if (cookie) tampered.jar.set(SESSION_COOKIE, cookie.replace(/^(.)/, (ch) => (ch === "A" ? "B" : "A")));
  r = await f.step("get-session/tampered-cookie", () => f.client(tampered).getSession());
  f.assert("get-session/tampered-cookie is null", r.ex?.status === 200 && r.json === null, r.ex?.bodyText);
  await f.step("get-session/post", () => f.post(A, "/get-session", {}));
  await f.step("get-session/disable-refresh-query", () => a.getSession({ query: { disableRefresh: true } }));

  r = await f.step("token/ok", () => a.token());
  const jwtTok = r.data?.token;
  f.assert("token/ok returns {token}", typeof jwtTok === "string" && jwtTok.split(".").length === 3, r.json);
  if (jwtTok) {
    f.record("jwt/token-claims", { jwt: jwtShape(jwtTok) });
    const v = await verifyJwt(f, jwtTok);
    f.assert("token/ok: JWT verifies with jose remote JWKS, iss = aud = origin", v.ok, v.error);
    f.assert("token/ok: sub = user id", v.payload?.sub === aliceId, v.payload);
    f.assert("token/ok: email claim", v.payload?.email === aliceEmail, v.payload);
    f.assert("token/ok: header alg EdDSA with kid", v.protectedHeader?.alg === "EdDSA" && !!v.protectedHeader?.kid, v.protectedHeader);
    f.assert(
      "token/ok: exp - iat = 900",
      typeof v.payload?.exp === "number" && v.payload.exp - v.payload.iat === 900,
      v.payload && { iat: v.payload.iat, exp: v.payload.exp },
    );
  }
  if (headerJwt) f.record("jwt/set-auth-jwt-claims", { jwt: jwtShape(headerJwt) });
  r = await f.step("jwks", () => a.jwks());
  const keys = r.data?.keys;
  f.assert("jwks: one Ed25519 key", Array.isArray(keys) && keys.length >= 1 && keys[0].kty === "OKP" && keys[0].crv === "Ed25519", r.json);
  if (jwtTok && Array.isArray(keys)) {
    f.assert("jwks: contains the token's kid", keys.some((k) => k.kid === decodeProtectedHeader(jwtTok).kid), keys);
  }
  r = await f.step("token/bearer", () => bearerSigned.client.token());
  f.assert("token/bearer returns a JWT", typeof r.data?.token === "string", r.json);

  // --- sessions
  r = await f.step("list-sessions", () => a.listSessions());
  f.assert("list-sessions: array including the current session", Array.isArray(r.data) && r.data.some((s) => s.token === signUpToken), r.json);
  f.assert("list-sessions: every entry has token and expiresAt Date", Array.isArray(r.data) && r.data.every((s) => typeof s.token === "string" && s.expiresAt instanceof Date), r.json);
  r = await f.step("revoke-session/other", () => a.revokeSession({ token: tokenC }));
  f.assert("revoke-session/other: {status:true}", r.data?.status === true, r.json);
  r = await f.step("get-session/after-revoked", () => c.getSession());
  f.assert("get-session/after-revoked is null", r.json === null, r.ex?.bodyText);
  f.assert("get-session/after-revoked expires the session cookie", expiresCookie(r.ex, SESSION_COOKIE), r.ex?.setCookies);
  await f.step("revoke-session/unknown-token", () => a.revokeSession({ token: "Unknown0Token0Unknown0Token012345" }));
  await f.step("revoke-session/missing-token", () => f.post(A, "/revoke-session", {}));
  const bob2 = freshClient("bob2");
  await f.step("sign-in/bob-second-device", () => bob2.c.signIn.email({ email: bobEmail, password: PW }));
  const bobCookie = bob2.d.jar.get(SESSION_COOKIE);
  const bobRawToken = bobCookie ? decodeURIComponent(bobCookie).split(".")[0] : "missing";
  r = await f.step("revoke-session/other-users-token", () => a.revokeSession({ token: bobRawToken }));
  r = await f.step("get-session/after-other-users-token-revoke", () => bob2.c.getSession());
  f.assert("revoke-session/other-users-token does not revoke another user's session", !!r.data?.session, r.json);
  r = await f.step("revoke-other-sessions", () => a.revokeOtherSessions());
  f.assert("revoke-other-sessions: {status:true}", r.data?.status === true, r.json);
  r = await f.step("get-session/after-revoke-other-sessions", () => b.getSession());
  f.assert("get-session/after-revoke-other-sessions: other device signed out", r.json === null, r.ex?.bodyText);
  r = await f.step("get-session/current-survives-revoke-other", () => a.getSession());
  f.assert("get-session/current-survives-revoke-other", r.data?.session?.token === signUpToken, r.json);
  r = await f.step("list-sessions/after-revoke-other", () => a.listSessions());
  f.assert("list-sessions/after-revoke-other: exactly one", Array.isArray(r.data) && r.data.length === 1, r.json);

  const D = f.device("D");
  const d = f.client(D);
  r = await f.step("sign-in/device-d", () => d.signIn.email({ email: aliceEmail, password: PW }));
  const tokenD = r.data?.token;
  r = await f.step("revoke-session/current", () => d.revokeSession({ token: tokenD }));
  r = await f.step("get-session/after-revoke-current", () => d.getSession());
  f.assert("get-session/after-revoke-current is null", r.json === null, r.ex?.bodyText);

  const E1 = f.device("E1");
  const E2 = f.device("E2");
  const e1 = f.client(E1);
  const e2 = f.client(E2);
  await f.step("sign-in/device-e1", () => e1.signIn.email({ email: bobEmail, password: PW }));
  await f.step("sign-in/device-e2", () => e2.signIn.email({ email: bobEmail, password: PW }));
  r = await f.step("revoke-sessions", () => e1.revokeSessions());
  f.assert("revoke-sessions: {status:true}", r.data?.status === true, r.json);
  r = await f.step("get-session/after-revoke-sessions-self", () => e1.getSession());
  f.assert("get-session/after-revoke-sessions-self is null", r.json === null, r.ex?.bodyText);
  r = await f.step("get-session/after-revoke-sessions-other", () => e2.getSession());
  f.assert("get-session/after-revoke-sessions-other is null", r.json === null, r.ex?.bodyText);

  // --- update-user
  r = await f.step("update-user/name", () => a.updateUser({ name: "Alice Updated" }));
  f.assert("update-user/name: {status:true}", r.data?.status === true, r.json);
  r = await f.step("get-session/after-update-user", () => a.getSession());
  f.assert("get-session/after-update-user shows the new name", r.data?.user?.name === "Alice Updated", r.data?.user);
  await f.step("update-user/image", () => a.updateUser({ image: "https://img.example/a.png" }));
  r = await f.step("update-user/image-null", () => a.updateUser({ image: null }));
  await f.step("update-user/email", () => a.updateUser({ email: "new-alice@example.com" }));
  await f.step("update-user/email-and-name", () => a.updateUser({ name: "X", email: "new-alice@example.com" }));
  await f.step("update-user/empty-via-client", () => a.updateUser({}));
  await f.step("update-user/empty", () => f.post(A, "/update-user", {}));
  await f.step("update-user/array-body", () => f.post(A, "/update-user", []));
  r = await f.step("update-user/forged-role", () => a.updateUser({ name: "Alice Updated", role: "admin" }));
  f.assert("update-user/forged-role: 400 FIELD_NOT_ALLOWED", r.ex?.status === 400 && r.error?.code === "FIELD_NOT_ALLOWED", r.error);
  r = await f.step("update-user/forged-banned", () => a.updateUser({ banned: true }));
  f.assert("update-user/forged-banned: 400 FIELD_NOT_ALLOWED", r.ex?.status === 400 && r.error?.code === "FIELD_NOT_ALLOWED", r.error);
  r = await f.step("update-user/mass-assignment", () => a.updateUser({ name: "Alice Updated", emailVerified: true, id: "attacker-id" }));
  r = await f.step("get-session/after-update-mass-assignment", () => a.getSession());
  f.assert("update-user/mass-assignment: emailVerified stays false", r.data?.user?.emailVerified === false, r.data?.user);
  f.assert("update-user/mass-assignment: id unchanged", r.data?.user?.id === aliceId, r.data?.user);
  f.assert("update-user/mass-assignment: role stays user", r.data?.user?.role === "user", r.data?.user);

  // --- change-password
  await f.step("change-password/wrong-current", () => a.changePassword({ currentPassword: "wrong-password-123", newPassword: PW2 }));
  await f.step("change-password/too-short", () => a.changePassword({ currentPassword: PW, newPassword: "short" }));
  await f.step("change-password/too-long", () => a.changePassword({ currentPassword: PW, newPassword: "p".repeat(129) }));
  await f.step("change-password/missing-current", () => f.post(A, "/change-password", { newPassword: PW2 }));
  const F = f.device("F");
  const ff = f.client(F);
  await f.step("sign-in/device-f", () => ff.signIn.email({ email: aliceEmail, password: PW }));
  r = await f.step("change-password/ok", () => a.changePassword({ currentPassword: PW, newPassword: PW2, revokeOtherSessions: false }));
  f.assert("change-password/ok: token null", r.data?.token === null, r.json);
  f.assert("change-password/ok: user.email", r.data?.user?.email === aliceEmail, r.json);
  r = await f.step("get-session/other-device-after-change-password", () => ff.getSession());
  f.assert("change-password without revoke keeps other sessions", !!r.data?.session, r.json);
  r = await f.step("change-password/revoke-other-sessions", () =>
    a.changePassword({ currentPassword: PW2, newPassword: PW3, revokeOtherSessions: true }),
  );
  const newTok = r.data?.token;
  f.assert("change-password/revoke-other-sessions: new token", typeof newTok === "string" && newTok !== signUpToken, r.json);
  f.assert("change-password/revoke-other-sessions: sets session cookie", !!setCookieValue(r.ex, SESSION_COOKIE), r.ex?.setCookies);
  r = await f.step("get-session/other-device-after-change-password-revoke", () => ff.getSession());
  f.assert("change-password revoke: other device signed out", r.json === null, r.ex?.bodyText);
  r = await f.step("get-session/current-after-change-password-revoke", () => a.getSession());
  f.assert("change-password revoke: current device continues on the new session", r.data?.session?.token === newTok, r.json);
  await f.step("sign-in/old-password", () => freshClient("op").c.signIn.email({ email: aliceEmail, password: PW2 }));
  r = await f.step("sign-in/new-password", () => freshClient("np").c.signIn.email({ email: aliceEmail, password: PW3 }));
  f.assert("sign-in/new-password works", r.ex?.status === 200, r.ex?.status);

  // --- change-email (Alice is unverified)
  await f.step("change-email/same", () => a.changeEmail({ newEmail: aliceEmail }));
  await f.step("change-email/same-other-case", () => a.changeEmail({ newEmail: "ALICE.EXAMPLE@example.com" }));
  await f.step("change-email/invalid", () => a.changeEmail({ newEmail: "not-an-email" }));
  let mails = f.outbox.count();
  r = await f.step("change-email/existing-email", () => a.changeEmail({ newEmail: bobEmail }));
  f.assert("change-email/existing-email sends no mail", f.outbox.count() === mails, f.outbox.after(mails));
  mails = f.outbox.count();
  const aliceNew = "alice.new@example.com";
  r = await f.step("change-email/ok", () => a.changeEmail({ newEmail: "Alice.New@Example.com", callbackURL: "/email-changed" }));
  f.assert("change-email/ok: {status:true}", r.data?.status === true, r.json);
  const changeMail = await f.outbox.waitFor(mails, { kind: "change-email" });
  f.assert("change-email/ok: mail kind change-email to the new address", changeMail?.to === aliceNew, f.outbox.after(mails));
  f.assert(
    "change-email mail: url carries the token",
    changeMail && changeMail.url.includes(changeMail.token) && changeMail.url.startsWith(`${f.api}/verify-email?token=`),
    changeMail,
  );
  if (changeMail) f.record("mail/change-email", { mail: mailShape(f, changeMail) });
  r = await f.step("get-session/before-change-email-verified", () => a.getSession());
  f.assert("change-email: email unchanged until verified", r.data?.user?.email === aliceEmail, r.data?.user);
  r = await f.step("verify-email/change-email", () => a.verifyEmail({ query: { token: changeMail?.token ?? "missing" } }));
  f.assert("verify-email/change-email: status true and user", r.data?.status === true && !!r.data?.user, r.json);
  r = await f.step("get-session/after-change-email", () => a.getSession());
  f.assert("get-session/after-change-email: new email", r.data?.user?.email === aliceNew, r.data?.user);
  f.assert("get-session/after-change-email: still unverified", r.data?.user?.emailVerified === false, r.data?.user);
  await f.step("verify-email/change-email-reused", () => a.verifyEmail({ query: { token: changeMail?.token ?? "missing" } }));

  // --- email verification while signed in
  await f.step("send-verification-email/mismatch", () => a.sendVerificationEmail({ email: "someone-else@example.com" }));
  mails = f.outbox.count();
  r = await f.step("send-verification-email/ok", () => a.sendVerificationEmail({ email: aliceNew }));
  const verifyMail = await f.outbox.waitFor(mails, { kind: "verify-email", to: aliceNew });
  f.assert("send-verification-email/ok: mail kind verify-email", !!verifyMail, f.outbox.after(mails));
  if (verifyMail) f.record("mail/verify-email", { mail: mailShape(f, verifyMail) });
  await f.step("verify-email/bad-token", () => a.verifyEmail({ query: { token: "not-a-jwt" } }));
  await f.step("verify-email/missing-token", () => f.raw(A, "/verify-email"));
  await f.step("verify-email/bad-token-with-callback", () => f.raw(A, "/verify-email?token=not-a-jwt&callbackURL=%2Fverified"));
  await f.step("verify-email/untrusted-callback", () =>
    f.raw(A, `/verify-email?token=${verifyMail?.token ?? "x"}&callbackURL=${encodeURIComponent("https://evil.example/")}`),
  );
  r = await f.step("verify-email/ok", () => a.verifyEmail({ query: { token: verifyMail?.token ?? "missing" } }));
  f.assert("verify-email/ok: {status:true,user:null}", r.data?.status === true && r.data?.user === null, r.json);
  r = await f.step("get-session/after-verify-email", () => a.getSession());
  f.assert("verify-email/ok: user now verified", r.data?.user?.emailVerified === true, r.data?.user);
  await f.step("verify-email/reused", () => a.verifyEmail({ query: { token: verifyMail?.token ?? "missing" } }));
  await f.step("send-verification-email/already-verified", () => a.sendVerificationEmail({ email: aliceNew }));

  // --- email verification while signed out
  const anon = freshClient("anon");
  mails = f.outbox.count();
  r = await f.step("send-verification-email/signed-out-unknown", () => anon.c.sendVerificationEmail({ email: "nobody@example.com" }));
  f.assert("send-verification-email/signed-out-unknown: 200 {status:true}", r.data?.status === true, r.json);
  f.assert("send-verification-email/signed-out-unknown: no mail", f.outbox.count() === mails, f.outbox.after(mails));
  f.assert("send-verification-email/signed-out-unknown: padded to >= 450 ms", r.ex?.ms >= 450, r.ex?.ms);
  r = await f.step("send-verification-email/signed-out-verified", () => anon.c.sendVerificationEmail({ email: aliceNew }));
  f.assert("send-verification-email/signed-out-verified: no mail", f.outbox.count() === mails, f.outbox.after(mails));
  f.assert("send-verification-email/signed-out-verified: padded to >= 450 ms", r.ex?.ms >= 450, r.ex?.ms);
  r = await f.step("send-verification-email/signed-out-unverified", () =>
    anon.c.sendVerificationEmail({ email: bobEmail, callbackURL: "/verified" }),
  );
  f.assert("send-verification-email/signed-out-unverified: padded to >= 450 ms", r.ex?.ms >= 450, r.ex?.ms);
  const bobVerify = await f.outbox.waitFor(mails, { kind: "verify-email", to: bobEmail });
  f.assert("send-verification-email/signed-out-unverified: mail sent", !!bobVerify, f.outbox.after(mails));
  await f.step("send-verification-email/bad-email", () => anon.c.sendVerificationEmail({ email: "not-an-email" }));
  await f.step("send-verification-email/untrusted-callback", () =>
    anon.c.sendVerificationEmail({ email: bobEmail, callbackURL: "https://evil.example/" }),
  );
  r = await f.step("verify-email/with-callback", () => f.raw(anon.d, linkPath(f, bobVerify?.url)));
  f.assert("verify-email/with-callback: 302 to the callback", r.ex?.status === 302 && r.ex?.headers.location === "/verified", r.ex && { status: r.ex.status, location: r.ex.headers.location });

  // --- password reset (Bob)
  const G = f.device("G");
  const g = f.client(G);
  await f.step("sign-in/device-g", () => g.signIn.email({ email: bobEmail, password: PW }));
  mails = f.outbox.count();
  const rp = freshClient("rp");
  const known = await f.step("request-password-reset/known", () => rp.c.requestPasswordReset({ email: bobEmail, redirectTo: "/reset" }));
  const resetMail = await f.outbox.waitFor(mails, { kind: "reset-password", to: bobEmail });
  f.assert("request-password-reset/known: mail kind reset-password", !!resetMail, f.outbox.after(mails));
  if (resetMail) f.record("mail/reset-password", { mail: mailShape(f, resetMail) });
  mails = f.outbox.count();
  const unknown = await f.step("request-password-reset/unknown", () => rp.c.requestPasswordReset({ email: "nobody@example.com", redirectTo: "/reset" }));
  f.assert("request-password-reset: same answer for known and unknown", known.ex && unknown.ex && known.ex.status === unknown.ex.status && known.ex.bodyText === unknown.ex.bodyText, [known.ex?.bodyText, unknown.ex?.bodyText]);
  f.assert("request-password-reset/unknown: no mail", f.outbox.count() === mails, f.outbox.after(mails));
  await f.step("request-password-reset/no-redirect", () => rp.c.requestPasswordReset({ email: "nobody@example.com" }));
  await f.step("request-password-reset/untrusted-redirect", () => rp.c.requestPasswordReset({ email: bobEmail, redirectTo: "https://evil.example/reset" }));
  await f.step("request-password-reset/bad-email", () => rp.c.requestPasswordReset({ email: "not-an-email" }));
  const resetToken = resetMail?.token ?? "missing-token";
  if (resetMail) {
    r = await f.step("reset-password/link-redirect", () => f.raw(rp.d, linkPath(f, resetMail.url)));
    f.assert(
      "reset-password/link-redirect: 302 to redirectTo?token=",
      r.ex?.status === 302 && [`/reset?token=${resetToken}`, `${f.origin}/reset?token=${resetToken}`].includes(r.ex?.headers.location),
      r.ex && { status: r.ex.status, location: r.ex.headers.location },
    );
  }
  await f.step("reset-password/link-bad-token", () => f.raw(rp.d, "/reset-password/badtoken?callbackURL=%2Freset"));
  await f.step("reset-password/bad-token", () => rp.c.resetPassword({ newPassword: PW2, token: "bad-token" }));
  await f.step("reset-password/missing-token", () => rp.c.resetPassword({ newPassword: PW2 }));
  await f.step("reset-password/too-short", () => rp.c.resetPassword({ newPassword: "short", token: resetToken }));
  r = await f.step("reset-password/ok", () => rp.c.resetPassword({ newPassword: PW2, token: resetToken }));
  f.assert("reset-password/ok: {status:true}", r.data?.status === true, r.json);
  await f.step("reset-password/reused", () => rp.c.resetPassword({ newPassword: PW3, token: resetToken }));
  await f.step("sign-in/after-reset-old-password", () => freshClient("aro").c.signIn.email({ email: bobEmail, password: PW }));
  r = await f.step("sign-in/after-reset-new-password", () => freshClient("arn").c.signIn.email({ email: bobEmail, password: PW2 }));
  f.assert("sign-in/after-reset-new-password works", r.ex?.status === 200, r.ex?.status);
  await f.step("get-session/existing-session-after-reset", () => g.getSession());

  // --- delete-user
  const H = f.device("H");
  const h = f.client(H);
  await f.step("sign-up/carol", () => h.signUp.email({ name: "Carol", email: "carol@example.com", password: PW }));
  await f.step("delete-user/wrong-password", () => h.deleteUser({ password: "wrong-password-123" }));
  r = await f.step("delete-user/ok", () => h.deleteUser({ password: PW }));
  f.assert("delete-user/ok: {success:true}", r.data?.success === true, r.json);
  f.assert("delete-user/ok expires the session cookie", expiresCookie(r.ex, SESSION_COOKIE), r.ex?.setCookies);
  r = await f.step("get-session/after-delete-user", () => h.getSession());
  f.assert("get-session/after-delete-user is null", r.json === null, r.ex?.bodyText);
  await f.step("sign-in/deleted-user", () => freshClient("du").c.signIn.email({ email: "carol@example.com", password: PW }));
  const I = f.device("I");
  const i = f.client(I);
  await f.step("sign-up/dan", () => i.signUp.email({ name: "Dan", email: "dan@example.com", password: PW }));
  r = await f.step("delete-user/no-password-fresh-session", () => i.deleteUser());
  await f.step("sign-in/dan-after-delete", () => freshClient("dd").c.signIn.email({ email: "dan@example.com", password: PW }));

  // --- origin checks and transport (raw requests)
  const O = f.device("O");
  const o = f.client(O);
  await f.step("sign-in/device-o", () => o.signIn.email({ email: aliceNew, password: PW3 }));
  const json = { "content-type": "application/json" };
  await f.step("origin/cookie-no-origin", () => f.post(O, "/update-user", { name: "No Origin" }, { noOrigin: true }));
  await f.step("origin/cookie-null-origin", () => f.post(O, "/update-user", { name: "Null Origin" }, { headers: { origin: "null" } }));
  // A form posted from a same-origin page with `Referrer-Policy: no-referrer` (issue 9, item 2).
  await f.step("origin/cookie-null-origin-same-origin", () =>
    f.post(O, "/update-user", { name: "Null Same Origin" }, { headers: { origin: "null", "sec-fetch-site": "same-origin" } }),
  );
  await f.step("origin/cookie-null-origin-cross-site", () =>
    f.post(O, "/update-user", { name: "Null Cross Site" }, { headers: { origin: "null", "sec-fetch-site": "cross-site" } }),
  );
  await f.step("origin/sign-in-null-origin-same-origin", () =>
    f.post(f.device("null-so"), "/sign-in/email", { email: aliceNew, password: PW3 }, { headers: { origin: "null", "sec-fetch-site": "same-origin" } }),
  );
  await f.step("origin/cookie-untrusted-origin", () => f.post(O, "/update-user", { name: "Evil" }, { headers: { origin: EVIL_ORIGIN } }));
  await f.step("origin/cookie-referer-only", () => f.post(O, "/update-user", { name: "Referer" }, { noOrigin: true, headers: { referer: `${f.origin}/settings` } }));
  await f.step("origin/cookie-untrusted-referer", () => f.post(O, "/update-user", { name: "Referer" }, { noOrigin: true, headers: { referer: `${EVIL_ORIGIN}/settings` } }));
  await f.step("origin/cookie-trusted-extra-origin", () => f.post(O, "/update-user", { name: "Trusted" }, { headers: { origin: TRUSTED_EXTRA_ORIGIN } }));
  await f.step("origin/cookie-sign-out-no-origin", () => f.post(O, "/sign-out", {}, { noOrigin: true }));
  await f.step("origin/cookie-get-session-no-origin", () => f.raw(O, "/get-session"));
  // Node's fetch always sends `sec-fetch-mode: cors`; `exact` requests go through node:http without it.
  await f.step("origin/sign-in-no-cookie-no-origin-no-fetch-metadata", () =>
    f.post(f.device("s2s"), "/sign-in/email", { email: aliceNew, password: PW3 }, { noOrigin: true, exact: true }),
  );
  await f.step("origin/sign-in-no-cookie-no-origin-with-fetch-metadata", () =>
    f.post(f.device("s2s-meta"), "/sign-in/email", { email: aliceNew, password: PW3 }, { noOrigin: true }),
  );
  await f.step("origin/sign-in-untrusted-origin", () => f.post(f.device("evil"), "/sign-in/email", { email: aliceNew, password: PW3 }, { headers: { origin: EVIL_ORIGIN } }));
  await f.step("origin/sign-up-untrusted-origin", () => f.post(f.device("evil2"), "/sign-up/email", { name: "E", email: "evil@example.com", password: PW }, { headers: { origin: EVIL_ORIGIN } }));
  await f.step("origin/sign-in-cross-site-navigation", () =>
    f.post(f.device("nav"), "/sign-in/email", { email: aliceNew, password: PW3 }, { noOrigin: true, exact: true, headers: { "sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate" } }),
  );
  await f.step("origin/sign-in-same-origin-fetch-metadata", () =>
    f.post(f.device("meta"), "/sign-in/email", { email: aliceNew, password: PW3 }, { headers: { "sec-fetch-site": "same-origin", "sec-fetch-mode": "cors" } }),
  );
  await f.step("origin/untrusted-origin-without-cookie-on-other-route", () =>
    f.post(f.device("evil3"), "/request-password-reset", { email: "nobody@example.com" }, { headers: { origin: EVIL_ORIGIN } }),
  );
  const bearerO = f.bearerClient("bearer-o", signUpToken);
  await f.step("origin/bearer-no-origin", () =>
    f.post(bearerO.device, "/update-user", { name: "Via Bearer" }, { noOrigin: true, headers: { authorization: `Bearer ${newTok ?? "x"}` } }),
  );

  const T = f.device("T");
  await f.step("transport/text-plain", () => f.raw(T, "/sign-in/email", { method: "POST", headers: { "content-type": "text/plain" }, body: JSON.stringify({ email: aliceNew, password: PW3 }) }));
  await f.step("transport/no-content-type", () => f.raw(T, "/sign-in/email", { method: "POST", exact: true, body: JSON.stringify({ email: aliceNew, password: PW3 }) }));
  await f.step("transport/no-content-type-update-user", () => f.raw(O, "/update-user", { method: "POST", exact: true, body: JSON.stringify({ name: "No Type" }) }));
  await f.step("transport/bad-json", () => f.raw(T, "/sign-in/email", { method: "POST", headers: json, body: "{not json" }));
  await f.step("transport/json-array", () => f.raw(T, "/sign-in/email", { method: "POST", headers: json, body: "[]" }));
  await f.step("transport/json-null", () => f.raw(T, "/sign-in/email", { method: "POST", headers: json, body: "null" }));
  await f.step("transport/json-no-body", () => f.raw(T, "/sign-in/email", { method: "POST", headers: json }));
  await f.step("transport/json-charset", () => f.raw(f.device("cs"), "/sign-in/email", { method: "POST", headers: { "content-type": "application/json; charset=utf-8" }, body: JSON.stringify({ email: aliceNew, password: PW3 }) }));
  await f.step("transport/form-urlencoded-sign-in", () =>
    f.raw(f.device("form"), "/sign-in/email", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ email: aliceNew, password: PW3 }).toString() }),
  );
  await f.step("transport/form-urlencoded-update-user", () =>
    f.raw(O, "/update-user", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "name=Form" }),
  );
  await f.step("transport/wrong-type-field", () => f.post(T, "/sign-in/email", { email: aliceNew, password: 12345678 }));
  await f.step("transport/unknown-route", () => f.raw(T, "/no-such-route"));
  await f.step("transport/trailing-slash", () => f.raw(T, "/ok/"));
  await f.step("transport/wrong-method", () => f.raw(T, "/sign-in/email"));
  await f.step("transport/outside-base-path", () => f.raw(T, "/../../foo"));

  // --- sign-out (last: Alice on device A)
  const cookieBeforeSignOut = A.jar.get(SESSION_COOKIE);
  r = await f.step("sign-out", () => a.signOut());
  f.assert("sign-out: {success:true}", r.data?.success === true, r.json);
  f.assert("sign-out expires the session cookie", expiresCookie(r.ex, SESSION_COOKIE), r.ex?.setCookies);
  r = await f.step("get-session/after-sign-out", () => a.getSession());
  f.assert("get-session/after-sign-out is null", r.json === null, r.ex?.bodyText);
  r = await f.step("token/after-sign-out", () => a.token());
  f.assert("token/after-sign-out refused (401)", r.ex?.status === 401, r.ex?.status);
  await f.step("sign-out/again", () => a.signOut());
  const replay = f.device("replay");
  if (cookieBeforeSignOut) replay.jar.set(SESSION_COOKIE, cookieBeforeSignOut);
  r = await f.step("get-session/replayed-cookie-after-sign-out", () => f.client(replay).getSession());
  f.assert("get-session/replayed-cookie-after-sign-out is null", r.json === null, r.ex?.bodyText);
  if (cookieBeforeSignOut) replay.jar.set(SESSION_COOKIE, cookieBeforeSignOut);
  r = await f.step("token/replayed-cookie-after-sign-out", () => f.client(replay).token());
  f.assert("token/replayed-cookie-after-sign-out refused (401)", r.ex?.status === 401, r.ex?.status);
  if (cookieBeforeSignOut) replay.jar.set(SESSION_COOKIE, cookieBeforeSignOut);
  r = await f.step("update-user/replayed-cookie-after-sign-out", () => f.client(replay).updateUser({ name: "Ghost" }));
  f.assert("update-user/replayed-cookie-after-sign-out refused (401)", r.ex?.status === 401, r.ex?.status);
  const replayBearer = f.bearerClient("replay-bearer", cookieBeforeSignOut ? decodeURIComponent(cookieBeforeSignOut) : "x");
  r = await f.step("token/replayed-bearer-after-sign-out", () => replayBearer.client.token());
  f.assert("token/replayed-bearer-after-sign-out refused", r.ex?.status === 401, r.ex?.status);
}

/** The part of a mailed link after /api/auth (path + query), for a raw request through a device. */
function linkPath(flow, url) {
  if (!url) return "/verify-email?token=missing";
  const u = new URL(url);
  return u.pathname.replace(/^\/api\/auth/, "") + u.search;
}

/** A mail record with run-specific parts replaced, for the transcript. */
function mailShape(flow, m) {
  const u = new URL(m.url);
  const params = {};
  for (const [k, v] of u.searchParams) params[k] = k === "token" ? (v === m.token ? "<token>" : "<other>") : v;
  const path = u.pathname.replace(m.token, "<token>");
  let tokenKind = /^eyJ/.test(m.token) ? "jwt" : /^[A-Za-z0-9]+$/.test(m.token) ? `alnum${m.token.length}` : "other";
  const out = { kind: m.kind, keys: Object.keys(m).sort(), origin: u.origin === flow.origin ? "<origin>" : u.origin, path, query: params, tokenKind };
  if (tokenKind === "jwt") out.tokenClaims = jwtShape(m.token);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Scenario "email-verification": requireEmailVerification = true, rate limiting off.
// ---------------------------------------------------------------------------------------------------------
async function emailVerificationScenario(flow) {
  const f = flow;
  const A = f.device("A");
  const a = f.client(A);
  const email = "vera@example.com";
  let mails = f.outbox.count();
  let r = await f.step("sign-up/ok", () => a.signUp.email({ name: "Vera", email, password: PW, callbackURL: "/welcome" }));
  f.assert("sign-up/ok: token null", r.ex?.status === 200 && r.data?.token === null, r.json);
  f.assert("sign-up/ok: no session cookie", !setCookieValue(r.ex, SESSION_COOKIE), r.ex?.setCookies);
  f.assert("sign-up/ok: no set-auth-token", !r.ex?.headers["set-auth-token"], r.ex?.headers);
  const signUpMail = await f.outbox.waitFor(mails, { kind: "verify-email", to: email });
  f.assert("sign-up/ok: verification mail sent", !!signUpMail, f.outbox.after(mails));
  if (signUpMail) f.record("mail/sign-up-verify-email", { mail: mailShape(f, signUpMail) });
  r = await f.step("get-session/after-sign-up", () => a.getSession());
  f.assert("get-session/after-sign-up is null", r.json === null, r.ex?.bodyText);

  mails = f.outbox.count();
  r = await f.step("sign-up/duplicate", () => f.client(f.device("dup")).signUp.email({ name: "Vera Two", email, password: PW2 }));
  f.assert("sign-up/duplicate: 200 with token null (no enumeration)", r.ex?.status === 200 && r.data?.token === null, r.json);
  f.assert("sign-up/duplicate: echoes the submitted name", r.data?.user?.name === "Vera Two", r.data?.user);
  f.assert("sign-up/duplicate: no mail", f.outbox.count() === mails, f.outbox.after(mails));

  mails = f.outbox.count();
  r = await f.step("sign-in/unverified", () => a.signIn.email({ email, password: PW }));
  f.assert("sign-in/unverified: 403 EMAIL_NOT_VERIFIED", r.ex?.status === 403 && r.error?.code === "EMAIL_NOT_VERIFIED", r.json);
  f.assert("sign-in/unverified: no session cookie", !setCookieValue(r.ex, SESSION_COOKIE), r.ex?.setCookies);
  r = await f.step("sign-in/unverified-wrong-password", () => a.signIn.email({ email, password: "wrong-password-123" }));
  f.assert("sign-in/unverified-wrong-password: 401, not 403", r.ex?.status === 401, r.ex?.status);
  await f.step("sign-in/unverified-unknown-email", () => a.signIn.email({ email: "nobody@example.com", password: PW }));
  f.record("mail/after-unverified-sign-in", { mailsSent: f.outbox.count() - mails });

  mails = f.outbox.count();
  r = await f.step("send-verification-email/signed-out", () => a.sendVerificationEmail({ email, callbackURL: "/again" }));
  const resend = await f.outbox.waitFor(mails, { kind: "verify-email", to: email });
  f.assert("send-verification-email/signed-out: mail sent", !!resend, f.outbox.after(mails));

  const link = linkPath(f, signUpMail?.url);
  r = await f.step("verify-email/with-callback", () => f.raw(A, link));
  f.assert("verify-email/with-callback: 302 to /welcome", r.ex?.status === 302 && r.ex?.headers.location === "/welcome", r.ex && { status: r.ex.status, location: r.ex.headers.location });
  f.assert("verify-email/with-callback: no session cookie (no auto sign-in)", !setCookieValue(r.ex, SESSION_COOKIE), r.ex?.setCookies);
  r = await f.step("verify-email/with-callback-reused", () => f.raw(A, link));
  r = await f.step("verify-email/resent-token-after-verified", () => a.verifyEmail({ query: { token: resend?.token ?? "missing" } }));
  r = await f.step("sign-in/verified", () => a.signIn.email({ email, password: PW }));
  f.assert("sign-in/verified: 200", r.ex?.status === 200, r.json);
  f.assert("sign-in/verified: user.emailVerified true", r.data?.user?.emailVerified === true, r.data?.user);
  r = await f.step("get-session/verified", () => a.getSession());

  // A second user verifies through the client (no callbackURL in the link the client follows).
  const B = f.device("B");
  const b = f.client(B);
  mails = f.outbox.count();
  await f.step("sign-up/second", () => b.signUp.email({ name: "Walt", email: "walt@example.com", password: PW }));
  const waltMail = await f.outbox.waitFor(mails, { kind: "verify-email", to: "walt@example.com" });
  if (waltMail) f.record("mail/sign-up-default-callback", { mail: mailShape(f, waltMail) });
  r = await f.step("verify-email/no-callback", () => b.verifyEmail({ query: { token: waltMail?.token ?? "missing" } }));
  f.assert("verify-email/no-callback: {status:true,user:null}", r.data?.status === true && r.data?.user === null, r.json);
  f.assert("verify-email/no-callback: no session cookie", !setCookieValue(r.ex, SESSION_COOKIE), r.ex?.setCookies);
  r = await f.step("get-session/after-verify-no-auto-sign-in", () => b.getSession());
  f.assert("get-session/after-verify-no-auto-sign-in is null", r.json === null, r.ex?.bodyText);

  // Password reset for an unverified user.
  const C = f.device("C");
  const c = f.client(C);
  mails = f.outbox.count();
  await f.step("sign-up/third", () => c.signUp.email({ name: "Xena", email: "xena@example.com", password: PW }));
  mails = f.outbox.count();
  r = await f.step("request-password-reset/unverified-user", () => c.requestPasswordReset({ email: "xena@example.com", redirectTo: "/reset" }));
  const resetMail = await f.outbox.waitFor(mails, { kind: "reset-password", to: "xena@example.com" });
  f.record("mail/reset-for-unverified-user", { mailSent: !!resetMail });
  if (resetMail) {
    await f.step("reset-password/unverified-user", () => c.resetPassword({ newPassword: PW2, token: resetMail.token }));
    await f.step("sign-in/unverified-after-reset", () => c.signIn.email({ email: "xena@example.com", password: PW2 }));
  }
}

// ---------------------------------------------------------------------------------------------------------
// Scenario "rate-limit": rate limiting on (defaults), verification not required.
// ---------------------------------------------------------------------------------------------------------
async function rateLimitScenario(flow) {
  const f = flow;
  const A = f.device("A");
  const a = f.client(A);
  const email = "rita@example.com";
  let r = await f.step("sign-up/ok", () => a.signUp.email({ name: "Rita", email, password: PW }));
  const X = f.device("X");
  const x = f.client(X);
  for (let n = 1; n <= 3; n++) {
    r = await f.step(`sign-in/attempt-${n}`, () => x.signIn.email({ email, password: "wrong-password-123" }));
    f.assert(`sign-in/attempt-${n}: not limited`, r.ex?.status === 401, r.ex?.status);
  }
  r = await f.step("sign-in/attempt-4", () => x.signIn.email({ email, password: PW }));
  f.assert("sign-in/attempt-4: 429", r.ex?.status === 429, r.ex?.status);
  const retry = Number(r.ex?.headers["x-retry-after"]);
  f.assert("sign-in/attempt-4: X-Retry-After is 1..10 seconds", Number.isInteger(retry) && retry >= 1 && retry <= 10, r.ex?.headers["x-retry-after"]);
  f.assert("sign-in/attempt-4: body has message", typeof r.json?.message === "string", r.json);
  f.assert("sign-in/attempt-4: client error.status 429", r.error?.status === 429, r.error);
  r = await f.step("sign-in/attempt-5", () => x.signIn.email({ email, password: PW }));
  r = await f.step("get-session/not-limited", () => a.getSession());
  f.assert("get-session/not-limited: 200", r.ex?.status === 200, r.ex?.status);
  const waitMs = (Number.isInteger(retry) && retry >= 1 && retry <= 10 ? retry : 10) * 1000 + 250;
  await sleep(waitMs);
  r = await f.step("sign-in/after-window", () => x.signIn.email({ email, password: PW }));
  f.assert("sign-in/after-window: allowed again", r.ex?.status === 200, r.ex?.status);
}

// ---------------------------------------------------------------------------------------------------------
// Scenario "time-travel": both servers run under libfaketime (run.mjs), and the flow moves their clocks
// forward by hours (f.travel) to check session lifetimes: a session read through any session route slides
// once per updateAge (1 day), so a client that only calls /token or /list-sessions stays signed in; a
// rememberMe:false session ends after a day; the session made by change-password {revokeOtherSessions:true}
// slides too.
// ---------------------------------------------------------------------------------------------------------
async function timeTravelScenario(flow) {
  const f = flow;
  const A = f.device("A");
  const a = f.client(A);
  let r = await f.step("sign-up/ok", () => a.signUp.email({ name: "Tim", email: "tim@example.com", password: PW }));
  const bearerToken = r.ex?.headers["set-auth-token"];
  f.assert("sign-up/ok: set-auth-token", typeof bearerToken === "string" && bearerToken.length > 0, r.ex?.headers);
  const bearer = f.bearerClient("bearer", bearerToken).client;

  const C = f.device("C");
  const c = f.client(C);
  await f.step("sign-in/cookie-device", () => c.signIn.email({ email: "tim@example.com", password: PW }));

  const D = f.device("D");
  const d = f.client(D);
  r = await f.step("sign-in/remember-me-false", () => d.signIn.email({ email: "tim@example.com", password: PW, rememberMe: false }));
  const dontRememberBearer = f.bearerClient("bearer-dont-remember", r.ex?.headers["set-auth-token"]).client;

  const E = f.device("E");
  const e = f.client(E);
  await f.step("sign-up/second-user", () => e.signUp.email({ name: "Eve", email: "eve@example.com", password: PW }));
  r = await f.step("change-password/revoke-others", () =>
    e.changePassword({ currentPassword: PW, newPassword: PW2, revokeOtherSessions: true }),
  );

  // A rememberMe:false session read within its day, by bearer: does it slide?
  await f.travel(12);
  await f.step("+12h/token/dont-remember-bearer", () => dontRememberBearer.token());

  await f.travel(25);
  r = await f.step("+25h/token/bearer", () => bearer.token());
  f.assert("+25h/token/bearer: 200", r.ex?.status === 200, r.ex?.status);
  f.assert("+25h/token/bearer: set-auth-token re-sent", typeof r.ex?.headers["set-auth-token"] === "string", r.ex?.headers);
  await f.step("+25h/list-sessions/cookie", () => c.listSessions());
  await f.step("+25h/token/dont-remember-bearer", () => dontRememberBearer.token());
  await f.step("+25h/get-session/dont-remember-cookie", () => d.getSession());
  await f.step("+25h/token/after-change-password", () => e.token());

  await f.travel(170);
  r = await f.step("+170h/token/bearer", () => bearer.token());
  f.assert("+170h/token/bearer: still signed in (slid at +25 h)", r.ex?.status === 200, r.ex?.status);
  // list-sessions at +25 h answered 403 SESSION_NOT_FRESH (older than freshAge) but still slid the session
  r = await f.step("+170h/token/cookie", () => c.token());
  f.assert("+170h/token/cookie: still signed in (slid by list-sessions at +25 h)", r.ex?.status === 200, r.ex?.status);
  await f.step("+170h/token/after-change-password", () => e.token());
  await f.step("+170h/token/dont-remember-bearer", () => dontRememberBearer.token());

  await f.travel(400);
  r = await f.step("+400h/token/bearer", () => bearer.token());
  f.assert("+400h/token/bearer: expired (7 days after the last slide)", r.ex?.status === 401, r.ex?.status);
  await f.step("+400h/get-session/cookie", () => c.getSession());
}

// ---------------------------------------------------------------------------------------------------------
// Scenario "admin": the admin plugin through the official adminClient(). The first administrator is made
// out of band (f.promote), as an operator does with `sigil users set-role`.
// ---------------------------------------------------------------------------------------------------------
async function adminScenario(f) {
  const A = f.device("admin");
  const a = f.client(A);
  const B = f.device("u1");
  const b = f.client(B);
  const C = f.device("u2");
  const c = f.client(C);
  const anon = f.client(f.device("anon", { cookies: false }));

  let r = await f.step("sign-up/root", () => a.signUp.email({ name: "Root", email: "root@example.com", password: PW }));
  const rootId = r.data?.user?.id;
  f.assert("sign-up: user.role is user", r.data?.user?.role === "user", r.data?.user);
  f.assert("sign-up: user.banned is false", r.data?.user?.banned === false, r.data?.user);
  r = await f.step("sign-up/u1", () => b.signUp.email({ name: "User One", email: "u1@example.com", password: PW }));
  const u1 = r.data?.user?.id;
  r = await f.step("sign-up/u2", () => c.signUp.email({ name: "User Two", email: "u2@example.com", password: PW }));
  const u2 = r.data?.user?.id;

  r = await f.step("list-users/signed-out", () => anon.admin.listUsers({ query: {} }));
  f.assert("list-users/signed-out is 401", r.ex?.status === 401, r.ex?.status);
  r = await f.step("list-users/not-admin", () => a.admin.listUsers({ query: {} }));
  f.assert("list-users/not-admin is 403", r.ex?.status === 403, r.ex?.status);
  r = await f.step("ban-user/not-admin", () => c.admin.banUser({ userId: u1 }));
  f.assert("ban-user/not-admin: YOU_ARE_NOT_ALLOWED_TO_BAN_USERS", r.error?.code === "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS", r.error);

  await f.promote("root@example.com");

  r = await f.step("list-users/ok", () => a.admin.listUsers({ query: { limit: 10, sortBy: "email", sortDirection: "asc" } }));
  f.assert("list-users/ok total 3", r.data?.total === 3, r.data);
  f.assert(
    "list-users/ok sorted by email",
    JSON.stringify(r.data?.users?.map((u) => u.email)) === JSON.stringify(["root@example.com", "u1@example.com", "u2@example.com"]),
    r.data?.users?.map((u) => u.email),
  );
  r = await f.step("list-users/search", () =>
    a.admin.listUsers({ query: { searchValue: "u1", searchField: "email", searchOperator: "contains" } }),
  );
  f.assert("list-users/search finds u1 only", r.data?.total === 1 && r.data?.users?.[0]?.id === u1, r.data);
  r = await f.step("list-users/page", () => a.admin.listUsers({ query: { limit: 1, offset: 1, sortBy: "email" } }));
  f.assert("list-users/page: one user, the second", r.data?.users?.length === 1 && r.data?.users?.[0]?.id === u1, r.data);
  r = await f.step("list-users/filter", () =>
    a.admin.listUsers({ query: { filterField: "role", filterValue: "admin", filterOperator: "eq" } }),
  );
  f.assert("list-users/filter: the administrator", r.data?.total === 1 && r.data?.users?.[0]?.id === rootId, r.data);

  r = await f.step("get-user/ok", () => a.admin.getUser({ query: { id: u1 } }));
  f.assert("get-user/ok", r.data?.email === "u1@example.com", r.data);
  await f.step("get-user/unknown", () => a.admin.getUser({ query: { id: "no-such-user" } }));

  r = await f.step("create-user/ok", () =>
    a.admin.createUser({ email: "Made@Example.com", password: PW, name: "Made", role: "user" }),
  );
  const made = r.data?.user?.id;
  f.assert("create-user/ok lower-cases the email", r.data?.user?.email === "made@example.com", r.data);
  await f.step("create-user/duplicate", () => a.admin.createUser({ email: "made@example.com", password: PW, name: "Made" }));
  await f.step("create-user/bad-email", () => a.admin.createUser({ email: "not-an-email", password: PW, name: "Bad" }));

  r = await f.step("set-role/ok", () => a.admin.setRole({ userId: u2, role: "admin" }));
  f.assert("set-role/ok", r.data?.user?.role === "admin", r.data);
  await f.step("set-role/back", () => a.admin.setRole({ userId: u2, role: "user" }));
  await f.step("set-role/unknown-user", () => a.admin.setRole({ userId: "no-such-user", role: "user" }));

  r = await f.step("update-user/ok", () => a.admin.updateUser({ userId: u2, data: { name: "Renamed" } }));
  f.assert("update-user/ok renames", r.data?.name === "Renamed", r.data);
  await f.step("update-user/password", () => a.admin.updateUser({ userId: u2, data: { password: PW2 } }));
  await f.step("update-user/empty", () => a.admin.updateUser({ userId: u2, data: {} }));

  r = await f.step("ban-user/ok", () => a.admin.banUser({ userId: u1, banReason: "spam", banExpiresIn: 3600 }));
  f.assert("ban-user/ok: banned with reason", r.data?.user?.banned === true && r.data?.user?.banReason === "spam", r.data);
  f.assert("ban-user/ok: banExpires set", !!r.data?.user?.banExpires, r.data);
  r = await f.step("ban-user/session-ended", () => b.getSession());
  f.assert("ban-user: the banned user's session ended", r.ex?.status === 200 && r.json === null, r.json);
  r = await f.step("ban-user/sign-in", () => f.client(f.device("u1-again")).signIn.email({ email: "u1@example.com", password: PW }));
  f.assert("ban-user/sign-in: 403 BANNED_USER", r.ex?.status === 403 && r.error?.code === "BANNED_USER", r.error);
  r = await f.step("list-user-sessions/banned", () => a.admin.listUserSessions({ userId: u1 }));
  f.assert("list-user-sessions/banned: none", Array.isArray(r.data?.sessions) && r.data.sessions.length === 0, r.data);
  r = await f.step("ban-user/self", () => a.admin.banUser({ userId: rootId }));
  f.assert("ban-user/self refused", r.error?.code === "YOU_CANNOT_BAN_YOURSELF", r.error);
  await f.step("ban-user/unknown-user", () => a.admin.banUser({ userId: "no-such-user" }));

  r = await f.step("unban-user/ok", () => a.admin.unbanUser({ userId: u1 }));
  f.assert("unban-user/ok", r.data?.user?.banned === false, r.data);
  r = await f.step("unban-user/sign-in", () => b.signIn.email({ email: "u1@example.com", password: PW }));
  f.assert("unban-user/sign-in works", r.ex?.status === 200, r.ex?.status);

  r = await f.step("list-user-sessions/ok", () => a.admin.listUserSessions({ userId: u1 }));
  f.assert("list-user-sessions/ok: one session", r.data?.sessions?.length === 1, r.data);
  const handle = r.data?.sessions?.[0]?.token;
  r = await f.step("revoke-user-session/ok", () => a.admin.revokeUserSession({ sessionToken: handle }));
  f.assert("revoke-user-session/ok", r.data?.success === true, r.data);
  r = await f.step("revoke-user-session/ended", () => b.getSession());
  f.assert("revoke-user-session: the session ended", r.json === null, r.json);

  r = await f.step("set-user-password/ok", () => a.admin.setUserPassword({ userId: u1, newPassword: PW2 }));
  f.assert("set-user-password/ok", r.data?.status === true, r.data);
  await f.step("set-user-password/too-short", () => a.admin.setUserPassword({ userId: u1, newPassword: "short" }));
  r = await f.step("set-user-password/sign-in", () => b.signIn.email({ email: "u1@example.com", password: PW2 }));
  f.assert("set-user-password: the new password works", r.ex?.status === 200, r.ex?.status);

  r = await f.step("revoke-user-sessions/ok", () => a.admin.revokeUserSessions({ userId: u2 }));
  f.assert("revoke-user-sessions/ok", r.data?.success === true, r.data);
  r = await f.step("revoke-user-sessions/ended", () => c.getSession());
  f.assert("revoke-user-sessions: u2 signed out", r.json === null, r.json);

  r = await f.step("has-permission/admin", () => a.admin.hasPermission({ permissions: { user: ["ban", "list"] } }));
  f.assert("has-permission/admin: success", r.data?.success === true, r.data);
  r = await f.step("has-permission/user", () => b.admin.hasPermission({ permissions: { user: ["ban"] } }));
  f.assert("has-permission/user: no", r.data?.success === false, r.data);

  r = await f.step("remove-user/ok", () => a.admin.removeUser({ userId: made }));
  f.assert("remove-user/ok", r.data?.success === true, r.data);
  await f.step("remove-user/again", () => a.admin.removeUser({ userId: made }));
  r = await f.step("remove-user/self", () => a.admin.removeUser({ userId: rootId }));
  f.assert("remove-user/self refused", r.error?.code === "YOU_CANNOT_REMOVE_YOURSELF", r.error);

  // The user's own /update-user cannot grant a role or lift a ban.
  await f.step("update-user/self-role", () => b.updateUser({ name: "Sneaky", role: "admin", banned: false }));
  r = await f.step("list-users/self-promoted?", () => b.admin.listUsers({ query: {} }));
  f.assert("update-user cannot make an administrator", r.ex?.status === 403, r.ex?.status);
}

// ---------------------------------------------------------------------------------------------------------
// Scenario "two-factor": the twoFactor plugin through the official twoFactorClient(): enable with the
// password, confirm with a first TOTP code, sign out, sign in (twoFactorRedirect + the two_factor cookie, no
// session), verify with a TOTP code, a backup code and an emailed code, trust the device, disable.
// Codes are computed here from the totpURI (RFC 6238: HMAC-SHA-1, 6 digits, 30 s).
// ---------------------------------------------------------------------------------------------------------
const TWO_FACTOR_COOKIE = "better-auth.two_factor";
const TRUST_DEVICE_COOKIE = "better-auth.trust_device";

function base32Decode(s) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of s.replace(/=+$/, "").toUpperCase()) {
    value = (value << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

/** The RFC 6238 code of time step `step` for the key in `totpURI`. */
function totpAt(totpURI, step) {
  const key = base32Decode(new URL(totpURI).searchParams.get("secret") ?? "");
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac("sha1", key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const n = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(n).padStart(6, "0");
}

const stepNow = () => Math.floor(Date.now() / 30_000);

async function twoFactorScenario(flow) {
  const f = flow;
  const A = f.device("A");
  const a = f.client(A);
  const email = "tfa@example.com";
  let r = await f.step("sign-up/ok", () => a.signUp.email({ name: "Tfa", email, password: PW }));
  f.assert("sign-up/ok: user.twoFactorEnabled is false", r.data?.user?.twoFactorEnabled === false, r.data?.user);

  await f.step("enable/no-password", () => f.post(A, "/two-factor/enable", {}, { headers: { origin: f.origin } }));
  await f.step("enable/wrong-password", () => a.twoFactor.enable({ password: PW2 }));
  r = await f.step("enable/ok", () => a.twoFactor.enable({ password: PW }));
  const totpURI = r.data?.totpURI;
  const backupCodes = r.data?.backupCodes ?? [];
  f.assert("enable/ok: totpURI is an otpauth URI", typeof totpURI === "string" && totpURI.startsWith("otpauth://totp/"), r.data);
  f.assert("enable/ok: 10 backup codes", Array.isArray(backupCodes) && backupCodes.length === 10, r.data);
  if (typeof totpURI !== "string") return;
  r = await f.step("get-session/after-enable", () => a.getSession());
  f.assert("get-session/after-enable: not on before a first code", r.data?.user?.twoFactorEnabled === false, r.data?.user);

  const s0 = stepNow();
  r = await f.step("verify-totp/enrol", () => a.twoFactor.verifyTotp({ code: totpAt(totpURI, s0) }));
  f.assert("verify-totp/enrol: 200", r.ex?.status === 200, r.json);
  r = await f.step("get-session/after-verify", () => a.getSession());
  f.assert("get-session/after-verify: twoFactorEnabled", r.data?.user?.twoFactorEnabled === true, r.data?.user);
  await f.step("get-totp-uri/ok", () => a.twoFactor.getTotpUri({ password: PW }));
  await f.step("sign-out/ok", () => a.signOut());

  // Sign-in: the password alone gives no session.
  const B = f.device("B");
  const b = f.client(B);
  r = await f.step("sign-in/two-factor-redirect", () => b.signIn.email({ email, password: PW }));
  f.assert("sign-in/two-factor-redirect: data.twoFactorRedirect", r.data?.twoFactorRedirect === true, r.json);
  f.assert("sign-in/two-factor-redirect: no session cookie", !setCookieValue(r.ex, SESSION_COOKIE), r.ex?.setCookies);
  f.assert("sign-in/two-factor-redirect: two_factor cookie", !!setCookieValue(r.ex, TWO_FACTOR_COOKIE), r.ex?.setCookies);
  r = await f.step("get-session/pending", () => b.getSession());
  f.assert("get-session/pending: null", r.data === null, r.json);
  await f.step("verify-totp/wrong", () => b.twoFactor.verifyTotp({ code: totpAt(totpURI, s0 + 5) }));
  r = await f.step("verify-totp/ok", () => b.twoFactor.verifyTotp({ code: totpAt(totpURI, s0 + 1) }));
  f.assert("verify-totp/ok: session cookie", !!setCookieValue(r.ex, SESSION_COOKIE), r.ex?.setCookies);
  f.assert("verify-totp/ok: two_factor cookie expired", expiresCookie(r.ex, TWO_FACTOR_COOKIE), r.ex?.setCookies);
  r = await f.step("get-session/after-totp", () => b.getSession());
  f.assert("get-session/after-totp: signed in", r.data?.user?.email === email, r.json);
  r = await f.step("token/after-totp", () => b.token());
  const jwt = r.data?.token;
  if (typeof jwt === "string") {
    const v = await verifyJwt(f, jwt);
    f.assert("token/after-totp: JWT verifies against /jwks", v.ok, v.error);
  }
  await f.step("verify-totp/cookie-used", () => f.post(B, "/two-factor/verify-totp", { code: totpAt(totpURI, s0 + 1) }, { headers: { origin: f.origin } }));

  // The same TOTP code again in a new sign-in within its window (Better Auth 1.7.25 accepts it; Sigil refuses).
  const C = f.device("C");
  const c = f.client(C);
  await f.step("sign-in/replay", () => c.signIn.email({ email, password: PW }));
  await f.step("verify-totp/replayed-code", () => c.twoFactor.verifyTotp({ code: totpAt(totpURI, s0 + 1) }));

  // Backup code, once.
  const D = f.device("D");
  const d = f.client(D);
  await f.step("sign-in/backup", () => d.signIn.email({ email, password: PW }));
  r = await f.step("verify-backup-code/ok", () => d.twoFactor.verifyBackupCode({ code: backupCodes[0] }));
  f.assert("verify-backup-code/ok: session cookie", !!setCookieValue(r.ex, SESSION_COOKIE), r.ex?.setCookies);
  const E = f.device("E");
  const e = f.client(E);
  await f.step("sign-in/backup-again", () => e.signIn.email({ email, password: PW }));
  await f.step("verify-backup-code/used", () => e.twoFactor.verifyBackupCode({ code: backupCodes[0] }));

  // Emailed code.
  const since = f.outbox.count();
  await f.step("send-otp/ok", () => e.twoFactor.sendOtp());
  const mail = await f.outbox.waitFor(since, { kind: "two-factor-code", to: email });
  f.assert("send-otp/ok: a two-factor-code mail with a 6-digit code", /^\d{6}$/.test(mail?.token ?? ""), mail);
  await f.step("verify-otp/wrong", () => e.twoFactor.verifyOtp({ code: mail?.token === "000000" ? "111111" : "000000" }));
  r = await f.step("verify-otp/ok", () => e.twoFactor.verifyOtp({ code: mail?.token ?? "" }));
  f.assert("verify-otp/ok: session cookie", !!setCookieValue(r.ex, SESSION_COOKIE), r.ex?.setCookies);

  // Trust this device: the next sign-in from it skips the second factor.
  const T = f.device("T");
  const t = f.client(T);
  await f.step("sign-in/trust", () => t.signIn.email({ email, password: PW }));
  r = await f.step("verify-backup-code/trust-device", () => t.twoFactor.verifyBackupCode({ code: backupCodes[1], trustDevice: true }));
  f.assert("verify-backup-code/trust-device: trust cookie", !!setCookieValue(r.ex, TRUST_DEVICE_COOKIE), r.ex?.setCookies);
  await f.step("sign-out/trusted", () => t.signOut());
  r = await f.step("sign-in/trusted-device", () => t.signIn.email({ email, password: PW }));
  f.assert("sign-in/trusted-device: a session at once", !!setCookieValue(r.ex, SESSION_COOKIE) && !r.data?.twoFactorRedirect, r.json);

  // New backup codes, then disable.
  await f.step("generate-backup-codes/ok", () => t.twoFactor.generateBackupCodes({ password: PW }));
  await f.step("disable/wrong-password", () => t.twoFactor.disable({ password: PW2 }));
  r = await f.step("disable/ok", () => t.twoFactor.disable({ password: PW }));
  f.assert("disable/ok: status true", r.data?.status === true, r.json);
  const F = f.device("F");
  const fc = f.client(F);
  r = await f.step("sign-in/after-disable", () => fc.signIn.email({ email, password: PW }));
  f.assert("sign-in/after-disable: a session at once", !!setCookieValue(r.ex, SESSION_COOKIE), r.json);
}

// ---------------------------------------------------------------------------------------------------------
// Scenario "passkey": @better-auth/passkey 1.7.6 through the official passkeyClient(), its WebAuthn calls
// answered by a software authenticator (lib/authenticator.mjs: ES256 keys, "none" attestation), on servers
// whose base URL is http://localhost:PORT. Register, list, rename, delete, sign in with the passkey; the bad
// inputs (another user's credential, wrong origin, wrong rp id, a counter going backwards, no user
// verification); and a passkey as the second step of a two-factor sign-in (Sigil's extension, docs/design.md).
// ---------------------------------------------------------------------------------------------------------
async function passkeyScenario(flow) {
  const f = flow;
  const auth = f.authenticator;
  const all = { observeAll: true };
  const ada = "ada.passkey@example.com";
  const bob = "bob.passkey@example.com";

  const A = f.device("A");
  const a = f.passkeyClient(A);
  await f.step("sign-up/ada", () => a.signUp.email({ name: "Ada", email: ada, password: PW }));
  const N = f.device("N");
  await f.step("generate-register-options/no-session", () => f.raw(N, "/passkey/generate-register-options"));
  await f.step("list/no-session", () => f.raw(N, "/passkey/list-user-passkeys"));

  // Registrations that must not verify (Cyd has no passkey, so nothing is excluded): each leaves the
  // authenticator with a credential the server does not know.
  const C = f.device("C");
  const cyd = f.passkeyClient(C);
  await f.step("sign-up/cyd", () => cyd.signUp.email({ name: "Cyd", email: "cyd.passkey@example.com", password: PW }));
  auth.owner = "cyd";
  auth.next = { origin: "http://evil.example" };
  await f.step("add-passkey/wrong-origin", () => cyd.passkey.addPasskey({ name: "Evil" }), all);
  auth.next = { rpId: "evil.example" };
  await f.step("add-passkey/wrong-rp-id", () => cyd.passkey.addPasskey({ name: "Evil" }), all);
  // Without user verification: Better Auth registers it (userVerification "preferred"); Sigil requires it.
  auth.next = { userVerified: false };
  await f.step("add-passkey/no-user-verification", () => cyd.passkey.addPasskey({ name: "No UV" }), all);
  await f.step("list/cyd-after-refused", () => cyd.passkey.listUserPasskeys());

  auth.owner = "ada";
  let r = await f.step("add-passkey/ok", () => a.passkey.addPasskey({ name: "Laptop" }), all);
  f.assert("add-passkey/ok: the passkey is answered", r.data?.name === "Laptop" && typeof r.data?.credentialID === "string", r.data ?? r.error);
  const adaPasskey = r.data;
  const adaCredential = auth.credentials[auth.credentials.length - 1];
  r = await f.step("list/ok", () => a.passkey.listUserPasskeys());
  f.assert("list/ok: one passkey", Array.isArray(r.data) && r.data.length === 1 && r.data[0].id === adaPasskey?.id, r.data);
  r = await f.step("update/ok", () => a.passkey.updatePasskey({ id: adaPasskey?.id ?? "x", name: "Work laptop" }));
  f.assert("update/ok: renamed", r.data?.passkey?.name === "Work laptop", r.data ?? r.error);
  await f.step("update/unknown-id", () => a.passkey.updatePasskey({ id: "no-such-passkey", name: "x" }));
  await f.step("delete/unknown-id", () => a.passkey.deletePasskey({ id: "no-such-passkey" }));

  // Bob, with a passkey of his own (same authenticator, another credential).
  const B = f.device("B");
  const b = f.passkeyClient(B);
  await f.step("sign-up/bob", () => b.signUp.email({ name: "Bob", email: bob, password: PW }));
  auth.owner = "bob";
  r = await f.step("add-passkey/bob", () => b.passkey.addPasskey({ name: "Phone" }), all);
  const bobCredential = auth.credentials[auth.credentials.length - 1];
  f.assert("add-passkey/bob: a second credential", bobCredential && bobCredential !== adaCredential, r.data ?? r.error);
  await f.step("update/other-users", () => b.passkey.updatePasskey({ id: adaPasskey?.id ?? "x", name: "mine now" }));
  await f.step("delete/other-users", () => b.passkey.deletePasskey({ id: adaPasskey?.id ?? "x" }));

  // Sign in with the passkey alone.
  await f.step("sign-out/ada", () => a.signOut());
  const P = f.device("P");
  const p = f.passkeyClient(P);
  auth.next = { credential: adaCredential };
  r = await f.step("sign-in-passkey/ok", () => p.signIn.passkey(), all);
  f.assert("sign-in-passkey/ok: a session cookie", !!setCookieValue(f.recorder.exchanges.at(-1), SESSION_COOKIE), r.error);
  r = await f.step("get-session/after-passkey", () => p.getSession());
  f.assert("get-session/after-passkey: Ada", r.data?.user?.email === ada, r.json);

  // Bad assertions, each from a device without a session.
  const bad = async (name, lie) => {
    const D = f.device(name);
    const d = f.passkeyClient(D);
    auth.next = { credential: adaCredential, ...lie };
    const res = await f.step(`sign-in-passkey/${name}`, () => d.signIn.passkey(), all);
    const session = await d.getSession();
    return { res, signedIn: !!session.data };
  };
  // The servers' counter is the authenticator's here (every assertion so far was accepted): 1, then 2.
  let o = await bad("again", {});
  f.assert("sign-in-passkey/again: a session", o.signedIn);
  o = await bad("counter-backwards", { counter: 1 });
  f.assert("sign-in-passkey/counter-backwards: no session", !o.signedIn);
  o = await bad("counter-level", { counter: 2 });
  f.assert("sign-in-passkey/counter-level: no session", !o.signedIn);
  o = await bad("wrong-origin", { origin: "http://evil.example" });
  f.assert("sign-in-passkey/wrong-origin: no session", !o.signedIn);
  o = await bad("wrong-rp-id", { rpId: "evil.example" });
  f.assert("sign-in-passkey/wrong-rp-id: no session", !o.signedIn);
  // No user verification: Better Auth accepts it (requireUserVerification: false); Sigil refuses (listed).
  await bad("no-user-verification", { userVerified: false });

  // Another user's credential answering options asked under Ada's session (they list only hers).
  auth.next = { credential: bobCredential };
  r = await f.step("sign-in-passkey/other-users-credential", () => p.signIn.passkey(), all);
  r = await f.step("get-session/after-other-users-credential", () => p.getSession());

  // Passkey as the second factor of a password sign-in.
  const T = f.device("T");
  const t = f.passkeyClient(T);
  await f.step("sign-in/ada-for-two-factor", () => t.signIn.email({ email: ada, password: PW }));
  r = await f.step("two-factor/enable", () => t.twoFactor.enable({ password: PW }));
  const totpURI = r.data?.totpURI;
  if (typeof totpURI !== "string") return;
  r = await f.step("two-factor/verify-totp-enrol", () => t.twoFactor.verifyTotp({ code: totpAt(totpURI, stepNow()) }));
  f.assert("two-factor/verify-totp-enrol: on", r.ex?.status === 200, r.json);

  const S = f.device("S");
  const sc = f.passkeyClient(S);
  r = await f.step("two-factor/password-step", () => sc.signIn.email({ email: ada, password: PW }));
  f.assert("two-factor/password-step: twoFactorRedirect", r.data?.twoFactorRedirect === true, r.json);
  auth.next = { credential: adaCredential };
  r = await f.step("two-factor/passkey-step", () => sc.signIn.passkey(), all);
  r = await f.step("two-factor/get-session-after-passkey-step", () => sc.getSession());
  f.assert("two-factor/passkey-step: a session for Ada", r.data?.user?.email === ada, r.json);

  // Ada's password step, answered with Bob's passkey.
  const X = f.device("X");
  const x = f.passkeyClient(X);
  await f.step("two-factor/password-step-again", () => x.signIn.email({ email: ada, password: PW }));
  auth.next = { credential: bobCredential };
  await f.step("two-factor/other-users-passkey", () => x.signIn.passkey(), all);
  r = await f.step("two-factor/get-session-after-other-users-passkey", () => x.getSession());

  // A passkey alone, for a user with two-factor on.
  const Y = f.device("Y");
  const y = f.passkeyClient(Y);
  auth.next = { credential: adaCredential };
  r = await f.step("two-factor/passkey-alone", () => y.signIn.passkey(), all);
  r = await f.step("two-factor/get-session-after-passkey-alone", () => y.getSession());
  f.assert("two-factor/passkey-alone: a session for Ada", r.data?.user?.email === ada, r.json);

  // Delete: the passkey no longer signs in.
  r = await f.step("delete/ok", () => t.passkey.deletePasskey({ id: adaPasskey?.id ?? "x" }));
  f.assert("delete/ok: status true", r.data?.status === true, r.json);
  const Z = f.device("Z");
  const z = f.passkeyClient(Z);
  auth.next = { credential: adaCredential };
  await f.step("sign-in-passkey/deleted", () => z.signIn.passkey(), all);
  r = await f.step("list/after-delete", () => b.passkey.listUserPasskeys());
}

export const SCENARIOS = {
  main: {
    env: { SIGIL_RATE_LIMIT: "off", SIGIL_REQUIRE_EMAIL_VERIFICATION: "false" },
    run: mainScenario,
  },
  "email-verification": {
    env: { SIGIL_RATE_LIMIT: "off", SIGIL_REQUIRE_EMAIL_VERIFICATION: "true" },
    run: emailVerificationScenario,
  },
  "rate-limit": {
    // SIGIL_RATE_LIMIT unset: rate limiting is on by default (the contract only defines "off")
    env: { SIGIL_RATE_LIMIT: undefined, SIGIL_REQUIRE_EMAIL_VERIFICATION: "false" },
    run: rateLimitScenario,
  },
  admin: {
    env: { SIGIL_RATE_LIMIT: "off", SIGIL_REQUIRE_EMAIL_VERIFICATION: "false", SIGIL_HARNESS_PROMOTE: "1" },
    run: adminScenario,
  },
  "two-factor": {
    env: { SIGIL_RATE_LIMIT: "off", SIGIL_REQUIRE_EMAIL_VERIFICATION: "false" },
    run: twoFactorScenario,
  },
  passkey: {
    env: { SIGIL_RATE_LIMIT: "off", SIGIL_REQUIRE_EMAIL_VERIFICATION: "false" },
    // WebAuthn needs a domain name: both servers' base URL is http://localhost:PORT.
    localhost: true,
    run: passkeyScenario,
  },
  "time-travel": {
    env: { SIGIL_RATE_LIMIT: "off", SIGIL_REQUIRE_EMAIL_VERIFICATION: "false" },
    // run.mjs starts the server under libfaketime and gives the flow f.travel(hours)
    faketime: true,
    run: timeTravelScenario,
  },
};

/** Runs one scenario against a running server; returns {transcript, exchanges}. */
export async function runScenario({ origin, mailFile, scenario, log, travel, promote }) {
  const def = SCENARIOS[scenario] ?? EXTRA_SCENARIOS[scenario];
  if (!def) throw new Error(`unknown scenario ${scenario}`);
  const flow = new Flow({ origin, mailFile, scenario, log, travel, promote });
  try {
    // WebAuthn calls of this flow are answered by its own software authenticator (lib/authenticator.mjs).
    await withAuthenticator(flow.authenticator, () => def.run(flow));
  } catch (e) {
    flow.assert("scenario completed without an exception", false, e.stack ?? String(e));
  }
  return { transcript: flow.transcript(), exchanges: flow.exchanges };
}

// ---------------------------------------------------------------------------------------------------------
// Better-Auth-only scenarios for the behaviour catalogue (options Sigil's contract does not expose).
// ---------------------------------------------------------------------------------------------------------
export const EXTRA_SCENARIOS = {
  "auto-sign-in-after-verification": {
    env: { SIGIL_RATE_LIMIT: "off", SIGIL_REQUIRE_EMAIL_VERIFICATION: "true" },
    baArgs: ["--auto-sign-in-after-verification"],
    async run(f) {
      const A = f.device("A");
      const a = f.client(A);
      let mails = f.outbox.count();
      await f.step("sign-up/ok", () => a.signUp.email({ name: "Auto", email: "auto@example.com", password: PW }));
      const m = await f.outbox.waitFor(mails, { kind: "verify-email" });
      await f.step("verify-email/with-callback", () => f.raw(A, linkPath(f, m?.url)));
      await f.step("get-session/after-verify", () => a.getSession());
      const B = f.device("B");
      const b = f.client(B);
      mails = f.outbox.count();
      await f.step("sign-up/second", () => b.signUp.email({ name: "Auto2", email: "auto2@example.com", password: PW }));
      const m2 = await f.outbox.waitFor(mails, { kind: "verify-email" });
      await f.step("verify-email/no-callback", () => b.verifyEmail({ query: { token: m2?.token ?? "x" } }));
      await f.step("get-session/after-verify-no-callback", () => b.getSession());
    },
  },
  "delete-user-verification": {
    env: { SIGIL_RATE_LIMIT: "off", SIGIL_REQUIRE_EMAIL_VERIFICATION: "false" },
    baArgs: ["--delete-verification"],
    async run(f) {
      const A = f.device("A");
      const a = f.client(A);
      await f.step("sign-up/ok", () => a.signUp.email({ name: "Del", email: "del@example.com", password: PW }));
      const mails = f.outbox.count();
      await f.step("delete-user/sends-mail", () => a.deleteUser({ password: PW, callbackURL: "/bye" }));
      const m = await f.outbox.waitFor(mails, { kind: "delete-account" });
      if (m) f.record("mail/delete-account", { mail: mailShape(f, m) });
      await f.step("get-session/still-signed-in", () => a.getSession());
      await f.step("delete-user/bad-token", () => a.deleteUser({ token: "badtoken" }));
      await f.step("delete-user/callback", () => f.raw(A, m ? linkPath(f, m.url) : "/delete-user/callback?token=missing"));
      await f.step("get-session/after-delete", () => a.getSession());
    },
  },
  "session-refresh": {
    env: { SIGIL_RATE_LIMIT: "off", SIGIL_REQUIRE_EMAIL_VERIFICATION: "false" },
    baArgs: ["--session-update-age", "0"],
    async run(f) {
      const A = f.device("A");
      const a = f.client(A);
      await f.step("sign-up/ok", () => a.signUp.email({ name: "Ref", email: "ref@example.com", password: PW }));
      await sleep(1100);
      await f.step("get-session/refreshed", () => a.getSession());
      await f.step("get-session/disable-refresh", () => a.getSession({ query: { disableRefresh: "true" } }));
      const C = f.device("C");
      const c = f.client(C);
      await f.step("sign-in/remember-me-false", () => c.signIn.email({ email: "ref@example.com", password: PW, rememberMe: false }));
      await sleep(1100);
      await f.step("get-session/dont-remember-not-refreshed", () => c.getSession());
      await f.step("update-user/dont-remember", () => c.updateUser({ name: "Ref2" }));
      await f.step("list-sessions/refresh", () => a.listSessions());
    },
  },
};

// ---------------------------------------------------------------------------------------------------------
async function main() {
  const { values } = parseArgs({
    options: {
      "base-url": { type: "string" },
      "mail-file": { type: "string" },
      scenario: { type: "string", default: "main" },
      out: { type: "string" },
      raw: { type: "string" },
      quiet: { type: "boolean", default: false },
    },
  });
  if (!values["base-url"] || !values["mail-file"]) {
    console.error("usage: node client-flow.mjs --base-url http://127.0.0.1:PORT --mail-file FILE [--scenario NAME] [--out FILE] [--raw FILE]");
    process.exit(2);
  }
  const origin = new URL(values["base-url"]).origin;
  const { transcript, exchanges } = await runScenario({
    origin,
    mailFile: values["mail-file"],
    scenario: values.scenario,
    log: values.quiet ? undefined : (l) => console.log(l),
  });
  const text = JSON.stringify(transcript, null, 2) + "\n";
  if (values.out) writeFileSync(values.out, text);
  else process.stdout.write(text);
  if (values.raw) writeFileSync(values.raw, JSON.stringify(exchanges, null, 2) + "\n");
  const failed = transcript.assertions.filter((a) => !a.ok);
  if (failed.length) {
    console.error(`${failed.length} assertion(s) failed`);
    process.exit(1);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await main();
